"""``BatchedPursuitEvasion``: N arenas stepped at once over the pure world core.

Autoreset convention: **same-step**. When an arena's episode ends at step t, the
returned ``terminated``/``truncated`` flags are set for that arena, the reward is the
final step's reward, and the returned observation is already the *first observation of
the next episode*. The last observation of the finished episode is in
``infos[role]["final_obs"]`` (rows valid where the arena finished). This matches
gymnasium's ``AutoresetMode.SAME_STEP``. Pass ``autoreset=False`` to keep finished
arenas frozen instead (the single-arena PettingZoo facade does).

Example:
    >>> import numpy as np
    >>> from pe_rllib.envs import BatchedPursuitEvasion
    >>> env = BatchedPursuitEvasion(num_envs=8, n_obstacles=2)
    >>> obs = env.reset(seed=0)
    >>> obs["pursuer"].shape, obs["pursuer"].dtype
    ((8, 34), dtype('float32'))
    >>> actions = {role: np.zeros((8, 2), np.float32) for role in env.agents}
    >>> obs, rewards, terminated, truncated, infos = env.step(actions)
    >>> sorted(infos["pursuer"])[:3]
    ['captured', 'clearance', 'collision']
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import gymnasium as gym
import numpy as np

from pe_rllib.config import EnvConfig, from_dict, replaced
from pe_rllib.envs import core
from pe_rllib.envs.core import AGENTS, WorldState
from pe_rllib.envs.rewards import TERMS, reward_terms
from pe_rllib.envs.sensing import observation_layout, observe, visibility, with_last_seen


def observation_space(config: EnvConfig) -> gym.spaces.Box:
    """A new observation space object for one agent of ``config``'s world."""
    return gym.spaces.Box(-np.inf, np.inf, (observation_layout(config).dim,), np.float32)


def action_space() -> gym.spaces.Box:
    """A new action space object for one agent: ``(a_speed, a_turn)`` in [-1, 1] (see core.action_scale)."""
    return gym.spaces.Box(-1.0, 1.0, (2,), np.float32)


def make_env_config(config: EnvConfig | Mapping[str, Any] | None = None, **env_fields: Any) -> EnvConfig:
    """An :class:`EnvConfig` from an existing one, a mapping and/or keyword fields (validated)."""
    if isinstance(config, EnvConfig):
        return replaced(config, env_fields, "env")
    return from_dict(EnvConfig, {**dict(config or {}), **env_fields}, "env")


class BatchedPursuitEvasion:
    """N pursuit-evasion arenas in lock-step (see module docstring for autoreset): the 2-D unicycle world,
    the first implementation of :class:`~pe_rllib.envs.world.BatchedWorld`."""

    agents: tuple[str, str] = AGENTS

    def __init__(self, num_envs: int = 1, config: EnvConfig | Mapping[str, Any] | None = None,
                 *, autoreset: bool = True, **env_fields: Any) -> None:
        if not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"num_envs: must be an integer >= 1, got {num_envs!r}")
        self.config = make_env_config(config, **env_fields)
        self.num_envs = num_envs
        self.autoreset = autoreset
        self.layout = observation_layout(self.config)
        self.observation_dim = self.layout.dim
        self.np_random = np.random.default_rng()
        self.world: WorldState | None = None
        self._history: np.ndarray | None = None   # [N, 2, k, frame_dim]
        self._needs_visibility = (self.config.observation == "partial" or
                                  self.config.reward.visibility > 0)
        self._spaces = {role: (observation_space(self.config), action_space()) for role in AGENTS}

    def observation_space(self, role: str) -> gym.spaces.Box:
        return self._spaces[role][0]

    def action_space(self, role: str) -> gym.spaces.Box:
        return self._spaces[role][1]

    # ------------------------------------------------------------------ observation plumbing

    def _visibility(self, world: WorldState) -> np.ndarray:
        if not self._needs_visibility:
            return np.zeros((world.num_envs, 2), dtype=bool)
        return visibility(self.config, world.pose, world.obstacles)

    def _first_history(self, world: WorldState) -> tuple[WorldState, np.ndarray]:
        """Observe ``world`` as the start of an episode: the world as sensed (last-seen positions) and the
        history filled with its frame."""
        seen = self._visibility(world)
        world = with_last_seen(self.config, world, seen)
        frame = observe(self.config, world, seen)
        return world, np.repeat(frame[:, :, None, :], self.config.history_length, axis=2)

    def _fresh(self, n: int) -> tuple[WorldState, np.ndarray]:
        """New episodes for n arenas and their first observation history."""
        return self._first_history(core.initial_state(self.config, self.np_random, n))

    def _obs_dict(self, history: np.ndarray) -> dict[str, np.ndarray]:
        flat = history.reshape(history.shape[0], 2, -1)
        return {role: flat[:, i] for i, role in enumerate(AGENTS)}

    # ------------------------------------------------------------------ API

    def reset(self, seed: int | None = None) -> dict[str, np.ndarray]:
        """Start N new episodes; returns ``{role: obs [N, D]}`` (float32)."""
        if seed is not None:
            self.np_random = np.random.default_rng(seed)
        self.world, self._history = self._fresh(self.num_envs)
        return self._obs_dict(self._history)

    def refresh_observation(self) -> dict[str, np.ndarray]:
        """Observations of the current world after editing it directly (scenarios, tests).

        Recomputes visibility and the newest frame and refills the history with it.
        """
        if self.world is None:
            raise RuntimeError("refresh_observation() called before reset()")
        self.world, self._history = self._first_history(self.world)
        return self._obs_dict(self._history)

    def privileged_observation(self) -> dict[str, np.ndarray]:
        """The observations each robot would have now if it saw the other (``{role: [N, D]}``): in partial
        observation, the newest frame as in a ``p_full_obs`` episode (the opponent block filled, visible, the
        last-seen point the opponent's position now), the older stacked frames and the LiDAR as sensed; in full
        observation, the observations themselves. What a privileged teacher acts on
        (``league.teacher_view: full``); the world is not changed."""
        if self.world is None:
            raise RuntimeError("privileged_observation() called before reset()")
        history = self._history.copy()
        if self.config.observation == "partial":
            everyone = np.ones((self.num_envs, 2), dtype=bool)
            seeing = with_last_seen(self.config, dataclasses.replace(self.world, full_obs=everyone[:, 0]), everyone)
            history[:, :, -1] = observe(self.config, seeing, everyone)
        return self._obs_dict(history)

    def world_state(self) -> WorldState:
        """A copy of the arenas' state (for scripted policies, renderers and scenarios that edit starts)."""
        if self.world is None:
            raise RuntimeError("world_state() called before reset()")
        return self.world.copy()

    def start_from(self, state: WorldState) -> dict[str, np.ndarray]:
        """Continue every arena from ``state`` (e.g. an edited :meth:`world_state`), observed afresh as an
        episode start; returns the observations."""
        if state.num_envs != self.num_envs:
            raise ValueError(f"state: holds {state.num_envs} arenas, the world has {self.num_envs}")
        self.world = state.copy()
        return self.refresh_observation()

    def set_elapsed(self, steps: np.ndarray) -> dict[str, np.ndarray]:
        """Set the elapsed steps of the episodes in progress (``[N]``, below ``max_steps``), e.g. to stagger
        the arenas' timeouts; returns the observations, which carry the elapsed time."""
        steps = np.asarray(steps, dtype=np.int64)
        if steps.shape != (self.num_envs,) or steps.min() < 0 or steps.max() >= self.config.max_steps:
            raise ValueError(f"steps: expected [{self.num_envs}] integers in [0, max_steps), got {steps.shape}")
        state = self.world_state()
        state.t[:] = steps
        return self.start_from(state)

    def stack_actions(self, actions: Mapping[str, np.ndarray]) -> np.ndarray:
        """``{role: [N, 2]}`` -> ``[N, 2, 2]`` float64, validating keys, shapes and dtypes."""
        return core.stack_actions(actions, self.num_envs)

    def step(self, actions: Mapping[str, np.ndarray], *, validate: bool = True):
        """Advance every arena one step (``validate=False``: the caller vouches for the actions' keys, shapes
        and dtypes, e.g. the rollout loop after its first step).

        Returns ``(obs, rewards, terminated, truncated, infos)``: dicts keyed by role
        with arrays of shape ``[N]`` (obs ``[N, D]``). ``infos[role]`` holds per-arena
        arrays: ``collision``, ``captured``, ``clearance`` (body clearance to the nearest
        obstacle or wall), ``visible`` (sees the opponent), ``distance`` (between the
        robots), ``reward_terms``
        ``{term: [N]}``, ``outcome`` (0 running, 1 capture, 2 timeout, 3 collision),
        ``episode_length`` and ``final_obs`` ``[N, D]``.
        """
        return self.step_controls(self.nominal_controls(actions, validate=validate))

    def nominal_controls(self, actions: Mapping[str, np.ndarray], *, validate: bool = True) -> np.ndarray:
        """Physical controls ``[N, 2, 2]`` the actions ask for (the pursuer waits during ``prep_steps``)."""
        if self.world is None:
            raise RuntimeError("step() called before reset()")
        stacked = self.stack_actions(actions) if validate else core.stack_trusted(actions, self.num_envs)
        return core.nominal_controls(self.config, self.world.t, stacked)

    def step_controls(self, controls: np.ndarray):
        """:meth:`step` with physical controls ``[N, 2, 2]`` (already limited, e.g. by a safety filter)."""
        cfg = self.config
        world, events = core.transition(cfg, self.world, controls)
        seen = self._visibility(world)
        pursuer_terms, evader_terms = reward_terms(
            cfg.reward, captured=events.captured, timeout=events.truncated, distance_before=events.distance_before,
            distance_after=events.distance_after, pursuer_sees=seen[:, 0], clearance=events.clearance,
            collision=events.collision)
        world = self.world = with_last_seen(cfg, world, seen)
        frame = observe(cfg, world, seen)
        self._history = np.concatenate([self._history[:, :, 1:], frame[:, :, None]], axis=2)
        terminated, truncated, outcome = events.terminated, events.truncated, events.outcome
        done = terminated | truncated
        episode_length = world.t.copy()
        final = self._obs_dict(self._history)
        if self.autoreset and done.any():
            final = self._obs_dict(self._history.copy())      # the reset below writes in place
            fresh, history = self._fresh(int(done.sum()))
            world.assign(done, fresh)
            self._history[done] = history

        obs = self._obs_dict(self._history)
        infos: dict[str, dict[str, Any]] = {}
        rewards = {}
        for i, (role, terms) in enumerate(zip(AGENTS, (pursuer_terms, evader_terms))):
            rewards[role] = sum(terms[t] for t in TERMS).astype(np.float32)
            infos[role] = {
                "collision": events.collision[:, i], "captured": events.captured,
                "clearance": events.clearance[:, i], "visible": seen[:, i], "distance": events.distance_after,
                "reward_terms": terms, "outcome": outcome, "episode_length": episode_length, "final_obs": final[role],
            }
        flags = {role: terminated for role in AGENTS}, {role: truncated for role in AGENTS}
        return obs, rewards, flags[0], flags[1], infos

    def state(self) -> np.ndarray:
        """Global state ``[N, 11 + 3M]``; the first six entries are ``[px, py, pth, ex, ey, eth]``."""
        if self.world is None:
            raise RuntimeError("state() called before reset()")
        return core.global_state(self.config, self.world)
