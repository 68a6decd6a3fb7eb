"""`pe-rllib status RUN_DIR`: where a run stands, from its directory alone (no Ray, no connection)."""

import errno
import json
import os
import signal
import subprocess
import sys

import pytest
import yaml
from helpers import start_training, wait_for_checkpoint
from test_training import TINY

from pe_rllib import status as status_module
from pe_rllib.rundir import RunDirectoryError
from pe_rllib.status import FRESH_SECONDS, run_status


def status_cli(*args):
    return subprocess.run([sys.executable, "-m", "pe_rllib.cli", "status", *args], capture_output=True, text=True,
                          timeout=120)


def test_status_of_a_running_then_stopped_run(tmp_path):
    experiment = {**TINY, "training": {**TINY["training"], "stop_iterations": 100_000},
                  "evaluation": {"every": 2, "episodes": 10}}
    proc, run_dir, _ = start_training(tmp_path, experiment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_checkpoint(proc, run_dir, at_least=2)
        result = status_cli(str(run_dir), "--json")
        assert result.returncode == 0, result.stderr
        status = json.loads(result.stdout)
        assert status["state"] == "running" and f"pid {proc.pid}" in status["lock_holder"]
        assert status["iteration"] >= 2 and status["stop_iterations"] == 100_000
        assert status["checkpoint"]["iteration"] >= 2 and status["evaluation"]["iteration"] >= 2
        assert 0.0 <= status["latest"]["capture_rate"] <= 1.0
        text = status_cli(str(run_dir))
        assert text.returncode == 0 and ": running (pid" in text.stdout and "checkpoint:" in text.stdout
        assert "evaluation at iteration" in text.stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
    stopped = json.loads(status_cli(str(run_dir), "--json").stdout)
    assert stopped["state"] == "stopped" and stopped["lock_holder"] is None


def test_status_of_a_finished_run(tmp_path_factory):
    from helpers import train_tiny

    run_dir = train_tiny(tmp_path_factory, "status", iterations=2)
    status = run_status(run_dir)
    assert status["state"] == "finished" and status["iteration"] == 2
    assert status["checkpoint"]["iteration"] == 2 and status["env_steps"] > 0


def test_over_storage_without_shared_locks_freshness_decides(tmp_path, monkeypatch):
    """When the lock cannot be probed (a lock held on another host over storage without shared locks),
    a lock record plus a recently changed progress file means running; a stale one, stopped."""
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "experiment.yaml").write_text(yaml.safe_dump(TINY))
    (run_dir / "progress.jsonl").write_text(json.dumps({"iteration": 3, "phase": 1, "capture_rate": 0.5}) + "\n")
    (run_dir / ".lock").write_text("pid 4242 on cluster-head since 2026-11-24 00:00:00")

    def no_locks(fd, operation):
        raise OSError(errno.ENOLCK, "no locks available")

    monkeypatch.setattr(status_module.fcntl, "flock", no_locks)
    written = os.stat(run_dir / "progress.jsonl").st_mtime
    fresh = run_status(run_dir, now=written + 5)
    assert fresh["state"] == "running" and "cluster-head" in fresh["lock_holder"]
    stale = run_status(run_dir, now=written + FRESH_SECONDS + 1)
    assert stale["state"] == "stopped" and stale["iteration"] == 3
    assert stale["checkpoint"]["path"] is None


def test_status_of_a_non_run_fails_in_one_line(tmp_path):
    with pytest.raises(RunDirectoryError):
        run_status(tmp_path)
    result = status_cli(str(tmp_path / "nowhere"))
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "nowhere" in result.stderr
