"""What the batched runner keeps per rollout fragment: the ``[T, N, ...]`` step arrays of each role
(:class:`Fragment`) and the per-arena sums behind the ``pe`` episode metrics (:class:`EpisodeStats`)."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from pe_rllib.callbacks.metrics import summary_record
from pe_rllib.config import ROLES
from pe_rllib.envs.core import OUTCOME_NAMES
from pe_rllib.policies import state as states
from pe_rllib.training.teachers import TEACHER_TARGETS


class Fragment:
    """One rollout fragment's ``[T, N, ...]`` arrays per role, filled step by step from the transitions."""

    def __init__(self, steps: int, n: int, obs: dict, state: dict, action_dim: int) -> None:
        self.obs = {role: np.empty((steps + 1, n, obs[role].shape[1]), np.float32) for role in ROLES}
        self.actions = {role: np.empty((steps, n, action_dim), np.float32) for role in ROLES}
        self.logp = {role: np.empty((steps, n), np.float32) for role in ROLES}
        # A diagonal Gaussian's inputs per step: the action means and log-stds.
        self.dist_inputs = {role: np.empty((steps, n, 2 * action_dim), np.float32) for role in ROLES}
        self.rewards = {role: np.empty((steps, n), np.float32) for role in ROLES}
        self.state_out = {role: states.map_state(lambda leaf: np.empty((steps, *leaf.shape), np.float32), state[role])
                          for role in ROLES}
        """A recurrent role's state after each step's action (None for a memoryless role)."""
        self.teacher: dict[str, np.ndarray] = {}
        """The runner-side teacher's action and weight at each step, for the roles it acted for
        (``league.teacher_view``; :func:`~pe_rllib.training.teachers.teacher_targets`)."""
        for role in ROLES:
            self.obs[role][0] = obs[role]

    def record(self, step) -> None:
        t = step.t
        for role in ROLES:
            self.actions[role][t], self.logp[role][t], self.dist_inputs[role][t], state_out, teacher = step.extras[role]
            states.put(self.state_out[role], t, state_out)
            if teacher is not None:
                if role not in self.teacher:
                    self.teacher[role] = np.zeros((*self.actions[role].shape[:2], teacher.shape[-1]), np.float32)
                self.teacher[role][t] = teacher
            self.rewards[role][t] = step.rewards[role]
            self.obs[role][t + 1] = step.next_obs[role]      # a new episode's first obs where one ended

    def columns(self, role: str, arena: int, begin: int, end: int, last_obs: dict | None) -> dict[str, list]:
        """Steps [begin, end) of one arena as the per-step lists a SingleAgentEpisode takes (observations
        through ``end``, the episode's final one where it ended there)."""
        observations = self.obs[role][begin:end + 1, arena]
        if last_obs is not None:
            observations = np.concatenate([observations[:-1], last_obs[role][None]])
        columns = {"obs": list(observations), "actions": list(self.actions[role][begin:end, arena]),
                   "rewards": list(self.rewards[role][begin:end, arena]),
                   "logp": list(self.logp[role][begin:end, arena]),
                   "dist_inputs": list(self.dist_inputs[role][begin:end, arena])}
        if role in self.teacher:
            columns[TEACHER_TARGETS] = list(self.teacher[role][begin:end, arena])
        return columns

    def last_step(self, role: str) -> dict | None:
        """The fragment's last step for every arena (a recurrent role's lookback for the chunks that continue)."""
        if self.state_out[role] is None:
            return None
        last = {"obs": self.obs[role][-2], "actions": self.actions[role][-1], "rewards": self.rewards[role][-1],
                "logp": self.logp[role][-1], "dist_inputs": self.dist_inputs[role][-1],
                "state_out": states.take(self.state_out[role], -1)}   # every value: [N, ...] arrays or a tree of them
        if role in self.teacher:
            last[TEACHER_TARGETS] = self.teacher[role][-1]
        return last


class EpisodeStats:
    """Per-arena running sums for the ``pe`` episode metrics (same names as EpisodeMetricsCallback)."""

    def __init__(self, n: int) -> None:
        self.steps = np.zeros(n, np.int64)
        self.min_distance = np.full(n, np.inf)
        self.interventions = np.zeros(n, np.int64)
        self.infeasible = np.zeros(n, np.int64)
        self.n = n
        self.terms: dict[str, dict[str, np.ndarray]] = {role: {} for role in ROLES}
        """Per role, the running sum of each reward term the world reports."""
        self.finished: dict[int, dict] = {}
        self.module_steps: dict[str, int] = defaultdict(int)
        self.kept_steps = 0
        """Agent steps played by kept copies of stand-ins since the last count."""

    def reset(self, arena: int) -> None:
        self.steps[arena] = 0
        self.min_distance[arena] = np.inf
        self.interventions[arena] = self.infeasible[arena] = 0
        for role in ROLES:
            for sums in self.terms[role].values():
                sums[arena] = 0.0

    def record(self, infos: dict, ended: np.ndarray, module_of: dict, label_of: dict) -> None:
        self.steps += 1
        self.min_distance = np.minimum(self.min_distance, infos["pursuer"]["distance"])
        for role in ROLES:
            info = infos[role]
            if "safety_intervened" in info:
                self.interventions += info["safety_intervened"]
                self.infeasible += info["safety_infeasible"]
            sums = self.terms[role]
            for term, values in info["reward_terms"].items():
                if term not in sums:
                    sums[term] = np.zeros(self.n)
                sums[term] += values
        outcome = infos["pursuer"]["outcome"]
        for arena in np.flatnonzero(ended):
            self.finished[arena] = summary_record(
                OUTCOME_NAMES[int(outcome[arena])], int(self.steps[arena]), float(self.min_distance[arena]),
                int(self.interventions[arena]), int(self.infeasible[arena]),
                {role: {term: float(sums[arena]) for term, sums in self.terms[role].items()} for role in ROLES},
                [str(module_of[role][arena]) for role in ROLES], [str(label_of[role][arena]) for role in ROLES])


__all__ = ["EpisodeStats", "Fragment"]
