"""Scripted opponents acting on observations.

Every policy here has the same interface a trained policy has:
``act(obs) -> actions``, with ``obs`` ``[B, D]`` (or a single ``[D]``) and actions in
[-1, 1] ``[B, 2]`` (or ``[2]``), so it runs unchanged on the batched core, on the
PettingZoo env and in evaluation. They read the opponent from the observation (in
partial mode: when visible, else its last-seen position), and are obstacle-aware by
blending a repulsive vector from the nearest obstacles (full mode) or LiDAR returns
(partial mode) and the walls into the desired direction.

Pursuers: ``pure_pursuit``, ``proportional_navigation``, ``lead_pursuit``, ``random``.
Evaders: ``straight_flee``, ``circling``, ``random``.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from pe_rllib.config import ROLES, SCRIPTED_POLICIES, ConfigError, EnvConfig
from pe_rllib.envs.core import controls_to_actions
from pe_rllib.envs.sensing import observation_layout

FLAG_ON = 0.5
"""Boolean observation entries are 0.0 or 1.0; above this they read as set."""
EPS = 1e-9
"""Guards divisions by distances and squared ranges that can reach zero."""
MIN_SPEED_FRACTION = 0.25
"""Share of top speed a controller keeps while turning towards a target behind it (it never stops)."""
BEARING_GAIN = 1.0
"""Proportional navigation's pure-pursuit term: turn rate per radian of bearing to the target."""
RAYS_PER_SIDE = 4
"""LiDAR repulsion is normalised by a quarter of the rays (those facing one side), so it does not grow
with the ray count."""


class ScriptedPolicy:
    """Base class: geometry helpers over one role's observations."""

    name = "scripted"
    roles: tuple[str, ...] = ROLES

    def __init__(self, env_config: EnvConfig, role: str, *, avoid: bool = True,
                 influence: float = 1.5, heading_gain: float = 4.0, seed: int | None = None) -> None:
        if role not in self.roles:
            raise ConfigError(f"policy {self.name!r} cannot play {role!r} (roles: {', '.join(self.roles)})")
        self.env_config = env_config
        self.role = role
        self.layout = observation_layout(env_config)
        # Obstacles come from the exact obstacle block where the observation has one (full mode, with or
        # without ``full_obs_lidar``), else from the LiDAR (partial mode).
        self.senses_lidar = "lidar" in self.layout.slices and "obstacles" not in self.layout.slices
        self.avoid = avoid
        self.influence = influence
        self.heading_gain = heading_gain
        self.v_max = env_config.v_max(role)
        self.scale = max(env_config.arena_width, env_config.arena_height) / 2
        self.np_random = np.random.default_rng(seed)

    # ---------------------------------------------------------------- public interface

    def act(self, obs: np.ndarray) -> np.ndarray:
        """Actions in [-1, 1] for observations ``[B, D]`` (or ``[D]``)."""
        obs = np.asarray(obs, dtype=np.float64)
        single = obs.ndim == 1
        batch = obs[None] if single else obs
        if batch.shape[-1] != self.layout.dim:
            raise ValueError(f"observation: expected dimension {self.layout.dim}, got {batch.shape[-1]}")
        actions = self._act(batch).astype(np.float32)
        return actions[0] if single else actions

    def _act(self, obs: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    # ---------------------------------------------------------------- observation helpers

    def opponent(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Opponent ``(position [B, 2] m, velocity [B, 2] m/s, known [B])`` in the ego frame."""
        block = self.layout.part(obs, "opponent")
        v_ref = max(self.env_config.pursuer_v_max, self.env_config.evader_v_max)
        position, velocity = block[:, 0:2] * self.scale, block[:, 3:5] * v_ref
        if "visible" not in self.layout.slices:
            return position, velocity, np.ones(len(obs), dtype=bool)
        visible, ever = self.sighting(obs)
        last = self.layout.part(obs, "last_seen")
        position = np.where(visible[:, None], position, last[:, 0:2] * self.scale)
        velocity = np.where(visible[:, None], velocity, 0.0)
        return position, velocity, visible | ever

    def sighting(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Whether the opponent is in sight now ``[B]`` and whether it has been seen this episode ``[B]`` (both
        true throughout under full observation)."""
        if "visible" not in self.layout.slices:
            seen = np.ones(len(obs), dtype=bool)
            return seen, seen
        return (self.layout.part(obs, "visible")[:, 0] > FLAG_ON,
                self.layout.part(obs, "last_seen")[:, 3] > FLAG_ON)

    def observed_obstacles(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The observation's obstacle block (full observation): ego-frame centres ``[B, M, 2]`` (m), radii ``[B, M]``
        (m) and which slots hold an obstacle ``[B, M]``."""
        block = self.layout.part(obs, "obstacles").reshape(len(obs), -1, 4)
        radius = block[..., 2] * self.env_config.obstacle_radius_max
        return block[..., 0:2] * self.scale, radius, block[..., 3] > FLAG_ON

    def lidar(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """LiDAR returns ``[B, R]`` (m, ``lidar_range`` where nothing is hit) and the rays' ego-frame angles ``[R]``."""
        rays = self.layout.part(obs, "lidar") * self.env_config.lidar_range
        return rays, np.linspace(0, 2 * np.pi, rays.shape[1], endpoint=False)

    def wall_clearances(self, obs: np.ndarray) -> np.ndarray:
        """Body clearance ``[B, 4]`` (m) to the left, right, bottom and top walls."""
        return self.layout.part(obs, "walls") * self.scale - self.env_config.robot_radius

    def repulsion(self, obs: np.ndarray, influence: np.ndarray | float | None = None,
                  gain: np.ndarray | float = 3.0) -> np.ndarray:
        """Ego-frame push ``[B, 2]`` away from obstacles and walls closer than ``influence`` metres
        (default: the policy's own) with strength ``gain``; both may be per arena (``[B]``). 0 when clear."""
        push = np.zeros((len(obs), 2))
        if not self.avoid:
            return push
        influence = self.influence if influence is None else influence

        def weight(gap: np.ndarray) -> np.ndarray:
            shape = (-1,) + (1,) * (gap.ndim - 1)            # per-arena values against [B] or [B, k] gaps
            ratio = 1.0 - gap / np.reshape(influence, shape)
            return np.reshape(gain, shape) * np.clip(ratio, 0.0, None) ** 2

        cfg = self.env_config
        if "obstacles" in self.layout.slices:
            rel, radius, present = self.observed_obstacles(obs)
            distance = np.linalg.norm(rel, axis=-1)
            gap = distance - radius - cfg.robot_radius
            weights = weight(gap) * present
            push -= (weights[..., None] * rel / np.maximum(distance, EPS)[..., None]).sum(axis=1)
        if self.senses_lidar:
            rays, angles = self.lidar(obs)
            weights = weight(rays - cfg.robot_radius) / max(1, rays.shape[1] // RAYS_PER_SIDE)
            push -= np.stack([(weights * np.cos(angles)).sum(1), (weights * np.sin(angles)).sum(1)], axis=1)
        walls = self.wall_clearances(obs)
        own = self.layout.part(obs, "own")
        cos_t, sin_t = own[:, 2], own[:, 3]
        world = np.stack([weight(walls[:, 0]) - weight(walls[:, 1]),
                          weight(walls[:, 2]) - weight(walls[:, 3])], axis=1)
        push += np.stack([cos_t * world[:, 0] + sin_t * world[:, 1],
                          -sin_t * world[:, 0] + cos_t * world[:, 1]], axis=1)
        return push

    def free_distance(self, obs: np.ndarray, directions: np.ndarray) -> np.ndarray:
        """How far ``[B, K]`` (m) the robot's body can travel from where it is along each ego-frame unit direction
        ``[K, 2]`` before touching a wall or an observed obstacle (full observation), or before the nearest LiDAR
        ray's return (partial observation, less the body's radius; the rays are thin, so an obstacle the body would
        graze between two rays is missed; beyond ``lidar_range`` the walls alone bound it)."""
        cfg = self.env_config
        own = self.layout.part(obs, "own")
        cos_t, sin_t = own[:, 2:3], own[:, 3:4]
        world_x = cos_t * directions[:, 0] - sin_t * directions[:, 1]          # [B, K]
        world_y = sin_t * directions[:, 0] + cos_t * directions[:, 1]
        walls = self.wall_clearances(obs)                                   # left, right, bottom, top
        with np.errstate(divide="ignore", invalid="ignore"):
            along_x = np.where(world_x > EPS, walls[:, 1:2] / world_x,
                               np.where(world_x < -EPS, walls[:, 0:1] / -world_x, np.inf))
            along_y = np.where(world_y > EPS, walls[:, 3:4] / world_y,
                               np.where(world_y < -EPS, walls[:, 2:3] / -world_y, np.inf))
        free = np.maximum(np.minimum(along_x, along_y), 0.0)
        if "obstacles" in self.layout.slices:
            rel, radius, present = self.observed_obstacles(obs)
            reach = radius + cfg.robot_radius                                    # [B, M]
            ahead = np.einsum("bmd,kd->bmk", rel, directions)                    # [B, M, K]
            miss2 = (rel ** 2).sum(-1)[..., None] - ahead ** 2
            inside = np.sqrt(np.maximum(reach[..., None] ** 2 - miss2, 0.0))
            hit = present[..., None] & (miss2 < reach[..., None] ** 2) & (ahead + inside > 0)
            free = np.minimum(free, np.where(hit, np.maximum(ahead - inside, 0.0), np.inf).min(axis=1))
        if self.senses_lidar:
            rays, angles = self.lidar(obs)
            nearest = np.argmax(directions @ np.stack([np.cos(angles), np.sin(angles)]), axis=1)   # [K]
            returns = rays[:, nearest] - cfg.robot_radius
            free = np.minimum(free, np.where(rays[:, nearest] < cfg.lidar_range, np.maximum(returns, 0.0), np.inf))
        return free

    def steer(self, direction: np.ndarray, speed: np.ndarray | float = 1.0) -> np.ndarray:
        """Actions that turn towards ego-frame ``direction`` ``[B, 2]`` and slow down when misaligned."""
        error = np.arctan2(direction[:, 1], direction[:, 0])
        omega = np.clip(self.heading_gain * error, -self.env_config.omega_max, self.env_config.omega_max)
        v = self.v_max * np.clip(speed, 0.0, 1.0) * np.clip(np.cos(error), MIN_SPEED_FRACTION, 1.0)
        return self.to_actions(v, omega)

    def to_actions(self, v: np.ndarray, omega: np.ndarray) -> np.ndarray:
        """Physical ``(v, omega)`` -> normalised actions."""
        controls = np.stack(np.broadcast_arrays(np.asarray(v, np.float64), np.asarray(omega, np.float64)), axis=-1)
        return controls_to_actions(self.env_config, controls, self.role).clip(-1.0, 1.0)

    def _toward(self, obs: np.ndarray, target: np.ndarray, known: np.ndarray) -> np.ndarray:
        """Head for ``target`` (ego frame) while repelled by hazards; explore forward when unknown."""
        unit = target / np.maximum(np.linalg.norm(target, axis=1, keepdims=True), EPS)
        unit = np.where(known[:, None], unit, np.array([1.0, 0.0]))
        return self.steer(unit + self.repulsion(obs))


class PurePursuit(ScriptedPolicy):
    """Head straight at the opponent's current (or last-seen) position."""

    name, roles = "pure_pursuit", ("pursuer",)

    def _act(self, obs):
        position, _, known = self.opponent(obs)
        return self._toward(obs, position, known)


class LeadPursuit(ScriptedPolicy):
    """Head for the intercept point of a constant-velocity opponent (pure pursuit if none)."""

    name, roles = "lead_pursuit", ("pursuer",)

    def _act(self, obs):
        r, v, known = self.opponent(obs)
        # |r + v t| = v_p t  ->  (|v|^2 - v_p^2) t^2 + 2 r.v t + |r|^2 = 0, smallest t > 0.
        a = (v ** 2).sum(1) - self.v_max ** 2
        b = 2 * (r * v).sum(1)
        c = (r ** 2).sum(1)
        disc = b ** 2 - 4 * a * c
        with np.errstate(divide="ignore", invalid="ignore"):
            roots = np.stack([(-b - np.sqrt(disc)) / (2 * a), (-b + np.sqrt(disc)) / (2 * a)], 1)
            linear = np.where(np.abs(b) > 1e-12, -c / b, np.nan)      # a == 0: equal speeds
        roots = np.where(np.abs(a)[:, None] < EPS, linear[:, None], roots)
        roots = np.where((roots > 0) & np.isfinite(roots), roots, np.inf)
        t = roots.min(axis=1)
        lead = np.isfinite(t) & (disc >= 0) | (np.abs(a) < EPS) & np.isfinite(t)
        target = np.where(lead[:, None], r + v * np.where(np.isfinite(t), t, 0.0)[:, None], r)
        return self._toward(obs, target, known)


class ProportionalNavigation(ScriptedPolicy):
    """Turn at N' times the line-of-sight rate (plus a small heading term to acquire the target)."""

    name, roles = "proportional_navigation", ("pursuer",)

    def __init__(self, *args, navigation_gain: float = 4.0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.navigation_gain = navigation_gain

    def _act(self, obs):
        r, v_opp, known = self.opponent(obs)
        own = self.layout.part(obs, "own")
        own_v = own[:, 4] * self.v_max
        v_rel = v_opp - np.stack([own_v, np.zeros_like(own_v)], axis=1)
        los_rate = (r[:, 0] * v_rel[:, 1] - r[:, 1] * v_rel[:, 0]) / np.maximum((r ** 2).sum(1), EPS)
        bearing = np.arctan2(r[:, 1], r[:, 0])
        push = self.repulsion(obs)
        unit = r / np.maximum(np.linalg.norm(r, axis=1, keepdims=True), EPS) + push
        avoid_error = np.arctan2(unit[:, 1], unit[:, 0]) - bearing
        omega = self.navigation_gain * los_rate + BEARING_GAIN * bearing + self.heading_gain * avoid_error
        omega = np.clip(omega, -self.env_config.omega_max, self.env_config.omega_max)
        v = self.v_max * np.clip(np.cos(bearing + avoid_error), MIN_SPEED_FRACTION, 1.0)
        # Without a target (partial observation, never seen) explore like the others do.
        return np.where(known[:, None], self.to_actions(v, omega), self._toward(obs, r, known))


class StraightFlee(ScriptedPolicy):
    """Run directly away from the pursuer (repelled by obstacles and walls)."""

    name, roles = "straight_flee", ("evader",)

    def _act(self, obs):
        position, _, known = self.opponent(obs)
        return self._toward(obs, -position, known)


class Circling(ScriptedPolicy):
    """Drive a circle of ``radius`` metres at top speed (turning away from hazards when close)."""

    name, roles = "circling", ("evader",)

    def __init__(self, *args, radius: float = 2.0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if radius <= 0:
            raise ValueError(f"radius: must be > 0, got {radius}")
        self.radius = radius

    def _act(self, obs):
        n = len(obs)
        omega = np.full(n, min(self.v_max / self.radius, self.env_config.omega_max))
        push = self.repulsion(obs)
        pushed = np.linalg.norm(push, axis=1) > EPS
        avoid = self.steer(np.array([1.0, 0.0]) + push)
        circle = self.to_actions(np.full(n, self.v_max), omega)
        return np.where(pushed[:, None], avoid, circle)


class RandomPolicy(ScriptedPolicy):
    """Uniform random actions from its own seeded generator."""

    name = "random"

    def _act(self, obs):
        return self.np_random.uniform(-1.0, 1.0, size=(len(obs), 2))


SCRIPTED: dict[str, Callable[..., ScriptedPolicy]] = {
    cls.name: cls for cls in (PurePursuit, ProportionalNavigation, LeadPursuit, StraightFlee,
                              Circling, RandomPolicy)
}


_IMPLEMENTED = {role: tuple(name for name, cls in SCRIPTED.items() if role in cls.roles) for role in ROLES}
if _IMPLEMENTED != SCRIPTED_POLICIES:   # the config validates names against its catalogue
    raise ImportError(f"scripted policies {_IMPLEMENTED} disagree with config.SCRIPTED_POLICIES")


def scripted_names(role: str) -> list[str]:
    """Names of the scripted policies that can play ``role``."""
    return list(SCRIPTED_POLICIES[role])


def make_scripted(name: str, role: str, env_config: EnvConfig, **kwargs) -> ScriptedPolicy:
    """Build scripted policy ``name`` for ``role``; unknown names raise a one-line error."""
    if name not in SCRIPTED:
        raise ConfigError(f"unknown scripted policy {name!r} for {role} "
                         f"(choose from: {', '.join(scripted_names(role))})")
    return SCRIPTED[name](env_config, role, **kwargs)
