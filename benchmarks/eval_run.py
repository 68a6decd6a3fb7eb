"""Evaluate a trained run's roles against random and scripted opponents (figures for BENCHMARKS.md).

    python benchmarks/eval_run.py RUN_DIR [--episodes 300]

Every matchup is played on the run's own world with its safety setting, deterministic
trained policies, the same seed for every row.
"""

from __future__ import annotations

import argparse

from common import save

from pe_rllib.evaluation import evaluate
from pe_rllib.policies import load_policy, make_scripted
from pe_rllib.safety import make_batched_env


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run_dir")
    parser.add_argument("--episodes", type=int, default=300)
    args = parser.parse_args()
    pursuer, evader = load_policy(args.run_dir, "pursuer"), load_policy(args.run_dir, "evader")
    experiment, env = pursuer.experiment, pursuer.env_config
    scripted = {name: make_scripted(name, role, env, seed=i)
                for i, (name, role) in enumerate([("random", "pursuer"), ("pure_pursuit", "pursuer"),
                                                  ("lead_pursuit", "pursuer")])}
    evaders = {name: make_scripted(name, "evader", env, seed=10 + i)
               for i, name in enumerate(["random", "straight_flee", "circling"])}
    matchups = [("trained", pursuer, name, e) for name, e in evaders.items()]
    matchups += [(name, p, "trained", evader) for name, p in scripted.items()]
    # References: how the same opponents fare against a random evader.
    matchups += [(name, p, "random", evaders["random"]) for name, p in scripted.items()]
    matchups += [("trained", pursuer, "trained", evader)]
    rows = []
    print(f"{'pursuer':14s} {'evader':14s} capture escape collision t_capture[s]")
    for p_name, p, e_name, e in matchups:
        r = evaluate(env, p, e, args.episodes, seed=2026, names=(p_name, e_name),
                     make_env=lambda n: make_batched_env(n, experiment))
        rows.append(r.to_dict())
        ttc = "-" if r.mean_time_to_capture is None else f"{r.mean_time_to_capture:.2f}"
        print(f"{p_name:14s} {e_name:14s} {r.capture_rate:7.2f} {r.escape_rate:6.2f} "
              f"{r.collision_rate:9.2f} {ttc:>12s}")
    save("eval_run", rows)


if __name__ == "__main__":
    main()
