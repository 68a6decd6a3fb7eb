"""The same `pe-rllib train` runs unchanged on a Ray cluster: `ray job submit` to a real head node.

The head is a child process (`ray start --head --block` on 127.0.0.1) with token auth
on, as on the cluster; SIGTERM to its PID drains and stops the whole node.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from test_training import TINY


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory):
    ray_bin = shutil.which("ray") or str(Path(sys.executable).with_name("ray"))
    env = {**os.environ, "RAY_AUTH_MODE": "token"}
    env.pop("RAY_ADDRESS", None)
    env.pop("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", None)     # a cluster node, not embedded local-only Ray
    dashboard = free_port()
    log = open(tmp_path_factory.mktemp("head") / "head.log", "w")
    head = subprocess.Popen(
        [ray_bin, "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={free_port()}",
         f"--dashboard-port={dashboard}", "--dashboard-host=127.0.0.1", "--include-dashboard=true",
         # Fixed default ports (agent 52365, ...) would collide with another Ray on this machine.
         f"--dashboard-agent-listen-port={free_port()}", f"--dashboard-agent-grpc-port={free_port()}",
         f"--runtime-env-agent-port={free_port()}", f"--metrics-export-port={free_port()}",
         f"--ray-client-server-port={free_port()}",
         "--num-cpus=2", "--disable-usage-stats"], env=env, stdout=log, stderr=subprocess.STDOUT)
    address = f"http://127.0.0.1:{dashboard}"
    try:
        deadline = time.time() + 120
        while True:
            probe = subprocess.run([ray_bin, "job", "list", "--address", address], env=env,
                                   capture_output=True, text=True, timeout=60)
            if probe.returncode == 0:
                break
            assert head.poll() is None, "ray head exited during start-up"
            assert time.time() < deadline, f"ray head did not come up: {probe.stderr[-500:]}"
            time.sleep(2)
        yield ray_bin, address, env
    finally:
        head.send_signal(signal.SIGTERM)
        try:
            head.wait(timeout=120)
        except subprocess.TimeoutExpired:
            head.kill()
        log.close()


def test_train_submitted_as_a_ray_job_runs_on_the_cluster(ray_head, tmp_path):
    ray_bin, address, env = ray_head
    workdir = tmp_path / "job"
    workdir.mkdir()
    (workdir / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    run_dir = tmp_path / "run"
    deadline = time.time() + 120
    while True:
        result = subprocess.run(
            [ray_bin, "job", "submit", "--address", address, "--working-dir", str(workdir), "--",
             sys.executable, "-m", "pe_rllib.cli", "train", "--config", "tiny.yaml", "--stop-iters", "2",
             "--output", str(run_dir)],
            env=env, capture_output=True, text=True, timeout=600)
        # The job API answers before the head's job agent is up; Ray then refuses the submission
        # (no job is created) and says to try again.
        if "No available agent to submit job" not in result.stderr or time.time() > deadline:
            break
        time.sleep(3)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "succeeded" in result.stdout
    # The driver attached to the head through RAY_ADDRESS (set by `ray job submit`), not a new local Ray.
    assert "Ray cluster at" in result.stdout and "embedded local Ray" not in result.stdout
    assert "iter 2/2" in result.stdout
    assert (run_dir / "checkpoints" / "iter_000002" / "experiment.yaml").is_file()
