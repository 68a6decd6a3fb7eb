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


__all__ = ["Acting"]
