"""``act`` for :func:`~pe_rllib.envs.rollout.rollout` from two policy objects, with memory where they have it."""

from __future__ import annotations

from typing import Any

import numpy as np

from pe_rllib.policies.state import map_state, put


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


class RecentMemory:
    """A recurrent ``policy`` that remembers only its last ``window`` observations of the episode: each step it
    runs from the initial state over them (fewer at an episode's start) and acts on the last. A memory ablation
    (``benchmarks/memory_use.py``): with ``window`` = 4 it knows what an MLP on 4 stacked frames knows, with 1
    what a memoryless network knows. Its state is the window itself, ``{"obs": [N, W, D], "steps": [N, 1]}``."""

    stateful = True

    def __init__(self, policy, window: int) -> None:
        if not getattr(policy, "stateful", False):
            raise ValueError("RecentMemory: the policy is memoryless; give it a recurrent one")
        if window < 1:
            raise ValueError(f"window: must be >= 1, got {window}")
        self.policy = policy
        self.window = window

    def initial_state(self, batch: int):
        dim = self.policy.module.observation_space.shape[0]
        return {"obs": np.zeros((batch, self.window, dim), np.float32), "steps": np.zeros((batch, 1), np.int64)}

    def step(self, obs: np.ndarray, state):
        window = np.concatenate([state["obs"][:, 1:], np.asarray(obs, np.float32)[:, None]], axis=1)
        steps = np.minimum(state["steps"] + 1, self.window)
        memory = self.policy.initial_state(len(obs))
        for k in range(self.window):
            actions, after = self.policy.step(window[:, k], memory)
            seen = (steps[:, 0] >= self.window - k)              # row k is of this episode
            memory = map_state(lambda new, old: np.where(seen.reshape(-1, *[1] * (new.ndim - 1)), new, old),
                               after, memory)
        return actions, {"obs": window, "steps": steps}


class NewestFrameOnly:
    """A ``policy`` trained on ``history`` stacked frames of ``frame_dim`` values that sees only the newest: every
    frame of its stack is replaced by the newest (the frame-stack counterpart of :class:`RecentMemory` with a
    window of 1)."""

    def __init__(self, policy, frame_dim: int, history: int) -> None:
        self.policy = policy
        self.frame_dim = frame_dim
        self.history = history

    def act(self, obs: np.ndarray) -> np.ndarray:
        newest = np.asarray(obs)[..., -self.frame_dim:]
        return self.policy.act(np.concatenate([newest] * self.history, axis=-1))


__all__ = ["Acting", "NewestFrameOnly", "NewestFrames", "RecentMemory"]
