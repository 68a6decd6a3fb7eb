"""Shared test helpers: drive batched envs to completion and place robots at known poses."""

from __future__ import annotations

import inspect
from types import SimpleNamespace

import numpy as np

from pe_rllib.envs.core import AGENTS
from pe_rllib.envs.rollout import first_episodes

STILL = np.array([-1.0, 0.0])   # v = 0, omega = 0


def still_actions(n: int) -> dict[str, np.ndarray]:
    return {role: np.tile(STILL, (n, 1)) for role in AGENTS}


def place(env, pose, obstacles=None) -> dict[str, np.ndarray]:
    """Put arena 0..N-1 at ``pose [N, 2, 3]`` (and obstacles) and return the observation after a still step."""
    world = env.world
    world.pose[:] = pose
    if obstacles is not None:
        world.obstacles = np.asarray(obstacles, dtype=np.float64)
    world.t[:] = 0
    world.last_seen_t[:] = -1
    obs, *_ = env.step(still_actions(env.num_envs))
    return obs


def run_first_episodes(env, policies, seed=0):
    """Play until every arena has finished once (the package's rollout loop); ``policies[role](obs, env)``.
    Returns per-arena first outcome, length and collisions ``[N, 2]``."""
    obs = env.reset(seed=seed)
    n = env.num_envs
    outcome = np.zeros(n, dtype=np.int64)
    length = np.zeros(n, dtype=np.int64)
    collided = np.zeros((n, 2), dtype=bool)
    for step, live in first_episodes(env, lambda role, role_obs: policies[role](role_obs, env), obs):
        new = step.ended & live
        outcome[new] = step.infos["pursuer"]["outcome"][new]
        length[new] = step.infos["pursuer"]["episode_length"][new]
        for i, role in enumerate(AGENTS):
            collided[new, i] = step.infos[role]["collision"][new]
    return outcome, length, collided


def start_training(tmp_path, experiment: dict, **popen_kwargs):
    """`pe-rllib train` of ``experiment`` as a background process; returns (process, run_dir, config path)."""
    import subprocess
    import sys

    import yaml

    config = tmp_path / "experiment.yaml"
    config.write_text(yaml.safe_dump(experiment))
    run_dir = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "pe_rllib.cli", "train", "--config", str(config),
                             "--output", str(run_dir), "--no-dashboard"], **popen_kwargs)
    return proc, run_dir, config


def wait_for_checkpoint(proc, run_dir, at_least: int = 1, timeout: float = 300) -> str:
    """Wait until the run has checkpointed iteration ``at_least``; returns the `latest` name."""
    import time

    latest = run_dir / "checkpoints" / "latest"
    deadline = time.time() + timeout
    while not (latest.is_file() and latest.read_text().strip() >= f"iter_{at_least:06d}"):
        assert proc.poll() is None, "training exited early"
        assert time.time() < deadline, "no checkpoint in time"
        time.sleep(0.2)
    return latest.read_text().strip()


def train_tiny(tmp_path_factory, name: str, iterations: int):
    """A run of the tiny test experiment (test_training.TINY) for ``iterations``; returns its directory."""
    from test_training import TINY

    from pe_rllib.config import ExperimentConfig, from_dict
    from pe_rllib.training.run import train

    run_dir = tmp_path_factory.mktemp(name) / "run"
    train(from_dict(ExperimentConfig, {**TINY, "training": {**TINY["training"], "stop_iterations": iterations}}),
          output=run_dir, dashboard=False)
    return run_dir


def calls_to(monkeypatch, module, name: str) -> list[SimpleNamespace]:
    """Every call of ``module.name`` from now on (which still runs), in call order: its arguments by parameter
    name, defaults filled in, and its ``result`` (None until it returns)."""
    original = getattr(module, name)
    signature, calls = inspect.signature(original), []

    def spy(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        call = SimpleNamespace(**bound.arguments, result=None)
        calls.append(call)
        call.result = original(*args, **kwargs)
        return call.result

    monkeypatch.setattr(module, name, spy)
    return calls
