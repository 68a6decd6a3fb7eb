"""``pe-rllib`` command line. The CLI owns terminal output; library code only logs.

Commands live by what they do: :mod:`~pe_rllib.cli.runs` (train, tune, status, league),
:mod:`~pe_rllib.cli.play` (rollout, render, evaluate, plot), :mod:`~pe_rllib.cli.judge` (exploit,
certify); :mod:`~pe_rllib.cli.common` holds the argument types and config/player loading,
:mod:`~pe_rllib.cli.formatting` the tables and progress lines.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from typing import NoReturn, Sequence

from pe_rllib.cli.common import EXIT_USAGE, CliError
from pe_rllib.cli.judge import add_certify, add_exploit
from pe_rllib.cli.play import add_evaluate, add_plot, add_render, add_rollout
from pe_rllib.cli.runs import add_league, add_status, add_train, add_tune
from pe_rllib.config import ConfigError
from pe_rllib.rundir import RunDirectoryError


class OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line (``pe-rllib: error: --episodes: must be >= 1, got 0``), like every
    other user error; ``--help`` shows the usage."""

    def error(self, message: str) -> NoReturn:
        message = message.removeprefix("argument ")           # "--episodes: must be >= 1, got 0"
        self.exit(EXIT_USAGE, f"pe-rllib: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="pe-rllib", description="Pursuit-evasion self-play on Ray RLlib.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    for add in (add_rollout, add_evaluate, add_exploit, add_render, add_league, add_plot, add_train, add_certify,
                add_status, add_tune):
        add(sub)
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


__all__ = ["CliError", "build_parser", "main"]
