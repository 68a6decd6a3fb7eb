"""Issue 25: the safety QP as a policy layer (``safety.mode: layer``) against the post-hoc filter.

    python benchmarks/safety_layer.py [--config quickstart] [--seeds 0 1 2] [--iterations N]
                                      [--methods search] [--rl-budget 200000] [--episodes 1000]
                                      [--out-dir DIR] [--name safety_layer]

Both variants train ``--config`` (the env-side filter on in both) on the same seeds and budget; per run:

* collisions: every evaluation matchup's collision rate (0 is required: the env filter is the guarantee);
* the env filter's intervention rate, in training (mean of the last 20 iterations: sampled actions, so
  exploration noise counts) and in evaluation (trained vs trained, deterministic: what the layer alone let
  through);
* learning quality: per role the strongest best-response gap of ``--methods`` and the worst scripted
  shortfall (``mechanisms.judge``);
* inference time per action: the trained pursuer's ``act`` on 1 and on 1,024 observations (median of
  repeated calls, one thread).

Results: benchmarks/results/NAME.json and BENCHMARKS.md ("The safety layer", issue 25).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from common import save
from mechanisms import judge

from pe_rllib.config import ROLES, load_experiment
from pe_rllib.rundir import read_progress

VARIANTS = {"filter": {}, "layer": {"safety.mode": "layer"}}


def inference_ms(run_dir: Path, batch: int, repeats: int = 200) -> float:
    """Median milliseconds of one ``act`` call of the trained pursuer on ``batch`` observations."""
    import torch

    from pe_rllib.policies import load_policy
    from pe_rllib.safety import make_batched_env

    torch.set_num_threads(1)
    policy = load_policy(run_dir, "pursuer")
    obs = make_batched_env(batch, policy.experiment).reset(seed=0)["pursuer"]
    policy.act(obs)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        policy.act(obs)
        times.append(time.perf_counter() - start)
    return round(1000 * float(np.median(times)), 4)


def training_interventions(run_dir: Path, last: int = 20) -> float:
    rows = read_progress(run_dir, required=True)
    rates = [r["intervention_rate"] for r in rows[-last:] if r.get("intervention_rate") is not None]
    return round(float(np.mean(rates)), 5) if rates else float("nan")


def main() -> None:
    from pe_rllib.evaluation.suite import evaluate_run
    from pe_rllib.training.run import train

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="quickstart")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--iterations", type=int, default=None)
    parser.add_argument("--methods", nargs="+", default=["search"])
    parser.add_argument("--rl-budget", type=int, default=200_000)
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--out-dir", type=Path, default=None)
    parser.add_argument("--name", default="safety_layer")
    args = parser.parse_args()
    out_dir = args.out_dir or Path(tempfile.mkdtemp(prefix="safety_layer_"))
    rows = []
    for seed in args.seeds:
        for variant, overrides in VARIANTS.items():
            run_dir = out_dir / f"{variant}_s{seed}"
            extra = {"training.stop_iterations": args.iterations} if args.iterations else {}
            start = time.perf_counter()
            if not (run_dir / "experiment.yaml").exists():
                train(load_experiment(args.config, {"training.seed": seed, **overrides, **extra}), output=run_dir,
                      dashboard=False)
            row = {"variant": variant, "seed": seed, "train_s": round(time.perf_counter() - start, 1),
                   "train_intervention_rate": training_interventions(run_dir)}
            matchups = evaluate_run(run_dir, episodes=args.episodes, seed=2026).rows
            row["max_collision_rate"] = max(max(m.pursuer_collision_rate, m.evader_collision_rate) for m in matchups)
            own = next(m for m in matchups if m.pursuer.startswith("trained") and m.evader.startswith("trained"))
            row["eval_intervention_rate"] = own.intervention_rate
            row["self_play_capture"] = own.capture_rate
            row["inference_ms"] = {"1": inference_ms(run_dir, 1), "1024": inference_ms(run_dir, 1024, repeats=30)}
            for role in ROLES:
                row[role] = judge(run_dir, role, args.rl_budget, args.episodes, tuple(args.methods))
            rows.append(row)
            print(f"seed {seed} {variant:>6}: collisions {row['max_collision_rate']:.4f}, filter interventions "
                  f"train {row['train_intervention_rate']:.4f} eval {row['eval_intervention_rate']:.4f}, "
                  + ", ".join(f"{role} gap {row[role]['gap']:+.3f}" for role in ROLES)
                  + f", act {row['inference_ms']['1']} ms / {row['inference_ms']['1024']} ms (1 / 1024)", flush=True)
            save(args.name, rows)


if __name__ == "__main__":
    main()
