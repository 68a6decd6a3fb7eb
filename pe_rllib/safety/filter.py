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

from pe_rllib.config import ConfigError, EnvConfig, ExperimentConfig, SafetyConfig
from pe_rllib.safety import kernels
from pe_rllib.safety.cbf import action_box, barrier_constraints
from pe_rllib.safety.qp import FEASIBILITY_TOL, minimal_slack, solve_qp

logger = logging.getLogger(__name__)

OPTIMAL, RELAXED, FALLBACK = 0, 1, 2
INTERVENTION_TOL = 1e-6


def check_compatible(env: EnvConfig, safety: SafetyConfig) -> None:
    """Spawns must lie inside the safe set, or the filter starts infeasible."""
    needed = safety.control_point_distance + safety.margin
    if needed > env.obstacle_clearance + 1e-12:
        raise ConfigError(
            f"safety.control_point_distance: control_point_distance + margin ({needed:g}) must be <= "
            f"env.obstacle_clearance ({env.obstacle_clearance:g}) so robots spawn inside the safe set")


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
        from pe_rllib.config import from_dict, to_dict

        if isinstance(config, ExperimentConfig):
            env, safety = config.env, safety or config.safety
        else:
            env = config or EnvConfig()
            safety = safety or SafetyConfig()
        if safety_fields:
            safety = from_dict(SafetyConfig, {**to_dict(safety), **safety_fields}, "safety")
        if role not in ("pursuer", "evader"):
            raise ValueError(f"role: must be 'pursuer' or 'evader', got {role!r}")
        check_compatible(env, safety)
        self.env, self.safety, self.role = env, safety, role
        self.low, self.high = action_box(env, env.v_max(role))
        self.weights = (safety.weight_v, safety.omega_weight)
        self._reference = None

    def constraints(self, states: np.ndarray, obstacles: np.ndarray, others: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
        """Hazard constraints ``A u >= b`` (``A [N, K, 2]``, ``b [N, K]``) in physical ``(v, omega)``."""
        a, b, _ = self._barriers(states, obstacles, others)
        return a, b

    def _barriers(self, states, obstacles, others):
        build = kernels.barrier_constraints if kernels.AVAILABLE else barrier_constraints
        return build(self.env, self.safety, np.asarray(states, np.float64), np.asarray(obstacles, np.float64),
                     others)

    def filter(self, states: np.ndarray, actions: np.ndarray, obstacles: np.ndarray,
               others: np.ndarray | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Safe actions for poses ``states [N, 3]`` and nominal ``actions [N, 2]`` (physical ``v, omega``).

        ``obstacles [N, M, 3]``; ``others [N, 3]`` is the other robot's pose (used with
        ``agent_avoidance``). Returns ``(safe_actions [N, 2], info)`` where info holds
        ``intervened``, ``correction`` (Euclidean size of the change), ``slack``,
        ``min_barrier`` (smallest barrier value h before the step), ``status`` (0 optimal,
        1 relaxed, 2 fallback) and ``infeasible`` (status != 0), each ``[N]``.
        """
        states = np.asarray(states, np.float64)
        nominal = np.clip(np.asarray(actions, np.float64), self.low, self.high)
        a, b, h = self._barriers(states, obstacles, others)
        if self.safety.solver == "cvxpy":
            safe, status, slack = self._solve_cvxpy(a, b, nominal)
        else:
            safe, status, slack = self._solve_exact(a, b, nominal)
        correction = np.linalg.norm(safe - nominal, axis=1)
        info = {
            "intervened": correction > INTERVENTION_TOL,
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
        solve = kernels.solve_qp if kernels.AVAILABLE else solve_qp
        safe, feasible = solve(a, b, nominal, self.low, self.high, self.weights)
        status = np.full(n, OPTIMAL)
        slack = np.zeros(n)
        bad = np.flatnonzero(~feasible)
        if bad.size:
            s = minimal_slack(a[bad], b[bad], self.low, self.high)
            relaxed_b = b[bad] - (s * (1 + 1e-6) + FEASIBILITY_TOL)[:, None]
            u, ok = solve_qp(a[bad], relaxed_b, nominal[bad], self.low, self.high, self.weights)
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
                u, _ = self._reference.solve(a[row], b[row] - slack[row] * (1 + 1e-6) - FEASIBILITY_TOL, nominal[row])
                status[row] = RELAXED if u is not None else FALLBACK
                if u is None:
                    u = self._fallback(a[row:row + 1], b[row:row + 1])[0]
            safe[row] = u
        return safe, status, slack
