"""Does a trained pair's evader gap close if the evader trains on against the final pursuer? (BENCHMARKS.md)

    python benchmarks/polish_evader.py --iterations 50 RUN_DIR [RUN_DIR ...]

For each run: a new run starts both roles from the run's newest checkpoint
(``training.init_checkpoint``, ``init_modules: [pursuer, evader]``) and trains only the
evader against the frozen final pursuer for ``--iterations`` (league and health off);
then best responses for both roles with the whole budget (the run's env steps plus the
polish's) and the scripted evaluation, 1,000 episodes per matchup.
Results: ``results/polish_evader.json``.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from common import save

from pe_rllib.config import load_experiment
from pe_rllib.evaluation.suite import evaluate_run, strength
from pe_rllib.rundir import checkpoint_iteration, latest_checkpoint
from pe_rllib.training.exploit import exploit
from pe_rllib.training.run import train
from pe_rllib.training.session import init_ray


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--episodes", type=int, default=1000)
    args = parser.parse_args()
    init_ray(dashboard=False)
    rows = []
    for run in map(Path, args.runs):
        experiment = load_experiment(run / "experiment.yaml")
        checkpoint = latest_checkpoint(run)
        steps_per_iteration = experiment.training.train_batch_size_per_learner
        polish = replace(
            experiment,
            selfplay=replace(experiment.selfplay, first_role="evader", cold_start_iterations=args.iterations,
                             opponent_slots=0, snapshot_probability=0.0),
            training=replace(experiment.training, stop_iterations=args.iterations, checkpoint_every=args.iterations,
                             init_checkpoint=str(checkpoint.resolve()), init_modules=("pursuer", "evader")),
            league=replace(experiment.league, enabled=False), health=replace(experiment.health, enabled=False))
        out = run.parent / f"{run.name}-polish{args.iterations}"
        if not out.exists():
            train(polish, output=out, dashboard=False)
        budget = (checkpoint_iteration(checkpoint) + args.iterations) * steps_per_iteration
        row = {"run": run.name, "polish_iterations": args.iterations, "budget_env_steps": budget}
        for role in ("pursuer", "evader"):
            result = exploit(out, role, budget=budget, episodes=args.episodes, dashboard=False)
            row[role] = result.summary()
            print(f"{run.name} {role}: gap {result.gap()['gap']:+.3f} {result.gap()['ci95']}", flush=True)
        row["strength"] = strength(evaluate_run(out, episodes=args.episodes).rows)
        rows.append(row)
    save("polish_evader", rows)


if __name__ == "__main__":
    main()
