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


# --------------------------------------------------------------------------- cluster files

CLUSTER = Path(__file__).resolve().parents[1] / "cluster"
SECRET_PATTERNS = [r"AKIA[0-9A-Z]{16}", r"-----BEGIN", r"aws_secret_access_key", r"password\s*:", r"[0-9a-f]{64}"]


def _no_secrets(text: str) -> None:
    for pattern in SECRET_PATTERNS:
        assert not re.search(pattern, text, re.IGNORECASE), pattern


def test_cluster_launcher_config_passes_rays_own_validation():
    # `ray up` runs exactly these two (Ray 2.60: ray.autoscaler._private.util; no public wrapper).
    from ray.autoscaler._private.util import prepare_config, validate_config

    text = (CLUSTER / "cluster.yaml").read_text()
    _no_secrets(text)
    config = yaml.safe_load(text)
    validate_config(prepare_config(config))
    head = config["available_node_types"][config["head_node_type"]]
    assert head["resources"]["GPU"] >= 1
    workers = [t for name, t in config["available_node_types"].items() if name != config["head_node_type"]]
    assert workers and all("GPU" not in t["resources"] and t["resources"]["CPU"] >= 1 for t in workers)
    assert any("pip install" in command and "pe_rllib" in command for command in config["setup_commands"])
    token_path = next(remote for remote, local in config["file_mounts"].items() if "token" in remote)
    for command in config["head_start_ray_commands"] + config["worker_start_ray_commands"]:
        assert "RAY_AUTH_MODE=token" in command and f"RAY_AUTH_TOKEN_PATH={token_path}" in command
    head_start = " ".join(config["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in head_start and "0.0.0.0" not in text
    assert "ray stop" not in text

    broken = yaml.safe_load(text)
    broken["available_node_types"]["gpu_head"]["gpus"] = 1       # a typo must not pass
    with pytest.raises(Exception, match="gpus"):
        validate_config(prepare_config(broken))


def _containers(pod_template: dict) -> list[dict]:
    containers = pod_template["spec"]["containers"]
    assert containers, "a pod template needs containers"
    for container in containers:
        assert container["name"] and container["image"]
        env = {item["name"]: item for item in container.get("env", [])}
        assert env["RAY_AUTH_MODE"]["value"] == "token"
        assert env["RAY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"]["name"], "the token comes from a Secret"
    return containers


def _check_ray_cluster_spec(spec: dict) -> dict:
    """The fields KubeRay's RayCluster CRD (ray.io/v1) requires, and this project's rules on top."""
    dns = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    head = spec["headGroupSpec"]
    assert isinstance(head["rayStartParams"], dict)
    for params in [head["rayStartParams"]] + [g["rayStartParams"] for g in spec["workerGroupSpecs"]]:
        assert all(isinstance(v, str) for v in params.values()), "KubeRay takes rayStartParams as strings"
    head_container = _containers(head["template"])[0]
    assert int(head_container["resources"]["limits"]["nvidia.com/gpu"]) >= 1
    assert head.get("serviceType", "ClusterIP") == "ClusterIP", "no public service: port-forward instead"
    cpus = 0
    for group in spec["workerGroupSpecs"]:
        assert dns.match(group["groupName"])
        assert 0 <= group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
        worker = _containers(group["template"])[0]
        assert "nvidia.com/gpu" not in worker["resources"]["limits"]
        cpus += group["maxReplicas"] * int(worker["resources"]["limits"]["cpu"])
    return {"worker_cpus": cpus}


@pytest.mark.parametrize("name, kind", [("rayjob.yaml", "RayJob"), ("raycluster.yaml", "RayCluster")])
def test_kuberay_manifests_have_the_fields_kuberay_requires(name, kind):
    import shlex

    from pe_rllib.cli import build_parser
    from pe_rllib.cli.common import load_config

    text = (CLUSTER / name).read_text()
    _no_secrets(text)
    manifest = yaml.safe_load(text)
    assert manifest["apiVersion"] == "ray.io/v1" and manifest["kind"] == kind
    assert re.match(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", manifest["metadata"]["name"])
    spec = manifest["spec"]
    if kind == "RayJob":
        _containers(spec["submitterPodTemplate"])
        command = shlex.split(spec["entrypoint"])
        assert command[:2] == ["pe-rllib", "train"]
        args = build_parser().parse_args(command[1:])
        experiment = load_config(args)                      # the entrypoint's experiment is valid here
        assert experiment.training.num_gpus_per_learner >= 1
        capacity = _check_ray_cluster_spec(spec["rayClusterSpec"])
        runner_cpus = experiment.training.num_env_runners * experiment.training.num_cpus_per_env_runner
        assert runner_cpus <= capacity["worker_cpus"], "the env runners fit on the CPU workers"
        assert spec["rayClusterSpec"]["rayVersion"] == ray_version()
    else:
        _check_ray_cluster_spec(spec)
        assert spec["rayVersion"] == ray_version()


def ray_version() -> str:
    import ray

    return ray.__version__


def test_learner_device_and_runner_placement_come_from_the_config():
    """A GPU learner when the experiment asks for one (RLlib's own resource request, as Tune and the
    cluster see it), CPU only otherwise; one bundle per env runner, so runners spread over workers."""
    from pe_rllib.config import load_experiment
    from pe_rllib.training.algorithm import SelfPlayPPO, build_algorithm_config

    gpu = load_experiment("ra1", {"training.num_gpus_per_learner": 1, "training.num_env_runners": 16})
    request = SelfPlayPPO.default_resource_request(build_algorithm_config(gpu))
    assert request.required_resources["GPU"] == 1
    assert len(request.bundles) == 1 + 16 and all(b == {"CPU": 1.0} for b in request.bundles[1:])
    cpu = load_experiment("ra1")
    assert SelfPlayPPO.default_resource_request(build_algorithm_config(cpu)).required_resources.get("GPU", 0) == 0
