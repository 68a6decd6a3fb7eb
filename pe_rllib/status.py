"""Where a run stands, read from its directory alone: ``pe-rllib status RUN_DIR``.

Needs no Ray and no connection to the machine that trains: the run directory (local, or
a shared storage path the cluster writes to) holds everything. Reads ``progress.jsonl``
(latest iteration, phase, rates, latest evaluation), ``checkpoints/`` (the newest intact
checkpoint) and ``.lock``:

- ``running``: a writer holds the run's lock (probed without taking it for longer than
  the probe), or, where the lock cannot tell (a lock held on another host over storage
  without shared locks), the lock names a writer and the progress file changed within
  :data:`FRESH_SECONDS`;
- ``stopped``: no writer; ``finished`` when the last row reached the stop iteration.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from pathlib import Path

from pe_rllib.config import ConfigError, load_experiment
from pe_rllib.rundir import (
    EXPERIMENT_FILE,
    LOCK_FILE,
    PROGRESS_FILE,
    RunDirectoryError,
    checkpoint_iteration,
    checkpoints_newest_first,
    latest_checkpoint,
    read_progress,
    require_run_dir,
)

FRESH_SECONDS = 300.0
"""A run whose lock cannot be probed counts as running while its progress changed this recently."""


def _lock_state(run_dir: Path) -> tuple[bool | None, str]:
    """(held, holder): held True/False when the lock could be probed, None when it could not."""
    path = run_dir / LOCK_FILE
    if not path.is_file():
        return False, ""
    holder = path.read_text(encoding="utf-8", errors="replace").strip()
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None, holder
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as err:
        if err.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            return True, holder
        return None, holder                          # e.g. a filesystem without flock
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False, holder
    finally:
        os.close(fd)


def run_status(run_dir: str | Path, now: float | None = None) -> dict:
    """The run's state as plain data (see the module docstring)."""
    run_dir = require_run_dir(Path(run_dir))
    now = time.time() if now is None else now
    try:
        stop = load_experiment(run_dir / EXPERIMENT_FILE).training.stop_iterations
    except ConfigError:
        stop = None
    rows = read_progress(run_dir)
    last = rows[-1] if rows else {}
    evaluated = next((row for row in reversed(rows) if "eval_strength" in row or "eval_pursuer_vs_scripted" in row),
                     None)
    progress = run_dir / PROGRESS_FILE
    updated = progress.stat().st_mtime if progress.is_file() else None
    held, holder = _lock_state(run_dir)
    fresh = updated is not None and now - updated < FRESH_SECONDS
    running = held if held is not None else bool(holder) and fresh
    iteration = last.get("iteration", 0)
    state = "running" if running else ("finished" if stop is not None and iteration >= stop else "stopped")
    try:
        checkpoint = latest_checkpoint(run_dir)
        checkpoint_info = {"path": str(checkpoint), "iteration": checkpoint_iteration(checkpoint),
                           "age_seconds": now - checkpoint.stat().st_mtime}
    except RunDirectoryError as err:
        checkpoint_info = {"path": None, "problem": str(err), "count": len(checkpoints_newest_first(run_dir))}
    figures = ("phase", "training_roles", "capture_rate", "escape_rate", "collision_rate", "balance_gap",
               "intervention_rate", "curriculum_level", "health_interventions")
    return {
        "run_dir": str(run_dir), "state": state, "lock_holder": holder if running else None,
        "iteration": iteration, "stop_iterations": stop,
        "env_steps": last.get("env_steps_lifetime"), "steps_per_second": last.get("steps_per_second"),
        "progress_age_seconds": None if updated is None else now - updated,
        "latest": {key: last[key] for key in figures if key in last},
        "evaluation": None if evaluated is None else {
            "iteration": evaluated["iteration"],
            **{key[len("eval_"):]: value for key, value in evaluated.items() if key.startswith("eval_")}},
        "checkpoint": checkpoint_info,
    }
