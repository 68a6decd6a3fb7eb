"""The one rollout loop: two policies step a :class:`~pe_rllib.envs.world.BatchedWorld`.

Training, evaluation, rendering and the tests all step worlds through :func:`rollout` (a fixed
number of steps, with autoreset) or :func:`first_episodes` (until every arena has finished its
first episode). What each consumer adds sits on top, per :class:`Transition`: the batched runner
records exploration outputs and builds episodes, evaluation counts outcomes and filter
interventions, rendering draws frames.

``act(role, obs [N, D])`` returns the actions the world receives ``[N, A]``, or
``(actions, extra)`` where ``extra`` is anything the consumer wants back with the transition (the
runner's sampled actions, log-probabilities and distribution inputs). It is called once per role
and step, pursuer first. An ``act`` with memory (recurrent policies) may also have a method
``episodes_ended(ended [N] bool)``: the loop calls it after every step, before the next ``act``, so
that it resets those arenas' state (:class:`pe_rllib.policies.acting.Acting` does).

Example:
    >>> import numpy as np
    >>> from pe_rllib.envs import BatchedPursuitEvasion
    >>> from pe_rllib.envs.rollout import first_episodes
    >>> world = BatchedPursuitEvasion(4, n_obstacles=1, max_steps=20)
    >>> still = lambda role, obs: np.tile([-1.0, 0.0], (len(obs), 1))
    >>> steps = list(first_episodes(world, still, world.reset(seed=0)))
    >>> len(steps), int(sum((live & step.ended).sum() for step, live in steps))
    (20, 4)
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np

from pe_rllib.envs.world import BatchedWorld, Observations

Act = Callable[[str, np.ndarray], Any]
"""``act(role, obs) -> actions`` or ``(actions, extra)`` (see the module docstring)."""


@dataclass
class Transition:
    """One lock-step of every arena."""

    t: int                                   # step index within this rollout, from 0
    obs: Observations                        # what the policies acted on, {role: [N, D]}
    actions: dict[str, np.ndarray]           # what the world received, {role: [N, A]}
    extras: dict[str, Any]                   # act's extra output per role (None when it returned actions only)
    next_obs: Observations                   # after the step: a new episode's first observation where one ended
    rewards: dict[str, np.ndarray]
    terminated: dict[str, np.ndarray]
    truncated: dict[str, np.ndarray]
    infos: dict[str, dict[str, Any]]

    @property
    def ended(self) -> np.ndarray:
        """``[N]`` bool: the arena's episode ended at this step (capture, collision or time limit)."""
        first = next(iter(self.terminated))
        return self.terminated[first] | self.truncated[first]


def rollout(world: BatchedWorld, act: Act, obs: Observations, steps: int | None = None) -> Iterator[Transition]:
    """Step ``world`` from observations ``obs`` for ``steps`` steps (None: until the caller stops)."""
    episodes_ended = getattr(act, "episodes_ended", None)
    for t in range(steps) if steps is not None else itertools.count():
        actions, extras = {}, {}
        for role in world.agents:
            acted = act(role, obs[role])
            actions[role], extras[role] = acted if isinstance(acted, tuple) else (acted, None)
        # The first step validates the actions' keys, shapes and dtypes; act returns the same layout every step.
        next_obs, rewards, terminated, truncated, infos = world.step(actions, validate=t == 0)
        transition = Transition(t, obs, actions, extras, next_obs, rewards, terminated, truncated, infos)
        if episodes_ended is not None:
            episodes_ended(transition.ended)
        yield transition
        obs = next_obs


def first_episodes(world: BatchedWorld, act: Act, obs: Observations) -> Iterator[tuple[Transition, np.ndarray]]:
    """:func:`rollout` until every arena has finished its first episode; yields ``(transition, live)``,
    ``live`` ``[N]`` marking the arenas whose first episode this step belongs to (``live &
    transition.ended``: the first episodes that ended here; other arenas already play later episodes)."""
    finished = np.zeros(world.num_envs, dtype=bool)
    for transition in rollout(world, act, obs):
        live = ~finished
        finished = finished | transition.ended
        yield transition, live
        if finished.all():
            return
