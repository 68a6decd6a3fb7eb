"""What the commands share: the one-line user error, argument types that validate at parse time, config
loading with ``--set`` overrides, and the players (scripted by name, trained from a run directory)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any, Callable, Sequence

import yaml

from pe_rllib.config import ExperimentConfig, load_experiment
from pe_rllib.config.base import scripted_catalogue, scripted_name_set
from pe_rllib.rundir import EXPERIMENT_FILE

EXIT_USAGE = 2
DEFAULT_EXPERIMENT = "quickstart"


class CliError(Exception):
    """A user error reported as one line (exit code 2)."""


# --------------------------------------------------------------------------- argument types


def int_at_least(least: int) -> Callable[[str], int]:
    """An argparse type: an integer >= ``least``."""
    def parse(text: str) -> int:
        value = _number(text, int)
        if value < least:
            raise argparse.ArgumentTypeError(f"must be >= {least}, got {value}")
        return value
    return parse


def int_in(low: int, high: int, unit: str = "") -> Callable[[str], int]:
    """An argparse type: an integer in [low, high]."""
    def parse(text: str) -> int:
        value = _number(text, int)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be in [{low}, {high}]{unit}, got {value}")
        return value
    return parse


def float_in(low: float, high: float = float("inf"), unit: str = "") -> Callable[[str], float]:
    """An argparse type: a number in [low, high] (``high`` infinite: >= low)."""
    def parse(text: str) -> float:
        value = _number(text, float)
        if not low <= value <= high:
            bound = f">= {low:g}" if high == float("inf") else f"in [{low:g}, {high:g}]"
            raise argparse.ArgumentTypeError(f"must be {bound}{unit}, got {value:g}")
        return value
    return parse


def _number(text: str, kind: type):
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not {'an integer' if kind is int else 'a number'}: {text!r}") from None


def output_file(*suffixes: str) -> Callable[[str], Path]:
    """An argparse type: a file to write, checked up front so no work is wasted on an unwritable target."""
    def parse(text: str) -> Path:
        out = Path(text)
        if out.suffix.lower() not in suffixes:
            raise argparse.ArgumentTypeError(f"must end in {' or '.join(suffixes)}, got {text}")
        parent = out.parent
        if not parent.is_dir():
            raise argparse.ArgumentTypeError(f"{text}: directory {parent} does not exist")
        if out.is_dir():
            raise argparse.ArgumentTypeError(f"{text}: is a directory")
        if not os.access(parent, os.W_OK) or (out.exists() and not os.access(out, os.W_OK)):
            raise argparse.ArgumentTypeError(f"{text}: not writable")
        return out
    return parse


def add_world_arguments(parser: argparse.ArgumentParser, config_help: str) -> None:
    """``--config``, ``--set`` (repeatable) and ``--safety on|off``."""
    parser.add_argument("--config", help=config_help)
    parser.add_argument("--set", action="append", metavar="KEY=VALUE",
                        help="override a config value, e.g. --set env.evader_v_max=1.15 (repeatable)")
    parser.add_argument("--safety", choices=("on", "off"), help="safety filter (default: from config)")


def add_ray_arguments(parser: argparse.ArgumentParser, dashboard: bool = True) -> None:
    """``--address`` (a Ray cluster) and, for commands that may start embedded Ray with it, ``--no-dashboard``."""
    parser.add_argument("--address", help="Ray cluster address (default: RAY_ADDRESS, else embedded local Ray)")
    if dashboard:
        parser.add_argument("--no-dashboard", action="store_true",
                            help="do not start the Ray dashboard (embedded Ray)")


# --------------------------------------------------------------------------- configs and players


def parse_overrides(pairs: Sequence[str]) -> dict[str, Any]:
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


def load_config(args: argparse.Namespace) -> ExperimentConfig:
    overrides = parse_overrides(args.set or [])
    if getattr(args, "safety", None) is not None:
        overrides["safety.enabled"] = args.safety == "on"
    return load_experiment(args.config, overrides)


def write_output(path: Path, flag: str, write) -> None:
    """Run ``write(path)``; a file-system failure (disk full, permissions changed) is one line."""
    try:
        write(path)
    except OSError as err:
        raise CliError(f"{flag} {path}: cannot write ({err.strerror or err})") from None
    print(f"wrote {path}")


def check_player_names(args: argparse.Namespace) -> None:
    from pe_rllib.policies import make_scripted

    for name, role in ((args.pursuer, "pursuer"), (args.evader, "evader")):
        if name not in scripted_name_set() and not Path(name).exists():
            if os.sep in name or name.startswith("."):
                raise CliError(f"--{role} {name}: no such run or checkpoint directory")
            make_scripted(name, role, ExperimentConfig().env)                  # raises the one-line error


def world(args: argparse.Namespace) -> ExperimentConfig:
    """--config/--set/--safety; with no --config, a trained player's own world (the first named)."""
    trained = [name for name in (args.pursuer, args.evader) if name not in scripted_name_set()]
    if trained and args.config is None:
        from pe_rllib.rundir import resolve_checkpoint
        args.config = resolve_checkpoint(trained[0]) / EXPERIMENT_FILE
    return load_config(args)


def player(name: str, role: str, config: ExperimentConfig, seed: int):
    """A scripted policy by name, or a trained role from a run/checkpoint directory (in ``config``'s world)."""
    from pe_rllib.policies import load_policy, make_world_scripted

    if name in scripted_name_set(config.world):
        return make_world_scripted(name, role, config, seed=seed)          # a role it cannot play: one line
    if name in scripted_name_set():
        raise CliError(f"--{role} {name}: not a scripted policy of the {config.world} world (its {role}s: "
                       f"{', '.join(scripted_catalogue(config.world)[role])})")
    policy = load_policy(name, role)
    if policy.env_config != config.world_config:
        raise CliError(f"{name}: trained in a different world than --config/--set describe "
                       f"(its own: {policy.checkpoint / EXPERIMENT_FILE})")
    return policy
