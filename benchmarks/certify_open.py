"""HJ ground truth for open.yaml: train each seed, then `certify` it (figures for BENCHMARKS.md, "Ground truth").

    python benchmarks/certify_open.py --out-dir /work/runs [--seeds 0 1 2] [--episodes 500] [--grid 51] \\
        [--set training.stop_iterations=75]

For each seed: ``pe-rllib train --config open --set training.seed=S`` (skipped when the run
directory exists), then ``certify`` of its newest checkpoint: the trained pursuer's capture rate
from inside the tube and the trained evader's escape rate from outside, with the wall time of
each step (training, tube solve, episodes). Each run directory solves its own tube (cached under
``RUN/certify/``), so the solve time is measured once per seed. Results:
``results/certify_open.json`` (rows of other seeds already there are kept).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import yaml
from common import save

from pe_rllib.config import load_experiment
from pe_rllib.evaluation.certify import DEFAULT_CELLS, certify
from pe_rllib.rundir import read_progress
from pe_rllib.training.run import train
from pe_rllib.training.session import init_ray


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out-dir", required=True)
    parser.add_argument("--config", default="open")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--episodes", type=int, default=500)
    parser.add_argument("--grid", type=int, default=DEFAULT_CELLS)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="experiment overrides, e.g. training.stop_iterations=75 (a smaller budget)")
    args = parser.parse_args()
    overrides = {k: yaml.safe_load(v) for k, v in (pair.split("=", 1) for pair in args.set)}
    rows = []
    for seed in args.seeds:
        run_dir = Path(args.out_dir) / f"certify-{args.config}-s{seed}"
        row = {"config": args.config, "seed": seed, "run_dir": str(run_dir), "overrides": overrides}
        if not run_dir.exists():
            init_ray(dashboard=False)
            start = time.perf_counter()
            summary = train(load_experiment(args.config, {**overrides, "training.seed": seed}), output=run_dir,
                            dashboard=False)
            row["train_seconds"] = round(time.perf_counter() - start, 1)
            print(f"seed {seed}: trained {summary.iterations} iterations, {summary.env_steps:,} env steps in "
                  f"{row['train_seconds']} s", flush=True)
        progress = read_progress(run_dir)
        row["iterations"] = progress[-1]["iteration"] if progress else None
        row["env_steps"] = progress[-1].get("env_steps_lifetime") if progress else None
        # The iterations' own wall time (also for a run trained earlier or elsewhere, or cut short).
        row["iteration_seconds"] = round(sum(line.get("iteration_seconds", 0.0) for line in progress), 1)
        start = time.perf_counter()
        result = certify(run_dir, episodes=args.episodes, cells=args.grid, seed=seed)
        row["certify_seconds"] = round(time.perf_counter() - start, 1)
        row.update(result.to_dict())
        print(f"seed {seed}: capture from inside {result.inside.rate:.3f} {row['inside']['ci95']}, escape from "
              f"outside {result.outside.rate:.3f} {row['outside']['ci95']}; tube {result.tube_seconds:.1f} s "
              f"({'cached' if result.tube_cached else 'solved'}), episodes {result.play_seconds:.1f} s", flush=True)
        rows.append(row)
    existing = Path(__file__).with_name("results") / f"certify_{args.config}.json"
    if existing.is_file():
        seeds = {row["seed"] for row in rows}
        rows = sorted([row for row in json.loads(existing.read_text())["rows"] if row["seed"] not in seeds] + rows,
                      key=lambda row: row["seed"])
    save(f"certify_{args.config}", rows)


if __name__ == "__main__":
    main()
