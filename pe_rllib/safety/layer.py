"""The safety QP as a differentiable layer (issue 25's ``safety.mode: layer``, BarrierNet-style).

:func:`~pe_rllib.safety.qp.solve_qp` (or its compiled twin) solves the 2-variable safety QP exactly; its
solution is piecewise affine in the nominal action ``u0``. Where the active set is fixed it is one of three maps:

* no active row: ``u = u0`` (Jacobian ``I``);
* one active row ``g . u >= h`` (a hazard row or a face of the action box): the weighted projection
  ``u = u0 + (h - g . u0) W^-1 g / (g^T W^-1 g)`` (Jacobian ``I - W^-1 g g^T / (g^T W^-1 g)``);
* two active rows: their intersection, a vertex that does not move with ``u0`` (Jacobian ``0``).

:func:`safe_action_layer` finds the active set with the exact solver (no gradient flows through that
choice) and rebuilds the solution in torch with the matching map, so the forward value is the exact QP
solution and the gradient is exact wherever the active set is locally constant. At a switch between active
sets the solution is continuous but not differentiable; the layer then returns the derivative of the active
set the solver's solution touches (a one-sided derivative, measure zero in ``u0``). Where the QP is
infeasible the layer returns ``u0`` clipped to the box, as the env-side filter does.
"""

from __future__ import annotations

import numpy as np
import torch

from pe_rllib.config import ROLES, EnvConfig, ExperimentConfig, SafetyConfig
from pe_rllib.envs.core import action_scale
from pe_rllib.envs.sensing import observation_layout
from pe_rllib.safety.kernels import fastest_barrier_constraints, fastest_solve_qp

FAR = 1e6
"""Where an empty obstacle slot of the observation is put (with radius 0 its barrier is never active)."""
LAYER_MARGIN = 1e-4
"""The policy layer keeps its solution this far (in action units, along each row's normal) inside every
constraint: rebuilt from float32 observations, the rows differ from the env filter's by about 1e-6, and
without the margin the filter would "correct" a boundary solution by that much (measured: 0.6 % of steps,
corrections of 3-7e-6)."""

ACTIVE_TOL = 1e-7
"""A row is active at the solution when its slack is below this (in the units of its right-hand side)."""


def constraints_from_observation(env: EnvConfig, safety: SafetyConfig, obs: np.ndarray
                                 ) -> tuple[np.ndarray, np.ndarray]:
    """The filter's hazard rows ``A u >= b`` (``[N, K, 2]``, ``[N, K]``) rebuilt from full observations
    ``obs [N, D]``: the robot's pose from its own block, the observed obstacles (the ``n_obstacle_obs``
    nearest; an obstacle beyond them is not guarded by the layer, only by the env-side filter), the walls
    from the config and, with ``agent_avoidance``, the opponent's observed position. Float32 observations
    make the rows agree with the filter's to about 1e-6 relative."""
    layout = observation_layout(env)
    obs = np.asarray(obs, dtype=np.float64)
    own = layout.part(obs, "own")
    theta = np.arctan2(own[:, 3], own[:, 2])
    c, s = np.cos(theta), np.sin(theta)
    x, y = own[:, 0] * env.arena_width / 2, own[:, 1] * env.arena_height / 2
    pose = np.stack([x, y, theta], axis=1)
    scale = max(env.arena_width, env.arena_height) / 2
    slots = layout.part(obs, "obstacles").reshape(len(obs), -1, 4)
    ex, ey = slots[..., 0] * scale, slots[..., 1] * scale
    valid = slots[..., 3] > 0.5
    ox = np.where(valid, x[:, None] + c[:, None] * ex - s[:, None] * ey, FAR)
    oy = np.where(valid, y[:, None] + s[:, None] * ex + c[:, None] * ey, FAR)
    obstacles = np.stack([ox, oy, np.where(valid, slots[..., 2] * env.obstacle_radius_max, 0.0)], axis=-1)
    other = None
    if safety.agent_avoidance:
        opponent = layout.part(obs, "opponent")
        rx, ry = opponent[:, 0] * scale, opponent[:, 1] * scale
        other = np.stack([x + c * rx - s * ry, y + s * rx + c * ry, np.zeros_like(x)], axis=1)
    a, b, _ = fastest_barrier_constraints(env, safety, pose, obstacles, other)
    return a, b


class PolicySafetyLayer:
    """The QP as a learned role's last layer (``safety.mode: layer``): moves the mean of the policy's
    Gaussian (normalised actions) to the QP's solution for the constraints the observation implies; the
    log-std passes through. ``apply`` is differentiable in the mean (:func:`safe_action_layer`)."""

    def __init__(self, experiment: ExperimentConfig, role: str) -> None:
        self.env, self.safety = experiment.env, experiment.safety
        low, high = action_scale(self.env)
        self.low, self.high = low[ROLES.index(role)], high[ROLES.index(role)]
        self.weights = self.safety.qp_weights

    def apply(self, dist_inputs: torch.Tensor, obs: torch.Tensor) -> torch.Tensor:
        loc, log_std = dist_inputs.chunk(2, dim=-1)
        a, b = constraints_from_observation(self.env, self.safety, obs.detach().cpu().numpy())
        b = b + LAYER_MARGIN * np.linalg.norm(a, axis=-1)
        low = torch.as_tensor(self.low, dtype=loc.dtype, device=loc.device)
        high = torch.as_tensor(self.high, dtype=loc.dtype, device=loc.device)
        nominal = low + (loc.clamp(-1.0, 1.0) + 1.0) / 2.0 * (high - low)      # the env's action mapping
        safe, _ = safe_action_layer(nominal, a, b, self.low, self.high, self.weights)
        return torch.cat([2.0 * (safe - low) / (high - low) - 1.0, log_std], dim=-1)


def _rows_with_box(a: np.ndarray, b: np.ndarray, low: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hazard rows ``a [N, K, 2] u >= b [N, K]`` plus the box as 4 more rows: ``[N, K + 4, 2]``, ``[N, K + 4]``."""
    n = a.shape[0]
    box_g = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    box_h = np.array([low[0], -high[0], low[1], -high[1]], dtype=np.float64)
    return (np.concatenate([a, np.broadcast_to(box_g, (n, 4, 2))], axis=1),
            np.concatenate([b, np.broadcast_to(box_h, (n, 4))], axis=1))


def active_rows(a: np.ndarray, b: np.ndarray, u: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """``[N, K + 4]`` which rows (hazards, then the box's four faces) hold with equality at ``u``."""
    g, h = _rows_with_box(a, b, low, high)
    scale = np.maximum(np.linalg.norm(g, axis=-1), 1e-12)
    return np.abs(np.einsum("nki,ni->nk", g, u) - h) / scale <= ACTIVE_TOL * np.maximum(1.0, np.abs(h) / scale)


def safe_action_layer(u0: torch.Tensor, a: np.ndarray, b: np.ndarray, low: np.ndarray, high: np.ndarray,
                      weights: tuple[float, float]) -> tuple[torch.Tensor, np.ndarray]:
    """The QP's solution for nominal actions ``u0 [N, 2]`` (differentiable in ``u0``) and ``feasible [N]``.

    ``a [N, K, 2]``, ``b [N, K]``: the hazard rows ``a u >= b``; ``low``/``high`` ``[2]``: the action box;
    ``weights``: ``(w_v, w_omega)`` of the QP's metric ``W``.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    low, high = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
    nominal = u0.detach().cpu().numpy().astype(np.float64)
    solution, feasible = fastest_solve_qp(a, b, nominal, low, high, weights)
    active = active_rows(a, b, solution, low, high) & feasible[:, None]
    count = active.sum(axis=1)
    g, h = _rows_with_box(a, b, low, high)
    first = active.argmax(axis=1)
    rows = np.arange(len(nominal))
    g1 = torch.as_tensor(g[rows, first], dtype=u0.dtype, device=u0.device)          # [N, 2] (used where count == 1)
    h1 = torch.as_tensor(h[rows, first], dtype=u0.dtype, device=u0.device)
    w_inv = 1.0 / torch.as_tensor(np.asarray(weights, dtype=np.float64), dtype=u0.dtype, device=u0.device)
    direction = w_inv * g1
    step = (h1 - (g1 * u0).sum(-1)) / (g1 * direction).sum(-1).clamp(min=1e-12)
    projected = u0 + step[:, None] * direction
    vertex = torch.as_tensor(solution, dtype=u0.dtype, device=u0.device)
    clipped = torch.clamp(u0, torch.as_tensor(low, dtype=u0.dtype, device=u0.device),
                          torch.as_tensor(high, dtype=u0.dtype, device=u0.device))
    one = torch.as_tensor(count == 1, device=u0.device)[:, None]
    none = torch.as_tensor(count == 0, device=u0.device)[:, None]
    infeasible = torch.as_tensor(~feasible, device=u0.device)[:, None]
    out = torch.where(one, projected, torch.where(none, u0, vertex))
    return torch.where(infeasible, clipped, out), feasible


__all__ = ["ACTIVE_TOL", "PolicySafetyLayer", "active_rows", "constraints_from_observation", "safe_action_layer"]
