"""Keeping the terminal readable: one known, harmless Ray error line dropped from the first screen.

Ray 2.60's core worker logs, at ERROR level and straight to the process's stderr (C++, not Python
logging), ``E ... core_worker.cc: Actor with class name: 'BatchedSelfPlayRunner' ... has constructor
arguments in the object store and max_restarts > 0`` for every remote env runner RLlib creates
(ray-project/ray issue 53727). RLlib 2.60 passes the runner config by object reference (``ray.put``
once, held by the runner group for its lifetime, so a restarted runner finds it) and sets actor
restarts for its fault tolerance; both are intended, and the runner cannot get its config another
way. To a new user the line reads as a failure, so the CLI drops exactly that line while the
algorithm builds its runners; every other byte of stderr passes through unchanged.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading

KNOWN_RAY_LINES = ("has constructor arguments in the object store and max_restarts > 0",)
"""Substrings of stderr lines that are dropped (Ray 2.60, see the module docstring)."""


@contextlib.contextmanager
def without_known_ray_lines(known: tuple[str, ...] = KNOWN_RAY_LINES):
    """While the block runs, this process's stderr (file descriptor 2, which C++ code writes to) goes
    through a pipe that drops lines containing any of ``known``; everything else is written on at once.
    Processes started inside the block inherit the pipe, so start none there that outlive it."""
    sys.stderr.flush()
    saved = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)

    def write(data: bytes) -> None:
        try:
            os.write(saved, data)
        except OSError:                   # stderr itself is gone (a closed terminal): keep draining the pipe
            pass

    def forward() -> None:
        pending = b""
        while chunk := os.read(read_end, 65536):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if not any(text.encode() in line for text in known):
                    write(line + b"\n")
        if pending:
            write(pending)

    thread = threading.Thread(target=forward, name="stderr-filter", daemon=True)
    thread.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)                 # closes the pipe's last write end: the reader sees EOF
        thread.join(timeout=5)
        os.close(read_end)
        os.close(saved)
