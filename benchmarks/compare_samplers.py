"""Learning with the batched sampler vs RLlib's stock sampler: the quickstart, same env steps, 3 seeds.

    python benchmarks/compare_samplers.py [--seeds 3] [--episodes 500]

Each (sampler, seed) trains the quickstart experiment (same PPO settings, same number of
env steps) and is then evaluated in its own world with the safety filter on: the
trained pursuer's capture rate against every scripted evader and the trained evader's
escape rate against every scripted pursuer, each with a Wilson 95% interval. The
batched sampler treats timeouts as truncations (value bootstrapped), the stock one as
terminations; this measures what that and everything else in the new path does to
learning. Results: benchmarks/results/sampler_learning.json and BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from common import save

from pe_rllib.config import load_experiment
from pe_rllib.evaluation import evaluate, wilson_interval
from pe_rllib.policies import load_policy, make_scripted, scripted_names
from pe_rllib.safety import make_batched_env
from pe_rllib.training.run import train

# Variants: the sampler and its overrides of the quickstart (the same ~240k env steps each).
VARIANTS = {
    "rllib": {"training.sampler": "rllib", "training.num_envs_per_env_runner": 4},
    "batched": {"training.sampler": "batched", "training.num_envs_per_env_runner": 64},
    "throughput": {"training.sampler": "batched", "training.num_envs_per_env_runner": 256,
                   "training.train_batch_size_per_learner": 32_000, "training.minibatch_size": 4_000,
                   "training.num_epochs": 2, "training.stop_iterations": 8,
                   "selfplay.cold_start_iterations": 1, "selfplay.warmup_phase_lengths": [1],
                   "selfplay.phase_length": 1},
}


def strength(run_dir: Path, experiment, episodes: int, seed: int) -> dict:
    pursuer, evader = load_policy(run_dir, "pursuer"), load_policy(run_dir, "evader")
    rows = {}
    for name in scripted_names("evader"):
        r = evaluate(experiment.env, pursuer, make_scripted(name, "evader", experiment.env, seed=seed), episodes,
                     seed=1000 + seed, make_env=lambda n: make_batched_env(n, experiment))
        rows[f"pursuer_vs_{name}"] = (r.capture_rate, wilson_interval(r.capture_rate * episodes, episodes))
    for name in scripted_names("pursuer"):
        r = evaluate(experiment.env, make_scripted(name, "pursuer", experiment.env, seed=seed), evader, episodes,
                     seed=2000 + seed, make_env=lambda n: make_batched_env(n, experiment))
        rows[f"evader_vs_{name}"] = (r.escape_rate, wilson_interval(r.escape_rate * episodes, episodes))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--episodes", type=int, default=500)
    parser.add_argument("--variants", default="rllib,batched", help=f"comma-separated, of {', '.join(VARIANTS)}")
    parser.add_argument("--out", default="sampler_learning")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            for sampler in args.variants.split(","):
                experiment = load_experiment("quickstart", {**VARIANTS[sampler], "training.seed": seed})
                start = time.perf_counter()
                summary = train(experiment, output=Path(tmp) / f"{sampler}-{seed}", dashboard=False)
                seconds = time.perf_counter() - start
                result = strength(summary.run_dir, experiment, args.episodes, seed)
                row = {"sampler": sampler, "seed": seed, "env_steps": summary.env_steps, "seconds": round(seconds),
                       **{k: {"rate": round(v[0], 3), "ci95": [round(v[1][0], 3), round(v[1][1], 3)]}
                          for k, v in result.items()}}
                rows.append(row)
                pursuer = sum(v[0] for k, v in result.items() if k.startswith("pursuer")) / 3
                evader = sum(v[0] for k, v in result.items() if k.startswith("evader")) / 4
                print(f"{sampler:8s} seed {seed}  {summary.env_steps:,} steps in {seconds:.0f} s  "
                      f"pursuer capture vs scripted (mean) {pursuer:.3f}  evader escape vs scripted (mean) "
                      f"{evader:.3f}", flush=True)
    save(args.out, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
