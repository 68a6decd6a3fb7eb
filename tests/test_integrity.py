"""Run integrity and hostile input: no code runs on load, damaged checkpoints are skipped, one writer
per run, edited experiments are refused, the filter validates its input, Ray stays on loopback."""

import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers import start_training, train_tiny, wait_for_checkpoint
from test_training import TINY

from pe_rllib.policies import load_policy
from pe_rllib.rundir import RunDirectoryError, read_progress, trim_progress, verify_checkpoint, write_manifest

ROOT = Path(__file__).resolve().parent.parent


def cli(*args, cwd=None, timeout=600):
    return subprocess.run([sys.executable, "-m", "pe_rllib.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, embedded_ray):
    """A tiny run with checkpoints after iterations 1, 2 and 3 (copied per test before tampering)."""
    return train_tiny(tmp_path_factory, "integrity", 3)


@pytest.fixture
def run_copy(trained, tmp_path):
    target = tmp_path / "run"
    shutil.copytree(trained, target)
    (target / ".lock").unlink(missing_ok=True)
    return target


class Exploit:
    """A pickle that runs code when loaded (touches a marker file)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_checkpoints_carry_a_verified_manifest_and_data_only_weights(trained):
    checkpoint = trained / "checkpoints" / "iter_000003"
    assert verify_checkpoint(checkpoint) is None
    manifest = json.loads((checkpoint / "MANIFEST.json").read_text())
    assert manifest["iteration"] == 3 and "policies/pursuer.pt" in manifest["files"]
    assert {p.name for p in (checkpoint / "policies").iterdir()} == {"pursuer.pt", "evader.pt"}
    assert (checkpoint / "algorithm_state.msgpack").is_file() and not list(checkpoint.rglob("*.pkl"))


def test_neither_loading_nor_resuming_unpickles_anything(run_copy, tmp_path):
    """Code-running pickles planted where RLlib would look for pickled state (manifest rewritten to
    match, as an attacker would): load_policy and rollout ignore them, resume refuses the checkpoint,
    and the code never runs."""
    marker = tmp_path / "pwned"
    checkpoint = run_copy / "checkpoints" / "iter_000003"
    for state in [checkpoint / "algorithm_state.msgpack", *checkpoint.rglob("module_state.msgpack")]:
        state.with_suffix(".pkl").write_bytes(pickle.dumps(Exploit(marker)))
        state.unlink()
    write_manifest(checkpoint, 3)
    policy = load_policy(run_copy, "pursuer")
    assert policy.checkpoint == checkpoint
    assert policy.act(np.zeros(policy.module.observation_space.shape, np.float32)).shape == (2,)
    result = cli("rollout", "--pursuer", str(run_copy), "--evader", "straight_flee", "--episodes", "4")
    assert result.returncode == 0, result.stderr
    resumed = cli("train", "--resume", str(run_copy), "--stop-iters", "4", "--no-dashboard")
    assert resumed.returncode == 2 and "holds pickled state (algorithm_state.pkl)" in resumed.stderr
    assert not marker.exists()


def test_resume_refuses_a_msgpack_state_carrying_a_pickled_object_array(run_copy, tmp_path):
    """RLlib decodes msgpack state with msgpack_numpy, which unpickles object-dtype arrays: one planted
    in the algorithm state (manifest rewritten) is refused before RLlib reads it, and never runs."""
    import msgpack
    import msgpack_numpy

    marker = tmp_path / "pwned"
    checkpoint = run_copy / "checkpoints" / "iter_000003"
    path = checkpoint / "algorithm_state.msgpack"
    with open(path, "rb") as handle:
        state = msgpack.unpack(handle, strict_map_key=False, object_hook=msgpack_numpy.decode)
    payload = np.empty(1, dtype=object)
    payload[0] = Exploit(marker)
    state["planted"] = payload
    path.write_bytes(msgpack.packb(state, default=msgpack_numpy.encode))
    write_manifest(checkpoint, 3)
    resumed = cli("train", "--resume", str(run_copy), "--stop-iters", "4", "--no-dashboard")
    assert resumed.returncode == 2 and "pickled numpy object array" in resumed.stderr, resumed.stderr
    assert len(resumed.stderr.strip().splitlines()) == 1
    assert not marker.exists()
    # msgpack_numpy itself would have run it: the test plants a real exploit
    with open(path, "rb") as handle:
        msgpack.unpack(handle, strict_map_key=False, object_hook=msgpack_numpy.decode)
    assert marker.exists()


def test_a_weights_file_that_carries_code_is_refused(run_copy, tmp_path):
    marker = tmp_path / "pwned"
    checkpoint = run_copy / "checkpoints" / "iter_000003"
    (checkpoint / "policies" / "pursuer.pt").write_bytes(pickle.dumps(Exploit(marker)))
    write_manifest(checkpoint, 3)
    with pytest.raises(RunDirectoryError, match="not a data-only weights file"):
        load_policy(checkpoint, "pursuer")
    result = cli("rollout", "--pursuer", str(checkpoint), "--episodes", "4")
    assert result.returncode == 2 and "not a data-only weights file" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not marker.exists()


@pytest.mark.parametrize("damage", ["truncate", "delete", "tamper_state", "no_manifest"])
def test_a_damaged_newest_checkpoint_is_skipped_for_the_newest_intact_one(run_copy, damage, caplog):
    newest = run_copy / "checkpoints" / "iter_000003"
    victim = newest / "policies" / "pursuer.pt"
    if damage == "truncate":
        victim.write_bytes(victim.read_bytes()[:100])
    elif damage == "delete":
        victim.unlink()
    elif damage == "tamper_state":
        state = newest / "algorithm_state.msgpack"
        state.write_bytes(state.read_bytes() + b"\0")
    else:
        (newest / "MANIFEST.json").unlink()
    (run_copy / "checkpoints" / "latest").write_text("iter_000099")        # a pointer to nowhere is ignored
    policy = load_policy(run_copy, "pursuer")
    assert policy.checkpoint.name == "iter_000002"
    assert any("skipping checkpoint" in r.message and "iter_000003" in r.message for r in caplog.records)
    with pytest.raises(RunDirectoryError, match="damaged checkpoint"):
        load_policy(newest, "pursuer")


def test_resume_falls_back_past_a_damaged_checkpoint_and_trims_the_logs(run_copy):
    newest = run_copy / "checkpoints" / "iter_000003"
    victim = newest / "algorithm_state.msgpack"
    victim.write_bytes(victim.read_bytes()[:50])
    result = cli("train", "--resume", str(run_copy), "--stop-iters", "3", "--no-dashboard")
    assert result.returncode == 0, result.stderr
    assert "skipping checkpoint" in result.stderr and "iter_000003" in result.stderr
    rows = [json.loads(line)["iteration"] for line in (run_copy / "progress.jsonl").read_text().splitlines()]
    assert rows == [1, 2, 3]                         # row 3 of the damaged branch was replaced, not duplicated
    assert verify_checkpoint(run_copy / "checkpoints" / "iter_000003") is None


def test_progress_rows_skip_a_half_written_line_and_trimming_drops_it(tmp_path):
    """A run killed mid-write leaves a partial last line: readers skip it, a resume trims it with later rows."""
    rows = [{"iteration": i, "capture_rate": 0.1 * i} for i in (1, 2, 3)]
    text = "".join(json.dumps(row) + "\n" for row in rows) + '{"iteration": 4, "capt'
    (tmp_path / "progress.jsonl").write_text(text)
    assert read_progress(tmp_path) == rows
    assert read_progress(tmp_path / "missing") == []
    assert trim_progress(tmp_path, 2) == 2                   # row 3 and the partial line
    assert read_progress(tmp_path) == rows[:2]
    assert (tmp_path / "progress.jsonl").read_text().endswith("}\n")
    assert trim_progress(tmp_path, 2) == 0


@pytest.mark.parametrize("edit, message", [
    ({"env": {"n_obstacles": 3}}, "differs from the checkpoint iter_000003 it resumes in env.n_obstacles"),
    ({"training": {"hidden_sizes": [32, 32]}}, "in training.hidden_sizes"),
])
def test_an_edited_experiment_is_not_resumed_silently(run_copy, edit, message):
    path = run_copy / "experiment.yaml"
    data = yaml.safe_load(path.read_text())
    for section, values in edit.items():
        data[section].update(values)
    path.write_text(yaml.safe_dump(data))
    result = cli("train", "--resume", str(run_copy), "--stop-iters", "4", "--no-dashboard")
    assert result.returncode == 2 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert len((run_copy / "progress.jsonl").read_text().splitlines()) == 3


def test_resume_may_change_only_the_listed_fields(run_copy):
    refused = cli("train", "--resume", str(run_copy), "--set", "env.n_obstacles=3", "--no-dashboard")
    assert refused.returncode == 2 and "env.n_obstacles: cannot change on resume" in refused.stderr
    result = cli("train", "--resume", str(run_copy), "--set", "training.stop_iterations=4",
                 "--set", "training.keep_checkpoints=2", "--no-dashboard")
    assert result.returncode == 0, result.stderr
    assert "iter 4/4" in result.stdout
    assert yaml.safe_load((run_copy / "experiment.yaml").read_text())["training"]["keep_checkpoints"] == 2
    assert sorted(p.name for p in (run_copy / "checkpoints").glob("iter_*")) == ["iter_000003", "iter_000004"]


def _ray_session_processes(session_suffix: str) -> list[int]:
    """PIDs with an open file in the Ray session directory whose name ends with ``session_suffix``."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            links = [os.readlink(f"/proc/{entry}/fd/{fd}") for fd in os.listdir(f"/proc/{entry}/fd")]
        except OSError:
            continue
        if any("/session_" in link and link.split("/logs/")[0].endswith(session_suffix) for link in links):
            pids.append(int(entry))
    return pids


LONG = {**TINY, "training": {**TINY["training"], "stop_iterations": 200}}


def test_one_writer_per_run_and_sigterm_stops_embedded_ray(tmp_path):
    proc, run_dir, config = start_training(tmp_path, LONG, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_checkpoint(proc, run_dir)
        resumed = cli("train", "--resume", str(run_dir), "--no-dashboard", timeout=60)
        assert resumed.returncode == 2 and f"in use by pid {proc.pid}" in resumed.stderr
        again = cli("train", "--config", str(config), "--output", str(run_dir), "--no-dashboard", timeout=60)
        assert again.returncode == 2 and "already holds a run" in again.stderr
        assert len(again.stderr.strip().splitlines()) == 1
        before = _ray_session_processes(f"_{proc.pid}")
        assert len(before) >= 3                         # gcs, raylet, agents, workers of its embedded Ray
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) != 0
    finally:
        if proc.poll() is None:
            proc.kill()
    deadline = time.time() + 60
    while _ray_session_processes(f"_{proc.pid}") and time.time() < deadline:
        time.sleep(1)
    assert _ray_session_processes(f"_{proc.pid}") == []   # embedded Ray went down with its driver
    result = cli("train", "--resume", str(run_dir), "--stop-iters", "1", "--no-dashboard")
    assert result.returncode == 0 and "nothing to do" in result.stdout          # the lock was released


def test_embedded_ray_listens_on_loopback_only(tmp_path):
    script = tmp_path / "listen.py"
    script.write_text(LISTEN_SCRIPT)
    env = {k: v for k, v in os.environ.items() if k != "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"}   # init_ray sets it
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    sockets = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(sockets) >= 5, sockets                     # GCS, raylet, dashboard, agents, workers
    exposed = [s for s in sockets if s["ip"] not in ("127.0.0.1", "::ffff:127.0.0.1", "::1")]
    assert not exposed, exposed
    assert any("dashboard/dashboard.py" in s["cmd"] for s in sockets)     # the dashboard / job API
    assert any("raylet" in s["cmd"] for s in sockets) and any("gcs_server" in s["cmd"] for s in sockets)


LISTEN_SCRIPT = '''
import json, os, socket, time
from pe_rllib.training.session import init_ray

def listening_inodes():
    out = {}
    for name, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        for line in open(f"/proc/net/{name}").read().splitlines()[1:]:
            parts = line.split()
            if parts[3] != "0A":                      # LISTEN
                continue
            hexip, hexport = parts[1].split(":")
            raw = bytes.fromhex(hexip)
            words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
            out[int(parts[9])] = (socket.inet_ntop(family, words), int(hexport, 16))
    return out

def descendants(root):
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, stack = [], [root]
    while stack:
        pid = stack.pop()
        out.append(pid)
        stack.extend(children.get(pid, []))
    return out

init_ray(dashboard=True)                             # before anything imports ray, as pe-rllib train
import ray
time.sleep(8)                                        # agents and idle workers come up
inodes = listening_inodes()
found = []
for pid in descendants(os.getpid()):
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        continue
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:[") and int(target[8:-1]) in inodes:
            ip, port = inodes[int(target[8:-1])]
            cmd = open(f"/proc/{pid}/cmdline").read().replace("\\0", " ")
            found.append({"pid": pid, "ip": ip, "port": port, "cmd": cmd[:200]})
ray.shutdown()
print(json.dumps(found))
'''


def test_the_compiled_filter_rejects_mismatched_batches_cleanly():
    code = ("import numpy as np\n"
            "from pe_rllib.safety import SafetyFilter\n"
            "f = SafetyFilter()\n"
            "for _ in range(50):\n"
            "    try:\n"
            "        f.filter(np.zeros((64, 3)), np.array([[1.0, 0.0]]), np.zeros((1, 4, 3)))\n"
            "    except ValueError as err:\n"
            "        message = str(err)\n"
            "print(message)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "obstacles: expected shape (64, *, 3), got (1, 4, 3)"


def test_non_finite_input_is_never_called_safe():
    from pe_rllib.safety import SafetyFilter

    filt = SafetyFilter()
    poses = np.array([[0.0, 0.0, 0.0], [np.nan, 0.0, 0.0], [1.0, 1.0, 0.0], [2.0, 2.0, 0.0]])
    obstacles = np.tile(np.array([[[5.0, 5.0, 0.5]]]), (4, 1, 1))
    obstacles[2, 0, 0] = np.inf
    nominal = np.array([[0.5, 0.0], [0.5, 0.0], [0.5, 0.0], [np.nan, 1.0]])
    safe, info = filt.filter(poses, nominal, obstacles)
    assert np.isfinite(safe).all()
    assert info["status"].tolist() == [0, 2, 2, 2]
    assert info["infeasible"].tolist() == [False, True, True, True]
    assert info["intervened"][1:].all()
    assert np.allclose(safe[1], 0.0) and np.allclose(safe[2], 0.0)      # cannot certify: stop
    a, b = filt.constraints(poses[3:], obstacles[3:])
    assert (np.einsum("nkj,nj->nk", a, safe[3:]) >= b - 1e-9).all()      # NaN action -> certified action
    with pytest.raises(ValueError, match=r"actions: expected shape \(4, 2\)"):
        filt.filter(poses, nominal[:, :1], obstacles)
    with pytest.raises(ValueError, match="must be a real numeric array"):
        filt.filter(poses.astype(complex), nominal, obstacles)


@pytest.mark.parametrize("args, message", [
    (["train", "--output", "{file}"], "is a file, not a directory"),
    (["train", "--output", "{file}/run"], "is a file, not a directory"),
    (["train", "--config", "{binary}"], "not a text (UTF-8) file"),
    (["rollout", "--pursuer", "does/not/exist"], "--pursuer does/not/exist: no such run or checkpoint directory"),
    (["rollout", "--json", "{file}/out.json"], "directory"),
    (["train", "--resume", "{missing}"], "no such run directory"),
])
def test_cli_input_errors_are_one_line(tmp_path, args, message):
    file, binary = tmp_path / "a-file", tmp_path / "config.yaml"
    file.write_text("x")
    binary.write_bytes(bytes(range(256)) * 4)
    values = {"file": file, "binary": binary, "missing": tmp_path / "missing"}
    result = cli(*(a.format(**values) for a in args), cwd=tmp_path, timeout=120)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "config.yaml"]


def test_resume_after_kill_9_ends_the_ray_agents_the_dead_driver_left(tmp_path):
    proc, run_dir, _ = start_training(tmp_path, LONG, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    suffix = f"_{proc.pid}"
    try:
        wait_for_checkpoint(proc, run_dir)
        proc.kill()                                         # kill -9 of the driver alone
        proc.wait(timeout=30)
        time.sleep(5)
        assert _ray_session_processes(suffix), "expected Ray's agents to outlive a kill -9 of their driver"
        result = cli("train", "--resume", str(run_dir), "--stop-iters", "1", "--no-dashboard")
        assert result.returncode == 0, result.stderr
        assert "left behind by the killed run" in result.stderr
        assert _ray_session_processes(suffix) == []
    finally:
        for pid in _ray_session_processes(suffix):          # processes this test started, by PID
            os.kill(pid, signal.SIGKILL)
