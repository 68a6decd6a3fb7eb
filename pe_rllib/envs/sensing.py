"""Sensing: visibility (field of view, range, occlusion), LiDAR and observation vectors.

All functions are batched over N arenas and both agents. Observations are expressed in
the observer's ego frame (x forward, y left), scaled to roughly [-1, 1], float32.

Full observation (per agent), ``18 + 4k`` values (``18 + 4k + R`` with ``full_obs_lidar``)::

    own        x/(W/2), y/(H/2), cos th, sin th, v/v_max, omega/omega_max        6
    opponent   rel. position (ego) /L, distance /L, velocity (ego) /v_ref,
               cos/sin of relative heading                                      7
    obstacles  k nearest: rel. position (ego) /L, radius /r_max, valid flag      4k
    lidar      only with ``full_obs_lidar``: as in partial observation below      R
    walls      clearance to left, right, bottom, top wall /L                    4
    time       t / max_steps                                                     1

Partial observation, ``23 + R`` values::

    own        as above                                                          6
    opponent   as above, zeros unless visible                                    7
    visible    1 if the opponent is seen this step                               1
    last seen  opponent's last-seen position relative to the current ego pose /L,
               age (steps / max_steps, capped at 1), ever-seen flag              4
    lidar      R ray distances / lidar_range (1 = nothing within range)          R
    walls, time as above                                                         5

``L`` is half the larger arena side and ``v_ref`` the larger top speed. In full mode with
``opponent_visible_steps`` K > 0, the opponent block is zeros from step K of an episode on. In partial mode
an episode drawn with probability ``p_full_obs`` sees the opponent block regardless of
field of view, range and occlusion (the masking curriculum); LiDAR stays local.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import numpy as np

from pe_rllib.config import EnvConfig
from pe_rllib.envs import kernels
from pe_rllib.envs.core import EVADER, PURSUER, WorldState, wrap_angle

_FAR = np.float32(1e9)


@dataclass(frozen=True)
class ObservationLayout:
    """Named slices of one observation frame (the newest frame when history is stacked)."""

    slices: dict[str, slice]
    frame_dim: int
    history_length: int

    @property
    def dim(self) -> int:
        return self.frame_dim * self.history_length

    def part(self, obs: np.ndarray, name: str) -> np.ndarray:
        """The named block of the newest frame of ``obs`` ``[B, dim]``."""
        newest = obs[..., self.dim - self.frame_dim:]
        return newest[..., self.slices[name]]


@functools.lru_cache(maxsize=64)
def observation_layout(cfg: EnvConfig) -> ObservationLayout:
    if cfg.observation == "full":
        sizes = [("own", 6), ("opponent", 7), ("obstacles", 4 * cfg.n_obstacle_obs),
                 *([("lidar", cfg.n_lidar_rays)] if cfg.full_obs_lidar else []), ("walls", 4), ("time", 1)]
    else:
        sizes = [("own", 6), ("opponent", 7), ("visible", 1), ("last_seen", 4),
                 ("lidar", cfg.n_lidar_rays), ("walls", 4), ("time", 1)]
    slices, start = {}, 0
    for name, size in sizes:
        slices[name] = slice(start, start + size)
        start += size
    return ObservationLayout(slices=slices, frame_dim=start, history_length=cfg.history_length)


def segment_occluded(start: np.ndarray, end: np.ndarray, obstacles: np.ndarray) -> np.ndarray:
    """Whether the segment ``start -> end`` (``[N, 2]`` each) crosses any obstacle disc: ``[N]``."""
    if obstacles.shape[1] == 0:
        return np.zeros(start.shape[0], dtype=bool)
    seg = end - start
    to_centre = obstacles[:, :, :2] - start[:, None, :]
    length2 = np.maximum((seg ** 2).sum(-1), 1e-12)
    t = np.clip((to_centre * seg[:, None, :]).sum(-1) / length2[:, None], 0.0, 1.0)
    closest = start[:, None, :] + t[..., None] * seg[:, None, :]
    gap2 = ((obstacles[:, :, :2] - closest) ** 2).sum(-1)
    return np.any(gap2 < obstacles[:, :, 2] ** 2, axis=1)


def visibility(cfg: EnvConfig, pose: np.ndarray, obstacles: np.ndarray) -> np.ndarray:
    """``[N, 2]``: agent i sees its opponent (within range, inside its FOV, line of sight clear)."""
    rel = pose[:, ::-1, :2] - pose[:, :, :2]                      # opponent minus self
    dist = np.sqrt((rel ** 2).sum(-1))
    bearing = wrap_angle(np.arctan2(rel[..., 1], rel[..., 0]) - pose[..., 2])
    seen = (dist <= cfg.sensing_range) & (np.abs(bearing) <= np.deg2rad(cfg.fov_deg) / 2 + 1e-12)
    clear = ~segment_occluded(pose[:, PURSUER, :2], pose[:, EVADER, :2], obstacles)
    return seen & clear[:, None]


def lidar(cfg: EnvConfig, pose: np.ndarray, obstacles: np.ndarray) -> np.ndarray:
    """Normalised LiDAR ranges ``[N, 2, R]`` (float32) against obstacles and walls.

    Ray k of an agent points at ``theta + 2 pi k / R``. Distances are clipped to
    ``lidar_range`` and divided by it. Uses the fused numba kernel when available
    (:mod:`pe_rllib.envs.kernels`), else :func:`lidar_numpy`; both agree to float32
    precision (tested).
    """
    if kernels.AVAILABLE and cfg.n_lidar_rays:
        return kernels.lidar(pose, obstacles, cfg.n_lidar_rays, cfg.lidar_range,
                             cfg.arena_width / 2, cfg.arena_height / 2)
    return lidar_numpy(cfg, pose, obstacles)


def lidar_numpy(cfg: EnvConfig, pose: np.ndarray, obstacles: np.ndarray) -> np.ndarray:
    """Reference numpy LiDAR (float32, every ray against every obstacle)."""
    n_rays = cfg.n_lidar_rays
    n = pose.shape[0]
    if n_rays == 0:
        return np.zeros((n, 2, 0), dtype=np.float32)
    pose32 = pose.astype(np.float32)
    angles = pose32[..., 2:3] + np.linspace(0, 2 * np.pi, n_rays, endpoint=False, dtype=np.float32)
    ux, uy = np.cos(angles), np.sin(angles)                         # [N, 2, R]
    x, y = pose32[..., 0:1], pose32[..., 1:2]                       # [N, 2, 1]
    half_w, half_h = np.float32(cfg.arena_width / 2), np.float32(cfg.arena_height / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        tx = np.where(ux > 0, (half_w - x) / ux, np.where(ux < 0, (-half_w - x) / ux, _FAR))
        ty = np.where(uy > 0, (half_h - y) / uy, np.where(uy < 0, (-half_h - y) / uy, _FAR))
    dist = np.minimum(tx, ty)
    if obstacles.shape[1]:
        obs32 = obstacles.astype(np.float32)
        ocx = obs32[:, None, None, :, 0] - x[..., None]             # [N, 2, 1, M]
        ocy = obs32[:, None, None, :, 1] - y[..., None]
        base = obs32[:, None, None, :, 2] ** 2 - (ocx * ocx + ocy * ocy)   # r^2 - |oc|^2 (small array)
        proj = ux[..., None] * ocx
        proj += uy[..., None] * ocy                                   # [N, 2, R, M]
        with np.errstate(invalid="ignore"):
            # r^2 - perpendicular^2 = base + proj^2; a miss gives sqrt(<0) = NaN, which fails the
            # ">= 0" test below like an obstacle behind the robot does (robots are never inside one).
            t_hit = proj - np.sqrt(base + proj * proj)
            t_hit = np.where(t_hit >= 0, t_hit, _FAR)
        dist = np.minimum(dist, t_hit.min(axis=-1))
    lidar_range = np.float32(cfg.lidar_range)
    return np.minimum(np.maximum(dist, 0), lidar_range) / lidar_range


def _walls(cfg: EnvConfig, xy: np.ndarray, scale: float) -> np.ndarray:
    half_w, half_h = cfg.arena_width / 2, cfg.arena_height / 2
    x, y = xy[..., 0], xy[..., 1]
    return np.stack([x + half_w, half_w - x, y + half_h, half_h - y], axis=-1) * np.float32(1 / scale)


def _rotate(x: np.ndarray, y: np.ndarray, c: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World vector ``(x, y)`` in the ego frame with heading cosine/sine ``(c, s)``."""
    return c * x + s * y, c * y - s * x


def nearest_obstacles(cfg: EnvConfig, pose: np.ndarray, obstacles: np.ndarray) -> np.ndarray:
    """k nearest obstacles per agent ``[N, 2, 4k]`` (float32): rel. position (ego) /L, radius
    / r_max, valid flag; nearest first by surface distance, zero-padded.

    Uses the fused numba kernel when available, else :func:`nearest_obstacles_numpy`.
    """
    scale = max(cfg.arena_width, cfg.arena_height) / 2
    if kernels.AVAILABLE and cfg.n_obstacle_obs and obstacles.shape[1]:
        return kernels.nearest_obstacles(pose, obstacles, cfg.n_obstacle_obs, scale, cfg.obstacle_radius_max)
    return nearest_obstacles_numpy(cfg, pose, obstacles)


def nearest_obstacles_numpy(cfg: EnvConfig, pose: np.ndarray, obstacles: np.ndarray) -> np.ndarray:
    """Reference numpy version of :func:`nearest_obstacles`."""
    n, k, m = pose.shape[0], cfg.n_obstacle_obs, obstacles.shape[1]
    out = np.zeros((n, 2, k, 4), dtype=np.float32)
    if k == 0 or m == 0:
        return out.reshape(n, 2, 4 * k)
    xy = pose[..., :2].astype(np.float32)
    obs32 = obstacles.astype(np.float32)
    rel = obs32[:, None, :, :2] - xy[:, :, None, :]                     # [N, 2, M, 2]
    surface = np.sqrt(rel[..., 0] ** 2 + rel[..., 1] ** 2) - obs32[:, None, :, 2]
    theta = pose[..., 2].astype(np.float32)
    c, s = np.cos(theta)[..., None], np.sin(theta)[..., None]
    take = min(k, m)
    order = np.argsort(surface, axis=-1)[..., :take]
    radius = obs32[:, :, 2]
    valid = (radius > 0).astype(np.float32)                            # [N, M]
    inv = np.float32(2 / max(cfg.arena_width, cfg.arena_height))
    ego_x, ego_y = _rotate(rel[..., 0], rel[..., 1], c, s)
    packed = np.stack([ego_x * inv * valid[:, None], ego_y * inv * valid[:, None],
                       np.broadcast_to(radius[:, None] * np.float32(1 / cfg.obstacle_radius_max), ego_x.shape),
                       np.broadcast_to(valid[:, None], ego_x.shape)], axis=-1)   # [N, 2, M, 4]
    out[:, :, :take] = np.take_along_axis(packed, order[..., None], axis=2)
    return out.reshape(n, 2, 4 * k)


def observe(cfg: EnvConfig, state: WorldState, visible: np.ndarray | None) -> np.ndarray:
    """One observation frame for both agents: ``[N, 2, frame_dim]`` float32.

    ``visible`` ``[N, 2]`` is the raw sensor visibility (partial mode; ignored in full
    mode). It is OR-ed with the episode's ``full_obs`` flag here, so the masking
    curriculum reaches exactly the observation the policy sees.
    """
    pose = state.pose.astype(np.float32)
    controls = state.controls.astype(np.float32)
    n = pose.shape[0]
    scale = max(cfg.arena_width, cfg.arena_height) / 2
    inv = np.float32(1 / scale)
    v_ref = max(cfg.pursuer_v_max, cfg.evader_v_max)
    theta = pose[..., 2]
    c, s = np.cos(theta), np.sin(theta)
    out = np.empty((n, 2, observation_layout(cfg).frame_dim), dtype=np.float32)
    # own: position, heading, speed, turn rate
    out[..., 0] = pose[..., 0] * np.float32(2 / cfg.arena_width)
    out[..., 1] = pose[..., 1] * np.float32(2 / cfg.arena_height)
    out[..., 2], out[..., 3] = c, s
    out[..., 4] = controls[..., 0] / np.array([cfg.pursuer_v_max, cfg.evader_v_max], dtype=np.float32)
    out[..., 5] = controls[..., 1] * np.float32(1 / cfg.omega_max)
    # opponent: ego-frame position, distance, velocity, relative heading
    rx, ry = pose[:, ::-1, 0] - pose[..., 0], pose[:, ::-1, 1] - pose[..., 1]
    ex, ey = _rotate(rx, ry, c, s)
    oc, os_ = c[:, ::-1], s[:, ::-1]
    opp_speed = controls[:, ::-1, 0] * np.float32(1 / v_ref)
    vx, vy = _rotate(opp_speed * oc, opp_speed * os_, c, s)
    opponent = np.stack([ex * inv, ey * inv, np.sqrt(rx * rx + ry * ry) * inv, vx, vy,
                         oc * c + os_ * s, os_ * c - oc * s], axis=-1)   # cos/sin(theta_opp - theta)
    walls = _walls(cfg, pose[..., :2], scale)
    time = (state.t * (1 / cfg.max_steps)).astype(np.float32)[:, None, None]
    layout = observation_layout(cfg).slices
    if cfg.observation == "full":
        if cfg.opponent_visible_steps:                  # the memory test world
            opponent = opponent * (state.t < cfg.opponent_visible_steps)[:, None, None]
        out[..., layout["opponent"]] = opponent
        out[..., layout["obstacles"]] = nearest_obstacles(cfg, state.pose, state.obstacles)
        if cfg.full_obs_lidar:
            out[..., layout["lidar"]] = lidar(cfg, state.pose, state.obstacles)
    else:
        seen = visible | state.full_obs[:, None]
        out[..., layout["opponent"]] = opponent * seen[..., None]
        out[..., layout["visible"]] = seen[..., None]
        ever = (state.last_seen_t >= 0) & cfg.last_seen     # (env.last_seen false: never, as the policy sees it)
        lx, ly = _rotate((state.last_seen[..., 0] - state.pose[..., 0]).astype(np.float32),
                         (state.last_seen[..., 1] - state.pose[..., 1]).astype(np.float32), c, s)
        age = np.where(ever, np.minimum((state.t[:, None] - state.last_seen_t) / cfg.max_steps, 1.0), 1.0)
        out[..., layout["last_seen"]] = np.stack([lx * inv * ever, ly * inv * ever, age, ever], axis=-1)
        out[..., layout["lidar"]] = lidar(cfg, state.pose, state.obstacles)
    out[..., layout["walls"]] = walls
    out[..., layout["time"]] = time
    return out


def with_last_seen(cfg: EnvConfig, state: WorldState, visible: np.ndarray) -> WorldState:
    """``state`` with the opponent's position recorded for observers that see it now (partial mode only;
    otherwise ``state`` itself). Pure: ``state``'s arrays are not written."""
    if cfg.observation != "partial":
        return state
    seen = (visible | state.full_obs[:, None])[..., None]
    opponent_xy = state.pose[:, ::-1, :2]
    return dataclasses.replace(state, last_seen=np.where(seen, opponent_xy, state.last_seen),
                               last_seen_t=np.where(seen[..., 0], state.t[:, None], state.last_seen_t))
