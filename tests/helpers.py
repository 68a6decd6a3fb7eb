"""Shared test helpers: drive batched envs to completion and place robots at known poses."""

from __future__ import annotations

import numpy as np

from pe_rllib.envs.core import AGENTS

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


def run_first_episodes(env, policies, seed=0, max_steps=100_000):
    """Play until every arena has finished once; returns per-arena first outcome, length and infos at end."""
    obs = env.reset(seed=seed)
    n = env.num_envs
    finished = np.zeros(n, dtype=bool)
    outcome = np.zeros(n, dtype=np.int64)
    length = np.zeros(n, dtype=np.int64)
    collided = np.zeros((n, 2), dtype=bool)
    for _ in range(max_steps):
        actions = {role: policies[role](obs[role], env) for role in AGENTS}
        obs, _, terminated, truncated, infos = env.step(actions)
        new = (terminated["pursuer"] | truncated["pursuer"]) & ~finished
        outcome[new] = infos["pursuer"]["outcome"][new]
        length[new] = infos["pursuer"]["episode_length"][new]
        for i, role in enumerate(AGENTS):
            collided[new, i] = infos[role]["collision"][new]
        finished |= new
        if finished.all():
            break
    return outcome, length, collided
