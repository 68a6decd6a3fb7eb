"""Suite-wide setup: a private Ray token, so no test reads or writes the user's home.

Ray 2.60 turns token authentication on for every new local cluster and, when it finds no
token, writes one to ``~/.ray/auth_token``. The suite instead makes its own random token
in a temp directory and points ``RAY_AUTH_TOKEN_PATH`` at it (inherited by every Ray
process, subprocess and ``ray`` CLI call a test starts), at import time, before any test
can start Ray.
"""

import os
import secrets
import shutil
import tempfile
from pathlib import Path

import pytest

_TOKEN_DIR = Path(tempfile.mkdtemp(prefix="pe-rllib-tests-"))
TOKEN_PATH = _TOKEN_DIR / "auth_token"
_fd = os.open(TOKEN_PATH, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
with os.fdopen(_fd, "w") as _handle:
    _handle.write(secrets.token_hex(32))
os.environ["RAY_AUTH_TOKEN_PATH"] = str(TOKEN_PATH)
os.environ.pop("RAY_AUTH_TOKEN", None)
os.environ.pop("RAY_ADDRESS", None)          # embedded Ray unless a test says otherwise
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"   # embedded Ray on loopback, as pe-rllib train runs it


def pytest_unconfigure(config):
    shutil.rmtree(_TOKEN_DIR, ignore_errors=True)


@pytest.fixture(scope="session")
def embedded_ray():
    """One embedded Ray for the in-process training tests (train() leaves a Ray it did not start running)."""
    import ray

    from pe_rllib.training.session import init_ray

    init_ray(dashboard=False)
    yield
    ray.shutdown()
