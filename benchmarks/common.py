"""Shared benchmark helpers: best-of-k timing and result printing (figures go to BENCHMARKS.md)."""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Callable


def best_rate(run: Callable[[], int], repeats: int = 3, min_seconds: float = 0.5) -> float:
    """Best items/second over ``repeats`` timings of ``run`` (which returns the items it did)."""
    best = 0.0
    for _ in range(repeats):
        start, items = time.perf_counter(), 0
        while time.perf_counter() - start < min_seconds:
            items += run()
        best = max(best, items / (time.perf_counter() - start))
    return best


def save(name: str, rows: list[dict]) -> None:
    out = Path(__file__).with_name("results")
    out.mkdir(exist_ok=True)
    payload = {"benchmark": name, "machine": platform.processor() or platform.machine(),
               "date": time.strftime("%Y-%m-%d %H:%M"), "rows": rows}
    (out / f"{name}.json").write_text(json.dumps(payload, indent=2))
    print(f"wrote {out / (name + '.json')}")


def final_checkpoints(runs):
    """``(run, checkpoint, experiment)`` for each run directory: its newest intact checkpoint and the experiment
    stored with it."""
    from pe_rllib.config import load_experiment
    from pe_rllib.rundir import EXPERIMENT_FILE, resolve_checkpoint

    for run in runs:
        checkpoint = resolve_checkpoint(run)
        yield run, checkpoint, load_experiment(checkpoint / EXPERIMENT_FILE)


def runs_arguments(description: str, episodes: int = 1000):
    """The arguments of a benchmark over finished run directories: ``RUN [RUN ...] --name N [--episodes E]``."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--name", required=True)
    parser.add_argument("--episodes", type=int, default=episodes)
    return parser.parse_args()


def searched_evader(checkpoint: Path, experiment, run) -> object:
    """The searched evader of ``checkpoint``'s exploit record (``pe-rllib exploit --method search``), rebuilt from the
    whole search result the record keeps; exits with a one-line message naming ``run`` when there is none."""
    from pe_rllib.evaluation.exploitability import exploit_results
    from pe_rllib.evaluation.search import SearchResult, searched_policy

    record = exploit_results(checkpoint).get("evader")
    if record is None or "search" not in record.methods:
        raise SystemExit(f"{run}: no searched evader in its exploit record (run pe-rllib exploit --method search)")
    return searched_policy(experiment, SearchResult(**record.methods["search"].details["search"]), seed=0)
