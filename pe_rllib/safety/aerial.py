"""The aerial world's safety filter: braking barriers for double-integrator drones, solved exactly (issue 24).

The planar filter's idea (a discrete-time control barrier function, the smallest change to the commanded
control) carried over to point masses with a norm-bounded acceleration. Every surface a drone can hit (the
airspace's four sides, the ground, the ceiling, each vertical cylinder) gives one barrier: with ``d`` the
distance from the body to the surface less ``safety.margin``, ``n`` the unit normal towards it and
``s = n . v`` the approach speed, the drone must still be able to stop short of the surface by braking at
``b = safety.braking * a_max`` along ``-n``. Over one step of the world's semi-implicit Euler
(``v' = v + (a + drag(v)) dt``, ``p' = p + v' dt``) that is ``d - s' dt >= max(s', 0)^2 / (2 b)``, i.e. the next
approach speed at most

    s_max(d) = b (sqrt(dt^2 + 2 max(d, 0) / b) - dt),

which is a half-space in the commanded acceleration: ``n . a <= (s_max(d) - s) / dt - n . drag(v)``.

*Exactly invariant*: if a step ended with ``s' <= s_max(d)``, then braking at ``b`` on the next step gives
``s'' = s' - b dt`` (drag only helps) with ``s'' dt + s''^2 / (2 b) = s'^2 / (2 b) - b dt^2 / 2 <= d - s' dt``,
so the next row holds again and the distance never goes below zero. The rows of the airspace's faces are
orthogonal, so braking on three of them at once needs ``sqrt(3) b <= a_max``: ``braking <= 0.577`` keeps a
corner feasible (default 0.5). A cylinder's row uses the tangent plane at the nearest point, re-taken every step;
the distance to the cylinder's axis is convex along straight motion, so the plane is conservative.

The filter's QP, per drone: minimise ``|a - a_nom|^2`` subject to the rows and ``|a| <= a_max``. A row with
bound ``>= a_max`` cannot bind inside the ball and is dropped; the rest are few (one near a face, up to three in
a corner). The solution lies on the intersection of some rows' planes, on or off the sphere, so the filter
enumerates those candidates for every subset of the three tightest rows and keeps the nearest one that
satisfies every row: the exact minimiser (no iterations, no solver tolerance) wherever at most three rows can
bind (with more, a feasible point of the three tightest rows' candidates, checked on all). Where no candidate
satisfies every row, it brakes against the velocity at full thrust and reports ``safety_infeasible``.

*Where it is not exact*: two cylinders whose gap narrows below a body's width. A drone sliding along one
cylinder's tangent plane into such a gap meets the other's row with an opposing normal, and the two rows can
become jointly infeasible (each barrier alone is invariant, their intersection is not). It is rare and
counted (BENCHMARKS.md, "The aerial safety filter").

The filter needs no actuator lag (the applied acceleration is the command); the config refuses it otherwise.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any, Mapping

import numpy as np
from pettingzoo.utils.wrappers import BaseParallelWrapper

from pe_rllib.config import ROLES, SafetyConfig
from pe_rllib.config.aerial import AerialConfig
from pe_rllib.envs.aerial import dynamics
from pe_rllib.envs.aerial.dynamics import AerialState
from pe_rllib.safety.wrappers import FilteredWorld

FACE_NORMALS = np.array([[1.0, 0, 0], [-1.0, 0, 0], [0, 1.0, 0], [0, -1.0, 0], [0, 0, 1.0], [0, 0, -1.0]])
KEPT_ROWS = 3
ROW_TOLERANCE = 1e-7      # [fraction of a_max] a candidate may exceed a row by this much (rounding)
FALLBACK = 2.0            # the planar filter's status code for "no solution: braked"


def barrier_rows(config: AerialConfig, safety: SafetyConfig, state: AerialState) -> tuple[np.ndarray, ...]:
    """The barrier of every drone and surface as half-spaces in the commanded acceleration.

    Returns ``(normals [N, 2, K, 3], bounds [N, 2, K], distance [N, 2, K])`` with K = 6 + M (the faces +x, -x,
    +y, -y, ceiling, ground, then the cylinders): row k reads ``normals[k] . a <= bounds[k]``; ``distance`` is
    the barrier's ``d`` (negative: inside the margin)."""
    position, velocity = state.position, state.velocity
    shrink = config.robot_radius + safety.margin
    faces = np.stack([config.x_extent / 2 - position[..., 0], config.x_extent / 2 + position[..., 0],
                      config.y_extent / 2 - position[..., 1], config.y_extent / 2 + position[..., 1],
                      config.ceiling - position[..., 2], position[..., 2]], axis=-1) - shrink
    normals = np.broadcast_to(FACE_NORMALS, (*position.shape[:2], 6, 3))
    if state.obstacles.shape[1]:
        offset = state.obstacles[:, None, :, :2] - position[:, :, None, :2]              # [N, 2, M, 2]
        axis = np.sqrt((offset ** 2).sum(-1))
        towards = np.concatenate([offset / np.maximum(axis, 1e-9)[..., None], np.zeros_like(axis)[..., None]], -1)
        faces = np.concatenate([faces, axis - state.obstacles[:, None, :, 2] - shrink], axis=-1)
        normals = np.concatenate([normals, towards], axis=2)
    braking = safety.braking * dynamics.limits(config)[:, 1][None, :, None]               # [1, 2, 1]
    dt = config.dt
    s_max = braking * (np.sqrt(dt ** 2 + 2.0 * np.maximum(faces, 0.0) / braking) - dt)
    approach = np.einsum("nrkj,nrj->nrk", normals, velocity)
    pull = np.einsum("nrkj,nrj->nrk", normals, dynamics.drag(config, velocity))
    return np.ascontiguousarray(normals), (s_max - approach) / dt - pull, faces


def _affine(rows: np.ndarray, bounds: np.ndarray, a0: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For rows ``[B, s, 3]`` held with equality: the projection of ``a0 [B, 3]`` onto their plane, the plane's
    point nearest the origin, and whether the equalities hold there (False for inconsistent parallel rows)."""
    gram = rows @ rows.transpose(0, 2, 1) + 1e-12 * np.eye(rows.shape[1])
    lam = np.linalg.solve(gram, (np.einsum("bsj,bj->bs", rows, a0) - bounds)[..., None])[..., 0]
    mu = np.linalg.solve(gram, bounds[..., None])[..., 0]
    q = a0 - np.einsum("bsj,bs->bj", rows, lam)
    p0 = np.einsum("bsj,bs->bj", rows, mu)
    ok = np.all(np.abs(np.einsum("bsj,bj->bs", rows, q) - bounds) <= 1e-6 * (1.0 + np.abs(bounds)), axis=1)
    return q, p0, ok


def candidates(a0: np.ndarray, rows: np.ndarray, bounds: np.ndarray, a_max: np.ndarray) -> np.ndarray:
    """Every KKT point of the QP on the rows ``[B, R, 3]`` (R <= 3): for each subset held with equality, the
    projection of ``a0`` onto its plane and that plane's point on the sphere ``|a| = a_max`` nearest ``a0``.
    Returns ``[B, C, 3]`` (NaN where a candidate does not exist)."""
    out = []
    for size in range(rows.shape[1] + 1):
        for subset in combinations(range(rows.shape[1]), size):
            if size:
                q, p0, ok = _affine(rows[:, subset], bounds[:, subset], a0)
            else:
                q, p0, ok = a0, np.zeros_like(a0), np.ones(a0.shape[0], dtype=bool)
            out.append(np.where(ok[:, None], q, np.nan))
            if size < 3:                                             # a line or plane meets the sphere
                along = q - p0
                norm = np.linalg.norm(along, axis=-1, keepdims=True)
                radius = np.sqrt(np.maximum(a_max ** 2 - (p0 ** 2).sum(-1), 0.0))[:, None]
                exists = ok & (norm[:, 0] > 1e-12) & ((p0 ** 2).sum(-1) <= a_max ** 2)
                out.append(np.where(exists[:, None], p0 + radius * along / np.maximum(norm, 1e-12), np.nan))
    return np.stack(out, axis=1)


def project(a0: np.ndarray, normals: np.ndarray, bounds: np.ndarray, a_max: np.ndarray, brake: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray]:
    """The QP's minimiser ``[B, 3]`` for nominal accelerations ``a0 [B, 3]`` inside the ball, rows
    ``normals [B, K, 3] . a <= bounds [B, K]`` and ball radii ``a_max [B]``; and ``[B]`` whether it exists
    (otherwise the row's ``brake [B, 3]``)."""
    tightest = np.argsort(bounds, axis=1)[:, :KEPT_ROWS]
    kept_rows = np.take_along_axis(normals, tightest[..., None], axis=1)
    kept_bounds = np.take_along_axis(bounds, tightest, axis=1)
    points = candidates(a0, kept_rows, kept_bounds, a_max)                                 # [B, C, 3]
    slack = bounds[:, None, :] - np.einsum("bkj,bcj->bck", normals, points)
    tol = ROW_TOLERANCE * a_max[:, None]
    valid = np.all(slack >= -tol[..., None], axis=-1) & (np.linalg.norm(points, axis=-1) <= a_max[:, None] + tol)
    valid &= np.all(np.isfinite(points), axis=-1)
    distance = np.where(valid, np.linalg.norm(points - a0[:, None], axis=-1), np.inf)
    best = np.argmin(distance, axis=1)
    feasible = valid[np.arange(a0.shape[0]), best]
    safe = np.where(feasible[:, None], points[np.arange(a0.shape[0]), best], brake)
    return safe, feasible


def full_stop(velocity: np.ndarray, a_max: np.ndarray) -> np.ndarray:
    """The fallback ``[B, 3]`` where the QP has no solution: full thrust against the velocity ``[B, 3]`` (the
    shortest stop; braking along one row's normal can slide a drone deeper into a narrowing gap)."""
    speed = np.linalg.norm(velocity, axis=-1, keepdims=True)
    return -a_max[:, None] * velocity / np.maximum(speed, 1e-9)


class AerialSafetyFilter:
    """Filters the aerial world's actions ``[N, 2, 3]`` (each robot's line-of-sight frame, in [-1, 1]) against its
    state: the smallest change of the commanded acceleration that keeps every braking barrier (module docstring).

    Example:
        >>> import numpy as np
        >>> from pe_rllib.envs.aerial import BatchedAerialPursuitEvasion
        >>> from pe_rllib.safety.aerial import AerialSafetyFilter
        >>> env = BatchedAerialPursuitEvasion(num_envs=2, n_obstacles=2)
        >>> _ = env.reset(seed=0)
        >>> actions, infos = AerialSafetyFilter(env.config).filter(env.world_state(), np.zeros((2, 2, 3)))
        >>> actions.shape, bool(infos["pursuer"]["safety_intervened"].any())
        ((2, 2, 3), False)
    """

    def __init__(self, config: AerialConfig, safety: SafetyConfig | None = None) -> None:
        self.config = config
        self.safety = safety or SafetyConfig()
        self.filtered = np.array([role in self.safety.agents for role in ROLES])

    def filter(self, state: AerialState, actions: np.ndarray) -> tuple[np.ndarray, dict[str, dict[str, np.ndarray]]]:
        """Safe actions ``[N, 2, 3]`` and per-role infos ``{role: {"safety_<key>": [N]}}``."""
        cfg = self.config
        a_max = np.broadcast_to(dynamics.limits(cfg)[:, 1], actions.shape[:2])
        nominal = dynamics.commanded_acceleration(cfg, state.frames, actions)
        normals, bounds, distance = barrier_rows(cfg, self.safety, state)
        violated = np.any(np.einsum("nrkj,nrj->nrk", normals, nominal) > bounds, axis=-1) & self.filtered
        safe, feasible = nominal.copy(), np.ones(actions.shape[:2], dtype=bool)
        if violated.any():
            limit = a_max[violated]
            safe[violated], feasible[violated] = project(nominal[violated], normals[violated], bounds[violated],
                                                         limit, full_stop(state.velocity[violated], limit))
        out = actions.copy()
        out[violated] = np.einsum("bji,bj->bi", state.frames[violated], safe[violated]) / a_max[violated][:, None]
        slack = (bounds - np.einsum("nrkj,nrj->nrk", normals, safe)).min(axis=-1) / a_max
        correction = np.linalg.norm(safe - nominal, axis=-1) / a_max
        infos = {}
        for i, role in enumerate(ROLES):
            info = {"intervened": violated[:, i], "correction": correction[:, i], "slack": slack[:, i],
                    "min_barrier": distance[:, i].min(axis=-1), "status": np.where(feasible[:, i], 0.0, FALLBACK),
                    "infeasible": ~feasible[:, i]}
            infos[role] = {f"safety_{key}": value for key, value in info.items()}
        return out, infos


class SafeAerialEnv(FilteredWorld):
    """A :class:`~pe_rllib.envs.aerial.BatchedAerialPursuitEvasion` whose actions pass an :class:`AerialSafetyFilter`
    (the same :class:`~pe_rllib.envs.world.BatchedWorld` interface; the wrapped world is ``env``). The policy's own
    action is never altered in place, so training's log-probabilities stay those of the sampled action."""

    def __init__(self, env, safety: SafetyConfig | None = None) -> None:
        super().__init__(env, safety)
        self.filter = AerialSafetyFilter(env.config, self.safety)

    def state(self) -> np.ndarray:
        return self.env.state()

    def step(self, actions, *, validate: bool = True):
        env = self.env
        stacked = env.stack_actions(actions) if validate else np.stack([actions[r] for r in env.agents], axis=1)
        safe, filter_infos = self.filter.filter(env.world, np.asarray(stacked, dtype=np.float64))
        obs, rewards, terminated, truncated, infos = env.step(
            {role: safe[:, i] for i, role in enumerate(env.agents)}, validate=False)
        for role in env.agents:
            infos[role].update(filter_infos[role])
        return obs, rewards, terminated, truncated, infos


class AerialSafetyWrapper(BaseParallelWrapper):
    """The filter around the PettingZoo :class:`~pe_rllib.envs.aerial_v0.AerialPursuitEvasionEnv`: each agent's action
    is replaced by the filtered one before the wrapped env's ``step``, and the ``safety_*`` infos are added."""

    def __init__(self, env, safety: SafetyConfig | None = None) -> None:
        super().__init__(env)
        self.filter = AerialSafetyFilter(env.unwrapped.config, safety)

    def step(self, actions: Mapping[str, Any]):
        core = self.env.unwrapped.core
        if not self.env.agents:
            raise RuntimeError("step() called on a finished episode; call reset()")
        stacked = core.stack_actions({agent: np.asarray(value)[None] for agent, value in actions.items()})
        safe, filter_infos = self.filter.filter(core.world, stacked)
        obs, rewards, terminated, truncated, infos = self.env.step(
            {agent: safe[0, i].astype(np.float32) for i, agent in enumerate(core.agents)})
        for agent in core.agents:
            infos[agent].update({key: value[0].item() for key, value in filter_infos[agent].items()})
        return obs, rewards, terminated, truncated, infos
