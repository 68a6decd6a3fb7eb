"""Fused numba kernels for the geometry hot spots (LiDAR, k-nearest obstacles, clearance).

They compute exactly what the numpy reference functions in
:mod:`pe_rllib.envs.sensing` compute (tests compare both on random worlds), one arena
and agent at a time with early exits: obstacles beyond LiDAR range are skipped before
any ray is cast, and the k nearest obstacles are picked by a partial selection sort
instead of sorting every row. Compiled on first use and cached on disk.
If numba is not importable, ``AVAILABLE`` is False and sensing uses numpy.
"""

from __future__ import annotations

import math

import numpy as np

try:
    from numba import njit

    AVAILABLE = True
except ImportError:  # pragma: no cover - numba is a declared dependency
    AVAILABLE = False

    def njit(*args, **kwargs):
        return lambda fn: fn


@njit(cache=True)
def _lidar(pose, obstacles, n_rays, max_range, half_w, half_h, out):  # pragma: no cover - compiled
    n_envs, n_obst = pose.shape[0], obstacles.shape[1]
    near = np.empty(n_obst, dtype=np.int64)
    for n in range(n_envs):
        for i in range(2):
            x, y, theta = pose[n, i, 0], pose[n, i, 1], pose[n, i, 2]
            count = 0
            for m in range(n_obst):
                r = obstacles[n, m, 2]
                if r > 0.0:
                    dx, dy = obstacles[n, m, 0] - x, obstacles[n, m, 1] - y
                    if math.sqrt(dx * dx + dy * dy) - r < max_range:
                        near[count] = m
                        count += 1
            for k in range(n_rays):
                angle = theta + 2.0 * math.pi * k / n_rays
                ux, uy = math.cos(angle), math.sin(angle)
                t = 1e9
                if ux > 0.0:
                    t = min(t, (half_w - x) / ux)
                elif ux < 0.0:
                    t = min(t, (-half_w - x) / ux)
                if uy > 0.0:
                    t = min(t, (half_h - y) / uy)
                elif uy < 0.0:
                    t = min(t, (-half_h - y) / uy)
                for j in range(count):
                    m = near[j]
                    ocx, ocy, r = obstacles[n, m, 0] - x, obstacles[n, m, 1] - y, obstacles[n, m, 2]
                    proj = ux * ocx + uy * ocy
                    if proj <= 0.0:
                        continue
                    disc = r * r - (ocx * ocx + ocy * ocy) + proj * proj
                    if disc < 0.0:
                        continue
                    hit = proj - math.sqrt(disc)
                    if 0.0 <= hit < t:
                        t = hit
                out[n, i, k] = min(max(t, 0.0), max_range) / max_range


def lidar(pose: np.ndarray, obstacles: np.ndarray, n_rays: int, max_range: float,
          half_w: float, half_h: float) -> np.ndarray:
    """``[N, 2, R]`` float32 normalised ranges (see :func:`pe_rllib.envs.sensing.lidar`)."""
    out = np.empty((pose.shape[0], 2, n_rays), dtype=np.float32)
    _lidar(np.ascontiguousarray(pose, dtype=np.float64), np.ascontiguousarray(obstacles, dtype=np.float64),
           n_rays, float(max_range), float(half_w), float(half_h), out)
    return out


@njit(cache=True)
def _min_surface(pose, obstacles, out):  # pragma: no cover - compiled
    for n in range(pose.shape[0]):
        for i in range(2):
            best = np.inf
            for m in range(obstacles.shape[1]):
                dx, dy = obstacles[n, m, 0] - pose[n, i, 0], obstacles[n, m, 1] - pose[n, i, 1]
                best = min(best, math.sqrt(dx * dx + dy * dy) - obstacles[n, m, 2])
            out[n, i] = best


def min_surface_distance(pose: np.ndarray, obstacles: np.ndarray) -> np.ndarray:
    """``[N, 2]`` distance from each robot centre to the nearest obstacle surface (inf if none)."""
    out = np.empty((pose.shape[0], 2))
    _min_surface(np.ascontiguousarray(pose, dtype=np.float64), np.ascontiguousarray(obstacles, dtype=np.float64), out)
    return out


@njit(cache=True)
def _nearest(pose, obstacles, k, scale, radius_max, out):  # pragma: no cover - compiled
    n_envs, n_obst = pose.shape[0], obstacles.shape[1]
    gap = np.empty(n_obst)
    taken = np.empty(n_obst, dtype=np.bool_)
    take = min(k, n_obst)
    for n in range(n_envs):
        for i in range(2):
            x, y, theta = pose[n, i, 0], pose[n, i, 1], pose[n, i, 2]
            c, s = math.cos(theta), math.sin(theta)
            for m in range(n_obst):
                dx, dy = obstacles[n, m, 0] - x, obstacles[n, m, 1] - y
                gap[m] = math.sqrt(dx * dx + dy * dy) - obstacles[n, m, 2]
                taken[m] = False
            for slot in range(take):
                best = -1
                for m in range(n_obst):
                    if not taken[m] and (best < 0 or gap[m] < gap[best]):
                        best = m
                taken[best] = True
                r = obstacles[n, best, 2]
                if r > 0.0:
                    dx, dy = obstacles[n, best, 0] - x, obstacles[n, best, 1] - y
                    out[n, i, 4 * slot] = (c * dx + s * dy) / scale
                    out[n, i, 4 * slot + 1] = (c * dy - s * dx) / scale
                    out[n, i, 4 * slot + 3] = 1.0
                else:
                    out[n, i, 4 * slot] = 0.0
                    out[n, i, 4 * slot + 1] = 0.0
                    out[n, i, 4 * slot + 3] = 0.0
                out[n, i, 4 * slot + 2] = r / radius_max
            for slot in range(take, k):
                for f in range(4):
                    out[n, i, 4 * slot + f] = 0.0


def nearest_obstacles(pose: np.ndarray, obstacles: np.ndarray, k: int, scale: float,
                      radius_max: float) -> np.ndarray:
    """``[N, 2, 4k]`` float32 nearest-obstacle features (see :func:`pe_rllib.envs.sensing.observe`)."""
    out = np.empty((pose.shape[0], 2, 4 * k), dtype=np.float32)
    _nearest(np.ascontiguousarray(pose, dtype=np.float64), np.ascontiguousarray(obstacles, dtype=np.float64),
             k, float(scale), float(radius_max), out)
    return out
