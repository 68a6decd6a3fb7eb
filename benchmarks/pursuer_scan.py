"""The pursuit family with and without its scan, under partial observation (issue 23, third session).

    python benchmarks/pursuer_scan.py --name issue23_pursuer_scan [RUN ...] [--config partial] [--episodes 1000]
                                      [--generations 20] [--population 32]

In the config's world with its curriculum off (the real sensor throughout), the yardstick's pursuer search
(seed 0, one restart) runs over the pursuit family with the scan pinned off (``scan_rate`` 0: an unseen evader is
looked for by driving straight on, the family as it was before) and over the whole family, against every scripted
evader and against the final evader of each RUN. Each found pursuer then plays its evader on the evaluation
episodes (seed 0), beside the RUN's trained pursuer where there is one. Results: ``results/NAME.json``, a table on
stdout.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from common import save

from pe_rllib.config import SCRIPTED_POLICIES, load_experiment
from pe_rllib.evaluation.search import SearchSettings, search_best_response, searched_policy
from pe_rllib.evaluation.suite import Player, play
from pe_rllib.policies.inference import load_policy
from pe_rllib.policies.scripted import make_scripted
from pe_rllib.rundir import EXPERIMENT_FILE, resolve_checkpoint

VARIANTS = {"without scan": (("scan_distance", 0.0), ("scan_rate", 0.0), ("scan_speed", 1.0)), "with scan": ()}


def opponents(args) -> list[tuple[str, object, object, Player | None]]:
    """``(name, experiment, evader policy, trained pursuer or None)``: the scripted evaders, then each run's."""
    experiment = load_experiment(args.config, {"curriculum.enabled": False})
    rows = [(name, experiment, make_scripted(name, "evader", experiment.env, seed=0), None)
            for name in SCRIPTED_POLICIES["evader"]]
    for run in args.runs:
        run_experiment = load_experiment(run / EXPERIMENT_FILE, {"curriculum.enabled": False})
        checkpoint = resolve_checkpoint(run)
        rows.append((f"{run.name} ({checkpoint.name})", run_experiment, load_policy(checkpoint, "evader"),
                     Player("trained", "pursuer", load_policy(checkpoint, "pursuer"))))
    return rows


def measure(name: str, experiment, evader, trained: Player | None, args) -> dict:
    found = {}
    for label, pinned in VARIANTS.items():
        settings = SearchSettings(seed=0, pinned=pinned, generations=args.generations, population=args.population)
        found[label] = search_best_response(experiment, "pursuer", evader, settings)
    pursuers = [Player(label, "pursuer", searched_policy(experiment, result, seed=0))
                for label, result in found.items()]
    pursuers += [trained] if trained is not None else []
    rows = play(experiment, [(pursuer, Player(name, "evader", evader)) for pursuer in pursuers], args.episodes, seed=0)
    return {"evader": name, "episodes": args.episodes,
            "capture": {p.name: round(row.capture_rate, 4) for p, row in zip(pursuers, rows)},
            "capture_ci95": {p.name: row.ci95()["capture_rate"] for p, row in zip(pursuers, rows)},
            "search": {label: {"params": result.params, "wall_s": round(result.wall_s, 1)}
                       for label, result in found.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="*", type=Path)
    parser.add_argument("--name", required=True)
    parser.add_argument("--config", default="partial")
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--generations", type=int, default=SearchSettings.generations)
    parser.add_argument("--population", type=int, default=SearchSettings.population)
    args = parser.parse_args()
    results = []
    for name, experiment, evader, trained in opponents(args):
        row = measure(name, experiment, evader, trained, args)
        results.append(row)
        print(f"{name}: " + ", ".join(f"{who} {rate:.3f}" for who, rate in row["capture"].items()), flush=True)
        save(args.name, results)          # after each evader, so a stopped run keeps what it measured


if __name__ == "__main__":
    main()
