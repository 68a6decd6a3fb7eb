"""PettingZoo ``ParallelEnv`` of the 3-D aerial world: the N = 1 view of
:class:`~pe_rllib.envs.aerial.BatchedAerialPursuitEvasion` (bump the suffix when dynamics, sensing, observations or
rewards change).

## Description
A pursuer drone and an evader drone, point masses with commanded acceleration in a box airspace (ground,
ceiling, sides; optional vertical cylinders). The pursuer tries to bring its centre within ``capture_radius``
of the evader's, seeing it through a noisy radar and a Kalman filter (``observation: tracked``) or exactly
(``full``); the evader tries to last ``max_steps`` steps. Leaving the airspace or touching a cylinder is a crash.

## Action space
``Box(-1, 1, (3,), float32)`` per agent: an acceleration in the agent's line-of-sight frame as a fraction of its
``a_max`` (the vector is clipped to the unit ball).

## Observation space
``Box(-inf, inf, (32 + 5 n_obstacle_obs,), float32)``; layout in :mod:`pe_rllib.envs.aerial.sensing`.

## State
``state()`` is the true state ``[2, 6]``: ``(x, y, z, vx, vy, vz)`` of the pursuer, then the evader.

## Rewards, starting state, episode end
Named terms in ``infos[agent]["reward_terms"]`` (:func:`pe_rllib.envs.aerial.world.reward_terms`); spawns
``min_init_distance`` to ``max_init_distance`` apart at spawn altitudes, level at ``init_speed_fraction`` of top
speed; terminated on capture or crash, truncated after ``max_steps``. At the end, ``infos[agent]`` carries
``outcome``, ``episode_length`` and ``miss_distance`` (the closest approach).

Example:
    >>> from pe_rllib.envs import aerial_v0
    >>> env = aerial_v0.parallel_env(max_steps=50)
    >>> obs, infos = env.reset(seed=1)
    >>> obs, rewards, terminations, truncations, infos = env.step(
    ...     {agent: env.action_space(agent).sample() for agent in env.agents})
    >>> env.state().shape
    (2, 6)
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from pe_rllib.config import ROLES
from pe_rllib.config.aerial import AerialConfig
from pe_rllib.envs.aerial.world import BatchedAerialPursuitEvasion, action_space, observation_space
from pe_rllib.envs.core import OUTCOME_NAMES, RUNNING

EPISODE_KEYS = ("reward_terms", "outcome", "episode_length", "final_obs", "miss_distance")


class AerialPursuitEvasionEnv(ParallelEnv):
    """Two-agent 3-D aerial pursuit-evasion (see module docstring)."""

    metadata = {"name": "aerial_v0", "render_modes": [], "is_parallelizable": True}

    def __init__(self, config: AerialConfig | Mapping[str, Any] | None = None, **fields: Any) -> None:
        self.core = BatchedAerialPursuitEvasion(1, config, autoreset=False, **fields)
        self.config: AerialConfig = self.core.config
        self.render_mode = None
        self.possible_agents = list(ROLES)
        self.agents: list[str] = []
        self._observation_spaces = {agent: observation_space(self.config) for agent in ROLES}
        self._action_spaces = {agent: action_space() for agent in ROLES}
        self.state_space = spaces.Box(-np.inf, np.inf, (2, 6), np.float64)

    def observation_space(self, agent: str) -> spaces.Box:
        return self._observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.Box:
        return self._action_spaces[agent]

    def reset(self, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            for i, agent in enumerate(ROLES):
                self.action_space(agent).seed(seed + i)
        obs = self.core.reset(seed=seed)
        self.agents = list(ROLES)
        return {agent: obs[agent][0] for agent in ROLES}, {agent: {} for agent in ROLES}

    def step(self, actions: Mapping[str, Any]):
        if not self.agents:
            raise RuntimeError("step() called on a finished episode; call reset()")
        if not isinstance(actions, Mapping):
            raise ValueError(f"actions: must be a dict keyed by agent ({', '.join(ROLES)}), "
                             f"got {type(actions).__name__}")
        batched = {agent: np.asarray(value)[None] for agent, value in actions.items()}
        obs, rewards, terminated, truncated, infos = self.core.step(batched)
        out_infos = {}
        for agent in ROLES:
            info = infos[agent]
            out = {key: value[0].item() for key, value in info.items() if key not in EPISODE_KEYS}
            out["reward_terms"] = {term: float(v[0]) for term, v in info["reward_terms"].items()}
            outcome = int(info["outcome"][0])
            if outcome != RUNNING:
                out.update(outcome=OUTCOME_NAMES[outcome], episode_length=int(info["episode_length"][0]),
                           miss_distance=float(info["miss_distance"][0]))
            out_infos[agent] = out
        if terminated["pursuer"][0] or truncated["pursuer"][0]:
            self.agents = []
        return ({agent: obs[agent][0] for agent in ROLES}, {agent: float(rewards[agent][0]) for agent in ROLES},
                {agent: bool(terminated[agent][0]) for agent in ROLES},
                {agent: bool(truncated[agent][0]) for agent in ROLES}, out_infos)

    def state(self) -> np.ndarray:
        """The true state ``[2, 6]`` (pursuer first)."""
        return self.core.state()[0]

    def render(self) -> None:
        return None

    def close(self) -> None:
        pass


def parallel_env(**fields: Any) -> AerialPursuitEvasionEnv:
    """An :class:`AerialPursuitEvasionEnv`; every :class:`~pe_rllib.config.aerial.AerialConfig` field is a keyword."""
    return AerialPursuitEvasionEnv(**fields)


__all__ = ["parallel_env", "AerialPursuitEvasionEnv"]
