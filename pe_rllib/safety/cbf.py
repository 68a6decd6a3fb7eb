"""Discrete-time virtual-control-point (VCP) barrier constraints for the unicycle.

The control point ``q = (x + d cos th, y + d sin th)`` moves as ``q_dot = M u`` with
``u = (v, omega)`` and ``M = [[cos th, -d sin th], [sin th, d cos th]]`` (``det M = d``),
so both inputs act at relative degree one.

Obstacle barrier: ``h = |q - p_o|^2 - chi^2`` with ``chi = r_o + robot_radius + d + margin``
(if ``q`` keeps ``chi`` away, the body centre, at most ``d`` behind it, keeps
``r_o + robot_radius + margin``). With ``q_{k+1} = q_k + dt M u``::

    h_{k+1} = h_k + 2 dt (q - p_o)^T M u + dt^2 |M u|^2  >=  h_k + 2 dt (q - p_o)^T M u

so demanding the linear part ``>= -gamma h_k`` implies ``h_{k+1} >= (1 - gamma) h_k``:
dropping the quadratic term is conservative. Wall barriers are linear in ``q``
(``h = W/2 - robot_radius - d - margin - q_x`` etc.), so their condition is exact in
``q``. The remaining error is the unicycle's own heading change within a step
(``~ d (omega dt)^2 / 2``, about 1 mm here), which ``margin`` covers.

Every constraint is returned as ``A u >= b`` in physical units ``(v, omega)``.
"""

from __future__ import annotations

import numpy as np

from pe_rllib.config import EnvConfig, SafetyConfig


def control_point(pose: np.ndarray, d: float) -> tuple[np.ndarray, np.ndarray]:
    """Control point ``q [N, 2]`` and Jacobian ``M [N, 2, 2]`` for poses ``[N, 3]``."""
    c, s = np.cos(pose[:, 2]), np.sin(pose[:, 2])
    q = pose[:, :2] + d * np.stack([c, s], axis=1)
    jac = np.empty((pose.shape[0], 2, 2))
    jac[:, 0, 0], jac[:, 0, 1] = c, -d * s
    jac[:, 1, 0], jac[:, 1, 1] = s, d * c
    return q, jac


def barrier_constraints(
    env: EnvConfig,
    safety: SafetyConfig,
    pose: np.ndarray,
    obstacles: np.ndarray,
    other: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hazard constraints ``A [N, K, 2]``, ``b [N, K]`` and barrier values ``h [N, K]``.

    Order: the M obstacles, the walls (left, right, bottom, top), then the other robot
    when ``safety.agent_avoidance`` and ``other`` (its pose ``[N, 3]``) are given.
    Inactive obstacle slots (radius 0, far away) yield constraints that are never active.
    """
    d, dt, gamma = safety.control_point_distance, env.dt, safety.gamma
    q, jac = control_point(pose, d)
    rows_a, rows_h = [], []
    if obstacles.shape[1]:
        delta = q[:, None, :] - obstacles[:, :, :2]                      # [N, M, 2]
        chi = obstacles[:, :, 2] + env.robot_radius + d + safety.margin
        rows_h.append((delta ** 2).sum(-1) - chi ** 2)
        rows_a.append(2 * dt * np.einsum("nmi,nij->nmj", delta, jac))
    # Walls left, right, bottom, top: h = inset + sign * q_axis, so dh = sign * dt * M[axis] u.
    axis = np.array([0, 0, 1, 1])
    sign = np.array([1.0, -1.0, 1.0, -1.0])
    inset = np.array([env.arena_width, env.arena_width, env.arena_height, env.arena_height]) / 2 \
        - env.robot_radius - d - safety.margin
    rows_h.append(inset + sign * q[:, axis])
    rows_a.append(sign[:, None] * dt * jac[:, axis, :])
    if safety.agent_avoidance and other is not None:
        delta = q - other[:, :2]
        chi = 2 * env.robot_radius + d + safety.margin
        rows_h.append(((delta ** 2).sum(-1) - chi ** 2)[:, None])
        rows_a.append((2 * dt * np.einsum("ni,nij->nj", delta, jac))[:, None, :])
    h = np.concatenate(rows_h, axis=1)
    a = np.concatenate(rows_a, axis=1)
    return a, -gamma * h, h

