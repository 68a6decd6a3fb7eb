"""Evaluation throughput on the batched world: episodes per second, scripted and learned players.

    python benchmarks/bench_evaluate.py RUN_DIR [--episodes 2000]

In RUN_DIR's own world with its safety filter, one process: scripted pursuer vs scripted
evader, the trained pursuer vs the trained evader (deterministic, torch forward on CPU),
and the full `pe-rllib evaluate` set (8 matchups). Results:
benchmarks/results/evaluate_throughput.json and BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import sys
import time

from common import save

from pe_rllib.config import load_experiment
from pe_rllib.evaluation import evaluate
from pe_rllib.evaluation.suite import evaluate_run
from pe_rllib.policies import load_policy, make_scripted
from pe_rllib.rundir import EXPERIMENT_FILE, resolve_checkpoint
from pe_rllib.safety import make_batched_env


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("run")
    parser.add_argument("--episodes", type=int, default=2000)
    args = parser.parse_args()
    checkpoint = resolve_checkpoint(args.run)
    experiment = load_experiment(checkpoint / EXPERIMENT_FILE)
    players = {
        "scripted": (make_scripted("pure_pursuit", "pursuer", experiment.env),
                     make_scripted("straight_flee", "evader", experiment.env)),
        "learned": (load_policy(checkpoint, "pursuer"), load_policy(checkpoint, "evader")),
    }
    rows = []
    for label, (pursuer, evader) in players.items():
        start = time.perf_counter()
        result = evaluate(experiment.env, pursuer, evader, args.episodes,
                          make_env=lambda n: make_batched_env(n, experiment))
        seconds = time.perf_counter() - start
        rows.append({"players": label, "episodes": args.episodes, "seconds": round(seconds, 2),
                     "episodes_per_s": round(args.episodes / seconds),
                     "env_steps_per_s": round(args.episodes * result.mean_episode_steps / seconds)})
        print(rows[-1], flush=True)
    start = time.perf_counter()
    suite = evaluate_run(args.run, episodes=500)
    seconds = time.perf_counter() - start
    rows.append({"players": "evaluate (8 matchups x 500)", "episodes": 500 * len(suite.rows),
                 "seconds": round(seconds, 2), "episodes_per_s": round(500 * len(suite.rows) / seconds)})
    print(rows[-1], flush=True)
    save("evaluate_throughput", rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
