"""The aerial world's core: state, spawning, point-mass dynamics, crashes and capture over N arenas.

Pure functions of ``[N, ...]`` arrays, the frozen :class:`~pe_rllib.config.aerial.AerialConfig` and an explicit
``numpy.random.Generator``; :class:`~pe_rllib.envs.aerial.world.BatchedAerialPursuitEvasion` is the plumbing.
Agent index 0 is the pursuer, 1 the evader. Positions are ``(x, y, z)`` with z up and the ground at z = 0.

Dynamics, per robot with top speed ``v_max`` and acceleration bound ``a_max``: the commanded acceleration
(norm at most ``a_max``, net of gravity) passes an optional first-order lag (time constant ``actuator_tau``,
discretised exactly) to the applied acceleration ``a``; drag ``-a_max v / v_max`` (linear) or
``-a_max |v| v / v_max^2`` (quadratic) makes ``v_max`` the terminal speed at full thrust; semi-implicit
Euler: ``v' = v + (a + drag) dt``, ``p' = p + v' dt``.

Capture is judged on the continuous segment between two steps (relative motion linear over the step), so a
fast pass through the capture sphere between samples still counts, and the closest approach (the miss
distance) is exact to the same order.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from pe_rllib.config.aerial import AerialConfig
from pe_rllib.envs.core import Events
from pe_rllib.envs.world import ArenaArrays

PURSUER, EVADER = 0, 1
UP = np.array([0.0, 0.0, 1.0])
INACTIVE_OBSTACLE_POSITION = 1.0e6


@dataclass
class AerialState(ArenaArrays):
    """Mutable batched state of N arenas: the robots' true motion, the obstacles, the clock, and what each
    robot's sensing knows (its track of the opponent, filled by the world)."""

    position: np.ndarray       # [N, 2, 3]
    velocity: np.ndarray       # [N, 2, 3]
    acceleration: np.ndarray   # [N, 2, 3] applied (after the lag)
    obstacles: np.ndarray      # [N, M, 3] cylinders (x, y, radius); inactive: radius 0, far away
    t: np.ndarray              # [N] int64 steps this episode
    miss: np.ndarray           # [N] closest approach so far [m]
    effort: np.ndarray         # [N, 2] integral of |a_cmd|^2 dt so far
    track_mean: np.ndarray     # [N, 2, S] observer i's estimate of the opponent's absolute state
    track_cov: np.ndarray      # [N, 2, S, S]
    has_track: np.ndarray      # [N, 2] bool: observer i has detected the opponent at least once
    since_detection: np.ndarray  # [N, 2] int64 steps since observer i's last detection
    dropout_left: np.ndarray   # [N, 2] int64 steps left in observer i's sensor dropout
    frames: np.ndarray         # [N, 2, 3, 3] each robot's line-of-sight frame (columns e1, e2, e3) when last observed

    @property
    def num_envs(self) -> int:
        return self.position.shape[0]

    def true_state(self) -> np.ndarray:
        """``[N, 2, 6]``: ``(x, y, z, vx, vy, vz)`` per role, pursuer first."""
        return np.concatenate([self.position, self.velocity], axis=-1)


def limits(cfg: AerialConfig) -> np.ndarray:
    """``[2, 2]``: ``(v_max, a_max)`` of the pursuer and the evader."""
    return np.array([[cfg.pursuer_v_max, cfg.pursuer_a_max], [cfg.evader_v_max, cfg.evader_a_max]])


def sample_obstacles(cfg: AerialConfig, rng: np.random.Generator, n: int) -> np.ndarray:
    """``[n, M, 3]`` vertical cylinders inside the airspace (overlaps allowed: they are pillars, not rooms)."""
    m = cfg.n_obstacles
    radius = rng.uniform(cfg.obstacle_radius_min, cfg.obstacle_radius_max, size=(n, m))
    half = np.array([cfg.x_extent / 2, cfg.y_extent / 2])
    xy = rng.uniform(-1.0, 1.0, size=(n, m, 2)) * (half - radius[..., None])
    return np.concatenate([xy, radius[..., None]], axis=-1)


def obstacle_gap(position: np.ndarray, obstacles: np.ndarray) -> np.ndarray:
    """Horizontal distance ``[N, 2, M]`` from each robot's centre to each cylinder's surface."""
    offset = position[:, :, None, :2] - obstacles[:, None, :, :2]
    return np.sqrt((offset ** 2).sum(-1)) - obstacles[:, None, :, 2]


def clearance(cfg: AerialConfig, position: np.ndarray, obstacles: np.ndarray) -> np.ndarray:
    """Body clearance ``[N, 2]`` to the airspace's faces and the cylinders (negative: a crash)."""
    walls = np.minimum.reduce([cfg.x_extent / 2 - np.abs(position[..., 0]), cfg.y_extent / 2 - np.abs(position[..., 1]),
                               position[..., 2], cfg.ceiling - position[..., 2]])
    if obstacles.shape[1]:
        walls = np.minimum(walls, obstacle_gap(position, obstacles).min(axis=-1))
    return walls - cfg.robot_radius


def sample_spawns(cfg: AerialConfig, rng: np.random.Generator, obstacles: np.ndarray) -> np.ndarray:
    """Positions ``[n, 2, 3]``: the pursuer anywhere with room for the evader, the evader ``min_init_distance`` to
    ``max_init_distance`` away, both at spawn altitudes and clear of the cylinders by a capture radius plus their
    stopping distance at full braking from the spawn speed (no drone starts on a collision course it cannot
    leave)."""
    n = obstacles.shape[0]
    out = np.zeros((n, 2, 3))
    todo = np.arange(n)
    room = np.array([cfg.x_extent / 2, cfg.y_extent / 2]) - cfg.max_init_distance
    stopping = (cfg.init_speed_fraction * limits(cfg)[:, 0]) ** 2 / (2.0 * limits(cfg)[:, 1])
    room_needed = cfg.capture_radius + stopping                 # [2]: every drone can brake short of a cylinder
    for _ in range(1000):
        k = todo.size
        pursuer = np.empty((k, 3))
        pursuer[:, :2] = rng.uniform(-1.0, 1.0, size=(k, 2)) * room
        pursuer[:, 2] = rng.uniform(cfg.min_spawn_altitude, cfg.max_spawn_altitude, size=k)
        distance = rng.uniform(cfg.min_init_distance, cfg.max_init_distance, size=k)
        altitude = rng.uniform(cfg.min_spawn_altitude, cfg.max_spawn_altitude, size=k)
        dz = np.clip(altitude - pursuer[:, 2], -0.9 * distance, 0.9 * distance)
        bearing = rng.uniform(-np.pi, np.pi, size=k)
        horizontal = np.sqrt(distance ** 2 - dz ** 2)
        evader = pursuer + np.stack([horizontal * np.cos(bearing), horizontal * np.sin(bearing), dz], axis=1)
        pair = np.stack([pursuer, evader], axis=1)
        ok = (clearance(cfg, pair, obstacles[todo]) > room_needed).all(axis=1)
        out[todo[ok]] = pair[ok]
        todo = todo[~ok]
        if not todo.size:
            return out
    raise RuntimeError(f"n_obstacles={cfg.n_obstacles}: could not spawn both drones clear of the cylinders in "
                       f"{todo.size} arena(s); use fewer or smaller cylinders")


def initial_state(cfg: AerialConfig, rng: np.random.Generator, n: int) -> AerialState:
    """A fresh batch of N episodes (no tracks yet: the world's first observation measures)."""
    obstacles = sample_obstacles(cfg, rng, n)
    position = sample_spawns(cfg, rng, obstacles)
    heading = rng.uniform(-np.pi, np.pi, size=(n, 2))
    speed = cfg.init_speed_fraction * limits(cfg)[:, 0]
    velocity = np.stack([np.cos(heading), np.sin(heading), np.zeros_like(heading)], axis=-1) * speed[None, :, None]
    s = cfg.tracker.dim
    return AerialState(
        position=position, velocity=velocity, acceleration=np.zeros((n, 2, 3)), obstacles=obstacles,
        t=np.zeros(n, dtype=np.int64), miss=np.linalg.norm(position[:, 1] - position[:, 0], axis=-1),
        effort=np.zeros((n, 2)), track_mean=np.zeros((n, 2, s)), track_cov=np.tile(np.eye(s), (n, 2, 1, 1)),
        has_track=np.zeros((n, 2), dtype=bool), since_detection=np.zeros((n, 2), dtype=np.int64),
        dropout_left=np.zeros((n, 2), dtype=np.int64), frames=np.tile(np.eye(3), (n, 2, 1, 1)))


def los_frames(direction: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Right-handed frames ``[..., 3, 3]`` (columns ``e1, e2, e3``): ``e1`` along ``direction`` ``[..., 3]``, ``e2``
    horizontal (``up x e1``, to the left), ``e3 = e1 x e2`` (upward). Where ``direction`` is (nearly) zero,
    ``fallback``'s horizontal part is used, and ``x`` where that is zero too; a vertical ``e1`` takes ``e2 = y``."""
    def unit(v: np.ndarray, default: np.ndarray) -> np.ndarray:
        norm = np.linalg.norm(v, axis=-1, keepdims=True)
        return np.where(norm > 1e-9, v / np.maximum(norm, 1e-12), default)

    level = fallback * np.array([1.0, 1.0, 0.0])
    e1 = unit(direction, unit(level, np.array([1.0, 0.0, 0.0])))
    e2 = unit(np.cross(UP, e1), np.array([0.0, 1.0, 0.0]))
    e3 = np.cross(e1, e2)
    return np.stack([e1, e2, e3], axis=-1)


def commanded_acceleration(cfg: AerialConfig, frames: np.ndarray, actions: np.ndarray) -> np.ndarray:
    """World-frame commands ``[N, 2, 3]`` of actions ``[N, 2, 3]`` in [-1, 1] (each robot's line-of-sight frame,
    ``frames [N, 2, 3, 3]``): clipped to the box, then to the unit ball, times ``a_max``."""
    if not np.all(np.isfinite(actions)):
        raise ValueError("non-finite (NaN/inf) action")
    u = np.clip(actions, -1.0, 1.0)
    u = u / np.maximum(np.linalg.norm(u, axis=-1, keepdims=True), 1.0)
    return np.einsum("nrij,nrj->nri", frames, u) * limits(cfg)[None, :, 1, None]


def segment_min_distance(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Smallest norm ``[N]`` of the relative position moving linearly from ``before`` to ``after`` ``[N, 3]``."""
    delta = after - before
    s = np.clip(-(before * delta).sum(-1) / np.maximum((delta * delta).sum(-1), 1e-12), 0.0, 1.0)
    return np.linalg.norm(before + s[:, None] * delta, axis=-1)


def drag(cfg: AerialConfig, velocity: np.ndarray) -> np.ndarray:
    """The drag acceleration ``[N, 2, 3]`` of velocities ``[N, 2, 3]`` (linear or quadratic, per role)."""
    v_max, a_max = limits(cfg)[:, 0], limits(cfg)[:, 1]
    if cfg.drag == "linear":
        return -(a_max / v_max)[None, :, None] * velocity
    return -(a_max / v_max ** 2)[None, :, None] * np.linalg.norm(velocity, axis=-1, keepdims=True) * velocity


def transition(cfg: AerialConfig, state: AerialState, command: np.ndarray) -> tuple[AerialState, Events]:
    """The world after world-frame commands ``[N, 2, 3]`` for one step (pure; sensing is the world's job)."""
    if cfg.actuator_tau > 0:
        blend = 1.0 - np.exp(-cfg.dt / cfg.actuator_tau)
        applied = state.acceleration + blend * (command - state.acceleration)
    else:
        applied = command
    v = state.velocity
    velocity = v + (applied + drag(cfg, v)) * cfg.dt
    position = state.position + velocity * cfg.dt
    before = state.position[:, EVADER] - state.position[:, PURSUER]
    after_rel = position[:, EVADER] - position[:, PURSUER]
    closest = segment_min_distance(before, after_rel)
    gap = clearance(cfg, position, state.obstacles)
    collision = gap < 0
    crashed = collision.any(axis=1)
    captured = (closest <= cfg.capture_radius) & ~crashed
    t = state.t + 1
    terminated = crashed | captured
    truncated = (t >= cfg.max_steps) & ~terminated
    after = dataclasses.replace(
        state, position=position, velocity=velocity, acceleration=applied, t=t,
        miss=np.minimum(state.miss, closest), effort=state.effort + (command ** 2).sum(-1) * cfg.dt)
    return after, Events(gap, collision, captured, terminated, truncated, np.linalg.norm(before, axis=-1),
                         np.linalg.norm(after_rel, axis=-1))
