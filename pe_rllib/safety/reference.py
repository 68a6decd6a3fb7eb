"""cvxpy reference solver for the safety QP (DPP: compiled once, re-solved with new parameters).

Slow (~1 ms per solve; OSQP with solution polishing) and exact to solver tolerance: the ground truth the vectorised
solver is tested against, and selectable with ``safety.solver: cvxpy``.
"""

from __future__ import annotations

import cvxpy as cp
import numpy as np


class CvxpyQP:
    """The same QP as :func:`pe_rllib.safety.qp.solve_qp`, one row at a time.

    Two problems over :class:`cvxpy.Parameter` objects are built once: the filter QP and
    the minimal-uniform-slack LP used when the QP is infeasible.
    """

    # OSQP with polishing recovers the exact active set (measured: 1e-15 from the exact solver,
    # feasibility agreeing on 3,000/3,000 instances); Clarabel's interior point stops ~6e-5
    # short of active bounds and hit its iteration limit on 1 in 3,000 at tight tolerances.
    SOLVER_OPTIONS = {"OSQP": dict(eps_abs=1e-9, eps_rel=1e-9, polishing=True, max_iter=200_000),
                      "CLARABEL": dict(tol_gap_abs=1e-9, tol_gap_rel=1e-9, tol_feas=1e-9, max_iter=1000)}

    def __init__(self, n_constraints: int, low: np.ndarray, high: np.ndarray,
                 weights: tuple[float, float], solver: str = "OSQP") -> None:
        self.solver = solver
        self.options = self.SOLVER_OPTIONS.get(solver, {})
        self.a = cp.Parameter((n_constraints, 2), name="A")
        self.b = cp.Parameter(n_constraints, name="b")
        self.u_nominal = cp.Parameter(2, name="u_nominal")
        self.u = cp.Variable(2, name="u")
        scale = np.sqrt(np.asarray(weights, dtype=np.float64))
        box = [self.u >= low, self.u <= high]
        self.qp = cp.Problem(cp.Minimize(cp.sum_squares(cp.multiply(scale, self.u - self.u_nominal))),
                             [self.a @ self.u >= self.b, *box])
        assert self.qp.is_dpp() and self.qp.is_qp(), "safety QP must be a DPP-compliant QP"
        self.slack = cp.Variable(nonneg=True, name="slack")
        self.slack_lp = cp.Problem(cp.Minimize(self.slack), [self.a @ self.u + self.slack >= self.b, *box])
        assert self.slack_lp.is_dpp(), "slack LP must be DPP-compliant"

    def solve(self, a: np.ndarray, b: np.ndarray, u0: np.ndarray) -> tuple[np.ndarray | None, str]:
        """Solve one row; returns ``(u, status)`` with ``u = None`` unless optimal."""
        self.a.value, self.b.value = _normalised(a, b)
        self.u_nominal.value = u0
        try:
            self.qp.solve(solver=self.solver, **self.options)
        except cp.SolverError:
            return None, "solver_error"
        status = self.qp.status
        if status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
            return np.asarray(self.u.value, dtype=np.float64), status
        return None, status

    def minimal_slack(self, a: np.ndarray, b: np.ndarray) -> float:
        """Smallest uniform slack making the constraints feasible (same definition as the exact path)."""
        norm = np.maximum(np.linalg.norm(a, axis=1), 1e-300)
        # The slack is defined in b's units, so only a common scale may be applied here.
        common = norm.max()
        self.a.value, self.b.value = a / common, b / common
        self.slack_lp.solve(solver=self.solver, **self.options)
        return float(self.slack.value) * common


def _normalised(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit constraint rows: the same feasible set, far better conditioned for the solver."""
    norm = np.maximum(np.linalg.norm(a, axis=1), 1e-300)
    return a / norm[:, None], b / norm
