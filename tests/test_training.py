"""Self-play training on real RLlib: freezing, switching, checkpoints, kill + resume, inference, errors."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers import start_training, wait_for_checkpoint

from pe_rllib.config import ConfigError, ExperimentConfig, from_dict
from pe_rllib.policies import load_policy

TINY = {
    "env": {"n_obstacles": 2, "max_steps": 100, "max_init_distance": 6.0},
    "selfplay": {"cold_start_iterations": 1, "warmup_phase_lengths": [1], "phase_length": 2},
    # 2 arenas: 200 (1 runner) or 100 (2 runners) steps per arena and iteration, so even when every
    # episode runs to its 100-step limit in lock-step, each iteration ends some.
    "training": {"train_batch_size_per_learner": 400, "minibatch_size": 200, "num_epochs": 2,
                 "hidden_sizes": [16, 16], "keep_checkpoints": 10, "stop_iterations": 4,
                 "num_envs_per_env_runner": 2},
}
EXPECTED_ROLES = ["evader", "pursuer", "evader", "evader", "pursuer", "pursuer"]


def module_weights(checkpoint: Path, role: str) -> np.ndarray:
    policy = load_policy(checkpoint, role)
    return np.concatenate([p.detach().numpy().ravel() for p in policy.module.parameters()])


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, embedded_ray):
    from pe_rllib.training.run import train

    run_dir = tmp_path_factory.mktemp("train") / "run"
    reports = []
    summary = train(from_dict(ExperimentConfig, TINY), output=run_dir, dashboard=False,
                    on_iteration=reports.append)
    return run_dir, summary, reports


def test_roles_switch_on_schedule_and_only_the_trained_role_changes(tiny_run):
    run_dir, summary, reports = tiny_run
    assert summary.iterations == 4 and summary.checkpoint == run_dir / "checkpoints" / "iter_000004"
    assert [r.figures["training_roles"] for r in reports] == EXPECTED_ROLES[:4]
    checkpoints = [run_dir / "checkpoints" / f"iter_{i:06d}" for i in range(1, 5)]
    weights = {role: [module_weights(c, role) for c in checkpoints] for role in ("pursuer", "evader")}
    for i in range(1, 4):                       # iteration i + 1 trained EXPECTED_ROLES[i]
        trained, frozen = EXPECTED_ROLES[i], {"pursuer": "evader", "evader": "pursuer"}[EXPECTED_ROLES[i]]
        assert np.array_equal(weights[frozen][i], weights[frozen][i - 1]), f"{frozen} changed while frozen"
        assert not np.array_equal(weights[trained][i], weights[trained][i - 1]), f"{trained} did not train"


def test_progress_and_metrics_are_recorded(tiny_run):
    run_dir, _, reports = tiny_run
    lines = [json.loads(line) for line in (run_dir / "progress.jsonl").read_text().splitlines()]
    assert [line["iteration"] for line in lines] == [1, 2, 3, 4]
    for line in lines:
        assert line["env_steps"] >= 400 and line["episodes"] >= 1
        rates = line["capture_rate"] + line["escape_rate"] + line["collision_rate"]
        assert rates == pytest.approx(1.0)
        assert line["balance_gap"] == pytest.approx(abs(line["capture_rate"] - line["escape_rate"]))
        assert 0.0 <= line["infeasible_rate"] <= line["intervention_rate"] + 1e-12 <= 1.0
    assert reports[-1].env_steps_lifetime >= 1600
    scalars = tensorboard_scalars(run_dir / "tensorboard")
    assert {"pe/capture_rate", "pe/balance_gap", "perf/steps_per_second"} <= set(scalars)
    assert any(tag.startswith("learners/pursuer/") for tag in scalars)
    assert {"runners/min_distance", "runners/episode_steps", "runners/reward_terms/pursuer/capture",
            "runners/reward_terms/evader/timeout"} <= set(scalars)
    assert [step for step, _ in scalars["pe/capture_rate"]] == [1, 2, 3, 4]
    assert [value for _, value in scalars["pe/capture_rate"]] == pytest.approx([line["capture_rate"] for line in lines])
    texts = tensorboard_texts(run_dir / "tensorboard")
    experiment = yaml.safe_load((run_dir / "experiment.yaml").read_text())
    (text,) = [t for tag, values in texts.items() if tag.startswith("experiment") for t in values]
    assert yaml.safe_load(text.strip("`\n")) == experiment           # the run's whole experiment, as text


def _tensorboard_events(directory: Path):
    """The events of TensorBoard event files (TFRecord framing, tensorboardX protos)."""
    import struct

    from tensorboardX.proto.event_pb2 import Event

    for path in sorted(directory.glob("events.out.tfevents.*")):
        data, offset = path.read_bytes(), 0
        while offset < len(data):
            (length,) = struct.unpack_from("<Q", data, offset)
            yield Event.FromString(data[offset + 12: offset + 12 + length])
            offset += 12 + length + 4


def tensorboard_scalars(directory: Path) -> dict:
    """{tag: [(step, value)]} of the scalars in TensorBoard event files."""
    out = {}
    for event in _tensorboard_events(directory):
        for value in event.summary.value:
            if not value.HasField("tensor"):
                out.setdefault(value.tag, []).append((event.step, value.simple_value))
    return out


def tensorboard_texts(directory: Path) -> dict:
    """{tag: [text]} of the text summaries in TensorBoard event files."""
    out = {}
    for event in _tensorboard_events(directory):
        for value in event.summary.value:
            if value.HasField("tensor") and value.tensor.string_val:
                out.setdefault(value.tag, []).extend(v.decode() for v in value.tensor.string_val)
    return out


def test_load_policy_acts_like_training_and_rebuilds_its_world(tiny_run):
    run_dir, _, _ = tiny_run
    from pe_rllib.config import to_dict
    from pe_rllib.envs import pursuit_evasion_v0

    policy = load_policy(run_dir, "pursuer")
    assert policy.checkpoint.name == "iter_000004"
    env = pursuit_evasion_v0.parallel_env(**to_dict(policy.env_config))
    assert env.config.max_steps == 100 and env.config.n_obstacles == 2
    obs, _ = env.reset(seed=0)
    batch = np.stack([obs["pursuer"]] * 4)
    actions = policy.act(batch)
    assert actions.shape == (4, 2) and np.all(np.abs(actions) <= 1.0)
    assert np.allclose(actions, actions[0])                          # deterministic by default
    assert np.allclose(policy.act(obs["pursuer"]), actions[0])
    noisy = load_policy(run_dir, "pursuer", deterministic=False, seed=1).act(batch)
    assert not np.allclose(noisy, actions)
    with pytest.raises(ValueError, match="expected dimension"):
        policy.act(np.zeros((2, 5), np.float32))


def _cli(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "pe_rllib.cli", *args], capture_output=True, text=True,
                          timeout=600, **kwargs)


def test_kill_mid_run_then_resume_continues_from_the_checkpoint(tmp_path):
    proc, run_dir, _ = start_training(tmp_path, {**TINY, "training": {**TINY["training"], "stop_iterations": 20}},
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    wait_for_checkpoint(proc, run_dir, at_least=3)
    os.killpg(proc.pid, signal.SIGKILL)                               # the group we started
    proc.wait(timeout=30)
    killed_at = (run_dir / "checkpoints" / "latest").read_text().strip()
    assert killed_at >= "iter_000003"
    killed_iteration = int(killed_at.split("_")[1])
    result = _cli("train", "--resume", str(run_dir), "--stop-iters", str(killed_iteration + 2), "--no-dashboard")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in (run_dir / "progress.jsonl").read_text().splitlines()]
    # One row per iteration: the rows the killed run wrote after its last checkpoint were dropped,
    # and the resumed run continues the count and the phase schedule (not from scratch).
    assert [line["iteration"] for line in lines] == list(range(1, killed_iteration + 3))
    schedule = ["evader", "pursuer"] + [("evader", "pursuer")[(i // 2) % 2] for i in range(40)]
    assert [line["training_roles"] for line in lines] == schedule[:killed_iteration + 2]
    assert lines[-1]["env_steps_lifetime"] >= (killed_iteration + 2) * 400
    # In each resumed iteration the role that did not train is bit-identical to the checkpoint before.
    checkpoints = run_dir / "checkpoints"
    for iteration in (killed_iteration + 1, killed_iteration + 2):
        idle = "pursuer" if schedule[iteration - 1] == "evader" else "evader"
        before, after = (checkpoints / f"iter_{i:06d}" for i in (iteration - 1, iteration))
        assert np.array_equal(module_weights(after, idle), module_weights(before, idle)), (iteration, idle)
        assert not np.array_equal(module_weights(after, schedule[iteration - 1]),
                                  module_weights(before, schedule[iteration - 1]))
    assert not list(checkpoints.glob("*.part"))


@pytest.mark.parametrize("overrides, message", [
    (["--set", "env.bogus=1"], "env.bogus: unknown key"),
    (["--set", "training.lr=-0.1"], "training.lr: must be > 0"),
    (["--set", "env.min_init_distance=40", "--set", "env.max_init_distance=50"],
     "env.min_init_distance: cannot fit in the spawnable area"),
    (["--set", "training.num_epochs=1.0e+300"], "training.num_epochs: must be <= 1000"),
    (["--set", "training.num_envs_per_env_runner=1000000000"], "training.num_envs_per_env_runner: must be <="),
    (["--set", "training.hidden_sizes=[1000000000000]"], "training.hidden_sizes: must be 1 to 16 layer sizes"),
    (["--set", "env.arena_width=1.0e+308"], "env.arena_width: must be <= 10000"),
    (["--set", "env.dt=1000000"], "env.dt: must be <= 1"),
    (["--set", "training.num_cpus_per_env_runner=1000"], "training.num_cpus_per_env_runner: 2 env runner(s) x 1000"),
    (["--set", "env.arena_width=[1,"], "--set 'env.arena_width=[1,': value is not valid YAML"),
])
def test_bad_input_fails_in_one_line_before_ray_starts(tmp_path, overrides, message):
    ray_dir = tmp_path / "ray"                           # where Ray would have put its session had it started
    result = _cli("train", "--output", str(tmp_path / "run"), *overrides, cwd=Path(__file__).parent.parent,
                  env={**os.environ, "RAY_TMPDIR": str(ray_dir)})
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and message in result.stderr
    assert not (tmp_path / "run").exists()                             # nothing half-written
    assert not ray_dir.exists()                                        # Ray never started (was a time bound)


def test_asking_for_a_gpu_that_is_not_there_fails_clearly(tmp_path):
    # One runner: 1 runner CPU + the remote learner's 1 CPU fit on 2 cores; only the GPU is missing.
    result = _cli("train", "--output", str(tmp_path / "run"), "--set", "training.num_gpus_per_learner=1",
                  "--set", "training.num_learners=1", "--set", "training.num_env_runners=1", "--no-dashboard",
                  cwd=Path(__file__).parent.parent)
    assert result.returncode == 2
    assert "training.num_gpus_per_learner: the run asks for 1 GPU(s) but Ray has 0" in result.stderr
    assert not (tmp_path / "run").exists()


def test_resume_of_a_directory_that_is_not_a_run(tmp_path):
    result = _cli("train", "--resume", str(tmp_path))
    assert result.returncode == 2 and "not a pe_rllib run directory" in result.stderr
    with pytest.raises(ConfigError, match="unknown key"):
        from_dict(ExperimentConfig, {"training": {"num_gpu": 1}})


def _slot_weights(checkpoint: Path, module_id: str) -> np.ndarray:
    policy = load_policy(checkpoint, module_id.split("_")[0], module_id=module_id)
    return np.concatenate([p.detach().numpy().ravel() for p in policy.module.parameters()])


def test_finished_phases_fill_snapshot_slots_that_play_the_frozen_role(tmp_path, embedded_ray):
    from pe_rllib.training.run import train

    config = from_dict(ExperimentConfig, {
        **TINY,
        "selfplay": {"cold_start_iterations": 1, "warmup_phase_lengths": [], "phase_length": 1,
                     "opponent_slots": 2, "snapshot_probability": 1.0},
        "training": {**TINY["training"], "stop_iterations": 3},
    })
    reports = []
    train(config, output=tmp_path / "run", dashboard=False, on_iteration=reports.append)
    ckpt = [tmp_path / "run" / "checkpoints" / f"iter_{i:06d}" for i in (1, 2, 3)]
    # After each phase the role that trained is copied into its next slot (round robin).
    assert np.array_equal(_slot_weights(ckpt[0], "evader_snapshot_0"), module_weights(ckpt[0], "evader"))
    assert np.array_equal(_slot_weights(ckpt[1], "pursuer_snapshot_0"), module_weights(ckpt[1], "pursuer"))
    assert np.array_equal(_slot_weights(ckpt[2], "evader_snapshot_1"), module_weights(ckpt[2], "evader"))
    assert [r.figures["snapshots_filled"] for r in reports] == [
        {"pursuer": 0, "evader": 1}, {"pursuer": 1, "evader": 1}, {"pursuer": 1, "evader": 2}]
    # Iteration 1 has no snapshot yet; from iteration 2 on the frozen role is played by one
    # (episodes begun in the previous iteration keep their mapping, hence > 0 rather than 1).
    shares = [r.figures["substitute_episode_share"] for r in reports]
    assert shares[0] == 0.0 and shares[1] > 0.3 and shares[2] > 0.3


def test_scripted_cold_start_opponent_plays_only_during_the_cold_start(tiny_run, tmp_path, embedded_ray):
    from pe_rllib.training.run import train

    config = from_dict(ExperimentConfig, {
        **TINY, "selfplay": {**TINY["selfplay"], "cold_start_opponent": "pure_pursuit"},
        "training": {**TINY["training"], "stop_iterations": 3}})
    reports = []
    train(config, output=tmp_path / "run", dashboard=False, on_iteration=reports.append)
    shares = [r.figures["substitute_episode_share"] for r in reports]
    assert shares[0] == 1.0 and shares[2] < shares[0]          # scripted only in phase 0
    untrained_capture = tiny_run[2][0].figures["capture_rate"]  # same world, untrained pursuer
    assert reports[0].figures["capture_rate"] >= untrained_capture + 0.3


def test_cold_start_opponent_must_fit_the_role():
    with pytest.raises(ConfigError, match="selfplay.cold_start_opponent: must be 'untrained' or a scripted pursuer"):
        from_dict(ExperimentConfig, {"selfplay": {"first_role": "evader", "cold_start_opponent": "straight_flee"}})
    config = from_dict(ExperimentConfig, {"selfplay": {"first_role": "pursuer", "cold_start_opponent": "circling"}})
    assert config.selfplay.cold_start_opponent == "circling"


def test_crashed_env_runner_comes_back_with_current_weights_and_mapping(embedded_ray):
    """Ray restarts a crashed runner from the *original* config (often unnoticed by RLlib):
    before the next iteration it must get all module weights and the mapping state again."""
    from pe_rllib.training.algorithm import build_algorithm_config

    config = from_dict(ExperimentConfig, {
        **TINY,
        "selfplay": {"cold_start_iterations": 1, "warmup_phase_lengths": [], "phase_length": 10,
                     "opponent_slots": 1, "snapshot_probability": 1.0},
        "training": {**TINY["training"], "num_env_runners": 2}})
    algo = build_algorithm_config(config).build_algo()

    def runner_state(env_runner):
        mapping = env_runner.config.policy_mapping_fn
        weights = env_runner.module["evader"].get_state()
        first = next(iter(weights.values()))
        return (env_runner.worker_index, os.getpid(), mapping.frozen_roles, mapping.opponents,
                float(np.asarray(first).ravel()[0]))

    try:
        algo.train()              # cold start: the evader trains, then is snapshotted and frozen
        algo.train()              # no phase switch from here on: nothing else re-applies state
        learner_evader = next(iter(algo.learner_group.get_weights(["evader"])["evader"].values()))
        expected = (("evader",), {"pursuer": (), "evader": ("evader_snapshot_0",)},
                    float(np.asarray(learner_evader).ravel()[0]))
        before = {s[0]: s for s in algo.env_runner_group.foreach_env_runner(runner_state, local_env_runner=False)}
        assert all(s[2:] == expected for s in before.values())
        crash_runner(algo, 1)
        deadline = time.time() + 120
        while True:                                   # wait until Ray has restarted the process
            time.sleep(2)
            now = algo.env_runner_group.foreach_env_runner(runner_state, local_env_runner=False,
                                                           healthy_only=False)
            restarted = [s for s in now if s[0] == 1 and s[1] != before[1][1]]
            if restarted:
                break
            assert time.time() < deadline, "env runner was not restarted"
        assert restarted[0][2:] != expected            # the new process starts stale ...
        result = algo.train()
        assert result["pe"]["episodes"] >= 1
        after = {s[0]: s for s in algo.env_runner_group.foreach_env_runner(runner_state, local_env_runner=False)}
        assert sorted(after) == [1, 2] and after[1][1] == restarted[0][1]
        assert all(s[2:] == expected for s in after.values())   # ... and is brought up to date
    finally:
        algo.stop()


def crash_runner(algo, index: int) -> None:
    """Kill env runner ``index``'s process (as a segfault would), through RLlib's public API."""
    from ray.exceptions import RayError

    try:
        algo.env_runner_group.foreach_env_runner(lambda runner: os._exit(1), remote_worker_ids=[index],
                                                 local_env_runner=False, timeout_seconds=30)
    except RayError:
        pass                                   # the call itself dies with the actor


def test_partial_observation_with_history_trains(tmp_path, embedded_ray):
    from pe_rllib.training.run import train

    config = from_dict(ExperimentConfig, {
        **TINY, "env": {**TINY["env"], "observation": "partial", "p_full_obs": 0.5, "history_length": 2,
                        "n_lidar_rays": 8},
        "training": {**TINY["training"], "stop_iterations": 2, "checkpoint_every": 1}})
    summary = train(config, output=tmp_path / "run", dashboard=False)
    policy = load_policy(summary.run_dir, "evader")
    assert policy.module.observation_space.shape == ((23 + 8) * 2,)
    assert summary.last.figures["episodes"] >= 1
    checkpoints = [summary.run_dir / "checkpoints" / f"iter_{i:06d}" for i in (1, 2)]
    before, after = (module_weights(c, EXPECTED_ROLES[1]) for c in checkpoints)
    assert not np.array_equal(before, after)                 # iteration 2 trained its role on these observations
