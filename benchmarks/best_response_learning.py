"""How fast a fresh pursuer learns to catch a fixed evader, per PPO variant (figures for BENCHMARKS.md).

    python benchmarks/best_response_learning.py --out-dir /tmp/pe-br [--iterations 60] [--seeds 1 2 3] \\
        [--variant NAME KEY=VALUE ...]

The opponent: the quickstart world's evader after a 10-iteration cold start against the
untrained pursuer (trained once, with RLlib's default ``vf_clip_param`` 10, and reused).
Each variant trains a best-response pursuer against it (``pe-rllib exploit``'s
experiment, overrides applied) and reports the deterministic capture rate after 1/3,
2/3 and all of its iterations, 400 episodes each. Results: ``results/best_response_learning.json``.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import yaml
from common import save

from pe_rllib.config import ExperimentConfig, from_dict, load_experiment, to_dict
from pe_rllib.evaluation import evaluate
from pe_rllib.policies import load_policy
from pe_rllib.safety import make_batched_env
from pe_rllib.training.exploit import exploit_experiment
from pe_rllib.training.run import train
from pe_rllib.training.session import init_ray

DEFAULT_VARIANTS = {"vf_clip_10": {"training.vf_clip_param": 10.0},
                    "vf_clip_1e5": {"training.vf_clip_param": 100_000.0}}


def with_overrides(experiment: ExperimentConfig, overrides: dict) -> ExperimentConfig:
    tree = to_dict(experiment)
    for key, value in overrides.items():
        section, name = key.split(".")
        tree[section][name] = value
    return from_dict(ExperimentConfig, tree)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out-dir", required=True)
    parser.add_argument("--iterations", type=int, default=60)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--variant", nargs="+", action="append", metavar=("NAME", "KEY=VALUE"))
    args = parser.parse_args()
    variants = DEFAULT_VARIANTS if not args.variant else {
        v[0]: {k: yaml.safe_load(x) for k, x in (p.split("=", 1) for p in v[1:])} for v in args.variant}
    init_ray(dashboard=False)
    out = Path(args.out_dir)
    opponent_run = out / "evader-run"
    if not opponent_run.exists():
        train(load_experiment("quickstart", {
            "selfplay.first_role": "evader", "selfplay.cold_start_iterations": 10, "training.stop_iterations": 10,
            "training.checkpoint_every": 10, "training.vf_clip_param": 10.0, "evaluation.every": 0}),
            output=opponent_run, dashboard=False)
    checkpoint = opponent_run / "checkpoints" / "iter_000010"
    base = load_experiment(checkpoint / "experiment.yaml")
    evader = load_policy(checkpoint, "evader")
    rows = []
    for name, overrides in variants.items():
        for seed in args.seeds:
            experiment = exploit_experiment(base, checkpoint, "pursuer", args.iterations * 4000, seed)
            experiment = with_overrides(experiment, {**overrides, "training.keep_checkpoints": args.iterations})
            run_dir = out / f"{name}-seed{seed}"
            shutil.rmtree(run_dir, ignore_errors=True)
            start = time.perf_counter()
            train(experiment, output=run_dir, dashboard=False)
            seconds = time.perf_counter() - start
            curve = {}
            for iteration in (args.iterations // 3, 2 * args.iterations // 3, args.iterations):
                pursuer = load_policy(run_dir / "checkpoints" / f"iter_{iteration:06d}", "pursuer")
                result = evaluate(base.env, pursuer, evader, 400, seed=0,
                                  make_env=lambda n: make_batched_env(n, base))
                curve[iteration] = result.capture_rate
            rows.append({"variant": name, "overrides": overrides, "seed": seed, "seconds": round(seconds, 1),
                         "capture_rate": curve})
            print(f"{name} seed {seed}: capture {curve} ({seconds:.0f} s)", flush=True)
    save("best_response_learning", rows)


if __name__ == "__main__":
    main()
