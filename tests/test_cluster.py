"""The same `pe-rllib train` runs unchanged on a Ray cluster: `ray job submit` to a real head node.

The head is a child process (`ray start --head --block` on 127.0.0.1) with token auth
on, as on the cluster; SIGTERM to its PID drains and stops the whole node.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
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
    dashboard, gcs, metrics = free_port(), free_port(), free_port()
    log = open(tmp_path_factory.mktemp("head") / "head.log", "w")
    head = subprocess.Popen(
        [ray_bin, "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={gcs}",
         f"--dashboard-port={dashboard}", "--dashboard-host=127.0.0.1", "--include-dashboard=true",
         # Fixed default ports (agent 52365, ...) would collide with another Ray on this machine.
         f"--dashboard-agent-listen-port={free_port()}", f"--dashboard-agent-grpc-port={free_port()}",
         f"--runtime-env-agent-port={free_port()}", f"--metrics-export-port={metrics}",
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
        yield ray_bin, address, env, {"gcs": f"127.0.0.1:{gcs}", "metrics": f"http://127.0.0.1:{metrics}/metrics"}
    finally:
        head.send_signal(signal.SIGTERM)
        try:
            head.wait(timeout=120)
        except subprocess.TimeoutExpired:
            head.kill()
        log.close()


def test_train_submitted_as_a_ray_job_runs_on_the_cluster(ray_head, tmp_path):
    ray_bin, address, env, _ = ray_head
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


PROMETHEUS_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")


def scrape(url: str) -> dict[str, list[tuple[dict, float]]]:
    """The node's Prometheus text exposition: {metric name: [(labels, value), ...]}."""
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    out: dict[str, list[tuple[dict, float]]] = {}
    for line in text.splitlines():
        match = re.match(r"^([^{\s#]+)(?:\{(.*)\})?\s+(\S+)$", line)
        if match:
            labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
            out.setdefault(match.group(1), []).append((labels, float(match.group(3))))
    return out


def test_dashboard_metrics_appear_on_the_node_metrics_endpoint_during_a_run(ray_head, tmp_path):
    """A run attached to the head sets its gauges; the node's metrics endpoint (what Prometheus and the
    dashboard's Grafana panels read) serves them, tagged with the run, while it trains."""
    from pe_rllib.callbacks.dashboard import OTHER, PER_ROLE, RATES

    ray_bin, _, env, ports = ray_head
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({**TINY, "training": {**TINY["training"], "stop_iterations": 100_000,
                                                           "checkpoint_every": 50},
                                      "evaluation": {"every": 2, "episodes": 10}}))
    run_dir = tmp_path / "metrics-run"
    proc = subprocess.Popen([sys.executable, "-m", "pe_rllib.cli", "train", "--config", str(config),
                             "--output", str(run_dir), "--address", ports["gcs"]],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wanted = {"ray_pe_capture_rate", "ray_pe_escape_rate", "ray_pe_collision_rate", "ray_pe_balance_gap",
              "ray_pe_safety_intervention_rate", "ray_pe_env_steps_per_second", "ray_pe_training",
              "ray_pe_iteration", "ray_pe_eval_strength", "ray_pe_eval_vs_scripted"}
    found: dict = {}
    try:
        deadline = time.time() + 240
        while time.time() < deadline:
            assert proc.poll() is None, proc.stdout.read()[-3000:]
            metrics = scrape(ports["metrics"])
            found = {name: [(labels, value) for labels, value in samples if labels.get("run") == "metrics-run"]
                     for name, samples in metrics.items() if name.startswith("ray_pe_")}
            if wanted <= {name for name, samples in found.items() if samples}:
                break
            time.sleep(2)
    finally:
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=120)[0]
    assert wanted <= set(found), f"missing {wanted - set(found)}; output: {output[-2000:]}"
    for name in list(RATES) + list(OTHER) + list(PER_ROLE):
        assert PROMETHEUS_NAME.match(f"ray_{name}")
    assert 0.0 <= found["ray_pe_capture_rate"][0][1] <= 1.0
    assert found["ray_pe_iteration"][0][1] >= 1 and found["ray_pe_env_steps_per_second"][0][1] > 0
    roles = {labels["role"]: value for labels, value in found["ray_pe_training"]}
    assert set(roles) == {"pursuer", "evader"} and set(roles.values()) <= {0.0, 1.0} and 1.0 in roles.values()
    assert {labels["role"] for labels, _ in found["ray_pe_eval_vs_scripted"]} == {"pursuer", "evader"}
