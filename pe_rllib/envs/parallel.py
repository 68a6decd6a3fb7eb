"""PettingZoo ``ParallelEnv`` facade: the N=1 view of the batched world core.

## Description
A pursuer and an evader, unicycle robots in a rectangular arena (centred at the origin)
with random circular obstacles. The pursuer tries to bring its centre within
``capture_radius`` of the evader's; the evader tries to last ``max_steps`` steps.

## Action space
``Box(-1, 1, (2,), float32)`` per agent: ``a[0]`` maps linearly to speed
``v in [0, v_max(role)]``, ``a[1]`` to turn rate ``omega in [-omega_max, omega_max]``.
Out-of-range actions are clipped; NaN/inf actions raise ``ValueError`` naming the agent.

## Observation space
``Box(-inf, inf, (D,), float32)``; layout in :mod:`pe_rllib.envs.sensing`
(full: ``18 + 4 n_obstacle_obs`` (plus ``n_lidar_rays`` with ``full_obs_lidar``), partial: ``23 + n_lidar_rays``, times
``history_length``).

## Rewards
Named terms, see :mod:`pe_rllib.envs.rewards`; per-step values in
``infos[agent]["reward_terms"]``.

## Starting state
Obstacles (radius in ``[obstacle_radius_min, obstacle_radius_max]``) keep
``obstacle_clearance`` from each other and the walls; both robots spawn clear of them at
a distance in ``[min_init_distance, max_init_distance]`` with random headings.

## Episode end
Terminated on capture or on a collision of either robot with an obstacle or wall (a
safety violation: ``infos[agent]["collision"]``, outcome ``"collision"``); truncated
after ``max_steps`` (outcome ``"timeout"``: the evader escaped). Then ``agents`` is
empty; call ``reset``.

## Arguments
Every field of :class:`pe_rllib.config.EnvConfig` as a keyword (or ``config=``), plus
``render_mode="rgb_array"``.

## Version history
* v0: initial release.

Example:
    >>> from pe_rllib.envs import pursuit_evasion_v0
    >>> env = pursuit_evasion_v0.parallel_env(n_obstacles=2, max_steps=50)
    >>> obs, infos = env.reset(seed=1)
    >>> env.agents
    ['pursuer', 'evader']
    >>> obs, rewards, terminations, truncations, infos = env.step(
    ...     {agent: env.action_space(agent).sample() for agent in env.agents})
    >>> sorted(infos["pursuer"]["reward_terms"])[:2]
    ['capture', 'collision']
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from pe_rllib.config import EnvConfig
from pe_rllib.envs.batched import BatchedPursuitEvasion, action_space, observation_space
from pe_rllib.envs.core import AGENTS, OUTCOME_NAMES, RUNNING, global_state_dim, stack_actions


class PursuitEvasionEnv(ParallelEnv):
    """Two-agent pursuit-evasion (see module docstring)."""

    metadata = {"name": "pursuit_evasion_v0", "render_modes": ["rgb_array"], "render_fps": 20,
                "is_parallelizable": True}

    def __init__(self, config: EnvConfig | Mapping[str, Any] | None = None,
                 render_mode: str | None = None, **env_fields: Any) -> None:
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode: must be None or 'rgb_array', got {render_mode!r}")
        self.core = BatchedPursuitEvasion(1, config, autoreset=False, **env_fields)
        self.config: EnvConfig = self.core.config
        self.render_mode = render_mode
        self.possible_agents = list(AGENTS)
        self.agents: list[str] = []
        # Each agent owns its space objects (and so its own sampling RNG).
        self._observation_spaces = {agent: observation_space(self.config) for agent in AGENTS}
        self._action_spaces = {agent: action_space() for agent in AGENTS}
        self.state_space = spaces.Box(-np.inf, np.inf, (global_state_dim(self.config),), np.float32)
        self._renderer = None
        self._trails = None
        if render_mode is not None:
            from pe_rllib.envs.render import Trails  # matplotlib only when rendering
            self._trails = Trails()

    def observation_space(self, agent: str) -> spaces.Box:
        return self._observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.Box:
        return self._action_spaces[agent]

    @property
    def world(self):
        """The underlying :class:`~pe_rllib.envs.core.WorldState` (N=1)."""
        return self.core.world

    def reset(self, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            for i, agent in enumerate(AGENTS):
                self.action_space(agent).seed(seed + i)
        obs = self.core.reset(seed=seed)
        self.agents = list(AGENTS)
        if self._trails is not None:
            self._trails.reset(self.core.world.pose[0])
        infos = {agent: {} for agent in AGENTS}
        return {agent: obs[agent][0] for agent in AGENTS}, infos

    def step(self, actions: Mapping[str, Any]):
        if not self.agents:
            raise RuntimeError("step() called on a finished episode; call reset()")
        stacked = stack_actions(actions, 1, single=True)
        obs, rewards, terminated, truncated, infos = self.core.step(
            {agent: stacked[:, i] for i, agent in enumerate(AGENTS)})
        return self._unbatch(obs, rewards, terminated, truncated, infos)

    def _unbatch(self, obs, rewards, terminated, truncated, infos):
        """Pick arena 0 of a batched step result; end the episode's agent list when done."""
        if self._trails is not None:
            self._trails.record(self.core.world.pose[0])
        out_infos = {}
        for agent in AGENTS:
            info = infos[agent]
            # Every per-arena array becomes a Python scalar (bool, int, float); episode-level
            # entries appear only when the episode ends; final_obs is the returned obs here.
            out = {key: value[0].item() for key, value in info.items()
                   if key not in ("reward_terms", "outcome", "episode_length", "final_obs")}
            out["reward_terms"] = {term: float(v[0]) for term, v in info["reward_terms"].items()}
            outcome = int(info["outcome"][0])
            if outcome != RUNNING:
                out["outcome"] = OUTCOME_NAMES[outcome]
                out["episode_length"] = int(info["episode_length"][0])
            out_infos[agent] = out
        result = (
            {agent: obs[agent][0] for agent in AGENTS},
            {agent: float(rewards[agent][0]) for agent in AGENTS},
            {agent: bool(terminated[agent][0]) for agent in AGENTS},
            {agent: bool(truncated[agent][0]) for agent in AGENTS},
            out_infos,
        )
        if terminated["pursuer"][0] or truncated["pursuer"][0]:
            self.agents = []
        return result

    def state(self) -> np.ndarray:
        """Global state; the first six entries are ``[px, py, ptheta, ex, ey, etheta]``."""
        return self.core.state()[0]

    def render(self) -> np.ndarray | None:
        if self.render_mode is None:
            return None
        if self._renderer is None:
            from pe_rllib.envs.render import ArenaRenderer
            self._renderer = ArenaRenderer(self.config)
        world = self.core.world
        return self._renderer.frame(world.pose[0], world.obstacles[0],
                                    self._trails.arrays(), f"t = {int(world.t[0])}")

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
