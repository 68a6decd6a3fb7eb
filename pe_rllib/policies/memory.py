"""Memory for controllers that have none: :class:`OpponentTrack` dead-reckons an opponent the role has lost sight
of, :class:`RememberingController` plays a controller on that view with the track as its per-arena state.

Two users: the remembering teacher of ``league.teacher_view: remembered`` (the batched runner keeps one track per
role and arena, :mod:`pe_rllib.training.teachers`), and searched best responses with memory
(``SearchSettings.recall``, ``pe-rllib exploit --search-recall``), so that the yardstick remembers where a role
with memory does. Partial observation of the 2-D world only (the track reads its observation layout)."""

from __future__ import annotations

import numpy as np


class OpponentTrack:
    """A remembering teacher's view (``league.teacher_view: remembered``) for one role in N arenas: the role's
    observation with an unseen opponent filled in where dead reckoning puts it.

    Built from the role's own observations alone, step by step: where the opponent is visible the track keeps
    its world position, velocity and heading (from the opponent block and the role's own pose); where it is not,
    for up to ``recall`` steps since it was last seen, the newest frame's opponent block is filled as if the
    opponent were seen at ``last position + velocity * elapsed`` (clipped to the arena), heading and velocity
    unchanged, and marked visible. Before the first sighting and after ``recall`` steps the observation is
    passed on unchanged (the teacher then scans as it would). Everything the view holds was in the role's
    observations, so a student with memory can match it exactly; four stacked frames only for four steps after
    the opponent vanished. Call :meth:`forget` for arenas whose episode starts anew."""

    def __init__(self, env_config, n: int, recall: int) -> None:
        from pe_rllib.envs.sensing import observation_layout

        self.config, self.recall = env_config, recall
        self.layout = observation_layout(env_config)            # its blocks are read from the newest frame
        self.scale = max(env_config.arena_width, env_config.arena_height) / 2
        self.v_ref = max(env_config.pursuer_v_max, env_config.evader_v_max)
        self.position = np.zeros((n, 2))
        self.velocity = np.zeros((n, 2))
        self.heading = np.zeros(n)
        self.unseen = np.full(n, np.iinfo(np.int64).max // 2, dtype=np.int64)   # steps since the last sighting

    def forget(self, arenas) -> None:
        """The opponent has not been seen in these arenas' (new) episodes."""
        self.unseen[arenas] = np.iinfo(np.int64).max // 2

    def state(self) -> dict[str, np.ndarray]:
        """What the track remembers per arena, as ``[N, ...]`` arrays (copies): a policy state for
        :class:`~pe_rllib.policies.acting.Acting` (:class:`RememberingController`)."""
        return {"position": self.position.copy(), "velocity": self.velocity.copy(),
                "heading": self.heading[:, None].copy(), "unseen": self.unseen[:, None].copy()}

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        """Remember what :meth:`state` returned (for as many arenas as it holds)."""
        self.position, self.velocity = state["position"].copy(), state["velocity"].copy()
        self.heading, self.unseen = state["heading"][:, 0].copy(), state["unseen"][:, 0].copy()

    def _own_pose(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        own = self.layout.part(obs, "own")[:, :4].astype(np.float64)
        position = own[:, :2] * np.array([self.config.arena_width / 2, self.config.arena_height / 2])
        return position, own[:, 2], own[:, 3]

    def view(self, obs: np.ndarray) -> np.ndarray:
        """Record this step's observation ``[N, D]`` and return the teacher's view of it (a copy)."""
        position, c, s = self._own_pose(obs)
        block = self.layout.part(obs, "opponent").astype(np.float64)
        seen = self.layout.part(obs, "visible")[:, 0] > 0.5
        ego, ego_v = block[:, 0:2] * self.scale, block[:, 3:5] * self.v_ref
        world = np.stack([c * ego[:, 0] - s * ego[:, 1], s * ego[:, 0] + c * ego[:, 1]], axis=1)
        world_v = np.stack([c * ego_v[:, 0] - s * ego_v[:, 1], s * ego_v[:, 0] + c * ego_v[:, 1]], axis=1)
        self.position[seen] = (position + world)[seen]
        self.velocity[seen] = world_v[seen]
        self.heading[seen] = (np.arctan2(s, c) + np.arctan2(block[:, 6], block[:, 5]))[seen]
        self.unseen = np.where(seen, 0, self.unseen + 1)
        recalled = ~seen & (self.unseen <= self.recall)
        out = obs.copy()
        if recalled.any():
            half = np.array([self.config.arena_width / 2, self.config.arena_height / 2])
            guess = np.clip(self.position + self.velocity * self.config.dt * self.unseen[:, None], -half, half)
            rel = guess - position
            ex, ey = c * rel[:, 0] + s * rel[:, 1], -s * rel[:, 0] + c * rel[:, 1]
            vx = c * self.velocity[:, 0] + s * self.velocity[:, 1]
            vy = -s * self.velocity[:, 0] + c * self.velocity[:, 1]
            relative = self.heading - np.arctan2(s, c)
            filled = np.stack([ex / self.scale, ey / self.scale, np.hypot(ex, ey) / self.scale, vx / self.v_ref,
                               vy / self.v_ref, np.cos(relative), np.sin(relative)], axis=1).astype(obs.dtype)
            self.layout.part(out, "opponent")[recalled] = filled[recalled]      # (part: a view into out)
            self.layout.part(out, "visible")[recalled] = 1.0
        return out


class RememberingController:
    """A teacher with memory as a player: ``controller`` acting on :class:`OpponentTrack`'s dead-reckoned view of the
    role's observations, the track being its per-arena state (the stateful interface of
    :class:`~pe_rllib.policies.acting.Acting`: ``initial_state(batch)``, ``step(obs, state)``), so that the
    teacher of ``league.teacher_view: remembered`` plays whole episodes (``benchmarks/memory_value.py``) and a
    searched controller remembers (``SearchSettings.recall``). ``role`` and ``set_params`` are the controller's, so
    it stands in for a parametric controller in a search."""

    stateful = True

    def __init__(self, controller, env_config, recall: int) -> None:
        self.controller = controller
        self.role = controller.role
        self.recall = recall
        self._track = OpponentTrack(env_config, 0, recall)       # its memory comes with each step's state

    def set_params(self, params: np.ndarray) -> None:
        """The controller's parameters (one row, or one per arena)."""
        self.controller.set_params(params)

    def initial_state(self, batch: int) -> dict[str, np.ndarray]:
        return OpponentTrack(self._track.config, batch, self._track.recall).state()

    def step(self, obs: np.ndarray, state: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        self._track.set_state(state)
        actions = self.controller.act(self._track.view(obs))
        return actions, self._track.state()


__all__ = ["OpponentTrack", "RememberingController"]
