"""Issue 24: the learned aerial pursuer against the guidance laws, per scripted evader, on several seeds.

    python benchmarks/aerial_learning.py [--config aerial_scripted] [--seeds 0 1 2] [--iterations N]
                                         [--episodes 1000] [--out-dir DIR] [--name aerial_learning]
                                         [--only-evaluate] [--trained-evader] [--set KEY=VALUE ...]

Each seed trains ``--config`` (default the bundled ``aerial_scripted.yaml``: the pursuer alone against the
scripted evaders) into ``--out-dir``/s<seed> (``--only-evaluate``: the runs are already there), then plays on
the run's own world (radar track, obstacles) ``--episodes`` deterministic episodes per matchup, the same
episodes for every pursuer: the trained pursuer and the guidance laws (pure pursuit, PN, APN) against every
scripted evader (straight, weave, break-turn, random). Per evader: capture with its Wilson 95 % interval,
the median miss distance, crashes, and the learned pursuer minus APN (Newcombe's interval); the issue's goal
is that difference at least 0 (within noise) against every scripted evader.

``--trained-evader`` (self-play runs, e.g. ``--config aerial``): the run's trained evader joins the evaders, and a
second table gives, per pursuer, the capture of the trained evader against that of the best scripted evader
(the one that pursuer catches least) with Newcombe's interval of the difference; the issue's evader goal is
that difference below 0 against APN.

Results: benchmarks/results/NAME.json and BENCHMARKS.md (issue 24).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common import save

from pe_rllib.config import load_experiment

PURSUERS = ("trained pursuer", "pure_pursuit", "pn", "apn")
EVADERS = ("straight", "weave", "break_turn", "random")
TRAINED_EVADER = "trained evader"


def table(rows: list, episodes: int, evaders=EVADERS) -> list[dict]:
    """Per evader: each pursuer's capture [interval] and median miss, and learned minus APN."""
    from pe_rllib.evaluation.exploitability import difference_interval

    by_pair = {(row.pursuer, row.evader): row for row in rows}
    out = []
    for evader in evaders:
        entry = {"evader": evader}
        for pursuer in PURSUERS:
            row = by_pair.get((pursuer, evader))
            if row is not None:
                entry[pursuer] = {"capture": row.capture_rate, "ci95": row.ci95()["capture_rate"],
                                  "miss_p50": (row.miss_distance or {}).get("p50"),
                                  "crash": row.pursuer_collision_rate}
        if "trained pursuer" in entry and "apn" in entry:
            a, b = entry["trained pursuer"]["capture"], entry["apn"]["capture"]
            low, high = difference_interval(a, episodes, b, episodes)
            entry["learned_minus_apn"] = {"diff": round(a - b, 4), "ci95": [round(low, 4), round(high, 4)]}
        out.append(entry)
    return out


def evader_table(rows: list, episodes: int) -> list[dict]:
    """Per pursuer: the trained evader's capture against the best scripted evader's (the lowest capture), and the
    difference with its interval (below 0: the trained evader does better than every scripted one)."""
    from pe_rllib.evaluation.exploitability import difference_interval

    by_pair = {(row.pursuer, row.evader): row.capture_rate for row in rows}
    out = []
    for pursuer in PURSUERS:
        trained = by_pair.get((pursuer, TRAINED_EVADER))
        scripted = {evader: by_pair[(pursuer, evader)] for evader in EVADERS if (pursuer, evader) in by_pair}
        if trained is None or not scripted:
            continue
        best = min(scripted, key=scripted.get)
        low, high = difference_interval(trained, episodes, scripted[best], episodes)
        out.append({"pursuer": pursuer, "trained_evader": trained, "best_scripted": best,
                    "best_scripted_capture": scripted[best], "diff": round(trained - scripted[best], 4),
                    "ci95": [round(low, 4), round(high, 4)]})
    return out


def matchups(run_dir: Path, episodes: int, seed: int = 2026, trained_evader: bool = False) -> list:
    """The trained pursuer and every guidance law against every scripted evader (and with ``trained_evader`` the
    run's trained evader), the same episodes for every matchup."""
    from pe_rllib.evaluation.suite import play, scripted_players, trained_players
    from pe_rllib.rundir import EXPERIMENT_FILE, resolve_checkpoint

    checkpoint = resolve_checkpoint(run_dir)
    experiment = load_experiment(checkpoint / EXPERIMENT_FILE)
    trained = trained_players(checkpoint)
    pursuers = [trained["pursuer"], *(p for p in scripted_players(experiment, "pursuer", seed) if p.name in PURSUERS)]
    evaders = [e for e in scripted_players(experiment, "evader", seed) if e.name in EVADERS]
    if trained_evader:
        evaders.append(trained["evader"])
    return play(experiment, [(p, e) for p in pursuers for e in evaders], episodes, seed=seed)


def main() -> None:
    from pe_rllib.cli.common import parse_overrides
    from pe_rllib.training.run import train

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="aerial_scripted")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--iterations", type=int, default=None, help="default: the config's stop_iterations")
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--out-dir", type=Path, default=None)
    parser.add_argument("--name", default="aerial_learning")
    parser.add_argument("--only-evaluate", action="store_true")
    parser.add_argument("--trained-evader", action="store_true", help="the run's trained evader joins the evaders")
    parser.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
                        help="a config override for every seed (e.g. safety.enabled=true)")
    args = parser.parse_args()
    settings = parse_overrides(args.settings)
    out_dir = args.out_dir or Path(tempfile.mkdtemp(prefix="aerial_learning_"))
    results = []
    for seed in args.seeds:
        overrides = {**settings, "training.seed": seed}
        if args.iterations:
            overrides.update({"training.stop_iterations": args.iterations,
                              "selfplay.cold_start_iterations": args.iterations})
        experiment = load_experiment(args.config, overrides)
        run_dir = out_dir / f"s{seed}"
        start = time.perf_counter()
        if not args.only_evaluate and not (run_dir / "experiment.yaml").exists():
            train(experiment, output=run_dir, dashboard=False)
        train_s = time.perf_counter() - start
        rows = matchups(run_dir, args.episodes, trained_evader=args.trained_evader)
        per_evader = table(rows, args.episodes, (*EVADERS, TRAINED_EVADER) if args.trained_evader else EVADERS)
        per_pursuer = evader_table(rows, args.episodes)
        results.append({"seed": seed, "run_dir": str(run_dir), "train_s": round(train_s, 1), "settings": args.settings,
                        "iterations": experiment.training.stop_iterations, "per_evader": per_evader,
                        "trained_evader": per_pursuer, "matchups": [row.to_dict() for row in rows]})
        for entry in per_evader:
            cells = "  ".join(f"{p.split()[0]} {entry[p]['capture']:.3f}" for p in PURSUERS if p in entry)
            diff = entry.get("learned_minus_apn")
            print(f"seed {seed} vs {entry['evader']:>10}: {cells}"
                  + (f"  learned - APN {diff['diff']:+.3f} [{diff['ci95'][0]:+.3f}, {diff['ci95'][1]:+.3f}]"
                     if diff else ""), flush=True)
        for entry in per_pursuer:
            print(f"seed {seed} {entry['pursuer']:>15} catches the trained evader {entry['trained_evader']:.3f}, "
                  f"the best scripted ({entry['best_scripted']}) {entry['best_scripted_capture']:.3f}: "
                  f"{entry['diff']:+.3f} [{entry['ci95'][0]:+.3f}, {entry['ci95'][1]:+.3f}]", flush=True)
        save(args.name, results)


if __name__ == "__main__":
    main()
