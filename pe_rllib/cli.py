"""``pe-rllib`` command line. The CLI owns terminal output; library code only logs."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import yaml

from pe_rllib.config import ConfigError, ExperimentConfig, load_experiment
from pe_rllib.files import write_atomic

EXIT_USAGE = 2


class CliError(Exception):
    """A user error reported as one line (exit code 2)."""


def _parse_overrides(pairs: Sequence[str]) -> dict[str, Any]:
    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CliError(f"--set {pair!r}: expected KEY=VALUE, e.g. env.evader_v_max=1.15")
        overrides[key.strip()] = yaml.safe_load(value)
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
    if not out.parent.exists():
        raise CliError(f"{flag} {path}: directory {out.parent} does not exist")
    return out


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


def _format_table(rows: list[dict]) -> str:
    columns = [("pursuer", "pursuer", "{}"), ("evader", "evader", "{}"), ("episodes", "episodes", "{}"),
               ("capture", "capture_rate", "{:.3f}"), ("escape", "escape_rate", "{:.3f}"),
               ("collision", "collision_rate", "{:.3f}"), ("t_capture[s]", "mean_time_to_capture", "{:.2f}"),
               ("interventions", "intervention_rate", "{:.3f}")]
    cells = [[h for h, _, _ in columns]]
    for row in rows:
        cells.append(["-" if row.get(key) is None else fmt.format(row[key]) for _, key, fmt in columns])
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells)


def cmd_rollout(args: argparse.Namespace) -> int:
    from pe_rllib.evaluation import evaluate
    from pe_rllib.policies import SCRIPTED, make_scripted, scripted_names
    from pe_rllib.safety import make_batched_env

    trained = [name for name in (args.pursuer, args.evader) if name not in SCRIPTED and Path(name).exists()]
    if trained and args.config is None:
        # A trained role plays in the world it was trained in unless told otherwise.
        from pe_rllib.training.run import EXPERIMENT_FILE, resolve_checkpoint
        args.config = resolve_checkpoint(trained[0]) / EXPERIMENT_FILE
    config = _load_config(args)
    gif = _check_output(args.gif, (".gif", ".png"), "--gif")
    json_out = _check_output(args.json, (".json",), "--json")
    if args.episodes < 1:
        raise CliError(f"--episodes: must be >= 1, got {args.episodes}")
    if args.matrix:
        matchups = [(p, e) for p in scripted_names("pursuer") for e in scripted_names("evader")]
    else:
        matchups = [(args.pursuer, args.evader)]

    def player(name: str, role: str, seed: int):
        """A scripted policy by name, or a trained role from a run/checkpoint directory."""
        if name in SCRIPTED:
            return make_scripted(name, role, config.env, seed=seed)
        if Path(name).exists():
            from pe_rllib.policies import load_policy
            policy = load_policy(name, role)
            if policy.env_config != config.env:
                raise CliError(f"{name}: trained in a different world than --config/--set describe "
                               f"(its own: {policy.checkpoint / 'experiment.yaml'})")
            return policy
        return make_scripted(name, role, config.env, seed=seed)   # raises the one-line error

    # Every player is built (and so validated) before any episode runs.
    players = {("pursuer", p): player(p, "pursuer", args.seed) for p, _ in matchups}
    players |= {("evader", e): player(e, "evader", args.seed + 1) for _, e in matchups}

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
        write_atomic(json_out, json.dumps(payload, indent=2))
        print(f"wrote {json_out}")
    if gif is not None:
        from pe_rllib.rendering import record_episode
        pursuer, evader = matchups[0]
        record_episode(config, players["pursuer", pursuer], players["evader", evader], gif,
                       seed=args.seed, title=f"{pursuer} vs {evader}")
        print(f"wrote {gif}")
    return 0


QUICKSTART = "tune_configs/quickstart.yaml"


def default_config_path() -> Path:
    """The quickstart experiment: ./tune_configs/ first, then the checkout this package lives in."""
    for base in (Path.cwd(), Path(__file__).resolve().parent.parent):
        if (base / QUICKSTART).is_file():
            return base / QUICKSTART
    raise CliError(f"{QUICKSTART} not found (run from the repository root or pass --config)")


def _fmt(value, spec: str = ".2f") -> str:
    return "-" if value is None or (isinstance(value, float) and value != value) else format(value, spec)


def _progress_line(report) -> str:
    f = report.figures
    width = len(str(report.stop_iterations))
    return (f"iter {report.iteration:>{width}}/{report.stop_iterations}  phase {f.get('phase', '-'):>2} "
            f"[{f.get('training_roles', '-'):<15}]  capture {_fmt(f.get('capture_rate'))}  "
            f"escape {_fmt(f.get('escape_rate'))}  collision {_fmt(f.get('collision_rate'))}  "
            f"gap {_fmt(f.get('balance_gap'))}  episodes {f.get('episodes', 0):>3}  "
            f"{_fmt(report.steps_per_second, '.0f')} steps/s  ({report.env_steps_lifetime:,} steps)")


def cmd_train(args: argparse.Namespace) -> int:
    from pe_rllib.training.run import RunDirectoryError, train

    if args.stop_iters is not None and args.stop_iters < 1:
        raise CliError(f"--stop-iters: must be >= 1, got {args.stop_iters}")
    if args.resume is not None:
        if args.config is not None or args.set:
            raise CliError("--resume continues the run's own experiment.yaml; drop --config/--set")
        experiment = None
    else:
        args.config = args.config or default_config_path()
        experiment = _load_config(args)
    start = time.perf_counter()
    try:
        summary = train(experiment, output=args.output, resume=args.resume, stop_iterations=args.stop_iters,
                        address=args.address, dashboard=not args.no_dashboard,
                        log_level="INFO" if args.verbose else "ERROR",
                        on_start=lambda where, run_dir: print(f"{where}; run directory {run_dir}", flush=True),
                        on_iteration=lambda report: print(_progress_line(report), flush=True))
    except RunDirectoryError as err:
        raise CliError(str(err)) from None
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
    rollout.add_argument("--config", help="experiment YAML (default: built-in defaults)")
    rollout.add_argument("--set", action="append", metavar="KEY=VALUE",
                         help="override a config value, e.g. --set env.evader_v_max=1.15 (repeatable)")
    rollout.add_argument("--safety", choices=("on", "off"), help="safety filter (default: from config)")
    rollout.add_argument("--seed", type=int, default=0)
    rollout.add_argument("--num-envs", type=int, default=1024, help="arenas stepped at once")
    rollout.add_argument("--json", help="write results to this .json file")
    rollout.add_argument("--gif", help="record one episode to this .gif (or last frame to .png)")
    rollout.set_defaults(func=cmd_rollout)

    train = sub.add_parser("train", help="self-play training on RLlib (default: the quickstart)")
    train.add_argument("--config", help=f"experiment YAML (default: {QUICKSTART})")
    train.add_argument("--set", action="append", metavar="KEY=VALUE",
                       help="override a config value, e.g. --set training.lr=1e-4 (repeatable)")
    train.add_argument("--stop-iters", type=int, help="training iterations (default: training.stop_iterations)")
    train.add_argument("--output", help="run directory (default: runs/pe-<timestamp>)")
    train.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its newest checkpoint")
    train.add_argument("--address", help="Ray cluster address (default: RAY_ADDRESS, else embedded local Ray)")
    train.add_argument("--no-dashboard", action="store_true", help="do not start the Ray dashboard (embedded Ray)")
    train.set_defaults(func=cmd_train)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not args.verbose:   # Ray's own start-up chatter; real errors still surface as exceptions
        logging.getLogger("ray").setLevel(logging.ERROR)
    try:
        return args.func(args)
    except (CliError, ConfigError) as err:
        print(f"pe-rllib: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except (ValueError, FileNotFoundError) as err:   # bad names/values/paths found by the library
        print(f"pe-rllib: error: {err}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
