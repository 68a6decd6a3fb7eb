"""``pe-rllib`` command line. The CLI owns terminal output; library code only logs."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import yaml

from pe_rllib.config import ConfigError, ExperimentConfig, load_experiment, other_role
from pe_rllib.files import write_atomic
from pe_rllib.rundir import EXPERIMENT_FILE, RunDirectoryError

EXIT_USAGE = 2


class CliError(Exception):
    """A user error reported as one line (exit code 2)."""


def _parse_overrides(pairs: Sequence[str]) -> dict[str, Any]:
    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CliError(f"--set {pair!r}: expected KEY=VALUE, e.g. env.evader_v_max=1.15")
        try:
            overrides[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError as err:
            raise CliError(f"--set {pair!r}: value is not valid YAML ({str(err).splitlines()[0]})") from None
    return overrides


def _load_config(args: argparse.Namespace) -> ExperimentConfig:
    overrides = _parse_overrides(args.set or [])
    if getattr(args, "safety", None) is not None:
        overrides["safety.enabled"] = args.safety == "on"
    return load_experiment(args.config, overrides)


def _check_output(path: str | None, suffixes: tuple[str, ...], flag: str) -> Path | None:
    """Validate an output path up front so no work is wasted on an unwritable target."""
    if path is None:
        return None
    out = Path(path)
    if out.suffix.lower() not in suffixes:
        raise CliError(f"{flag} {path}: must end in {' or '.join(suffixes)}")
    parent = out.parent
    if not parent.is_dir():
        raise CliError(f"{flag} {path}: directory {parent} does not exist")
    if out.is_dir():
        raise CliError(f"{flag} {path}: is a directory")
    if not os.access(parent, os.W_OK) or (out.exists() and not os.access(out, os.W_OK)):
        raise CliError(f"{flag} {path}: not writable")
    return out


def _write_output(path: Path, flag: str, write) -> None:
    """Run ``write(path)``; a file-system failure (disk full, permissions changed) is one line."""
    try:
        write(path)
    except OSError as err:
        raise CliError(f"{flag} {path}: cannot write ({err.strerror or err})") from None
    print(f"wrote {path}")


class Progress:
    """A one-line progress counter on stderr (rewritten in place on a terminal)."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.start = time.perf_counter()
        self.tty = sys.stderr.isatty()

    def __call__(self, done: int, total: int) -> None:
        line = f"{self.label}: {done}/{total} episodes ({time.perf_counter() - self.start:.1f} s)"
        if self.tty:
            print(f"\r{line}", end="" if done < total else "\n", file=sys.stderr, flush=True)
        elif done == total:
            print(line, file=sys.stderr, flush=True)


def _cell(row: dict, key: str, fmt: str) -> str:
    """A value, with its 95 % interval when the row has one (``0.540 [0.484,0.595]``)."""
    if row.get(key) is None:
        return "-"
    text = fmt.format(row[key])
    interval = row.get("ci95", {}).get(key)
    return f"{text} [{interval[0]:.3f},{interval[1]:.3f}]" if interval and "{:.3f}" == fmt else text


def _aligned(rows: Sequence[Sequence[str]]) -> str:
    """Rows of strings (the first is the header) as left-aligned columns."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows)


def _format_table(rows: list[dict]) -> str:
    """Matchup rows (``MatchupResult.to_dict()``) as an aligned table; rates with Wilson 95 % intervals."""
    columns = [("pursuer", "pursuer", "{}"), ("evader", "evader", "{}"), ("episodes", "episodes", "{}"),
               ("capture", "capture_rate", "{:.3f}"), ("escape", "escape_rate", "{:.3f}"),
               ("collision", "collision_rate", "{:.3f}"), ("t_capture[s]", "mean_time_to_capture", "{:.2f}"),
               ("interventions", "intervention_rate", "{:.3f}")]
    cells = [[h for h, _, _ in columns]]
    for row in rows:
        cells.append([_cell(row, key, fmt) for _, key, fmt in columns])
    return _aligned(cells)


def _check_player_names(args: argparse.Namespace) -> None:
    from pe_rllib.policies import SCRIPTED, make_scripted

    for name, role in ((args.pursuer, "pursuer"), (args.evader, "evader")):
        if name not in SCRIPTED and not Path(name).exists():
            if os.sep in name or name.startswith("."):
                raise CliError(f"--{role} {name}: no such run or checkpoint directory")
            make_scripted(name, role, ExperimentConfig().env)                  # raises the one-line error


def _world(args: argparse.Namespace) -> ExperimentConfig:
    """--config/--set/--safety; with no --config, a trained player's own world (the first named)."""
    from pe_rllib.policies import SCRIPTED

    trained = [name for name in (args.pursuer, args.evader) if name not in SCRIPTED]
    if trained and args.config is None:
        from pe_rllib.rundir import resolve_checkpoint
        args.config = resolve_checkpoint(trained[0]) / EXPERIMENT_FILE
    return _load_config(args)


def _player(name: str, role: str, config: ExperimentConfig, seed: int):
    """A scripted policy by name, or a trained role from a run/checkpoint directory (in ``config``'s world)."""
    from pe_rllib.policies import SCRIPTED, load_policy, make_scripted

    if name in SCRIPTED:
        return make_scripted(name, role, config.env, seed=seed)
    policy = load_policy(name, role)
    if policy.env_config != config.env:
        raise CliError(f"{name}: trained in a different world than --config/--set describe "
                       f"(its own: {policy.checkpoint / EXPERIMENT_FILE})")
    return policy


def cmd_render(args: argparse.Namespace) -> int:
    from pe_rllib.envs.render import VIDEO_HINT, video_available

    if args.run is not None:
        args.pursuer = args.pursuer or args.run
        args.evader = args.evader or args.run
    args.pursuer = args.pursuer or "pure_pursuit"
    args.evader = args.evader or "straight_flee"
    out = _check_output(args.out, (".gif", ".mp4", ".png"), "--out")
    if out.suffix.lower() == ".mp4" and not video_available():
        raise CliError(f"--out {args.out}: writing .mp4 needs imageio-ffmpeg ({VIDEO_HINT})")
    if not 1 <= args.max_frames <= 10_000:
        raise CliError(f"--max-frames: must be in [1, 10000], got {args.max_frames}")
    if args.seed < 0:
        raise CliError(f"--seed: must be >= 0, got {args.seed}")
    _check_player_names(args)
    config = _world(args)
    pursuer = _player(args.pursuer, "pursuer", config, args.seed)
    evader = _player(args.evader, "evader", config, args.seed + 1)
    from pe_rllib.rendering import record_episode

    title = f"{Path(args.pursuer).name} vs {Path(args.evader).name}"
    _write_output(out, "--out", lambda path: record_episode(config, pursuer, evader, path, seed=args.seed,
                                                            max_frames=args.max_frames, title=title))
    return 0


def cmd_rollout(args: argparse.Namespace) -> int:
    from pe_rllib.evaluation import evaluate
    from pe_rllib.policies import scripted_names
    from pe_rllib.safety import make_batched_env

    _check_player_names(args)
    config = _world(args)
    gif = _check_output(args.gif, (".gif", ".png"), "--gif")
    json_out = _check_output(args.json, (".json",), "--json")
    if args.episodes < 1:
        raise CliError(f"--episodes: must be >= 1, got {args.episodes}")
    if not 1 <= args.num_envs <= 65_536:
        raise CliError(f"--num-envs: must be in [1, 65536], got {args.num_envs}")
    if args.seed < 0:
        raise CliError(f"--seed: must be >= 0, got {args.seed}")
    if args.matrix:
        matchups = [(p, e) for p in scripted_names("pursuer") for e in scripted_names("evader")]
    else:
        matchups = [(args.pursuer, args.evader)]

    # Every player is built (and so validated) before any episode runs.
    players = {("pursuer", p): _player(p, "pursuer", config, args.seed) for p, _ in matchups}
    players |= {("evader", e): _player(e, "evader", config, args.seed + 1) for _, e in matchups}

    rows = []
    for pursuer, evader in matchups:
        result = evaluate(
            config.env, players["pursuer", pursuer], players["evader", evader], args.episodes,
            seed=args.seed, num_envs=args.num_envs, names=(pursuer, evader),
            make_env=lambda n: make_batched_env(n, config),
            progress=Progress(f"{pursuer} vs {evader}"))
        rows.append(result.to_dict())
    safety = "on" if config.safety.enabled else "off"
    print(f"rollout, safety filter {safety}, seed {args.seed}")
    print(_format_table(rows))
    if json_out is not None:
        payload = {"safety": safety, "seed": args.seed, "results": rows}
        _write_output(json_out, "--json", lambda path: write_atomic(path, json.dumps(payload, indent=2)))
    if gif is not None:
        from pe_rllib.rendering import record_episode
        pursuer, evader = matchups[0]
        _write_output(gif, "--gif", lambda path: record_episode(
            config, players["pursuer", pursuer], players["evader", evader], path, seed=args.seed,
            title=f"{pursuer} vs {evader}"))
    return 0


DEFAULT_EXPERIMENT = "quickstart"


def cmd_plot(args: argparse.Namespace) -> int:
    from pe_rllib.plots import plot_run

    out = _check_output(args.out, (".png",), "--out")
    if args.smooth < 1:
        raise CliError(f"--smooth: must be >= 1, got {args.smooth}")
    _write_output(out, "--out", lambda path: plot_run(args.run, path, smooth=args.smooth))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from pe_rllib.evaluation.suite import AGAINST, evaluate_run

    json_out = _check_output(args.json, (".json",), "--json")
    if args.episodes < 1:
        raise CliError(f"--episodes: must be >= 1, got {args.episodes}")
    if not 1 <= args.num_envs <= 65_536:
        raise CliError(f"--num-envs: must be in [1, 65536], got {args.num_envs}")
    if args.against not in AGAINST and not Path(args.against).exists():
        raise CliError(f"--against {args.against}: must be {' or '.join(AGAINST)} or a run/checkpoint directory")
    safety = None if args.safety is None else args.safety == "on"
    result = evaluate_run(args.run, against=args.against, episodes=args.episodes, seed=args.seed, safety=safety,
                          num_envs=args.num_envs, progress=Progress)
    print(f"evaluate {result.checkpoint}: {args.episodes} episodes per matchup, safety filter "
          f"{'on' if result.safety else 'off'}, seed {args.seed}; rates with Wilson 95% intervals")
    print(_format_table([row.to_dict() for row in result.rows]))
    if result.cross_play is not None:
        print("\ncross-play capture rate (rows: pursuers, columns: evaders)")
        header = ["", *result.cross_play["evaders"]]
        lines = [header] + [[p, *(f"{c:.3f}" for c in caps)]
                            for p, caps in zip(result.cross_play["pursuers"], result.cross_play["capture_rate"])]
        print(_aligned(lines))
    if result.exploitability:
        episodes = next(iter(result.exploitability.values()))["episodes"]
        print(f"\nexploitability (pe-rllib exploit; {episodes} episodes per matchup)")
        for role in ("pursuer", "evader"):
            if role in result.exploitability:
                print("\n".join(_exploit_lines(result.exploitability[role])))
        print(_verdict(result.exploitability, args.threshold))
    if json_out is not None:
        _write_output(json_out, "--json", lambda path: write_atomic(path, json.dumps(result.to_dict(), indent=2)))
    return 0


def _interval(value: float, ci95, spec: str = ".3f") -> str:
    return f"{value:{spec}} [{ci95[0]:{spec}},{ci95[1]:{spec}}]"


def _exploit_lines(summary: dict) -> list[str]:
    """A role's exploit result (``ExploitResult.summary()``): each method's best response and gap, the
    strongest, and the best fixed scripted policy."""
    role, what = summary["role"], summary["success"].split("_")[0]
    methods = summary.get("methods") or {summary.get("method", "rl-fresh"): summary}
    lines = [f"{role}: trained {role} vs {summary['opponent']}: {what} "
             f"{_interval(summary['trained'], summary['trained_ci95'])}"]
    for name, m in methods.items():
        budget = f", {m['budget_env_steps']:,} env steps" if m.get("budget_env_steps") else ""
        lines.append(f"{role}: best response by {name}{budget}: {what} "
                     f"{_interval(m['best_response'], m['best_response_ci95'])}, gap "
                     f"{_interval(m['gap'], m['gap_ci95'], '+.3f')}")
        if m.get("params"):
            lines.append(f"{role}:   searched controller: " + ", ".join(f"{k}={v:g}" for k, v in m["params"].items()))
    line = f"{role}: gap {_interval(summary['gap'], summary['gap_ci95'], '+.3f')} (strongest: {summary['method']})"
    scripted = summary.get("best_scripted")
    if scripted:
        line += f"; best fixed scripted ({scripted['name']}) gap {_interval(scripted['gap'], scripted['ci95'], '+.3f')}"
    return lines + [line]


def _verdict(summaries: dict, threshold: float) -> str:
    from pe_rllib.evaluation.exploitability import verdict

    return verdict({role: {"gap": s["gap"], "ci95": s["gap_ci95"], "method": s.get("method"),
                           "bounds": s.get("gap_bounds")} for role, s in summaries.items()}, threshold)


EXPLOIT_METHODS = {"all": ("search", "rl-trained", "rl-fresh"), "search": ("search",),
                   "rl": ("rl-trained", "rl-fresh")}


def _exploit_methods(args: argparse.Namespace) -> list[str]:
    """The methods ``--method`` and ``--init`` select."""
    inits = ("trained", "fresh") if args.init in (None, "both") else (args.init,)
    return [m for m in EXPLOIT_METHODS[args.method] if m == "search" or m.split("-")[1] in inits]


def cmd_exploit(args: argparse.Namespace) -> int:
    from pe_rllib.evaluation.exploitability import exploit_results
    from pe_rllib.evaluation.search import SearchSettings
    from pe_rllib.rundir import resolve_checkpoint
    from pe_rllib.training.exploit import exploit

    roles = ["pursuer", "evader"] if args.role == "both" else [args.role]
    methods = _exploit_methods(args)
    if args.init is not None and args.method == "search":
        raise CliError("--init: applies to the RL methods (--method rl or all), not to --method search")
    if args.output is not None and (len(roles) > 1 or len([m for m in methods if m != "search"]) != 1
                                    or args.seeds != 1):
        raise CliError("--output: names one best-response run; use it with one --role, --method rl, one --init "
                       "and one seed")
    for flag, value, least in (("--budget", args.budget, 1), ("--seeds", args.seeds, 1),
                               ("--episodes", args.episodes, 1), ("--generations", args.generations, 1),
                               ("--population", args.population, 2)):
        if value is not None and value < least:
            raise CliError(f"{flag}: must be >= {least}, got {value}")
    if not 0.0 <= args.threshold <= 1.0:
        raise CliError(f"--threshold: must be in [0, 1], got {args.threshold}")
    json_out = _check_output(args.json, (".json",), "--json")
    checkpoint = resolve_checkpoint(args.run)
    search = SearchSettings(generations=args.generations, population=args.population, seed=args.search_seed)
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
            address=args.address, dashboard=not args.no_dashboard, log_level="INFO" if args.verbose else "ERROR",
            on_start=lambda where, run_dir: print(f"{where}; best-response run {run_dir}", flush=True),
            on_iteration=lambda report: print(_progress_line(report), flush=True),
            on_method=lambda method, role=role: print(f"{role}: method {method}", flush=True),
            on_generation=generation, progress=Progress)
    print(f"\nexploitability of {checkpoint} ({args.episodes} episodes per matchup, seed {args.seed}, "
          "Wilson/Newcombe 95% intervals)")
    rows = []
    for r in results.values():
        first = next(iter(r.methods.values()))
        rows += [m.best_response for m in r.methods.values()] + [first.trained, *r.scripted]
    print(_format_table([row.to_dict() for row in rows]))
    # Earlier results for the same checkpoint (other methods, the other role) complete the verdict.
    summaries = {role: r.summary() for role, r in exploit_results(checkpoint).items()}
    summaries.update({role: r.summary() for role, r in results.items() if role not in summaries})
    for role in ("pursuer", "evader"):
        if role in summaries:
            print("\n".join(_exploit_lines(summaries[role])))
    line = _verdict(summaries, args.threshold)
    print(line)
    if json_out is not None:
        payload = {"checkpoint": str(checkpoint), "threshold": args.threshold,
                   "results": {role: r.to_dict() for role, r in results.items()},
                   "recorded": summaries, "verdict": line}
        _write_output(json_out, "--json", lambda path: write_atomic(path, json.dumps(payload, indent=2)))
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
    print(_aligned(rows))
    health = state.get("health")
    if health is not None:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(health["counts"].items())) or "none"
        print(f"health interventions: {counts}; known-good: "
              + ", ".join(f"{role} {snap}" for role, snap in sorted(health["known_good"].items())))
    return 0


def _fmt(value, spec: str = ".2f") -> str:
    return "-" if value is None or (isinstance(value, float) and value != value) else format(value, spec)


def _progress_line(report) -> str:
    f = report.figures
    width = len(str(report.stop_iterations))
    evaluation = ""
    if "eval_pursuer_vs_scripted" in f:
        evaluation = (f"\n  eval vs scripted: pursuer capture {_fmt(f['eval_pursuer_vs_scripted'])}  "
                      f"evader escape {_fmt(f['eval_evader_vs_scripted'])}  trained-vs-trained capture "
                      f"{_fmt(f['eval_trained_capture'])} (best scripted pursuer "
                      f"{_fmt(f['eval_best_scripted_capture'])})")
        if "eval_pursuer_vs_pool" in f or "eval_evader_vs_pool" in f:
            evaluation += (f"\n  eval vs own snapshots: pursuer capture {_fmt(f.get('eval_pursuer_vs_pool'))}  "
                           f"evader escape {_fmt(f.get('eval_evader_vs_pool'))}")
    return (f"iter {report.iteration:>{width}}/{report.stop_iterations}  phase {f.get('phase', '-'):>2} "
            f"[{f.get('training_roles', '-'):<15}]  capture {_fmt(f.get('capture_rate'))}  "
            f"escape {_fmt(f.get('escape_rate'))}  collision {_fmt(f.get('collision_rate'))}  "
            f"gap {_fmt(f.get('balance_gap'))}  episodes {f.get('episodes', 0):>3}  "
            f"{_fmt(report.steps_per_second, '.0f')} steps/s  ({report.env_steps_lifetime:,} steps)" + evaluation)


def cmd_train(args: argparse.Namespace) -> int:
    from pe_rllib.training.run import train

    if args.stop_iters is not None and args.stop_iters < 1:
        raise CliError(f"--stop-iters: must be >= 1, got {args.stop_iters}")
    resume_overrides = None
    if args.resume is not None:
        if args.config is not None or args.output is not None:
            raise CliError("--resume continues the run's own experiment.yaml in its own directory; "
                           "drop --config/--output")
        experiment, resume_overrides = None, _parse_overrides(args.set or [])
    else:
        args.config = args.config or DEFAULT_EXPERIMENT
        experiment = _load_config(args)
    start = time.perf_counter()
    summary = train(experiment, output=args.output, resume=args.resume, resume_overrides=resume_overrides,
                    stop_iterations=args.stop_iters, address=args.address, dashboard=not args.no_dashboard,
                    log_level="INFO" if args.verbose else "ERROR",
                    on_start=lambda where, run_dir: print(f"{where}; run directory {run_dir}", flush=True),
                    on_iteration=lambda report: print(_progress_line(report), flush=True))
    if summary.last is None:
        print(f"nothing to do: the run is already at iteration {summary.iterations} (--stop-iters to go further)")
        print(f"checkpoint: {summary.checkpoint}")
        return 0
    last = summary.last.figures
    print(f"done: {summary.iterations} iterations, {summary.env_steps:,} env steps in "
          f"{time.perf_counter() - start:.0f} s; last capture {_fmt(last.get('capture_rate'))} "
          f"escape {_fmt(last.get('escape_rate'))}")
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
            table.append([row["trial"], *(_fmt(row["params"][k], "g") for k in params),
                          _fmt(row["iterations"], "d"), _fmt(row["strength"], ".3f"),
                          _fmt(row["pursuer_vs_scripted"], ".3f"), _fmt(row["evader_vs_scripted"], ".3f"),
                          _fmt(row["capture_rate"], ".3f"), row["error"] or row["best_checkpoint"] or "-"])
        print(_aligned(table))
        print("strength: the weaker role's success against the scripted opponents at the latest evaluation "
              "(pursuer: capture rate vs scripted evaders, evader: escape rate vs scripted pursuers)")
    print(f"results: {outcome.directory / RESULTS_FILE}")
    if outcome.unfinished:
        print(f"interrupted: {outcome.unfinished} trial(s) not finished; continue with: "
              f"pe-rllib tune --resume {outcome.directory}")
        return 130
    return 1 if any(row["error"] for row in rows) else 0


def _ago(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit} ago"
    return f"{seconds:.0f} s ago"


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
          f"[{latest.get('training_roles', '-')}]  capture {_fmt(latest.get('capture_rate'))}  "
          f"escape {_fmt(latest.get('escape_rate'))}  collision {_fmt(latest.get('collision_rate'))}  "
          f"gap {_fmt(latest.get('balance_gap'))}  {_fmt(status['steps_per_second'], '.0f')} steps/s  "
          f"{f'{steps:,}' if steps is not None else '-'} env steps  (updated {_ago(status['progress_age_seconds'])})")
    if "curriculum_level" in latest or "health_interventions" in latest:
        print(f"curriculum level {latest.get('curriculum_level', '-')}  health interventions "
              f"{latest.get('health_interventions', '-')}")
    evaluation = status["evaluation"]
    if evaluation:
        print(f"evaluation at iteration {evaluation['iteration']}: pursuer vs scripted "
              f"{_fmt(evaluation.get('pursuer_vs_scripted'))}  evader vs scripted "
              f"{_fmt(evaluation.get('evader_vs_scripted'))}  trained-vs-trained capture "
              f"{_fmt(evaluation.get('trained_capture'))}")
    checkpoint = status["checkpoint"]
    if checkpoint["path"]:
        print(f"checkpoint: {checkpoint['path']} (iteration {checkpoint['iteration']}, "
              f"{_ago(checkpoint['age_seconds'])})")
    else:
        print(f"checkpoint: none usable ({checkpoint['problem']})")
    return 0


def cmd_certify(args: argparse.Namespace) -> int:
    from pe_rllib.evaluation.certify import CERTIFY_FILE, CERTIFY_PLOT, DEFAULT_CELLS, certify, certify_dir, tube_world
    from pe_rllib.rundir import resolve_checkpoint

    out = _check_output(args.out, (".png",), "--out")
    json_out = _check_output(args.json, (".json",), "--json")
    if not 1 <= args.episodes <= 100_000:
        raise CliError(f"--episodes: must be in [1, 100000], got {args.episodes}")
    if args.grid is not None and not 9 <= args.grid <= 201:
        raise CliError(f"--grid: must be in [9, 201] cells, got {args.grid}")
    if args.margin is not None and not args.margin >= 0:
        raise CliError(f"--margin: must be >= 0 m, got {args.margin}")
    if args.seed < 0:
        raise CliError(f"--seed: must be >= 0, got {args.seed}")
    checkpoint = resolve_checkpoint(args.run)
    tube_world(load_experiment(checkpoint / EXPERIMENT_FILE).env)          # an open world, before any work
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
                     str(side.collisions), _interval(side.rate, side.to_dict()["ci95"])])
    print(_aligned(rows))
    walls = "reachable (episodes near one excluded)" if result.walls_reachable else "out of reach within T"
    print(f"optimal play: capture from inside 1, escape from outside 1; start distances {result.distances[0]:g}-"
          f"{result.distances[1]:g} m; walls {walls}")
    written = certify_dir(checkpoint) / checkpoint.name
    print(f"wrote {written / CERTIFY_FILE} and {written / CERTIFY_PLOT}")
    if out is not None:
        _write_output(out, "--out", lambda path: write_atomic(path, (written / CERTIFY_PLOT).read_bytes()))
    if json_out is not None:
        _write_output(json_out, "--json", lambda path: write_atomic(path, json.dumps(result.to_dict(), indent=2)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pe-rllib", description="Pursuit-evasion self-play on Ray RLlib.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", required=True)

    rollout = sub.add_parser("rollout", help="evaluate scripted or trained players on the batched world")
    rollout.add_argument("--pursuer", default="pure_pursuit",
                         help="scripted pursuer name or a trained run/checkpoint directory (default: pure_pursuit)")
    rollout.add_argument("--evader", default="straight_flee",
                         help="scripted evader name or a trained run/checkpoint directory (default: straight_flee)")
    rollout.add_argument("--episodes", type=int, default=200, help="episodes per matchup (default: 200)")
    rollout.add_argument("--matrix", action="store_true", help="every scripted pursuer x every scripted evader")
    rollout.add_argument("--config", help="experiment YAML or bundled experiment name (default: built-in "
                         "defaults, or a trained player's own world)")
    rollout.add_argument("--set", action="append", metavar="KEY=VALUE",
                         help="override a config value, e.g. --set env.evader_v_max=1.15 (repeatable)")
    rollout.add_argument("--safety", choices=("on", "off"), help="safety filter (default: from config)")
    rollout.add_argument("--seed", type=int, default=0)
    rollout.add_argument("--num-envs", type=int, default=1024, help="arenas stepped at once")
    rollout.add_argument("--json", help="write results to this .json file")
    rollout.add_argument("--gif", help="record one episode to this .gif (or last frame to .png)")
    rollout.set_defaults(func=cmd_rollout)

    evaluate = sub.add_parser("evaluate", help="a trained run against scripted opponents, its pool or another run")
    evaluate.add_argument("run", metavar="RUN_OR_CHECKPOINT", help="run directory (newest intact checkpoint) "
                          "or checkpoint directory")
    evaluate.add_argument("--against", default="scripted",
                          help="scripted (default): every scripted opponent and each other; pool: cross-play "
                               "matrix over current roles and filled snapshot slots; or another run directory")
    evaluate.add_argument("--episodes", type=int, default=500, help="episodes per matchup (default: 500)")
    evaluate.add_argument("--safety", choices=("on", "off"), help="safety filter (default: as trained)")
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument("--num-envs", type=int, default=1024, help="arenas stepped at once")
    evaluate.add_argument("--json", help="write every matchup (with intervals) to this .json file")
    evaluate.add_argument("--threshold", type=float, default=0.05,
                          help="epsilon of the equilibrium verdict, when exploit results exist (default: 0.05)")
    evaluate.set_defaults(func=cmd_evaluate)

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
    exploit.add_argument("--seeds", type=int, default=1,
                         help="RL best responses per init, with consecutive training seeds; the strongest counts "
                              "(default: 1)")
    exploit.add_argument("--budget", type=int, metavar="ENV_STEPS",
                         help="env steps each RL best response trains for (default: as many as the run had sampled "
                              "at the checkpoint; may be more)")
    exploit.add_argument("--generations", type=int, default=20, help="search generations (default: 20)")
    exploit.add_argument("--population", type=int, default=32,
                         help="search candidates per generation (default: 32)")
    exploit.add_argument("--search-seed", type=int, default=0, help="seed of the search (default: 0)")
    exploit.add_argument("--episodes", type=int, default=1000, help="evaluation episodes per matchup (default: 1000)")
    exploit.add_argument("--seed", type=int, default=0, help="seed of the evaluation episodes (default: 0)")
    exploit.add_argument("--train-seed", type=int,
                         help="seed of the (first) RL best response's training (default: the run's seed + 1)")
    exploit.add_argument("--threshold", type=float, default=0.05,
                         help="epsilon of the equilibrium verdict (default: 0.05)")
    exploit.add_argument("--output", help="the RL best-response run directory (default: RUN/exploit/<role>-...); "
                         "repeating the command continues or reuses it")
    exploit.add_argument("--json", help="write the results and the verdict to this .json file")
    exploit.add_argument("--address", help="Ray cluster address (default: RAY_ADDRESS, else embedded local Ray)")
    exploit.add_argument("--no-dashboard", action="store_true", help="do not start the Ray dashboard (embedded Ray)")
    exploit.set_defaults(func=cmd_exploit)

    render = sub.add_parser("render", help="one episode as a picture or video: trajectories, capture point, "
                            "filter interventions, field of view and LiDAR (partial observation)")
    render.add_argument("run", nargs="?", metavar="RUN_OR_CHECKPOINT",
                        help="both trained roles of this run (--pursuer/--evader override either)")
    render.add_argument("--pursuer", help="scripted pursuer name or a run/checkpoint directory "
                        "(default: the run's, else pure_pursuit)")
    render.add_argument("--evader", help="scripted evader name or a run/checkpoint directory "
                        "(default: the run's, else straight_flee)")
    render.add_argument("--out", required=True, help=".gif or .mp4 (the episode) or .png (its last frame)")
    render.add_argument("--config", help="experiment YAML or bundled name (default: the trained player's world)")
    render.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config value (repeatable)")
    render.add_argument("--safety", choices=("on", "off"), help="safety filter (default: from config)")
    render.add_argument("--seed", type=int, default=0, help="episode seed (default: 0)")
    render.add_argument("--max-frames", type=int, default=200, help="frames of a .gif/.mp4 at most (default: 200)")
    render.set_defaults(func=cmd_render)

    league = sub.add_parser("league", help="a run's opponent pool: entries, Elo, games, win rates, health events")
    league.add_argument("run", metavar="RUN_OR_CHECKPOINT")
    league.set_defaults(func=cmd_league)

    plot = sub.add_parser("plot", help="a run's learning curves (rates, balance gap, phases, evaluations) as PNG")
    plot.add_argument("run", metavar="RUN_DIR")
    plot.add_argument("--out", required=True, help="the .png to write")
    plot.add_argument("--smooth", type=int, default=5, help="trailing mean over this many iterations (default: 5)")
    plot.set_defaults(func=cmd_plot)

    train = sub.add_parser("train", help="self-play training on RLlib (default: the quickstart)")
    train.add_argument("--config", help=f"experiment YAML or bundled experiment name (default: {DEFAULT_EXPERIMENT})")
    train.add_argument("--set", action="append", metavar="KEY=VALUE",
                       help="override a config value, e.g. --set training.lr=1e-4 (repeatable); with --resume "
                            "only fields that do not change what the run learns (README)")
    train.add_argument("--stop-iters", type=int, help="training iterations (default: training.stop_iterations)")
    train.add_argument("--output", help="run directory (default: runs/pe-<timestamp>)")
    train.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its newest checkpoint")
    train.add_argument("--address", help="Ray cluster address (default: RAY_ADDRESS, else embedded local Ray)")
    train.add_argument("--no-dashboard", action="store_true", help="do not start the Ray dashboard (embedded Ray)")
    train.set_defaults(func=cmd_train)

    certify = sub.add_parser("certify", help="Hamilton-Jacobi ground truth (open worlds): the trained pursuer's "
                             "capture rate from inside the capture tube, the trained evader's escape rate from outside")
    certify.add_argument("run", metavar="RUN_OR_CHECKPOINT", help="run directory (newest intact checkpoint) "
                         "or checkpoint directory, of a world without obstacles (e.g. --config open)")
    certify.add_argument("--episodes", type=int, default=500, help="starts per side of the tube (default: 500)")
    certify.add_argument("--grid", type=int, help="position cells per axis of the HJ grid, 36 headings (default: 51; "
                         "about a minute per tube on 2 shared cores, then cached)")
    certify.add_argument("--margin", type=float, help="starts at least this far [m, in value] from the tube "
                         "boundary (default: twice the grid's measured error, at least 0.1)")
    certify.add_argument("--safety", choices=("on", "off"), help="safety filter (default: as trained)")
    certify.add_argument("--seed", type=int, default=0, help="seed of the starts and episodes (default: 0)")
    certify.add_argument("--out", help="also write the picture (tube slices, starts by outcome) to this .png")
    certify.add_argument("--json", help="also write the report to this .json file")
    certify.set_defaults(func=cmd_certify)

    status = sub.add_parser("status", help="where a run stands (iteration, phase, rates, evaluation, checkpoint, "
                            "alive or not), from its directory alone: also over a shared storage path")
    status.add_argument("run", metavar="RUN_DIR")
    status.add_argument("--json", action="store_true", help="print the status as JSON")
    status.set_defaults(func=cmd_status)

    tune = sub.add_parser("tune", help="a Ray Tune sweep over experiment fields (speed ratios, reward weights, "
                          "learner settings): grid/random search, ASHA or PBT")
    tune.add_argument("--config", help="sweep YAML or bundled sweep name (speed_ratio_sweep, reward_weights_sweep)")
    tune.add_argument("--resume", metavar="SWEEP_DIR", help="continue an interrupted sweep (errored trials too)")
    tune.add_argument("--address", help="Ray cluster address (default: RAY_ADDRESS, else embedded local Ray)")
    tune.set_defaults(func=cmd_tune)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not args.verbose:   # Ray's own start-up chatter; real errors still surface as exceptions
        logging.getLogger("ray").setLevel(logging.ERROR)
    # SIGTERM unwinds like Ctrl-C so runs release their lock and stop embedded Ray.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        return args.func(args)
    except (CliError, ConfigError, RunDirectoryError) as err:   # user input; library bugs keep their traceback
        print(f"pe-rllib: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("pe-rllib: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
