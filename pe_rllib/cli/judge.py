"""Commands that judge a trained pair against a yardstick: ``exploit`` (best responses) and ``certify``
(Hamilton-Jacobi ground truth)."""

from __future__ import annotations

import argparse
import json

from pe_rllib.cli.common import CliError, add_ray_arguments, float_in, int_at_least, int_in, output_file, write_output
from pe_rllib.cli.formatting import (
    Progress,
    aligned,
    exploit_lines,
    format_table,
    interval,
    progress_line,
    verdict_line,
)
from pe_rllib.config import ConfigError, load_experiment, other_role
from pe_rllib.files import write_atomic
from pe_rllib.rundir import EXPERIMENT_FILE

EXPLOIT_METHODS = {"all": ("search", "rl-trained", "rl-fresh"), "search": ("search",),
                   "rl": ("rl-trained", "rl-fresh")}


def exploit_methods(args: argparse.Namespace) -> list[str]:
    """The methods ``--method`` and ``--init`` select."""
    inits = ("trained", "fresh") if args.init in (None, "both") else (args.init,)
    return [m for m in EXPLOIT_METHODS[args.method] if m == "search" or m.split("-")[1] in inits]


def _exploit_report(checkpoint, results: dict, args: argparse.Namespace) -> None:
    """The table of every matchup played, each role's gaps (with earlier results for the same checkpoint)
    and the verdict; and the JSON when asked."""
    from pe_rllib.evaluation.exploitability import exploit_results

    print(f"\nexploitability of {checkpoint} ({args.episodes} episodes per matchup, seed {args.seed}, "
          "Wilson/Newcombe 95% intervals)")
    rows = []
    for r in results.values():
        first = next(iter(r.methods.values()))
        rows += [m.best_response for m in r.methods.values()] + [first.trained, *r.scripted]
    print(format_table([row.to_dict() for row in rows]))
    # Earlier results for the same checkpoint (other methods, the other role) complete the verdict.
    summaries = {role: r.summary() for role, r in exploit_results(checkpoint).items()}
    summaries.update({role: r.summary() for role, r in results.items() if role not in summaries})
    for role in ("pursuer", "evader"):
        if role in summaries:
            print("\n".join(exploit_lines(summaries[role])))
    line = verdict_line(summaries, args.threshold)
    print(line)
    if args.json is not None:
        payload = {"checkpoint": str(checkpoint), "threshold": args.threshold,
                   "results": {role: r.to_dict() for role, r in results.items()},
                   "recorded": summaries, "verdict": line}
        write_output(args.json, "--json", lambda path: write_atomic(path, json.dumps(payload, indent=2)))


def cmd_exploit(args: argparse.Namespace) -> int:
    from pe_rllib.evaluation.search import YARDSTICK_RESTARTS, SearchSettings
    from pe_rllib.rundir import resolve_checkpoint
    from pe_rllib.training.exploit import exploit

    roles = ["pursuer", "evader"] if args.role == "both" else [args.role]
    methods = exploit_methods(args)
    if args.init is not None and args.method == "search":
        raise CliError("--init: applies to the RL methods (--method rl or all), not to --method search")
    if args.explore_std is not None and "rl-trained" not in methods:
        raise CliError("--explore-std: applies to the trained-weights best response (--method rl or all, --init "
                       "trained or both)")
    if args.output is not None and (len(roles) > 1 or len([m for m in methods if m != "search"]) != 1
                                    or args.seeds != 1):
        raise CliError("--output: names one best-response run; use it with one --role, --method rl, one --init "
                       "and one seed")
    checkpoint = resolve_checkpoint(args.run)
    search = SearchSettings(generations=args.generations, population=args.population, seed=args.search_seed,
                            restarts=args.search_restarts or YARDSTICK_RESTARTS, recall=args.search_recall)
    results = {}
    for role in roles:
        print(f"exploit {role}: best responses ({', '.join(methods)}) against the frozen trained "
              f"{other_role(role)} of {checkpoint}", flush=True)

        def generation(done: int, total: int, best: float, role=role) -> None:
            if done == total or done % 5 == 0:
                print(f"  search {role}: generation {done}/{total}, best candidate {best:.3f}", flush=True)

        results[role] = exploit(
            checkpoint, role, methods=methods, budget=args.budget, seeds=args.seeds, search=search,
            episodes=args.episodes, eval_seed=args.seed, seed=args.train_seed, output=args.output,
            explore_std=args.explore_std or 0.0,
            address=args.address, dashboard=not args.no_dashboard, log_level="INFO" if args.verbose else "ERROR",
            on_start=lambda where, run_dir: print(f"{where}; best-response run {run_dir}", flush=True),
            on_iteration=lambda report: print(progress_line(report), flush=True),
            on_method=lambda method, role=role: print(f"{role}: method {method}", flush=True),
            on_generation=generation, progress=Progress)
    _exploit_report(checkpoint, results, args)
    return 0


def _certify_report(result) -> None:
    world, grid = result.world, result.grid
    print(f"world: pursuer {world['pursuer_v_max']:g} m/s, evader {world['evader_v_max']:g} m/s, turn rate "
          f"{world['omega_max']:g} rad/s, capture radius {world['capture_radius']:g} m, T {world['horizon']:g} s; "
          f"safety filter {'on' if result.safety else 'off'}")
    print(f"tube: {grid['cells']}x{grid['cells']}x{grid['heading_cells']} over |x|,|y| <= {grid['half_width']:g} m "
          f"(spacing {grid['spacing'][0]:.3f} m, {grid['spacing'][2]:.3f} rad, {grid['accuracy']} scheme), value error "
          f"~{result.grid_error:g} m, "
          f"margin {result.margin:g} m; volume {result.tube_volume_fraction:.3f} of the box; "
          f"{'from cache, solved' if result.tube_cached else 'solved'} in {result.tube_seconds:.1f} s; episodes "
          f"{result.play_seconds:.1f} s")
    rows = [["starts", "should win", "episodes", "excluded (wall)", "captured", "escaped", "collision",
             "rate [95% CI]"]]
    for side, role in ((result.inside, "pursuer"), (result.outside, "evader")):
        rows.append([side.side, role, str(side.episodes), str(side.excluded), str(side.captures), str(side.timeouts),
                     str(side.collisions), interval(side.rate, side.to_dict()["ci95"])])
    print(aligned(rows))
    walls = "reachable (episodes near one excluded)" if result.walls_reachable else "out of reach within T"
    print(f"optimal play: capture from inside 1, escape from outside 1; start distances {result.distances[0]:g}-"
          f"{result.distances[1]:g} m; walls {walls}")


def cmd_certify(args: argparse.Namespace) -> int:
    from pe_rllib.evaluation.certify import CERTIFY_FILE, CERTIFY_PLOT, DEFAULT_CELLS, certify, certify_dir, tube_world
    from pe_rllib.rundir import resolve_checkpoint

    checkpoint = resolve_checkpoint(args.run)
    experiment = load_experiment(checkpoint / EXPERIMENT_FILE)
    if experiment.world == "aerial":
        raise CliError(f"{args.run}: certify computes the 2-D world's Hamilton-Jacobi tube; this run is aerial")
    tube_world(experiment.env)                                             # an open world, before any work
    print(f"certify {checkpoint}: HJ tube (cached under {certify_dir(checkpoint)}), {args.episodes} starts per side",
          flush=True)
    safety = None if args.safety is None else args.safety == "on"
    try:
        result = certify(checkpoint, episodes=args.episodes, cells=args.grid or DEFAULT_CELLS, seed=args.seed,
                         margin=args.margin, safety=safety, progress=Progress)
    except ValueError as err:          # e.g. no starts on one side of the tube
        if isinstance(err, ConfigError):
            raise
        raise CliError(str(err)) from None
    _certify_report(result)
    written = certify_dir(checkpoint) / checkpoint.name
    print(f"wrote {written / CERTIFY_FILE} and {written / CERTIFY_PLOT}")
    if args.out is not None:
        write_output(args.out, "--out", lambda path: write_atomic(path, (written / CERTIFY_PLOT).read_bytes()))
    if args.json is not None:
        write_output(args.json, "--json", lambda path: write_atomic(path, json.dumps(result.to_dict(), indent=2)))
    return 0


def add_exploit(sub) -> None:
    exploit = sub.add_parser("exploit", help="exploitability: best responses to a run's frozen roles (a searched "
                             "scripted controller, PPO from the trained weights and from fresh ones) and the gap")
    exploit.add_argument("run", metavar="RUN_OR_CHECKPOINT", help="run directory (newest intact checkpoint) "
                         "or checkpoint directory")
    exploit.add_argument("--role", default="both", choices=("pursuer", "evader", "both"),
                         help="the role to exploit with (default: both, one after the other)")
    exploit.add_argument("--method", default="all", choices=tuple(EXPLOIT_METHODS),
                         help="search: cross-entropy search over a scripted controller family (no training); "
                              "rl: PPO best responses; all (default): both, the gap is the maximum")
    exploit.add_argument("--init", choices=("trained", "fresh", "both"),
                         help="where the RL best responses start: the run's trained weights, fresh ones, or both "
                              "(default: both)")
    exploit.add_argument("--explore-std", type=float_in(0.001, 10.0), metavar="STD",
                         help="the trained-weights best response starts exploring with this action standard "
                              "deviation in every state, its means as trained (default: the trained stds, which "
                              "imitation-trained roles leave at 1-3 so their exploring games rarely succeed)")
    exploit.add_argument("--seeds", type=int_at_least(1), default=1,
                         help="RL best responses per init, with consecutive training seeds; the strongest counts "
                              "(default: 1)")
    exploit.add_argument("--budget", type=int_at_least(1), metavar="ENV_STEPS",
                         help="env steps each RL best response trains for (default: the run's own, its iterations "
                              "x its training batch; rounded up to whole iterations)")
    exploit.add_argument("--generations", type=int_at_least(1), default=20, help="search generations (default: 20)")
    exploit.add_argument("--population", type=int_at_least(2), default=32,
                         help="search candidates per generation (default: 32)")
    exploit.add_argument("--search-seed", type=int, default=0, help="seed of the (first) search (default: 0)")
    exploit.add_argument("--search-restarts", type=int_at_least(1),
                         help="independent searches (seeds --search-seed, +1, ...) whose finalists compete on the "
                              "same fresh episodes; one search can settle 0.1 below another (default: 3)")
    exploit.add_argument("--search-recall", type=int_at_least(0), default=0, metavar="STEPS",
                         help="searched controllers remember an opponent they lost sight of for STEPS steps (dead "
                              "reckoning; partial observation only), recorded as method search-recall<STEPS> beside "
                              "the plain search; for runs whose roles have memory (default: 0, no memory)")
    exploit.add_argument("--episodes", type=int_at_least(1), default=1000,
                         help="evaluation episodes per matchup (default: 1000)")
    exploit.add_argument("--seed", type=int, default=0, help="seed of the evaluation episodes (default: 0)")
    exploit.add_argument("--train-seed", type=int,
                         help="seed of the (first) RL best response's training (default: the run's seed + 1)")
    exploit.add_argument("--threshold", type=float_in(0.0, 1.0), default=0.05,
                         help="epsilon of the equilibrium verdict (default: 0.05)")
    exploit.add_argument("--output", help="the RL best-response run directory (default: RUN/exploit/<role>-...); "
                         "repeating the command continues or reuses it")
    exploit.add_argument("--json", type=output_file(".json"), help="write the results and the verdict to this .json")
    add_ray_arguments(exploit)
    exploit.set_defaults(func=cmd_exploit)


def add_certify(sub) -> None:
    certify = sub.add_parser("certify", help="Hamilton-Jacobi ground truth (open worlds): the trained pursuer's "
                             "capture rate from inside the capture tube, the trained evader's escape rate from outside")
    certify.add_argument("run", metavar="RUN_OR_CHECKPOINT", help="run directory (newest intact checkpoint) "
                         "or checkpoint directory, of a world without obstacles (e.g. --config open)")
    certify.add_argument("--episodes", type=int_in(1, 100_000), default=500,
                         help="starts per side of the tube (default: 500)")
    certify.add_argument("--grid", type=int_in(9, 201, " cells"), help="position cells per axis of the HJ grid, "
                         "36 headings (default: 51; about a minute per tube on 2 shared cores, then cached)")
    certify.add_argument("--margin", type=float_in(0.0, unit=" m"), help="starts at least this far [m, in value] "
                         "from the tube boundary (default: twice the grid's measured error, at least 0.1)")
    certify.add_argument("--safety", choices=("on", "off"), help="safety filter (default: as trained)")
    certify.add_argument("--seed", type=int_at_least(0), default=0,
                         help="seed of the starts and episodes (default: 0)")
    certify.add_argument("--out", type=output_file(".png"),
                         help="also write the picture (tube slices, starts by outcome) to this .png")
    certify.add_argument("--json", type=output_file(".json"), help="also write the report to this .json file")
    certify.set_defaults(func=cmd_certify)
