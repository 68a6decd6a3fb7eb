"""The aerial world's sensing: each robot's track of its opponent, and its observation vector.

A robot whose view is "tracked" (the pursuer's default) knows the opponent only through its radar and Kalman
filter (:mod:`~pe_rllib.envs.aerial.tracking`): every step its track is predicted, and on measurement steps
a detection (drawn with the radar's range-dependent probability, none during a dropout) updates it, or
starts it at the first detection. A "full" view reads the opponent's true state.

Observation (per robot, float32), expressed in its **line-of-sight frame**: ``e1`` towards the estimated
opponent, ``e2`` horizontal to the left, ``e3 = e1 x e2`` upward (before the first detection, ``e1`` is the
robot's horizontal direction of flight). Actions are accelerations in the same frame. ``34 + 5k`` values::

    own        velocity /v_max (3), applied acceleration /a_max (3), world up (3), world x (3),
               position (x/(X/2), y/(Y/2), 2 z/ceiling - 1) (3)                                  15
    opponent   range /max_init_distance, min(range, 50 m)/50 m, closing speed /v_ref,
               relative velocity /v_ref (3), line-of-sight rate along e2 and e3 [rad/s, clipped to 5] (2),
               opponent acceleration estimate /a_ref (3; zeros for a constant-velocity track),
               track quality: log(1 + position std [m]), velocity std /v_ref (capped at 2),
               time since detection (s / 2, capped at 1), has-track flag, detected-this-step flag,
               PN command per unit gain: closing speed x relative velocity across the line of sight
               / range / a_max (2, along e2 and e3; clipped to +-PN_CLIP)                          18
    obstacles  k nearest cylinders: offset to the axis /50 m (3), surface gap /50 m (capped at 2), valid  5k
    time       t / max_steps                                                                     1

``v_ref`` is the sum of the top speeds and ``a_ref`` the larger acceleration bound. With no track yet the
opponent block is zeros.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from pe_rllib.config import ROLES
from pe_rllib.config.aerial import AerialConfig
from pe_rllib.envs.aerial import tracking
from pe_rllib.envs.aerial.dynamics import AerialState, limits, los_frames, obstacle_gap

NEAR_RANGE = 50.0
"""Range [m] below which the observation's second range entry resolves distance."""
OBSTACLE_SCALE = 50.0
"""Metres per unit of the obstacle entries."""
MAX_LOS_RATE = 5.0
"""Line-of-sight rates are clipped to this [rad/s] (they diverge as the range goes to zero)."""
PN_CLIP = 4.0
"""The PN command entries are clipped to this many ``a_max`` (any gain above ~4 saturates beyond it anyway)."""


@functools.lru_cache(maxsize=64)
def layout(cfg: AerialConfig) -> dict[str, slice]:
    """Named slices of one observation: ``own``, ``opponent``, ``obstacles``, ``time`` (and ``dim``'s stop)."""
    sizes = {"own": 15, "opponent": 18, "obstacles": 5 * cfg.n_obstacle_obs, "time": 1}
    out, start = {}, 0
    for name, size in sizes.items():
        out[name] = slice(start, start + size)
        start += size
    return out


def observation_dim(cfg: AerialConfig) -> int:
    return layout(cfg)["time"].stop


def sense(cfg: AerialConfig, state: AerialState, rng: np.random.Generator, *, predict: bool = True
          ) -> tuple[AerialState, np.ndarray]:
    """Every tracked robot's sensing for the step the state has reached: its track predicted over ``dt``
    (``predict``; not at an episode's start), then, on measurement steps outside dropouts, a detection drawn
    and measured. Returns the new state and ``detected [N, 2]``."""
    n = state.num_envs
    mean, cov = state.track_mean.copy(), state.track_cov.copy()
    has_track, since = state.has_track.copy(), state.since_detection + 1
    dropout = np.maximum(state.dropout_left - 1, 0)
    detected = np.zeros((n, 2), dtype=bool)
    measuring = state.t[:, None] % np.array([cfg.radar_of(role).period_steps for role in ROLES]) == 0   # [N, 2]
    for i, role in enumerate(ROLES):
        if cfg.observation_of(role) != "tracked":
            continue
        radar = cfg.radar_of(role)
        if predict and has_track[:, i].any():
            rows = has_track[:, i]
            moved = tracking.predict(cfg.tracker, tracking.Track(mean[rows, i], cov[rows, i]), cfg.dt)
            mean[rows, i], cov[rows, i] = moved.mean, moved.cov
        relative = state.position[:, 1 - i] - state.position[:, i]
        attempt = measuring[:, i] & (dropout[:, i] == 0)
        drop = attempt & (rng.random(n) < radar.dropout_rate)
        dropout[drop, i] = radar.dropout_steps
        p = tracking.detection_probability(radar, np.linalg.norm(relative, axis=-1))
        hit = attempt & ~drop & (rng.random(n) < p)
        if hit.any():
            z, r = tracking.convert(radar, tracking.measure_spherical(radar, rng, relative[hit]))
            z = z + state.position[hit, i]                       # the observer knows where it is
            rows = np.flatnonzero(hit)
            old = has_track[rows, i]                              # update these tracks, start the others
            if old.any():
                updated, _ = tracking.update(tracking.Track(mean[rows[old], i], cov[rows[old], i]), z[old], r[old])
                mean[rows[old], i], cov[rows[old], i] = updated.mean, updated.cov
            if not old.all():
                fresh = tracking.start_track(cfg.tracker, z[~old], r[~old])
                mean[rows[~old], i], cov[rows[~old], i] = fresh.mean, fresh.cov
            has_track[hit, i] = True
            since[hit, i] = 0
        detected[:, i] = hit
    state = dataclasses.replace(state, track_mean=mean, track_cov=cov, has_track=has_track,
                                since_detection=since, dropout_left=dropout)
    return state, detected


def opponent_estimate(cfg: AerialConfig, state: AerialState) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """What each robot believes about its opponent: absolute ``position``, ``velocity``, ``acceleration``
    ``[N, 2, 3]`` and ``known [N, 2]`` (the truth for a full view; the track for a tracked one)."""
    truth = state.position[:, ::-1], state.velocity[:, ::-1], state.acceleration[:, ::-1]
    position, velocity, acceleration = (part.copy() for part in truth)
    known = np.ones(state.has_track.shape, dtype=bool)
    for i, role in enumerate(ROLES):
        if cfg.observation_of(role) == "tracked":
            track = tracking.Track(state.track_mean[:, i], state.track_cov[:, i])
            position[:, i], velocity[:, i], acceleration[:, i] = track.position, track.velocity, track.acceleration
            known[:, i] = state.has_track[:, i]
    return position, velocity, acceleration, known


def _in_frame(frames: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """World vectors ``[N, 2, 3]`` in the robots' frames (``frames^T v``)."""
    return np.einsum("nrji,nrj->nri", frames, vectors)


def observe(cfg: AerialConfig, state: AerialState, detected: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Observations ``[N, 2, D]`` (float32) and the line-of-sight frames ``[N, 2, 3, 3]`` they are expressed in."""
    n = state.num_envs
    v_max, a_max = limits(cfg)[:, 0], limits(cfg)[:, 1]
    v_ref, a_ref = float(v_max.sum()), float(a_max.max())
    position, velocity, acceleration, known = opponent_estimate(cfg, state)
    relative = np.where(known[..., None], position - state.position, 0.0)
    rel_velocity = np.where(known[..., None], velocity - state.velocity, 0.0)
    frames = los_frames(relative, state.velocity)
    slices = layout(cfg)
    out = np.zeros((n, 2, observation_dim(cfg)))
    half = np.array([cfg.x_extent / 2, cfg.y_extent / 2, cfg.ceiling / 2])
    own = [_in_frame(frames, state.velocity) / v_max[None, :, None],
           _in_frame(frames, state.acceleration) / a_max[None, :, None],
           frames[:, :, 2, :], frames[:, :, 0, :],             # world up and world x in the frame (rows of R)
           (state.position - np.array([0.0, 0.0, cfg.ceiling / 2])) / half]
    out[..., slices["own"]] = np.concatenate(own, axis=-1)
    distance = np.linalg.norm(relative, axis=-1)
    rate = np.cross(relative, rel_velocity) / np.maximum(distance, cfg.capture_radius)[..., None] ** 2
    rate_los = np.clip(_in_frame(frames, rate)[..., 1:], -MAX_LOS_RATE, MAX_LOS_RATE)
    closing = -(relative * rel_velocity).sum(-1) / np.maximum(distance, 1e-9)
    tracked = np.array([cfg.observation_of(role) == "tracked" for role in ROLES])
    pos_std = np.sqrt(np.trace(state.track_cov[..., 0:3, 0:3], axis1=-2, axis2=-1) / 3) * tracked
    vel_std = np.sqrt(np.trace(state.track_cov[..., 3:6, 3:6], axis1=-2, axis2=-1) / 3) * tracked
    age = np.minimum(state.since_detection * cfg.dt / 2.0, 1.0) * tracked
    # PN's command per unit gain, Vc * lambda_dot (as the `pn` guidance law forms it from the same estimate):
    # a product of closing speed, crossing velocity and 1 / range that a small network would otherwise have to
    # build itself across two orders of magnitude of range.
    across = _in_frame(frames, rel_velocity)[..., 1:]
    pn_command = np.clip(closing[..., None] * across / np.maximum(distance, cfg.capture_radius)[..., None]
                         / a_max[None, :, None], -PN_CLIP, PN_CLIP)
    opponent = np.concatenate([
        (distance / cfg.max_init_distance)[..., None], (np.minimum(distance, NEAR_RANGE) / NEAR_RANGE)[..., None],
        (closing / v_ref)[..., None], _in_frame(frames, rel_velocity) / v_ref, rate_los,
        _in_frame(frames, acceleration) / a_ref, np.log1p(pos_std)[..., None],
        np.minimum(vel_std / v_ref, 2.0)[..., None], age[..., None], known[..., None],
        (detected | ~tracked)[..., None], pn_command], axis=-1)
    out[..., slices["opponent"]] = np.where(known[..., None], opponent, 0.0)
    if cfg.n_obstacle_obs and cfg.n_obstacles:
        out[..., slices["obstacles"]] = _nearest_obstacles(cfg, state, frames)
    out[..., slices["time"]] = (state.t / cfg.max_steps)[:, None, None]
    return out.astype(np.float32), frames


def _nearest_obstacles(cfg: AerialConfig, state: AerialState, frames: np.ndarray) -> np.ndarray:
    k = min(cfg.n_obstacle_obs, cfg.n_obstacles)
    gap = obstacle_gap(state.position, state.obstacles)                 # [N, 2, M]
    order = np.argsort(gap, axis=-1)[..., :k]
    nearest = np.take_along_axis(gap, order, axis=-1)
    axes = state.obstacles[:, None, :, :2][np.arange(state.num_envs)[:, None, None], 0, order]   # [N, 2, k, 2]
    offset = np.concatenate([axes - state.position[:, :, None, :2], np.zeros(axes.shape[:-1] + (1,))], axis=-1)
    offset = np.einsum("nrji,nrkj->nrki", frames, offset)
    block = np.concatenate([offset / OBSTACLE_SCALE, np.minimum(nearest / OBSTACLE_SCALE, 2.0)[..., None],
                            np.ones(nearest.shape + (1,))], axis=-1)
    out = np.zeros(state.position.shape[:2] + (cfg.n_obstacle_obs, 5))
    out[:, :, :k] = block
    return out.reshape(state.num_envs, 2, -1)
