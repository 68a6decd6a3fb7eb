"""The run directory: layout, checkpoint integrity manifests and the one-writer lock. No Ray here.

Layout::

    RUN/experiment.yaml              the validated experiment (what --resume continues)
    RUN/progress.jsonl               one JSON line per iteration (driver-side figures)
    RUN/tensorboard/                 the same plus learner statistics, for TensorBoard
    RUN/.lock                        held (fcntl) by the one process writing this run
    RUN/checkpoints/iter_000012/     one checkpoint:
        experiment.yaml              the experiment it was trained with
        policies/<module>.pt         every module's weights, data only (torch tensors,
                                     loaded with ``weights_only=True``): what
                                     ``load_policy``/``rollout`` read
        MANIFEST.json                size and SHA-256 of every other file, written last
        ...                          RLlib's own checkpoint, every state file as msgpack
                                     (data only; what ``--resume`` restores), no pickles
    RUN/checkpoints/latest           name of the newest checkpoint (informational)
    RUN/exploit/<name>/              a best-response run against one of this run's checkpoints
        exploit.json                 (``pe-rllib exploit``), a run directory of its own, and its
                                     result, which ``pe-rllib evaluate`` shows

A checkpoint counts only if its manifest is present and every file matches it, so a
checkpoint that was being written when the process died, or that was damaged or edited
later, is skipped with one log line naming it, and the newest intact one is used.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import socket
import time
from pathlib import Path

from pe_rllib.files import write_atomic

logger = logging.getLogger(__name__)

EXPERIMENT_FILE = "experiment.yaml"
PROGRESS_FILE = "progress.jsonl"
TENSORBOARD_DIR = "tensorboard"
CHECKPOINTS = "checkpoints"
LATEST = "latest"
MANIFEST = "MANIFEST.json"
POLICIES = "policies"
LOCK_FILE = ".lock"
MANIFEST_FORMAT = 1
CHECKPOINT_PREFIX = "iter_"
EXPLOIT_DIR = "exploit"
EXPLOIT_FILE = "exploit.json"


class RunDirectoryError(ValueError):
    """A run or checkpoint directory is missing, damaged, locked or not a pe_rllib run."""


def checkpoint_name(iteration: int) -> str:
    return f"{CHECKPOINT_PREFIX}{iteration:06d}"


def checkpoint_iteration(checkpoint: Path) -> int:
    """The training iteration a checkpoint was taken after: its manifest's record, so that a checkpoint copied
    out of its run under another name keeps it; else (no readable manifest) its ``iter_NNNNNN`` name."""
    checkpoint = Path(checkpoint)
    try:
        return int(json.loads((checkpoint / MANIFEST).read_text(encoding="utf-8"))["iteration"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    digits = checkpoint.name[len(CHECKPOINT_PREFIX):]
    if not checkpoint.name.startswith(CHECKPOINT_PREFIX) or not digits.isdigit():
        raise RunDirectoryError(f"{checkpoint}: not a checkpoint (no manifest with its iteration, "
                                f"and not named {CHECKPOINT_PREFIX}NNNNNN)")
    return int(digits)


# --------------------------------------------------------------------------- integrity


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name != MANIFEST)


def write_manifest(checkpoint: Path, iteration: int) -> None:
    """Record size and SHA-256 of every file under ``checkpoint``; written last, atomically."""
    files = {str(p.relative_to(checkpoint)): {"size": p.stat().st_size, "sha256": _sha256(p)}
             for p in _files(checkpoint)}
    write_atomic(checkpoint / MANIFEST, json.dumps(
        {"format": MANIFEST_FORMAT, "iteration": iteration, "files": files}, indent=1, sort_keys=True))


def verify_checkpoint(checkpoint: Path) -> str | None:
    """None if ``checkpoint`` is complete and unchanged, else why not (one short phrase)."""
    checkpoint = Path(checkpoint)
    try:
        manifest = json.loads((checkpoint / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return "no manifest (incomplete)"
    except (OSError, ValueError):
        return "unreadable manifest"
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT \
            or not isinstance(manifest.get("files"), dict):
        return "unknown manifest format"
    listed = manifest["files"]
    present = {str(p.relative_to(checkpoint)) for p in _files(checkpoint)}
    for name, entry in sorted(listed.items()):
        path = checkpoint / name
        if name not in present:
            return f"missing file {name}"
        if path.stat().st_size != entry.get("size") or _sha256(path) != entry.get("sha256"):
            return f"file {name} does not match its checksum"
    extra = sorted(present - set(listed))
    if extra:
        return f"unlisted file {extra[0]}"
    return None


def checkpoints_newest_first(run_dir: Path) -> list[Path]:
    directory = Path(run_dir) / CHECKPOINTS
    if not directory.is_dir():
        return []
    found = [p for p in directory.iterdir() if p.is_dir() and p.name.startswith(CHECKPOINT_PREFIX)
             and p.name[len(CHECKPOINT_PREFIX):].isdigit()]
    return sorted(found, key=checkpoint_iteration, reverse=True)


def read_progress(run_dir: Path, *, required: bool = False) -> list[dict]:
    """The rows of ``RUN/progress.jsonl`` in order, skipping a half-written line (the run is writing it,
    or was killed mid-write) and anything that is not a row. With no row yet: [] (a run that has not
    finished an iteration), or with ``required`` a one-line :class:`RunDirectoryError` (which also
    names a directory that is not a run)."""
    path = (require_run_dir(run_dir) if required else Path(run_dir)) / PROGRESS_FILE
    if not path.is_file():
        if required:
            raise RunDirectoryError(f"{run_dir}: no {PROGRESS_FILE} yet (no iteration finished)")
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and isinstance(row.get("iteration"), int):
            rows.append(row)
    if required and not rows:
        raise RunDirectoryError(f"{path}: no complete iteration yet")
    return rows


def require_run_dir(run_dir: Path) -> Path:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunDirectoryError(f"{run_dir}: no such run directory")
    if not (run_dir / EXPERIMENT_FILE).is_file():
        raise RunDirectoryError(f"{run_dir}: not a pe_rllib run directory (no {EXPERIMENT_FILE})")
    return run_dir


def latest_checkpoint(run_dir: Path) -> Path:
    """The newest intact checkpoint of a run; damaged or incomplete ones are skipped with a warning."""
    run_dir = require_run_dir(run_dir)
    skipped = []
    for checkpoint in checkpoints_newest_first(run_dir):
        problem = verify_checkpoint(checkpoint)
        if problem is None:
            return checkpoint
        logger.warning("skipping checkpoint %s: %s", checkpoint, problem)
        skipped.append(checkpoint.name)
    if skipped:
        raise RunDirectoryError(f"{run_dir}: no intact checkpoint (damaged or incomplete: {', '.join(skipped)})")
    raise RunDirectoryError(f"{run_dir}: run has no checkpoint yet")


def _decode_data_only(obj: dict):
    """msgpack_numpy's array decoding, minus its one code path: an object-dtype array is a pickle."""
    if obj.get(b"nd") is True and obj.get(b"kind") == b"O":
        raise RunDirectoryError("holds a pickled numpy object array (a pickle runs code when loaded)")
    import msgpack_numpy

    return msgpack_numpy.decode(obj)


ALGORITHM_STATE_FILE = "algorithm_state.msgpack"
"""The algorithm's own state in an RLlib checkpoint directory (msgpack with ``checkpoint_format: msgpack``)."""
SELFPLAY_STATE_KEY = "pe_selfplay"
"""The self-play state's key in the algorithm's state (schedule, pools, league, curriculum, health)."""


def selfplay_state(checkpoint: Path) -> dict:
    """A checkpoint's self-play state as data (no code runs); {} when the checkpoint has no algorithm state."""
    path = Path(checkpoint) / ALGORITHM_STATE_FILE
    return read_msgpack_state(path).get(SELFPLAY_STATE_KEY, {}) if path.is_file() else {}


def checkpoint_anchors(checkpoint: Path, role: str, *, teachers_only: bool = False) -> list[tuple[str, list[float]]]:
    """``(family, params)`` of ``role``'s searched anchors (``league.anchor_every``) kept in ``checkpoint``'s
    league, hunters (``league.hunt_roles``) included unless ``teachers_only``, oldest first, read as data; []
    without a league or anchors."""
    state = selfplay_state(checkpoint)
    entries = (state.get("league") or {}).get("entries", {}).get(role, [])
    weights = state.get("league_weights") or {}
    return [(entry["anchor"], [float(v) for v in weights[entry["id"]]["params"]])
            for entry in entries if entry.get("anchor") and entry["id"] in weights
            and not (teachers_only and entry.get("hunter"))]


def read_msgpack_state(path: Path) -> dict:
    """A msgpack state file (RLlib's checkpoint format) as data: numpy arrays decoded, pickled object arrays
    (which ``msgpack_numpy`` would ``pickle.loads``) refused with :class:`RunDirectoryError`."""
    import msgpack

    try:
        with open(path, "rb") as handle:
            return msgpack.unpack(handle, strict_map_key=False, object_hook=_decode_data_only)
    except RunDirectoryError as err:
        raise RunDirectoryError(f"{path}: {err}") from None
    except (ValueError, msgpack.UnpackException) as err:
        raise RunDirectoryError(f"{path}: not a msgpack state file ({type(err).__name__})") from None


def run_dir_of(checkpoint: Path) -> Path | None:
    """The run directory a checkpoint directory sits in (None for a checkpoint copied elsewhere)."""
    parent = Path(checkpoint).resolve().parent
    return parent.parent if parent.name == CHECKPOINTS and (parent.parent / EXPERIMENT_FILE).is_file() else None


def resolve_checkpoint(path: str | Path) -> Path:
    """An intact checkpoint directory from a run directory or a checkpoint directory."""
    path = Path(path)
    if not path.exists():
        raise RunDirectoryError(f"{path}: no such run or checkpoint directory")
    if (path / MANIFEST).is_file() or path.name.startswith(CHECKPOINT_PREFIX):
        problem = verify_checkpoint(path)
        if problem is not None:
            raise RunDirectoryError(f"{path}: damaged checkpoint ({problem})")
        return path
    return latest_checkpoint(path)


# --------------------------------------------------------------------------- one writer


class RunLock:
    """An exclusive OS lock (``fcntl.flock``) on ``RUN/.lock`` for a writer's lifetime.

    The kernel drops the lock when the process dies (also on ``kill -9``), so a stale
    lock cannot block a resume. The file records who holds it, for the error message.
    """

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / LOCK_FILE
        self._fd: int | None = None
        self.previous_holder: tuple[int, str] | None = None
        """(pid, host) of the last writer, once acquired: it is no longer running (we hold the lock)."""

    def acquire(self) -> "RunLock":
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            holder = os.read(fd, 4096).decode("utf-8", "replace").strip() or "another process"
            os.close(fd)
            if err.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise RunDirectoryError(f"{self.path.parent}: in use by {holder}; one writer per run") from None
            raise
        previous = re.match(r"pid (\d+) on (\S+)", os.read(fd, 4096).decode("utf-8", "replace"))
        self.previous_holder = (int(previous.group(1)), previous.group(2)) if previous else None
        os.lseek(fd, 0, os.SEEK_SET)
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}"
                 .encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def refuse_pickles(checkpoint: Path) -> None:
    """Restore reads msgpack state only: a pickle in a checkpoint would be code RLlib runs on load.

    That means no ``.pkl`` file, and no msgpack state file holding a numpy object array:
    RLlib decodes msgpack with ``msgpack_numpy``, which unpickles those (checked by decoding
    every state file as data first, :func:`read_msgpack_state`).
    """
    pickled = sorted(str(p.relative_to(checkpoint)) for p in checkpoint.rglob("*.pkl"))
    if pickled:
        raise RunDirectoryError(f"{checkpoint}: holds pickled state ({pickled[0]}); pe_rllib writes none and "
                                "never resumes one (a pickle runs code when loaded)")
    for state in sorted(checkpoint.rglob("*.msgpack")):
        read_msgpack_state(state)


def trim_progress(run_dir: Path, iteration: int) -> int:
    """Drop progress rows after ``iteration`` (written by a run killed after its last checkpoint)."""
    path = run_dir / PROGRESS_FILE
    if not path.is_file():
        return 0
    lines = path.read_text(encoding="utf-8").splitlines()
    kept = [row for row in read_progress(run_dir) if row["iteration"] <= iteration]
    dropped = len(lines) - len(kept)           # later rows and a half-written last line
    if dropped:
        write_atomic(path, "".join(json.dumps(row) + "\n" for row in kept))
        logger.info("progress: dropped %d row(s) after iteration %d", dropped, iteration)
    return dropped


def check_new_run_dir(output: Path) -> None:
    """A new run's directory must be creatable and must not hold a run (checked before Ray starts)."""
    for parent in [output, *output.parents]:
        if parent.exists() and not parent.is_dir():
            raise RunDirectoryError(f"{output}: {parent} is a file, not a directory")
        if parent.exists():
            break
    if (output / EXPERIMENT_FILE).exists():
        raise RunDirectoryError(f"{output}: already holds a run; continue it with --resume {output}")


def remove_new_entries(run_dir: Path, existing: set[str], created: bool) -> None:
    """Undo a failed start: remove a directory the run created, or what it added to an existing one."""
    if created:
        shutil.rmtree(run_dir, ignore_errors=True)
        return
    for name in set(os.listdir(run_dir)) - existing:
        path = run_dir / name
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
