"""The world interface: what the runner, evaluation, rendering, league and exploit need from a world.

A world is N arenas of a two-role pursuit-evasion game stepped in lock-step, with same-step
autoreset (see :mod:`pe_rllib.envs.batched`). :class:`~pe_rllib.envs.batched.BatchedPursuitEvasion`
(2-D unicycles) is the first implementation and :class:`~pe_rllib.safety.SafeBatchedEnv` wraps any
implementation without changing the interface; a second world (e.g. 3-D aerial robots) implements
the same protocol and plugs into :func:`~pe_rllib.envs.rollout.rollout`, the batched runner and
evaluation without touching them.

Everything above the world reads it through these members only:

* ``agents`` (pursuer first), ``num_envs``, ``config`` (the world's frozen config, with at least
  ``max_steps`` and ``dt``), ``observation_space(role)`` and ``action_space(role)`` (one arena's);
* ``reset(seed) -> obs`` and ``step(actions) -> (obs, rewards, terminated, truncated, infos)``,
  all dicts keyed by role with ``[N, ...]`` arrays; ``step(actions, validate=False)`` skips the
  checks of the actions' keys, shapes and dtypes (the rollout loop checks its first step only);
* per-arena infos every world reports (the episode statistics evaluation and training count):
  ``outcome`` (codes of :mod:`pe_rllib.envs.core`: 0 running, 1 capture, 2 timeout, 3 collision),
  ``episode_length``, ``collision`` (this role crashed), ``distance`` (between the robots),
  ``reward_terms`` ``{term: [N]}`` and ``final_obs`` (a finished episode's last observation); a
  safety filter adds ``safety_intervened`` and ``safety_infeasible``;
* ``world_state()`` (a copy of the true state, for scripted policies, renderers and scenarios),
  ``start_from(state)`` (continue from an edited copy) and ``set_elapsed(steps)`` (stagger the
  episodes' clocks) - the only ways to write a world from outside.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np

Observations = dict[str, np.ndarray]
StepResult = tuple[Observations, dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray],
                   dict[str, dict[str, Any]]]


@runtime_checkable
class BatchedWorld(Protocol):
    """N arenas of a two-role world in lock-step (see the module docstring for the contract)."""

    agents: tuple[str, str]
    num_envs: int
    config: Any

    def observation_space(self, role: str) -> gym.spaces.Box: ...

    def action_space(self, role: str) -> gym.spaces.Box: ...

    def reset(self, seed: int | None = None) -> Observations: ...

    def step(self, actions: Mapping[str, np.ndarray], *, validate: bool = True) -> StepResult: ...

    def world_state(self) -> Any: ...

    def start_from(self, state: Any) -> Observations: ...

    def set_elapsed(self, steps: np.ndarray) -> Observations: ...


class ArenaArrays:
    """Mixin for a world's state: a dataclass whose fields are arrays with the arena as first axis."""

    def copy(self):
        return type(self)(**{f.name: getattr(self, f.name).copy() for f in dataclasses.fields(self)})

    def take(self, index: np.ndarray):
        """A new state holding arenas ``index`` (an index array: arenas may repeat, e.g. tiled starts)."""
        return type(self)(**{f.name: getattr(self, f.name)[index].copy() for f in dataclasses.fields(self)})

    def assign(self, mask: np.ndarray, other) -> None:
        """Overwrite the arenas selected by ``mask`` with ``other`` (which holds exactly those arenas), in place."""
        for f in dataclasses.fields(self):
            getattr(self, f.name)[mask] = getattr(other, f.name)
