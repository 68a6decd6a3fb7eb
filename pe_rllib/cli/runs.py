"""Commands about runs: ``train``, ``tune``, ``status``, ``league``."""

from __future__ import annotations

import argparse
import json
import time

from pe_rllib.cli.common import (
    DEFAULT_EXPERIMENT,
    CliError,
    add_ray_arguments,
    int_at_least,
    load_config,
    parse_overrides,
)
from pe_rllib.cli.formatting import ago, aligned, fmt, progress_line
from pe_rllib.cli.terminal import without_known_ray_lines
from pe_rllib.config import load_experiment
from pe_rllib.rundir import EXPERIMENT_FILE


def cmd_train(args: argparse.Namespace) -> int:
    from pe_rllib.training.run import train

    resume_overrides = None
    if args.resume is not None:
        if args.config is not None or args.output is not None:
            raise CliError("--resume continues the run's own experiment.yaml in its own directory; "
                           "drop --config/--output")
        experiment, resume_overrides = None, parse_overrides(args.set or [])
    else:
        args.config = args.config or DEFAULT_EXPERIMENT
        experiment = load_config(args)
    start = time.perf_counter()
    summary = train(experiment, output=args.output, resume=args.resume, resume_overrides=resume_overrides,
                    stop_iterations=args.stop_iters, address=args.address, dashboard=not args.no_dashboard,
                    log_level="INFO" if args.verbose else "ERROR",
                    on_start=lambda where, run_dir: print(f"{where}; run directory {run_dir}", flush=True),
                    on_iteration=lambda report: print(progress_line(report), flush=True),
                    build_guard=without_known_ray_lines)
    if summary.last is None:
        print(f"nothing to do: the run is already at iteration {summary.iterations} (--stop-iters to go further)")
        print(f"checkpoint: {summary.checkpoint}")
        return 0
    last = summary.last.figures
    print(f"done: {summary.iterations} iterations, {summary.env_steps:,} env steps in "
          f"{time.perf_counter() - start:.0f} s; last capture {fmt(last.get('capture_rate'))} "
          f"escape {fmt(last.get('escape_rate'))}")
    print(f"checkpoint: {summary.checkpoint}")
    print(f"run directory: {summary.run_dir}  (continue with: pe-rllib train --resume {summary.run_dir})")
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    from pe_rllib.training.sweep import METRIC, RESULTS_FILE, load_sweep, tune_run

    if (args.config is None) == (args.resume is None):
        raise CliError("give either --config SWEEP.yaml (a new sweep) or --resume SWEEP_DIR (continue one)")
    sweep = load_sweep(args.config) if args.config is not None else None
    if sweep is not None:
        print(f"sweep {sweep.name}: {', '.join(d.path for d in sweep.search)} ({sweep.scheduler}); "
              f"metric {METRIC}; directory {sweep.directory}", flush=True)
    outcome = tune_run(sweep, resume=args.resume, address=args.address)
    rows = outcome.rows
    if rows:
        params = list(rows[0]["params"])
        table = [["trial", *params, "iters", "strength", "pursuer", "evader", "capture", "best checkpoint"]]
        for row in rows:
            table.append([row["trial"], *(fmt(row["params"][k], "g") for k in params),
                          fmt(row["iterations"], "d"), fmt(row["strength"], ".3f"),
                          fmt(row["pursuer_vs_scripted"], ".3f"), fmt(row["evader_vs_scripted"], ".3f"),
                          fmt(row["capture_rate"], ".3f"), row["error"] or row["best_checkpoint"] or "-"])
        print(aligned(table))
        print("strength: the weaker role's success against the scripted opponents at the latest evaluation "
              "(pursuer: capture rate vs scripted evaders, evader: escape rate vs scripted pursuers)")
    print(f"results: {outcome.directory / RESULTS_FILE}")
    if outcome.unfinished:
        print(f"interrupted: {outcome.unfinished} trial(s) not finished; continue with: "
              f"pe-rllib tune --resume {outcome.directory}")
        return 130
    return 1 if any(row["error"] for row in rows) else 0


def cmd_status(args: argparse.Namespace) -> int:
    from pe_rllib.status import run_status

    status = run_status(args.run)
    if args.json:
        print(json.dumps(status, indent=1))
        return 0
    holder = f" ({status['lock_holder']})" if status["lock_holder"] else ""
    print(f"{status['run_dir']}: {status['state']}{holder}")
    latest = status["latest"]
    stop = status["stop_iterations"] or "?"
    steps = status["env_steps"]
    print(f"iteration {status['iteration']}/{stop}  phase {latest.get('phase', '-')} "
          f"[{latest.get('training_roles', '-')}]  capture {fmt(latest.get('capture_rate'))}  "
          f"escape {fmt(latest.get('escape_rate'))}  collision {fmt(latest.get('collision_rate'))}  "
          f"gap {fmt(latest.get('balance_gap'))}  {fmt(status['steps_per_second'], '.0f')} steps/s  "
          f"{f'{steps:,}' if steps is not None else '-'} env steps  (updated {ago(status['progress_age_seconds'])})")
    if "curriculum_level" in latest or "health_interventions" in latest:
        print(f"curriculum level {latest.get('curriculum_level', '-')}  health interventions "
              f"{latest.get('health_interventions', '-')}")
    evaluation = status["evaluation"]
    if evaluation:
        print(f"evaluation at iteration {evaluation['iteration']}: pursuer vs scripted "
              f"{fmt(evaluation.get('pursuer_vs_scripted'))}  evader vs scripted "
              f"{fmt(evaluation.get('evader_vs_scripted'))}  trained-vs-trained capture "
              f"{fmt(evaluation.get('trained_capture'))}")
    checkpoint = status["checkpoint"]
    if checkpoint["path"]:
        print(f"checkpoint: {checkpoint['path']} (iteration {checkpoint['iteration']}, "
              f"{ago(checkpoint['age_seconds'])})")
    else:
        print(f"checkpoint: none usable ({checkpoint['problem']})")
    return 0


def cmd_league(args: argparse.Namespace) -> int:
    from pe_rllib.rundir import resolve_checkpoint, selfplay_state
    from pe_rllib.selfplay import League

    checkpoint = resolve_checkpoint(args.run)
    experiment = load_experiment(checkpoint / EXPERIMENT_FILE)
    state = selfplay_state(checkpoint)
    if "league" not in state:
        raise CliError(f"{args.run}: this run has no league (league.enabled: false)")
    league = League.from_dict(experiment.league, state["league"])
    print(f"league of {checkpoint} (sampling {experiment.league.sampling}, pool size {experiment.league.pool_size}; "
          "win rate: the other role's current policy against the entry, from the latest deterministic cross-play "
          "once there was one; meets: the share of pool episodes that meet the entry this iteration)")
    header = ("id", "role", "iteration", "elo", "games", "cross-played", "learner win rate", "meets")
    plan = {}
    for entries in state.get("slot_plan", {}).values():                  # {entry: share}; a list before 2026-12
        plan.update(entries if isinstance(entries, dict) else dict.fromkeys(entries))
    rows = [header] + [(row["id"], row["role"], "-" if row["iteration"] is None else str(row["iteration"]),
                        f"{row['elo']:.0f}", str(row["games"]),
                        "-" if row["eval_games"] is None else str(row["eval_games"]),
                        "-" if row["learner_win_rate"] is None else f"{row['learner_win_rate']:.2f}",
                        ("yes" if plan[row["id"]] is None else f"{plan[row['id']]:.2f}") if row["id"] in plan else "")
                       for row in league.table()]
    print(aligned(rows))
    health = state.get("health")
    if health is not None:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(health["counts"].items())) or "none"
        print(f"health interventions: {counts}; known-good: "
              + ", ".join(f"{role} {snap}" for role, snap in sorted(health["known_good"].items())))
    return 0


def add_train(sub) -> None:
    train = sub.add_parser("train", help="self-play training on RLlib (default: the quickstart)")
    train.add_argument("--config", help=f"experiment YAML or bundled experiment name (default: {DEFAULT_EXPERIMENT})")
    train.add_argument("--set", action="append", metavar="KEY=VALUE",
                       help="override a config value, e.g. --set training.lr=1e-4 (repeatable); with --resume "
                            "only fields that do not change what the run learns (README)")
    train.add_argument("--stop-iters", type=int_at_least(1),
                       help="training iterations (default: training.stop_iterations)")
    train.add_argument("--output", help="run directory (default: runs/pe-<timestamp>)")
    train.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its newest checkpoint")
    add_ray_arguments(train)
    train.set_defaults(func=cmd_train)


def add_tune(sub) -> None:
    tune = sub.add_parser("tune", help="a Ray Tune sweep over experiment fields (speed ratios, reward weights, "
                          "learner settings): grid/random search, ASHA or PBT")
    tune.add_argument("--config", help="sweep YAML or bundled sweep name (speed_ratio_sweep, reward_weights_sweep)")
    tune.add_argument("--resume", metavar="SWEEP_DIR", help="continue an interrupted sweep (errored trials too)")
    add_ray_arguments(tune, dashboard=False)
    tune.set_defaults(func=cmd_tune)


def add_status(sub) -> None:
    status = sub.add_parser("status", help="where a run stands (iteration, phase, rates, evaluation, checkpoint, "
                            "alive or not), from its directory alone: also over a shared storage path")
    status.add_argument("run", metavar="RUN_DIR")
    status.add_argument("--json", action="store_true", help="print the status as JSON")
    status.set_defaults(func=cmd_status)


def add_league(sub) -> None:
    league = sub.add_parser("league", help="a run's opponent pool: entries, Elo, games, win rates, health events")
    league.add_argument("run", metavar="RUN_OR_CHECKPOINT")
    league.set_defaults(func=cmd_league)
