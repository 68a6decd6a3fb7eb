"""``SafetyFilter``: nominal action in, closest safe action out (batched).

Solve order per row: the QP (exact or cvxpy); if it is infeasible (the robot is
already inside an inflated barrier, e.g. after a large disturbance), the *slack-
relaxed* QP with the smallest uniform slack that makes it feasible; if even that fails
numerically, the documented *fallback*: stop (v = 0) and turn at full rate in the
direction that increases the most urgent barrier. Every relaxed or fallback step is
reported in ``info["status"]`` and counted, never silent.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from pe_rllib.config import (
    ROLES,
    EnvConfig,
    ExperimentConfig,
    SafetyConfig,
    check_safety_compatible,
    replaced,
)
from pe_rllib.envs.core import action_scale
from pe_rllib.safety import kernels
from pe_rllib.safety.qp import FEASIBILITY_TOL, minimal_slack, solve_qp

logger = logging.getLogger(__name__)

OPTIMAL, RELAXED, FALLBACK = 0, 1, 2
INTERVENTION_TOL = 1e-6


def _as_batch(name: str, value: np.ndarray, shape: tuple[int | None, ...]) -> np.ndarray:
    """``value`` as a float64 array of ``shape`` (None = any size), or a one-line ``ValueError``."""
    array = np.asarray(value)
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise ValueError(f"{name}: must be a real numeric array, got dtype {array.dtype}")
    if array.ndim != len(shape) or any(want is not None and got != want for got, want in zip(array.shape, shape)):
        expected = ", ".join("*" if want is None else str(want) for want in shape)
        raise ValueError(f"{name}: expected shape ({expected}), got {array.shape}")
    return np.ascontiguousarray(array, dtype=np.float64)


SLACK_MARGIN = 1e-6
"""Relative margin on the minimal slack, so that rounding cannot leave the relaxed problem infeasible."""


def relaxed(b: np.ndarray, slack: np.ndarray | float) -> np.ndarray:
    """Bounds ``b [..., K]`` of ``A u >= b`` lowered by the minimal ``slack [...]`` (plus the margins): the
    least relaxation that makes the constraints feasible, as both solvers relax them."""
    return b - (np.asarray(slack) * (1 + SLACK_MARGIN) + FEASIBILITY_TOL)[..., None]


class SafetyFilter:
    """Discrete-time VCP-CBF safety filter for one role.

    Args:
        config: an :class:`ExperimentConfig` (its ``env`` and ``safety`` sections are used)
            or an :class:`EnvConfig` (then ``safety`` gives the filter settings).
        role: whose speed limit bounds ``v`` ("pursuer" or "evader").
        safety: filter settings when ``config`` is an :class:`EnvConfig`; keyword
            overrides of :class:`SafetyConfig` fields are accepted as ``**safety_fields``.
    """

    def __init__(self, config: ExperimentConfig | EnvConfig | None = None, role: str = "pursuer",
                 safety: SafetyConfig | None = None, **safety_fields: Any) -> None:
        if isinstance(config, ExperimentConfig):
            env, safety = config.env, safety or config.safety
        else:
            env = config or EnvConfig()
            safety = safety or SafetyConfig()
        safety = replaced(safety, safety_fields, "safety")
        if role not in ROLES:
            raise ValueError(f"role: must be 'pursuer' or 'evader', got {role!r}")
        check_safety_compatible(env, safety)
        self.env, self.safety, self.role = env, safety, role
        low, high = action_scale(env)
        self.low, self.high = low[ROLES.index(role)], high[ROLES.index(role)]
        self.weights = safety.qp_weights
        self._reference = None

    def constraints(self, states: np.ndarray, obstacles: np.ndarray, others: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
        """Hazard constraints ``A u >= b`` (``A [N, K, 2]``, ``b [N, K]``) in physical ``(v, omega)``."""
        states, obstacles, others = self._validate_world(states, obstacles, others)
        a, b, _ = self._barriers(states, obstacles, others)
        return a, b

    @staticmethod
    def _validate_world(states, obstacles, others):
        """Shapes checked before any compiled kernel sees the arrays (they index by the first one's N)."""
        states = _as_batch("states", states, (None, 3))
        n = states.shape[0]
        obstacles = _as_batch("obstacles", obstacles, (n, None, 3))
        if others is not None:
            others = _as_batch("others", others, (n, 3))
        return states, obstacles, others

    def _barriers(self, states, obstacles, others):
        return kernels.fastest_barrier_constraints(self.env, self.safety, states, obstacles, others)

    def filter(self, states: np.ndarray, actions: np.ndarray, obstacles: np.ndarray,
               others: np.ndarray | None = None, *, validate: bool = True) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Safe actions for poses ``states [N, 3]`` and nominal ``actions [N, 2]`` (physical ``v, omega``).

        ``obstacles [N, M, 3]``; ``others [N, 3]`` is the other robot's pose (used with
        ``agent_avoidance``). Returns ``(safe_actions [N, 2], info)`` where info holds
        ``intervened``, ``correction`` (Euclidean size of the change), ``slack``,
        ``min_barrier`` (smallest barrier value h before the step), ``status`` (0 optimal,
        1 relaxed, 2 fallback) and ``infeasible`` (status != 0), each ``[N]``.

        Shapes that disagree raise ``ValueError`` (``validate=False``: the caller vouches for the shapes
        and dtypes, as the env wrappers do for the world's own arrays). Rows with a non-finite pose, obstacle or
        other-robot pose cannot be certified: they get the stop action (v = 0, omega = 0)
        with status 2 (fallback), never "safe". A non-finite nominal action is replaced by
        the stop action before the QP (so the result is still certified) and also reported
        as status 2.
        """
        if validate:
            states, obstacles, others = self._validate_world(states, obstacles, others)
            nominal = _as_batch("actions", actions, (states.shape[0], 2))
        else:                                   # contiguous float64 for the compiled kernels, nothing checked
            states, obstacles, nominal = (np.ascontiguousarray(x, dtype=np.float64)
                                          for x in (states, obstacles, actions))
            others = None if others is None else np.ascontiguousarray(others, dtype=np.float64)
        broken_world = ~np.isfinite(states).all(axis=1) | ~np.isfinite(obstacles).all(axis=(1, 2))
        if others is not None:
            broken_world |= ~np.isfinite(others).all(axis=1)
        broken_action = ~np.isfinite(nominal).all(axis=1)
        stop = np.array([0.0, 0.0])
        if broken_world.any():
            # Finite placeholders keep the kernels' arithmetic clean; these rows are overwritten below.
            states, obstacles = states.copy(), obstacles.copy()
            states[broken_world] = 0.0
            obstacles[broken_world] = 0.0
            if others is not None:
                others = others.copy()
                others[broken_world] = 0.0
        nominal = np.clip(np.where(broken_action[:, None], stop, nominal), self.low, self.high)
        a, b, h = self._barriers(states, obstacles, others)
        if self.safety.solver == "cvxpy":
            safe, status, slack = self._solve_cvxpy(a, b, nominal)
        else:
            safe, status, slack = self._solve_exact(a, b, nominal)
        status[broken_action] = FALLBACK
        if broken_world.any():
            safe[broken_world], status[broken_world], slack[broken_world] = stop, FALLBACK, 0.0
            h = h.copy()
            h[broken_world] = np.nan
            logger.warning("safety filter (%s): %d row(s) with a non-finite pose or obstacle got the stop action",
                           self.role, int(broken_world.sum()))
        correction = np.linalg.norm(safe - nominal, axis=1)
        info = {
            "intervened": (correction > INTERVENTION_TOL) | broken_action | broken_world,
            "correction": correction,
            "slack": slack,
            "min_barrier": h.min(axis=1),
            "status": status,
            "infeasible": status != OPTIMAL,
        }
        if (status != OPTIMAL).any():
            logger.debug("safety filter (%s): %d relaxed, %d fallback of %d", self.role,
                         int((status == RELAXED).sum()), int((status == FALLBACK).sum()), len(status))
        return safe, info

    # ------------------------------------------------------------------ solvers

    def _fallback(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Stop and turn towards increasing the most urgent barrier."""
        urgent = np.argmax(b, axis=1)
        omega_coefficient = a[np.arange(len(a)), urgent, 1]
        return np.stack([np.zeros(len(a)), np.where(omega_coefficient >= 0, 1.0, -1.0) * self.high[1]], axis=1)

    def _solve_exact(self, a, b, nominal):
        n = len(nominal)
        safe, feasible = kernels.fastest_solve_qp(a, b, nominal, self.low, self.high, self.weights)
        status = np.full(n, OPTIMAL)
        slack = np.zeros(n)
        bad = np.flatnonzero(~feasible)
        if bad.size:
            s = minimal_slack(a[bad], b[bad], self.low, self.high)
            u, ok = solve_qp(a[bad], relaxed(b[bad], s), nominal[bad], self.low, self.high, self.weights)
            u[~ok] = self._fallback(a[bad][~ok], b[bad][~ok])
            safe[bad], slack[bad] = u, s
            status[bad] = np.where(ok, RELAXED, FALLBACK)
        return safe, status, slack

    def _solve_cvxpy(self, a, b, nominal):
        from pe_rllib.safety.reference import CvxpyQP

        if self._reference is None or self._reference.a.shape[0] != a.shape[1]:
            self._reference = CvxpyQP(a.shape[1], self.low, self.high, self.weights)
        n = len(nominal)
        safe, status, slack = np.empty((n, 2)), np.full(n, OPTIMAL), np.zeros(n)
        for row in range(n):
            u, _ = self._reference.solve(a[row], b[row], nominal[row])
            if u is None:
                slack[row] = self._reference.minimal_slack(a[row], b[row])
                u, _ = self._reference.solve(a[row], relaxed(b[row], slack[row]), nominal[row])
                status[row] = RELAXED if u is not None else FALLBACK
                if u is None:
                    u = self._fallback(a[row:row + 1], b[row:row + 1])[0]
            safe[row] = u
        return safe, status, slack
