"""``act`` for :func:`~pe_rllib.envs.rollout.rollout` from two policy objects, with memory where they have it."""

from __future__ import annotations

from typing import Any

import numpy as np

from pe_rllib.policies.state import put


class Acting:
    """``act`` for two policies: objects with ``act(obs) -> actions`` (scripted and memoryless loaded
    policies) or, with ``stateful`` set, ``initial_state(batch)`` and ``step(obs, state) -> (actions,
    state)`` (recurrent loaded policies, :class:`~pe_rllib.policies.inference.LearnedPolicy`).

    It keeps each recurrent policy's state per arena, starts it at the first step and resets an arena's
    rows when its episode ends (:meth:`episodes_ended`, called by :func:`~pe_rllib.envs.rollout.rollout`).
    """

    def __init__(self, pursuer, evader) -> None:
        self.policies = {"pursuer": pursuer, "evader": evader}
        self.states: dict[str, Any] = {}

    def __call__(self, role: str, obs: np.ndarray) -> np.ndarray:
        policy = self.policies[role]
        if not getattr(policy, "stateful", False):
            return policy.act(obs)
        state = self.states.get(role)
        if state is None:
            state = policy.initial_state(len(obs))
        actions, self.states[role] = policy.step(obs, state)
        return actions

    def episodes_ended(self, ended: np.ndarray) -> None:
        """Start the memory of the arenas marked in ``ended`` afresh."""
        if not ended.any():
            return
        for role, state in self.states.items():
            put(state, ended, self.policies[role].initial_state(int(ended.sum())))


class NewestFrames:
    """``policy``, trained on ``width`` observation values (its own frame stack), playing in a world that
    stacks more frames: it sees the newest ``width`` values (frames are stacked oldest first), so a run
    with frame stacking can play a run without it (``pe-rllib evaluate RUN --against OTHER``)."""

    def __init__(self, policy, width: int) -> None:
        self.policy = policy
        self.width = width
        self.stateful = getattr(policy, "stateful", False)

    def act(self, obs: np.ndarray) -> np.ndarray:
        return self.policy.act(obs[..., -self.width:])

    def initial_state(self, batch: int):
        return self.policy.initial_state(batch)

    def step(self, obs: np.ndarray, state):
        return self.policy.step(obs[..., -self.width:], state)


__all__ = ["Acting", "NewestFrames"]
