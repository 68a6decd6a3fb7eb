"""``BatchedAerialPursuitEvasion``: N arenas of the 3-D aerial world stepped at once, the second implementation
of :class:`~pe_rllib.envs.world.BatchedWorld` (same-step autoreset, as the 2-D world's).

Example:
    >>> import numpy as np
    >>> from pe_rllib.envs.aerial import BatchedAerialPursuitEvasion
    >>> env = BatchedAerialPursuitEvasion(num_envs=4, n_obstacles=2)
    >>> obs = env.reset(seed=0)
    >>> obs["pursuer"].shape, env.action_space("pursuer").shape
    ((4, 44), (3,))
    >>> obs, rewards, terminated, truncated, infos = env.step({r: np.zeros((4, 3), np.float32) for r in env.agents})
    >>> env.state().shape, sorted(infos["pursuer"]["reward_terms"])
    ((4, 2, 6), ['capture', 'crash', 'distance', 'effort', 'timeout'])
"""

from __future__ import annotations

from typing import Any, Mapping

import gymnasium as gym
import numpy as np

from pe_rllib.config import ROLES, from_dict, replaced
from pe_rllib.config.aerial import AerialConfig, AerialRewardConfig
from pe_rllib.envs.aerial import dynamics
from pe_rllib.envs.aerial.dynamics import AerialState
from pe_rllib.envs.aerial.sensing import observation_dim, observe, sense
from pe_rllib.envs.core import Events

TERMS: tuple[str, ...] = ("capture", "timeout", "distance", "crash", "effort")


def make_aerial_config(config: AerialConfig | Mapping[str, Any] | None = None, **fields: Any) -> AerialConfig:
    """An :class:`AerialConfig` from an existing one, a mapping and/or keyword fields (validated)."""
    if isinstance(config, AerialConfig):
        return replaced(config, fields, "aerial")
    return from_dict(AerialConfig, {**dict(config or {}), **fields}, "aerial")


def observation_space(config: AerialConfig) -> gym.spaces.Box:
    """One robot's observation space (layout in :mod:`pe_rllib.envs.aerial.sensing`)."""
    return gym.spaces.Box(-np.inf, np.inf, (observation_dim(config),), np.float32)


def action_space() -> gym.spaces.Box:
    """One robot's action: an acceleration in its line-of-sight frame, ``[-1, 1]^3`` (norm-clipped to 1) times
    its ``a_max``."""
    return gym.spaces.Box(-1.0, 1.0, (3,), np.float32)


def reward_terms(reward: AerialRewardConfig, cfg: AerialConfig, events: Events, command: np.ndarray
                 ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per-term rewards ``({term: [N]}, {term: [N]})`` for (pursuer, evader): capture and timeout as the 2-D
    world's, closing-distance shaping, a crash scored as the crashing role's loss plus ``crash``, effort."""
    closing = events.distance_before - events.distance_after
    effort = (command ** 2).sum(-1) / dynamics.limits(cfg)[None, :, 1] ** 2 * cfg.dt * reward.effort   # [N, 2]
    crashed = events.collision
    pursuer = {"capture": reward.capture * events.captured, "timeout": -reward.timeout * events.truncated,
               "distance": reward.distance * closing, "crash": -(reward.crash + reward.timeout) * crashed[:, 0],
               "effort": -effort[:, 0]}
    evader = {"capture": -reward.capture * events.captured, "timeout": reward.timeout * events.truncated,
              "distance": -reward.distance * closing, "crash": -(reward.crash + reward.capture) * crashed[:, 1],
              "effort": -effort[:, 1]}
    return pursuer, evader


class BatchedAerialPursuitEvasion:
    """N aerial pursuit-evasion arenas in lock-step (see :mod:`pe_rllib.envs.aerial`).

    Beyond the world interface's infos, each role's infos carry ``miss_distance`` (the closest approach so far,
    final at an episode's end), ``effort`` (that role's integral of ``|a|^2 dt``), ``detected`` (its radar saw
    the opponent this step) and ``clearance``. There is no safety filter for this world yet: crashes (leaving the
    airspace, hitting a cylinder) end the episode and are counted as outcome ``collision``.
    """

    agents: tuple[str, str] = ROLES

    def __init__(self, num_envs: int = 1, config: AerialConfig | Mapping[str, Any] | None = None,
                 *, autoreset: bool = True, **fields: Any) -> None:
        if not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"num_envs: must be an integer >= 1, got {num_envs!r}")
        self.config = make_aerial_config(config, **fields)
        self.num_envs = num_envs
        self.autoreset = autoreset
        self.np_random = np.random.default_rng()
        self.world: AerialState | None = None
        self._obs: np.ndarray | None = None
        self._spaces = {role: (observation_space(self.config), action_space()) for role in ROLES}

    def observation_space(self, role: str) -> gym.spaces.Box:
        return self._spaces[role][0]

    def action_space(self, role: str) -> gym.spaces.Box:
        return self._spaces[role][1]

    def _fresh(self, n: int) -> tuple[AerialState, np.ndarray, np.ndarray]:
        state, detected = sense(self.config, dynamics.initial_state(self.config, self.np_random, n), self.np_random,
                                predict=False)
        obs, frames = observe(self.config, state, detected)
        state.frames = frames
        return state, obs, detected

    def _obs_dict(self, obs: np.ndarray) -> dict[str, np.ndarray]:
        return {role: obs[:, i] for i, role in enumerate(ROLES)}

    def reset(self, seed: int | None = None) -> dict[str, np.ndarray]:
        """Start N new episodes; returns ``{role: obs [N, D]}``."""
        if seed is not None:
            self.np_random = np.random.default_rng(seed)
        self.world, self._obs, _ = self._fresh(self.num_envs)
        return self._obs_dict(self._obs)

    def world_state(self) -> AerialState:
        """A copy of the arenas' state (true motion, obstacles, tracks)."""
        if self.world is None:
            raise RuntimeError("world_state() called before reset()")
        return self.world.copy()

    def state(self) -> np.ndarray:
        """The true state ``[N, 2, 6]``: ``(x, y, z, vx, vy, vz)`` per role, pursuer first."""
        if self.world is None:
            raise RuntimeError("state() called before reset()")
        return self.world.true_state()

    def start_from(self, state: AerialState) -> dict[str, np.ndarray]:
        """Continue every arena from ``state`` (e.g. an edited :meth:`world_state`), observed afresh (tracks kept)."""
        if state.num_envs != self.num_envs:
            raise ValueError(f"state: holds {state.num_envs} arenas, the world has {self.num_envs}")
        self.world = state.copy()
        self._obs, self.world.frames = observe(self.config, self.world, np.zeros((self.num_envs, 2), dtype=bool))
        return self._obs_dict(self._obs)

    def set_elapsed(self, steps: np.ndarray) -> dict[str, np.ndarray]:
        """Set the elapsed steps of the episodes in progress (``[N]``, below ``max_steps``)."""
        steps = np.asarray(steps, dtype=np.int64)
        if steps.shape != (self.num_envs,) or steps.min() < 0 or steps.max() >= self.config.max_steps:
            raise ValueError(f"steps: expected [{self.num_envs}] integers in [0, max_steps), got {steps.shape}")
        state = self.world_state()
        state.t[:] = steps
        return self.start_from(state)

    def stack_actions(self, actions: Mapping[str, np.ndarray]) -> np.ndarray:
        """``{role: [N, 3]}`` -> ``[N, 2, 3]`` float64, validating keys, shapes and dtypes (one-line errors)."""
        if not isinstance(actions, Mapping):
            raise ValueError(f"actions: must be a dict keyed by agent ({', '.join(ROLES)}), "
                             f"got {type(actions).__name__}")
        out = np.empty((self.num_envs, 2, 3))
        for i, role in enumerate(ROLES):
            if role not in actions:
                raise ValueError(f"actions: missing entry for {role}")
            a = np.asarray(actions[role])
            if a.dtype.kind not in "fiu" or a.shape != (self.num_envs, 3):
                raise ValueError(f"actions[{role!r}]: expected real numbers of shape ({self.num_envs}, 3), "
                                 f"got {a.dtype} {a.shape}")
            out[:, i] = a
        unknown = sorted(str(key) for key in actions if key not in ROLES)
        if unknown:
            raise ValueError(f"actions: unknown agent {unknown[0]!r} (agents: {', '.join(ROLES)})")
        return out

    def step(self, actions: Mapping[str, np.ndarray], *, validate: bool = True):
        """Advance every arena one step; returns ``(obs, rewards, terminated, truncated, infos)`` keyed by role."""
        if self.world is None:
            raise RuntimeError("step() called before reset()")
        stacked = self.stack_actions(actions) if validate else np.stack([actions[r] for r in ROLES], axis=1)
        cfg = self.config
        command = dynamics.commanded_acceleration(cfg, self.world.frames, stacked.astype(np.float64))
        world, events = dynamics.transition(cfg, self.world, command)
        world, detected = sense(cfg, world, self.np_random)
        obs, world.frames = observe(cfg, world, detected)
        terms = reward_terms(cfg.reward, cfg, events, command)
        done = events.terminated | events.truncated
        episode_length, miss, effort = world.t.copy(), world.miss.copy(), world.effort.copy()
        final = obs.copy() if done.any() else obs
        if self.autoreset and done.any():
            fresh, fresh_obs, fresh_detected = self._fresh(int(done.sum()))
            world.assign(done, fresh)
            obs[done] = fresh_obs
            detected[done] = fresh_detected
        self.world, self._obs = world, obs
        outcome = events.outcome
        rewards, infos = {}, {}
        for i, role in enumerate(ROLES):
            rewards[role] = sum(terms[i][t] for t in TERMS).astype(np.float32)
            infos[role] = {"collision": events.collision[:, i], "captured": events.captured,
                           "clearance": events.clearance[:, i], "distance": events.distance_after,
                           "detected": detected[:, i], "miss_distance": miss, "effort": effort[:, i],
                           "reward_terms": terms[i], "outcome": outcome, "episode_length": episode_length,
                           "final_obs": final[:, i]}
        flags = ({role: events.terminated for role in ROLES}, {role: events.truncated for role in ROLES})
        return self._obs_dict(obs), rewards, flags[0], flags[1], infos
