"""Batched world core: state, spawning, dynamics, collisions and capture over N arenas.

Everything here is a pure function of arrays shaped ``[N, ...]`` plus the frozen
:class:`~pe_rllib.config.EnvConfig` and an explicit ``numpy.random.Generator``; the env
classes are plumbing around it. Agent index 0 is the pursuer, 1 the evader, always.

Conventions
-----------
* pose ``[N, 2, 3]``: ``(x, y, theta)`` per agent, theta wrapped to [-pi, pi).
* controls ``[N, 2, 2]``: physical ``(v, omega)`` per agent.
* obstacles ``[N, M, 3]``: ``(x, y, radius)``. An inactive slot (when the count is
  drawn per episode) has radius 0 and sits far outside the arena, so every geometric
  query ignores it without a mask.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from pe_rllib.config import ROLES, EnvConfig
from pe_rllib.envs.world import ArenaArrays

AGENTS: tuple[str, str] = ROLES          # the agent order of every [N, 2, ...] array
PURSUER, EVADER = 0, 1

# Episode outcome codes (per arena).
RUNNING, CAPTURE, TIMEOUT, COLLISION = 0, 1, 2, 3
OUTCOME_NAMES = {RUNNING: "running", CAPTURE: "capture", TIMEOUT: "timeout", COLLISION: "collision"}

INACTIVE_OBSTACLE_POSITION = 1.0e4
_MAX_SPAWN_ROUNDS = 2000


@dataclass
class WorldState(ArenaArrays):
    """Mutable batched state of N arenas (arrays are owned by the env that holds it)."""

    pose: np.ndarray          # [N, 2, 3] float64
    controls: np.ndarray      # [N, 2, 2] float64, last applied (v, omega)
    obstacles: np.ndarray     # [N, M, 3] float64
    t: np.ndarray             # [N] int64, steps taken this episode
    full_obs: np.ndarray      # [N] bool, opponent observed regardless of FOV this episode
    last_seen: np.ndarray     # [N, 2, 2] float64, opponent position when last seen (per observer)
    last_seen_t: np.ndarray   # [N, 2] int64, step at which it was last seen (-1: never)

    @property
    def num_envs(self) -> int:
        return self.pose.shape[0]


def wrap_angle(theta: np.ndarray) -> np.ndarray:
    """Wrap angles to [-pi, pi)."""
    return (theta + np.pi) % (2 * np.pi) - np.pi


# --------------------------------------------------------------------------- spawning


def sample_obstacles(cfg: EnvConfig, rng: np.random.Generator, n: int) -> np.ndarray:
    """Random non-overlapping obstacle layouts ``[n, M, 3]`` with the configured clearance.

    Each slot is placed by vectorised rejection sampling across arenas. The config
    validation caps the covered area, so failure here means a pathological config and
    raises rather than silently dropping an obstacle.
    """
    m = cfg.n_obstacles
    obstacles = np.zeros((n, m, 3))
    obstacles[:, :, :2] = INACTIVE_OBSTACLE_POSITION
    if m == 0:
        return obstacles
    count = np.full(n, m)
    if cfg.min_obstacles is not None:
        count = rng.integers(cfg.min_obstacles, m + 1, size=n)
    gap = cfg.obstacle_clearance
    for slot in range(m):
        todo = np.flatnonzero(count > slot)
        radius = rng.uniform(cfg.obstacle_radius_min, cfg.obstacle_radius_max, size=todo.size)
        for _ in range(_MAX_SPAWN_ROUNDS):
            if todo.size == 0:
                break
            half_w = cfg.arena_width / 2 - radius - gap
            half_h = cfg.arena_height / 2 - radius - gap
            xy = rng.uniform(-1.0, 1.0, size=(todo.size, 2)) * np.stack([half_w, half_h], axis=1)
            placed = obstacles[todo, :slot]
            dist = np.linalg.norm(placed[:, :, :2] - xy[:, None, :], axis=-1)
            ok = np.all(dist >= placed[:, :, 2] + radius[:, None] + gap, axis=1)
            ok &= (half_w > 0) & (half_h > 0)
            obstacles[todo[ok], slot, :2] = xy[ok]
            obstacles[todo[ok], slot, 2] = radius[ok]
            todo, radius = todo[~ok], radius[~ok]
        if todo.size:
            raise RuntimeError(
                f"n_obstacles={m}: could not place obstacle {slot} in {todo.size} arena(s); "
                "reduce n_obstacles, obstacle_radius_max or obstacle_clearance")
    return obstacles


def obstacle_clearance(points: np.ndarray, obstacles: np.ndarray) -> np.ndarray:
    """Surface distance from points ``[N, K, 2]`` to each obstacle: ``[N, K, M]``."""
    diff = points[:, :, None, :] - obstacles[:, None, :, :2]
    return np.sqrt(np.einsum("nkmi,nkmi->nkm", diff, diff)) - obstacles[:, None, :, 2]


def sample_spawns(cfg: EnvConfig, rng: np.random.Generator, obstacles: np.ndarray) -> np.ndarray:
    """Spawn poses ``[n, 2, 3]``: inside the walls, clear of obstacles, at a distance in range."""
    n = obstacles.shape[0]
    pose = np.zeros((n, 2, 3))
    half = np.array(cfg.spawn_half_extent)
    keep_out = cfg.robot_radius + cfg.obstacle_clearance
    todo = np.arange(n)
    for _ in range(_MAX_SPAWN_ROUNDS):
        if todo.size == 0:
            break
        pursuer = rng.uniform(-1.0, 1.0, size=(todo.size, 2)) * half
        distance = rng.uniform(cfg.min_init_distance, cfg.max_init_distance, size=todo.size)
        bearing = rng.uniform(-np.pi, np.pi, size=todo.size)
        evader = pursuer + distance[:, None] * np.stack([np.cos(bearing), np.sin(bearing)], axis=1)
        points = np.stack([pursuer, evader], axis=1)
        ok = np.all(np.abs(evader) <= half, axis=1)
        if obstacles.shape[1]:
            ok &= np.all(obstacle_clearance(points, obstacles[todo]) >= keep_out, axis=(1, 2))
        done = todo[ok]
        pose[done, :, :2] = points[ok]
        pose[done, :, 2] = rng.uniform(-np.pi, np.pi, size=(done.size, 2))
        todo = todo[~ok]
    if todo.size:
        raise RuntimeError(
            f"max_init_distance={cfg.max_init_distance}: could not spawn both robots clear of "
            f"obstacles in {todo.size} arena(s); widen the distance range or use fewer obstacles")
    return pose


def initial_state(cfg: EnvConfig, rng: np.random.Generator, n: int) -> WorldState:
    """A fresh batch of N episodes."""
    obstacles = sample_obstacles(cfg, rng, n)
    pose = sample_spawns(cfg, rng, obstacles)
    if cfg.observation == "partial":
        full_obs = rng.random(n) < cfg.p_full_obs
    else:
        full_obs = np.ones(n, dtype=bool)
    return WorldState(
        pose=pose,
        controls=np.zeros((n, 2, 2)),
        obstacles=obstacles,
        t=np.zeros(n, dtype=np.int64),
        full_obs=full_obs,
        last_seen=np.zeros((n, 2, 2)),
        last_seen_t=np.full((n, 2), -1, dtype=np.int64),
    )


# --------------------------------------------------------------------------- dynamics


def action_scale(cfg: EnvConfig) -> tuple[np.ndarray, np.ndarray]:
    """Physical control bounds ``low, high`` per agent, ``[2, 2]`` (agent, (v, omega)).

    The one definition of the action mapping: ``a[0] in [-1, 1]`` maps linearly to
    ``v in [0, v_max(role)]``, ``a[1]`` to ``omega in [-omega_max, omega_max]``.
    """
    high = np.array([[cfg.v_max(role), cfg.omega_max] for role in AGENTS])
    low = np.array([[0.0, -cfg.omega_max] for _ in AGENTS])
    return low, high


def actions_to_controls(cfg: EnvConfig, actions: np.ndarray) -> np.ndarray:
    """Map normalised actions ``[N, 2, 2]`` in [-1, 1] to physical ``(v, omega)``.

    Out-of-range actions are clipped to the box (the action space); NaN/inf raise
    ``ValueError`` naming the agent, because a non-finite action is a policy bug that
    clipping would hide.
    """
    if not np.all(np.isfinite(actions)):
        bad = sorted({AGENTS[i] for i in np.argwhere(~np.isfinite(actions))[:, 1]})
        raise ValueError(f"non-finite (NaN/inf) action for {', '.join(bad)}")
    low, high = action_scale(cfg)
    unit = (np.clip(actions, -1.0, 1.0) + 1.0) / 2.0
    return low + unit * (high - low)


def controls_to_actions(cfg: EnvConfig, controls: np.ndarray, role: str | None = None) -> np.ndarray:
    """Inverse of :func:`actions_to_controls` (for filters and scripted policies).

    ``controls [..., 2, 2]`` for both agents, or ``[..., 2]`` for one ``role``.
    """
    low, high = action_scale(cfg)
    if role is not None:
        low, high = low[AGENTS.index(role)], high[AGENTS.index(role)]
    return 2.0 * (controls - low) / (high - low) - 1.0


def stack_actions(actions: Mapping[str, Any], num_envs: int, single: bool = False) -> np.ndarray:
    """``{role: [N, 2]}`` (``{role: [2]}`` with ``single``) -> ``[N, 2, 2]`` float64.

    One-line ``ValueError`` naming the agent for a missing or unknown key, a wrong shape
    or a non-real dtype (complex values would otherwise lose their imaginary part silently).
    """
    if not isinstance(actions, Mapping):
        raise ValueError(f"actions: must be a dict keyed by agent ({', '.join(AGENTS)}), got {type(actions).__name__}")
    missing = [role for role in AGENTS if role not in actions]
    if missing:
        raise ValueError(f"actions: missing entry for {', '.join(missing)}")
    unknown = sorted(str(key) for key in actions if key not in AGENTS)
    if unknown:
        raise ValueError(f"actions: unknown agent {unknown[0]!r} (agents: {', '.join(AGENTS)})")
    expected = (2,) if single else (num_envs, 2)
    out = np.empty((num_envs, 2, 2))
    for i, role in enumerate(AGENTS):
        a = np.asarray(actions[role])
        if a.dtype.kind not in "fiu":
            raise ValueError(f"actions[{role!r}]: must be real numbers, got dtype {a.dtype}")
        if a.shape != expected:
            raise ValueError(f"actions[{role!r}]: expected shape {expected}, got {a.shape}")
        out[:, i] = a
    return out


def stack_trusted(actions: Mapping[str, np.ndarray], num_envs: int) -> np.ndarray:
    """:func:`stack_actions` without the checks, for callers that validated the same actions' layout already
    (the rollout loop validates its first step; its policies return the same layout every step)."""
    out = np.empty((num_envs, 2, 2))
    for i, role in enumerate(AGENTS):
        out[:, i] = actions[role]
    return out


def nominal_controls(cfg: EnvConfig, t: np.ndarray, actions: np.ndarray) -> np.ndarray:
    """Physical controls ``[N, 2, 2]`` that actions ``[N, 2, 2]`` ask for at step ``t [N]``:
    the pursuer is held still during the evader's head start (``prep_steps``)."""
    controls = actions_to_controls(cfg, actions)
    controls[t < cfg.prep_steps, 0] = 0.0
    return controls


def integrate(pose: np.ndarray, controls: np.ndarray, dt: float) -> np.ndarray:
    """One explicit-Euler unicycle step; the safety filter linearises exactly this map."""
    theta = pose[..., 2]
    v, omega = controls[..., 0], controls[..., 1]
    out = np.empty_like(pose)
    out[..., 0] = pose[..., 0] + v * np.cos(theta) * dt
    out[..., 1] = pose[..., 1] + v * np.sin(theta) * dt
    out[..., 2] = wrap_angle(theta + omega * dt)
    return out


def clearances(cfg: EnvConfig, pose: np.ndarray, obstacles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Body clearance ``[N, 2]`` to the nearest obstacle and to the nearest wall (negative = collision)."""
    xy = pose[..., :2]
    wall = np.minimum(cfg.arena_width / 2 - np.abs(xy[..., 0]),
                      cfg.arena_height / 2 - np.abs(xy[..., 1])) - cfg.robot_radius
    if obstacles.shape[1] == 0:
        return np.full(wall.shape, np.inf), wall
    from pe_rllib.envs import kernels

    if kernels.AVAILABLE:
        surface = kernels.min_surface_distance(pose, obstacles)
    else:
        surface = obstacle_clearance(xy, obstacles).min(axis=-1)
    return surface - cfg.robot_radius, wall


def opponent_distance(pose: np.ndarray) -> np.ndarray:
    """Pursuer-evader centre distance ``[N]``."""
    d = pose[:, EVADER, :2] - pose[:, PURSUER, :2]
    return np.sqrt(d[:, 0] ** 2 + d[:, 1] ** 2)


@dataclass(frozen=True)
class Events:
    """What one :func:`transition` did, per arena."""

    clearance: np.ndarray        # [N, 2] body clearance to the nearest obstacle or wall (negative: collision)
    collision: np.ndarray        # [N, 2] bool
    captured: np.ndarray         # [N] bool (never together with a collision)
    terminated: np.ndarray       # [N] bool: captured or crashed
    truncated: np.ndarray        # [N] bool: the time limit, where not terminated
    distance_before: np.ndarray  # [N] robot distance before the step
    distance_after: np.ndarray   # [N]

    @property
    def outcome(self) -> np.ndarray:
        """Outcome codes ``[N]`` (RUNNING, CAPTURE, TIMEOUT, COLLISION; a crash outranks a capture)."""
        out = np.full(self.captured.shape, RUNNING)
        out[self.truncated] = TIMEOUT
        out[self.captured] = CAPTURE
        out[self.collision.any(axis=1)] = COLLISION
        return out


def transition(cfg: EnvConfig, state: WorldState, controls: np.ndarray) -> tuple[WorldState, Events]:
    """The world after physical ``controls [N, 2, 2]`` for one step, and what happened (pure: ``state`` is
    not written; the new state shares its unchanged arrays)."""
    distance_before = opponent_distance(state.pose)
    after = dataclasses.replace(state, pose=integrate(state.pose, controls, cfg.dt), controls=controls,
                                t=state.t + 1)
    obstacle_gap, wall_gap = clearances(cfg, after.pose, after.obstacles)
    clearance = np.minimum(obstacle_gap, wall_gap)
    collision = clearance < 0
    distance_after = opponent_distance(after.pose)
    crashed = collision.any(axis=1)
    captured = (distance_after <= cfg.capture_radius) & ~crashed
    terminated = crashed | captured
    truncated = (after.t >= cfg.max_steps) & ~terminated
    return after, Events(clearance, collision, captured, terminated, truncated, distance_before, distance_after)


GLOBAL_STATE_FIXED = 11
"""Entries of the global state before the obstacles: two poses (6), two controls (4) and the time (1)."""


def global_state(cfg: EnvConfig, state: WorldState) -> np.ndarray:
    """Global state ``[N, 11 + 3M]`` float32: ``[px, py, pth, ex, ey, eth, pv, pw, ev, ew, t/T, obstacles...]``."""
    n = state.num_envs
    parts = [state.pose.reshape(n, 6), state.controls.reshape(n, 4),
             (state.t / cfg.max_steps)[:, None], state.obstacles.reshape(n, -1)]
    out = np.concatenate(parts, axis=1)
    inactive = np.repeat(state.obstacles[:, :, 2] <= 0, 3, axis=1)
    out[:, GLOBAL_STATE_FIXED:][inactive] = 0.0
    return out.astype(np.float32)


def global_state_dim(cfg: EnvConfig) -> int:
    return GLOBAL_STATE_FIXED + 3 * cfg.n_obstacles
