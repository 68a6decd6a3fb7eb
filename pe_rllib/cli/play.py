"""Commands that play players against each other: ``rollout``, ``render``, ``evaluate``, ``plot``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pe_rllib.cli.common import (
    CliError,
    add_world_arguments,
    check_player_names,
    float_in,
    int_at_least,
    int_in,
    output_file,
    player,
    world,
    write_output,
)
from pe_rllib.cli.formatting import Progress, aligned, exploit_lines, format_table, verdict_line
from pe_rllib.files import write_atomic

ARENAS = int_in(1, 65_536)
"""``--num-envs``: arenas stepped at once."""


DEFAULT_EVADER = {"planar": "straight_flee", "aerial": "straight"}
"""The scripted evader ``rollout`` and ``render`` play when ``--evader`` names none, per world."""


def players_world(args: argparse.Namespace):
    """The world ``--pursuer``/``--evader`` play in (:func:`world`), their names checked first; an unnamed evader
    becomes that world's default."""
    defaulted = args.evader is None
    args.evader = args.evader or DEFAULT_EVADER["planar"]
    check_player_names(args)
    config = world(args)
    if defaulted:
        args.evader = DEFAULT_EVADER[config.world]
    return config


def cmd_rollout(args: argparse.Namespace) -> int:
    from pe_rllib.evaluation import evaluate
    from pe_rllib.policies import world_scripted_names
    from pe_rllib.safety import make_batched_env

    config = players_world(args)
    if args.matrix:
        pursuers, evaders = world_scripted_names(config, "pursuer"), world_scripted_names(config, "evader")
        matchups = [(p, e) for p in pursuers for e in evaders]
    else:
        matchups = [(args.pursuer, args.evader)]
    # Every player is built (and so validated) before any episode runs.
    players = {("pursuer", p): player(p, "pursuer", config, args.seed) for p, _ in matchups}
    players |= {("evader", e): player(e, "evader", config, args.seed + 1) for _, e in matchups}
    rows = []
    for pursuer, evader in matchups:
        result = evaluate(
            config.world_config, players["pursuer", pursuer], players["evader", evader], args.episodes,
            seed=args.seed, num_envs=args.num_envs, names=(pursuer, evader),
            make_env=lambda n: make_batched_env(n, config), progress=Progress(f"{pursuer} vs {evader}"))
        rows.append(result.to_dict())
    safety = "on" if config.safety.enabled else "off"
    print(f"rollout, safety filter {safety}, seed {args.seed}")
    print(format_table(rows))
    if args.json is not None:
        payload = {"safety": safety, "seed": args.seed, "results": rows}
        write_output(args.json, "--json", lambda path: write_atomic(path, json.dumps(payload, indent=2)))
    if args.gif is not None:
        from pe_rllib.rendering import record_episode
        pursuer, evader = matchups[0]
        write_output(args.gif, "--gif", lambda path: record_episode(
            config, players["pursuer", pursuer], players["evader", evader], path, seed=args.seed,
            title=f"{pursuer} vs {evader}"))
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    from pe_rllib.envs.render import VIDEO_HINT, video_available

    if args.run is not None:
        args.pursuer = args.pursuer or args.run
        args.evader = args.evader or args.run
    args.pursuer = args.pursuer or "pure_pursuit"
    if args.out.suffix.lower() == ".mp4" and not video_available():
        raise CliError(f"--out {args.out}: writing .mp4 needs imageio-ffmpeg ({VIDEO_HINT})")
    config = players_world(args)
    pursuer = player(args.pursuer, "pursuer", config, args.seed)
    evader = player(args.evader, "evader", config, args.seed + 1)
    from pe_rllib.rendering import record_episode

    title = f"{Path(args.pursuer).name} vs {Path(args.evader).name}"
    write_output(args.out, "--out", lambda path: record_episode(config, pursuer, evader, path, seed=args.seed,
                                                                 max_frames=args.max_frames, title=title))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from pe_rllib.evaluation.suite import AGAINST, evaluate_run

    if args.against not in AGAINST and not Path(args.against).exists():
        raise CliError(f"--against {args.against}: must be {' or '.join(AGAINST)} or a run/checkpoint directory")
    safety = None if args.safety is None else args.safety == "on"
    result = evaluate_run(args.run, against=args.against, episodes=args.episodes, seed=args.seed, safety=safety,
                          num_envs=args.num_envs, progress=Progress)
    print(f"evaluate {result.checkpoint}: {args.episodes} episodes per matchup, safety filter "
          f"{'on' if result.safety else 'off'}, seed {args.seed}; rates with Wilson 95% intervals")
    print(format_table([row.to_dict() for row in result.rows]))
    if result.cross_play is not None:
        print("\ncross-play capture rate (rows: pursuers, columns: evaders)")
        header = ["", *result.cross_play["evaders"]]
        lines = [header] + [[p, *(f"{c:.3f}" for c in caps)]
                            for p, caps in zip(result.cross_play["pursuers"], result.cross_play["capture_rate"])]
        print(aligned(lines))
    if result.head_to_head is not None:
        h = result.head_to_head
        low, high = h["ci95"]
        print(f"\nhead to head: our pursuer catches their evader {h['our_pursuer_capture']:.3f}, theirs catches ours "
              f"{h['their_pursuer_capture']:.3f}: lead {h['lead']:+.3f} [{low:+.3f}, {high:+.3f}], {h['verdict']}")
    if result.exploitability:
        episodes = next(iter(result.exploitability.values()))["episodes"]
        print(f"\nexploitability (pe-rllib exploit; {episodes} episodes per matchup)")
        for role in ("pursuer", "evader"):
            if role in result.exploitability:
                print("\n".join(exploit_lines(result.exploitability[role])))
        print(verdict_line(result.exploitability, args.threshold))
    if args.json is not None:
        write_output(args.json, "--json", lambda path: write_atomic(path, json.dumps(result.to_dict(), indent=2)))
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from pe_rllib.plots import plot_run

    write_output(args.out, "--out", lambda path: plot_run(args.run, path, smooth=args.smooth))
    return 0


def add_rollout(sub) -> None:
    rollout = sub.add_parser("rollout", help="evaluate scripted or trained players on the batched world")
    rollout.add_argument("--pursuer", default="pure_pursuit",
                         help="scripted pursuer name or a trained run/checkpoint directory (default: pure_pursuit)")
    rollout.add_argument("--evader",
                         help="scripted evader name or a trained run/checkpoint directory (default: straight_flee; "
                              "straight in the aerial world)")
    rollout.add_argument("--episodes", type=int_at_least(1), default=200, help="episodes per matchup (default: 200)")
    rollout.add_argument("--matrix", action="store_true", help="every scripted pursuer x every scripted evader")
    add_world_arguments(rollout, "experiment YAML or bundled experiment name (default: built-in defaults, or a "
                                 "trained player's own world)")
    rollout.add_argument("--seed", type=int_at_least(0), default=0)
    rollout.add_argument("--num-envs", type=ARENAS, default=1024, help="arenas stepped at once")
    rollout.add_argument("--json", type=output_file(".json"), help="write results to this .json file")
    rollout.add_argument("--gif", type=output_file(".gif", ".png"),
                         help="record one episode to this .gif (or last frame to .png)")
    rollout.set_defaults(func=cmd_rollout)


def add_render(sub) -> None:
    render = sub.add_parser("render", help="one episode as a picture or video: trajectories, capture point, "
                            "filter interventions, field of view and LiDAR (partial observation)")
    render.add_argument("run", nargs="?", metavar="RUN_OR_CHECKPOINT",
                        help="both trained roles of this run (--pursuer/--evader override either)")
    render.add_argument("--pursuer", help="scripted pursuer name or a run/checkpoint directory "
                        "(default: the run's, else pure_pursuit)")
    render.add_argument("--evader", help="scripted evader name or a run/checkpoint directory "
                        "(default: the run's, else straight_flee; straight in the aerial world)")
    render.add_argument("--out", required=True, type=output_file(".gif", ".mp4", ".png"),
                        help=".gif or .mp4 (the episode) or .png (its last frame)")
    add_world_arguments(render, "experiment YAML or bundled name (default: the trained player's world)")
    render.add_argument("--seed", type=int_at_least(0), default=0, help="episode seed (default: 0)")
    render.add_argument("--max-frames", type=int_in(1, 10_000), default=200,
                        help="frames of a .gif/.mp4 at most (default: 200)")
    render.set_defaults(func=cmd_render)


def add_evaluate(sub) -> None:
    evaluate = sub.add_parser("evaluate", help="a trained run against scripted opponents, its pool or another run")
    evaluate.add_argument("run", metavar="RUN_OR_CHECKPOINT", help="run directory (newest intact checkpoint) "
                          "or checkpoint directory")
    evaluate.add_argument("--against", default="scripted",
                          help="scripted (default): every scripted opponent and each other; pool: cross-play "
                               "matrix over current roles and filled snapshot slots; or another run directory")
    evaluate.add_argument("--episodes", type=int_at_least(1), default=500, help="episodes per matchup (default: 500)")
    evaluate.add_argument("--safety", choices=("on", "off"), help="safety filter (default: as trained)")
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument("--num-envs", type=ARENAS, default=1024, help="arenas stepped at once")
    evaluate.add_argument("--json", type=output_file(".json"),
                          help="write every matchup (with intervals) to this .json file")
    evaluate.add_argument("--threshold", type=float_in(0.0, 1.0), default=0.05,
                          help="epsilon of the equilibrium verdict, when exploit results exist (default: 0.05)")
    evaluate.set_defaults(func=cmd_evaluate)


def add_plot(sub) -> None:
    plot = sub.add_parser("plot", help="a run's learning curves (rates, balance gap, phases, evaluations) as PNG")
    plot.add_argument("run", metavar="RUN_DIR")
    plot.add_argument("--out", required=True, type=output_file(".png"), help="the .png to write")
    plot.add_argument("--smooth", type=int_at_least(1), default=5,
                      help="trailing mean over this many iterations (default: 5)")
    plot.set_defaults(func=cmd_plot)
