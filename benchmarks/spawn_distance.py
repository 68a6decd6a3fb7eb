"""How a trained pair's own capture depends on how far apart the robots spawn (issue 23, tenth session).

    python benchmarks/spawn_distance.py RUN [RUN ...] --name issue23_spawn_distance [--ranges 2:10 4:12 6:14 8:16]
        [--episodes 1000] [--seed 7]

For each run's final checkpoint, the trained pursuer against the trained evader in the run's own world with
``env.min_init_distance`` / ``env.max_init_distance`` set to each ``--ranges`` pair (metres), nothing else changed
and nothing retrained: how much of a pair's capture rate its spawn distances decide, the lever for a world that sits
on issue 23's line for a degenerate pair (success above 0.9). Results: ``results/NAME.json``, lines on stdout.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from common import save

from pe_rllib.config import experiment_with, load_experiment
from pe_rllib.evaluation.suite import Player, play
from pe_rllib.policies.inference import load_policy
from pe_rllib.rundir import EXPERIMENT_FILE, resolve_checkpoint


def spawn_range(text: str) -> tuple[float, float]:
    """``"4:12"`` -> (4.0, 12.0)."""
    low, _, high = text.partition(":")
    try:
        return float(low), float(high)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--ranges: {text!r} is not MIN:MAX in metres") from None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--name", required=True)
    parser.add_argument("--ranges", type=spawn_range, nargs="+", default=[(2, 10), (4, 12), (6, 14), (8, 16)])
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rows = []
    for run in args.runs:
        checkpoint = resolve_checkpoint(run)
        trained = load_experiment(checkpoint / EXPERIMENT_FILE)
        pair = [(Player("trained", "pursuer", load_policy(checkpoint, "pursuer")),
                 Player("trained", "evader", load_policy(checkpoint, "evader")))]
        for low, high in args.ranges:
            experiment = experiment_with(trained, {"env.min_init_distance": low, "env.max_init_distance": high})
            result = play(experiment, pair, args.episodes, seed=args.seed)[0]
            interval = [round(x, 4) for x in result.ci95()["capture_rate"]]
            rows.append({"run": str(run), "checkpoint": checkpoint.name, "spawn_m": [low, high],
                         "trained_spawn_m": [trained.env.min_init_distance, trained.env.max_init_distance],
                         "capture": round(result.capture_rate, 4), "capture_ci95": interval,
                         "episodes": args.episodes})
            print(f"{run} spawned {low:g}-{high:g} m: capture {result.capture_rate:.3f} "
                  f"[{interval[0]:.3f}, {interval[1]:.3f}]", flush=True)
    save(args.name, rows)


if __name__ == "__main__":
    main()
