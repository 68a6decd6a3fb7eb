"""Compiled (numba) twins of the safety filter's hot path: constraint rows and the QP.

Same staged active-set algorithm and KKT certificates as the numpy reference
(:func:`pe_rllib.safety.cbf.barrier_constraints`, :func:`pe_rllib.safety.qp.solve_qp`),
one row at a time with early exits; tests require identical results. The filter uses
these when numba is available (``AVAILABLE``), else the numpy versions.
"""

from __future__ import annotations

import math

import numpy as np

from pe_rllib.envs.kernels import AVAILABLE, njit
from pe_rllib.safety import cbf, qp

__all__ = ["AVAILABLE", "barrier_constraints", "fastest_barrier_constraints", "fastest_solve_qp", "solve_qp"]

_TOL = 1e-9


@njit(cache=True)
def _feasible_point(gx, gy, h, count, zx, zy):  # pragma: no cover - compiled
    for j in range(count):
        if gx[j] * zx + gy[j] * zy < h[j] - _TOL:
            return False
    return True


@njit(cache=True)
def _project_row(gx, gy, h, count, z0x, z0y, out):  # pragma: no cover - compiled
    """Project z0 onto {z : g_j . z >= h_j} (unit rows); out = (zx, zy); returns feasibility."""
    if _feasible_point(gx, gy, h, count, z0x, z0y):
        out[0], out[1] = z0x, z0y
        return True
    best = np.inf
    for j in range(count):                                # one active constraint
        residual = h[j] - (gx[j] * z0x + gy[j] * z0y)
        if residual > 0.0:
            zx, zy = z0x + residual * gx[j], z0y + residual * gy[j]
            if residual * residual < best and _feasible_point(gx, gy, h, count, zx, zy):
                best = residual * residual
                out[0], out[1] = zx, zy
    if best < np.inf:
        return True
    for i in range(count):                                # two active constraints (KKT-certified)
        for j in range(i + 1, count):
            det = gx[i] * gy[j] - gy[i] * gx[j]
            if abs(det) <= 1e-12:
                continue
            vx = (h[i] * gy[j] - h[j] * gy[i]) / det
            vy = (gx[i] * h[j] - gx[j] * h[i]) / det
            dx, dy = vx - z0x, vy - z0y
            li = (dx * gy[j] - dy * gx[j]) / det
            lj = (gx[i] * dy - gy[i] * dx) / det
            cost = dx * dx + dy * dy
            if li >= -_TOL and lj >= -_TOL and cost < best and _feasible_point(gx, gy, h, count, vx, vy):
                best = cost
                out[0], out[1] = vx, vy
    return best < np.inf


@njit(cache=True)
def _filter(a, b, u0, low, high, scale, out_u, out_ok):  # pragma: no cover - compiled
    n, k = b.shape
    gx, gy, h = np.empty(k + 4), np.empty(k + 4), np.empty(k + 4)
    z = np.empty(2)
    for r in range(n):
        ux, uy = min(max(u0[r, 0], low[0]), high[0]), min(max(u0[r, 1], low[1]), high[1])
        safe = ux == u0[r, 0] and uy == u0[r, 1]
        for j in range(k):
            if a[r, j, 0] * ux + a[r, j, 1] * uy < b[r, j] - _TOL:
                safe = False
                break
        if safe:
            out_u[r, 0], out_u[r, 1], out_ok[r] = ux, uy, True
            continue
        # z = S u: box rows first, then the hazard rows the box does not satisfy everywhere.
        gx[0], gy[0], h[0] = 1.0, 0.0, low[0] * scale[0]
        gx[1], gy[1], h[1] = -1.0, 0.0, -high[0] * scale[0]
        gx[2], gy[2], h[2] = 0.0, 1.0, low[1] * scale[1]
        gx[3], gy[3], h[3] = 0.0, -1.0, -high[1] * scale[1]
        count = 4
        for j in range(k):
            px, py = a[r, j, 0] / scale[0], a[r, j, 1] / scale[1]
            norm = math.sqrt(px * px + py * py)
            if norm < 1e-300:
                norm = 1e-300
            px, py, rhs = px / norm, py / norm, b[r, j] / norm
            box_min = min(px * low[0] * scale[0], px * high[0] * scale[0]) + \
                min(py * low[1] * scale[1], py * high[1] * scale[1])
            if box_min < rhs - _TOL:
                gx[count], gy[count], h[count] = px, py, rhs
                count += 1
        ok = _project_row(gx, gy, h, count, u0[r, 0] * scale[0], u0[r, 1] * scale[1], z)
        out_ok[r] = ok
        if ok:
            out_u[r, 0], out_u[r, 1] = z[0] / scale[0], z[1] / scale[1]
        else:
            out_u[r, 0], out_u[r, 1] = ux, uy


def solve_qp(a: np.ndarray, b: np.ndarray, u0: np.ndarray, low: np.ndarray, high: np.ndarray,
             weights: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Compiled twin of :func:`pe_rllib.safety.qp.solve_qp` (same stages, same certificates)."""
    n = u0.shape[0]
    out_u, out_ok = np.empty((n, 2)), np.empty(n, dtype=np.bool_)
    scale = np.sqrt(np.asarray(weights, dtype=np.float64))
    _filter(np.ascontiguousarray(a, dtype=np.float64), np.ascontiguousarray(b, dtype=np.float64),
            np.ascontiguousarray(u0, dtype=np.float64), np.asarray(low, dtype=np.float64),
            np.asarray(high, dtype=np.float64), scale, out_u, out_ok)
    return out_u, out_ok


@njit(cache=True)
def _barrier(pose, obstacles, other, use_other, d, dt, gamma, robot_radius, margin, half_w, half_h,
             a, b, h):  # pragma: no cover - compiled
    n, m = pose.shape[0], obstacles.shape[1]
    inset_x = half_w - robot_radius - d - margin
    inset_y = half_h - robot_radius - d - margin
    for r in range(n):
        c, s = math.cos(pose[r, 2]), math.sin(pose[r, 2])
        qx, qy = pose[r, 0] + d * c, pose[r, 1] + d * s
        m00, m01, m10, m11 = c, -d * s, s, d * c                      # q_dot = M (v, omega)
        for j in range(m):
            dx, dy = qx - obstacles[r, j, 0], qy - obstacles[r, j, 1]
            chi = obstacles[r, j, 2] + robot_radius + d + margin
            h[r, j] = dx * dx + dy * dy - chi * chi
            a[r, j, 0] = 2.0 * dt * (dx * m00 + dy * m10)
            a[r, j, 1] = 2.0 * dt * (dx * m01 + dy * m11)
        # walls: left, right, bottom, top (h = inset + sign * q_axis)
        h[r, m], a[r, m, 0], a[r, m, 1] = inset_x + qx, dt * m00, dt * m01
        h[r, m + 1], a[r, m + 1, 0], a[r, m + 1, 1] = inset_x - qx, -dt * m00, -dt * m01
        h[r, m + 2], a[r, m + 2, 0], a[r, m + 2, 1] = inset_y + qy, dt * m10, dt * m11
        h[r, m + 3], a[r, m + 3, 0], a[r, m + 3, 1] = inset_y - qy, -dt * m10, -dt * m11
        if use_other:
            dx, dy = qx - other[r, 0], qy - other[r, 1]
            chi = 2.0 * robot_radius + d + margin
            h[r, m + 4] = dx * dx + dy * dy - chi * chi
            a[r, m + 4, 0] = 2.0 * dt * (dx * m00 + dy * m10)
            a[r, m + 4, 1] = 2.0 * dt * (dx * m01 + dy * m11)
        for j in range(b.shape[1]):
            b[r, j] = -gamma * h[r, j]


def barrier_constraints(env, safety, pose: np.ndarray, obstacles: np.ndarray, other: np.ndarray | None):
    """Compiled twin of :func:`pe_rllib.safety.cbf.barrier_constraints`: ``(A, b, h)``."""
    use_other = bool(safety.agent_avoidance and other is not None)
    n, k = pose.shape[0], obstacles.shape[1] + 4 + int(use_other)
    a, b, h = np.empty((n, k, 2)), np.empty((n, k)), np.empty((n, k))
    other_arr = np.ascontiguousarray(other if use_other else pose, dtype=np.float64)
    _barrier(np.ascontiguousarray(pose, dtype=np.float64), np.ascontiguousarray(obstacles, dtype=np.float64),
             other_arr, use_other, safety.control_point_distance, env.dt, safety.gamma, env.robot_radius,
             safety.margin, env.arena_width / 2, env.arena_height / 2, a, b, h)
    return a, b, h


def fastest_barrier_constraints(env, safety, pose: np.ndarray, obstacles: np.ndarray, other: np.ndarray | None):
    """``(A, b, h)`` from the compiled kernel when numba is available, else from the numpy reference (the same
    numbers: tested). The filter and the policy layer build their rows through this."""
    build = barrier_constraints if AVAILABLE else cbf.barrier_constraints
    return build(env, safety, pose, obstacles, other)


def fastest_solve_qp(a: np.ndarray, b: np.ndarray, u0: np.ndarray, low: np.ndarray, high: np.ndarray,
                     weights: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """The exact QP from the compiled kernel when numba is available, else from the numpy reference."""
    return (solve_qp if AVAILABLE else qp.solve_qp)(a, b, u0, low, high, weights)
