"""Exact batched solver for the 2-variable safety QP.

Problem per row::

    minimise   w_v (v - v0)^2 + w_w (omega - omega0)^2
    subject to A u >= b          (hazard constraints, K rows)
               low <= u <= high  (action box)

With ``z = S u``, ``S = diag(sqrt(w_v), sqrt(w_w))``, it is the Euclidean projection of
``z0`` onto a convex polygon. The optimum of a strictly convex QP in 2-D has at most
two active constraints, so it is one of: ``z0`` itself, the projection onto one
violated constraint's line, or the intersection of two constraint lines with
non-negative KKT multipliers. The KKT conditions certify each candidate, so the
stages below stop as soon as a certified candidate exists:

0. ``z0`` feasible -> done (no intervention; most rows).
1. for each violated constraint, its projection; certified if feasible (it is then
   the optimum of a relaxation that is feasible for the full problem).
2. for each pair of constraints, the vertex; certified if feasible and both
   multipliers are >= 0.
No certified candidate means the polygon is empty (infeasible).

Hazard rows that the whole action box satisfies are redundant and dropped before
stage 1, so the pair stage works on a handful of constraints, not all of them.
"""

from __future__ import annotations

import numpy as np

FEASIBILITY_TOL = 1e-9
_ALWAYS_TRUE = -1e30     # right-hand side of padding rows (finite: no inf * 0 NaNs)


def _normalise(g: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    norm = np.linalg.norm(g, axis=-1)
    safe = np.maximum(norm, 1e-300)
    return g / safe[..., None], h / safe


def _feasible(g: np.ndarray, h: np.ndarray, z: np.ndarray) -> np.ndarray:
    """``g [R, K, 2]``, ``h [R, K]``, candidates ``z [R, C, 2]`` -> ``[R, C]`` all constraints hold."""
    return np.all(np.einsum("rki,rci->rck", g, z) >= h[:, None, :] - FEASIBILITY_TOL, axis=-1)


def _project_weighted(a, b, low, high, scale):
    """Hazard rows and box rows in z-space, unit-normalised: ``g [N, K+4, 2]``, ``h [N, K+4]``."""
    n = a.shape[0]
    g_hazard = a / scale                                    # A u = (A S^-1) z
    box_g = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    box_h = np.array([low[0] * scale[0], -high[0] * scale[0], low[1] * scale[1], -high[1] * scale[1]])
    g = np.concatenate([np.broadcast_to(box_g, (n, 4, 2)), g_hazard], axis=1)
    h = np.concatenate([np.broadcast_to(box_h, (n, 4)), b], axis=1)
    return _normalise(g, h)


def _drop_redundant(g: np.ndarray, h: np.ndarray, low_z: np.ndarray, high_z: np.ndarray):
    """Keep the 4 box rows plus the hazard rows that some point of the box violates.

    Returns compacted ``g, h`` of width ``4 + k`` where ``k`` is the largest count of
    non-redundant hazard rows over the batch (others padded with always-true rows).
    """
    hazard_g, hazard_h = g[:, 4:], h[:, 4:]
    box_min = np.minimum(hazard_g * low_z, hazard_g * high_z).sum(-1)   # min over the box of g.z
    live = box_min < hazard_h - FEASIBILITY_TOL
    k = int(live.sum(axis=1).max()) if live.size else 0
    order = np.argsort(~live, axis=1, kind="stable")[:, :k]
    rows = np.arange(len(h))[:, None]
    packed = np.concatenate([hazard_g, hazard_h[..., None], live[..., None]], axis=-1)[rows, order]
    kept_live = packed[..., 3] > 0
    kept_g = np.where(kept_live[..., None], packed[..., :2], np.array([1.0, 0.0]))
    kept_h = np.where(kept_live, packed[..., 2], _ALWAYS_TRUE)
    return np.concatenate([g[:, :4], kept_g], axis=1), np.concatenate([h[:, :4], kept_h], axis=1)


def solve_projection(g: np.ndarray, h: np.ndarray, z0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Project ``z0 [N, 2]`` onto ``{z : g z >= h}`` (unit rows ``g [N, C, 2]``). Returns ``(z, feasible)``."""
    n, c = h.shape
    z = z0.copy()
    solved = _feasible(g, h, z0[:, None, :])[:, 0]
    todo = np.flatnonzero(~solved)
    if todo.size:                                                         # stage 1: single active
        gt, ht, zt = g[todo], h[todo], z0[todo]
        residual = ht - np.einsum("rki,ri->rk", gt, zt)                  # > 0: violated
        cand = zt[:, None, :] + residual[..., None] * gt                  # [R, C, 2]
        ok = _feasible(gt, ht, cand) & (residual > 0)
        cost = np.where(ok, residual ** 2, np.inf)
        best = cost.argmin(axis=1)
        hit = np.isfinite(cost[np.arange(todo.size), best])
        z[todo[hit]] = cand[np.flatnonzero(hit), best[hit]]
        solved[todo[hit]] = True
        todo = todo[~hit]
    if todo.size and c >= 2:                                              # stage 2: two active
        i, j = np.triu_indices(c, k=1)
        gt, ht, zt = g[todo], h[todo], z0[todo]
        gi, gj, hi, hj = gt[:, i], gt[:, j], ht[:, i], ht[:, j]          # [R, P, 2], [R, P]
        det = gi[..., 0] * gj[..., 1] - gi[..., 1] * gj[..., 0]
        usable = (np.abs(det) > 1e-12) & (hi > _ALWAYS_TRUE) & (hj > _ALWAYS_TRUE)
        det = np.where(usable, det, 1.0)
        hi0, hj0 = np.where(usable, hi, 0.0), np.where(usable, hj, 0.0)
        vertex = np.stack([(hi0 * gj[..., 1] - hj0 * gi[..., 1]) / det,
                           (gi[..., 0] * hj0 - gj[..., 0] * hi0) / det], axis=-1)
        # KKT: vertex - z0 = li gi + lj gj with li, lj >= 0.
        delta = vertex - zt[:, None, :]
        li = (delta[..., 0] * gj[..., 1] - delta[..., 1] * gj[..., 0]) / det
        lj = (gi[..., 0] * delta[..., 1] - gi[..., 1] * delta[..., 0]) / det
        ok = usable & (li >= -FEASIBILITY_TOL) & (lj >= -FEASIBILITY_TOL) & _feasible(gt, ht, vertex)
        cost = np.where(ok, (delta ** 2).sum(-1), np.inf)
        best = cost.argmin(axis=1)
        hit = np.isfinite(cost[np.arange(todo.size), best])
        z[todo[hit]] = vertex[np.flatnonzero(hit), best[hit]]
        solved[todo[hit]] = True
    return z, solved


def solve_qp(a: np.ndarray, b: np.ndarray, u0: np.ndarray, low: np.ndarray, high: np.ndarray,
             weights: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Solve the weighted QP for each row. Returns ``(u [N, 2], feasible [N])``.

    ``a [N, K, 2]``, ``b [N, K]``, ``u0 [N, 2]``; ``low``/``high`` ``[2]``; ``weights``
    ``(w_v, w_omega)``. Infeasible rows return ``u0`` clipped to the box.
    """
    u = np.clip(u0, low, high)
    # Stage 0 in physical units: rows whose nominal action is already safe are done.
    feasible = np.all(np.einsum("nki,ni->nk", a, u) >= b - FEASIBILITY_TOL, axis=1) & np.all(u == u0, axis=1)
    todo = np.flatnonzero(~feasible)
    if todo.size == 0:
        return u, feasible
    scale = np.sqrt(np.asarray(weights, dtype=np.float64))
    g, h = _project_weighted(a[todo], b[todo], low, high, scale)
    g, h = _drop_redundant(g, h, low * scale, high * scale)
    z, ok = solve_projection(g, h, u0[todo] * scale)
    u[todo[ok]] = z[ok] / scale
    feasible[todo] = ok
    return u, feasible


def minimal_slack(a: np.ndarray, b: np.ndarray, low: np.ndarray, high: np.ndarray,
                  iterations: int = 40) -> np.ndarray:
    """Smallest uniform slack ``s >= 0`` making ``{A u >= b - s, low <= u <= high}`` non-empty.

    Bisection on ``s`` with the exact feasibility test; ``s = max(0, max b)`` is always
    feasible when the box contains ``u = 0`` (it does: ``v = 0, omega = 0``), since then
    ``A 0 = 0 >= b - s``. The slack is in the units of ``b`` (the barrier's ``-gamma h``).
    """
    n = a.shape[0]
    lo = np.zeros(n)
    hi = np.maximum(b.max(axis=1), 0.0)
    centre = (low + high) / 2
    for _ in range(iterations):
        mid = (lo + hi) / 2
        _, ok = solve_qp(a, b - mid[:, None], np.broadcast_to(centre, (n, 2)), low, high, (1.0, 1.0))
        hi = np.where(ok, mid, hi)
        lo = np.where(ok, lo, mid)
    return hi
