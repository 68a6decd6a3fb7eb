"""Radar measurements and the batched Kalman filter that tracks the opponent from them.

A radar measures the opponent's position relative to the observer as range, azimuth and elevation with
Gaussian noise (:class:`~pe_rllib.config.aerial.RadarConfig`), every ``period_steps`` simulation steps,
detecting it with a probability that falls with range and not at all during a dropout. Each measurement is
converted to a Cartesian position with its linearised covariance ``R = J diag(s_r^2, s_az^2, s_el^2) J^T``
(converted measurements; Bar-Shalom, Li & Kirubarajan 2001, 10.4) and fed to a linear Kalman filter over the
opponent's absolute state (the observer knows its own position exactly): constant velocity, ``[p, v]``, or
constant acceleration, ``[p, v, a]``, per axis the continuous white-noise model. Every function is batched
over B tracks and pure (no array argument is written).

Example:
    >>> import numpy as np
    >>> from pe_rllib.config.aerial import RadarConfig, TrackerConfig
    >>> radar, tracker = RadarConfig(), TrackerConfig()
    >>> rng = np.random.default_rng(0)
    >>> z, R = convert(radar, measure_spherical(radar, rng, np.array([[100.0, 0.0, 0.0]])))
    >>> bool(abs(z[0, 0] - 100.0) < 5.0), R.shape
    (True, (1, 3, 3))
    >>> track = start_track(tracker, z + 10.0, R)          # the absolute position of the opponent
    >>> track = predict(tracker, track, 0.05)
    >>> track.mean.shape, track.cov.shape
    ((1, 6), (1, 6, 6))
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from pe_rllib.config.aerial import RadarConfig, TrackerConfig


@dataclass(frozen=True)
class Track:
    """B Kalman-filter tracks: ``mean [B, S]`` (positions, velocities[, accelerations], xyz each) and
    ``cov [B, S, S]``."""

    mean: np.ndarray
    cov: np.ndarray

    @property
    def position(self) -> np.ndarray:
        return self.mean[:, 0:3]

    @property
    def velocity(self) -> np.ndarray:
        return self.mean[:, 3:6]

    @property
    def acceleration(self) -> np.ndarray:
        """The acceleration estimate ``[B, 3]`` (zeros for a constant-velocity track)."""
        if self.mean.shape[1] < 9:
            return np.zeros_like(self.mean[:, 0:3])
        return self.mean[:, 6:9]


# --------------------------------------------------------------------------- the radar


def detection_probability(radar: RadarConfig, distance: np.ndarray) -> np.ndarray:
    """p(r) ``[B]`` of one attempted measurement at ranges ``distance`` (outside dropouts)."""
    p = radar.p_detect * 0.5 ** ((distance / radar.half_range) ** 4)
    return np.where(distance > radar.max_range, 0.0, p)


def measure_spherical(radar: RadarConfig, rng: np.random.Generator, relative: np.ndarray) -> np.ndarray:
    """Noisy ``(range, azimuth, elevation)`` ``[B, 3]`` of relative positions ``[B, 3]`` (opponent minus observer)."""
    distance = np.linalg.norm(relative, axis=1)
    azimuth = np.arctan2(relative[:, 1], relative[:, 0])
    elevation = np.arcsin(np.clip(relative[:, 2] / np.maximum(distance, 1e-9), -1.0, 1.0))
    noise = rng.standard_normal((relative.shape[0], 3)) * np.array([radar.range_std, radar.azimuth_std,
                                                                     radar.elevation_std])
    return np.stack([distance, azimuth, elevation], axis=1) + noise


def convert(radar: RadarConfig, spherical: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Converted measurements: Cartesian positions ``[B, 3]`` of ``(range, azimuth, elevation)`` ``[B, 3]`` and
    their linearised covariances ``[B, 3, 3]`` (the Jacobian at the measurement)."""
    r, az, el = spherical[:, 0], spherical[:, 1], spherical[:, 2]
    ca, sa, ce, se = np.cos(az), np.sin(az), np.cos(el), np.sin(el)
    z = np.stack([r * ce * ca, r * ce * sa, r * se], axis=1)
    jacobian = np.empty((spherical.shape[0], 3, 3))
    jacobian[:, :, 0] = np.stack([ce * ca, ce * sa, se], axis=1)            # d/dr
    jacobian[:, :, 1] = np.stack([-r * ce * sa, r * ce * ca, 0 * r], axis=1)  # d/daz
    jacobian[:, :, 2] = np.stack([-r * se * ca, -r * se * sa, r * ce], axis=1)  # d/del
    variances = np.array([radar.range_std, radar.azimuth_std, radar.elevation_std]) ** 2
    floor = 1e-6 * np.eye(3)                  # a noiseless radar still gives the filter an invertible R
    return z, np.einsum("bij,j,bkj->bik", jacobian, variances, jacobian) + floor


# --------------------------------------------------------------------------- the filter


@functools.lru_cache(maxsize=32)
def model_matrices(model: str, process_noise: float, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """``F, Q`` ``[S, S]`` of the discretised continuous white-noise model over ``dt`` (state ordered
    positions, velocities[, accelerations], xyz within each)."""
    if model == "cv":
        f1 = np.array([[1.0, dt], [0.0, 1.0]])
        q1 = np.array([[dt ** 3 / 3, dt ** 2 / 2], [dt ** 2 / 2, dt]])
    else:
        f1 = np.array([[1.0, dt, dt ** 2 / 2], [0.0, 1.0, dt], [0.0, 0.0, 1.0]])
        q1 = np.array([[dt ** 5 / 20, dt ** 4 / 8, dt ** 3 / 6], [dt ** 4 / 8, dt ** 3 / 3, dt ** 2 / 2],
                       [dt ** 3 / 6, dt ** 2 / 2, dt]])
    eye = np.eye(3)
    matrices = np.kron(f1, eye), process_noise * np.kron(q1, eye)
    for matrix in matrices:
        matrix.setflags(write=False)
    return matrices


def start_track(tracker: TrackerConfig, position: np.ndarray, position_cov: np.ndarray) -> Track:
    """Fresh tracks at measured positions ``[B, 3]`` (covariances ``[B, 3, 3]``), at rest with the configured
    velocity (and acceleration) uncertainty."""
    b, s = position.shape[0], tracker.dim
    mean = np.zeros((b, s))
    mean[:, 0:3] = position
    cov = np.zeros((b, s, s))
    cov[:, 0:3, 0:3] = position_cov
    cov[:, 3:6, 3:6] = tracker.initial_velocity_std ** 2 * np.eye(3)
    if s == 9:
        cov[:, 6:9, 6:9] = tracker.initial_acceleration_std ** 2 * np.eye(3)
    return Track(mean, cov)


def predict(tracker: TrackerConfig, track: Track, dt: float) -> Track:
    """The tracks ``dt`` seconds later under the motion model."""
    f, q = model_matrices(tracker.model, tracker.process_noise, dt)
    return Track(track.mean @ f.T, f @ track.cov @ f.T + q)


def update(track: Track, position: np.ndarray, position_cov: np.ndarray) -> tuple[Track, np.ndarray]:
    """The tracks after measuring positions ``[B, 3]`` with covariances ``[B, 3, 3]`` (Joseph form), and each
    innovation's normalised squared size ``[B]`` (chi-square with 3 degrees of freedom for a consistent filter)."""
    s = track.mean.shape[1]
    innovation = position - track.position
    innovation_cov = track.cov[:, 0:3, 0:3] + position_cov
    gain = np.linalg.solve(innovation_cov, track.cov[:, 0:3, :]).transpose(0, 2, 1)     # P H^T S^-1: [B, S, 3]
    mean = track.mean + np.einsum("bij,bj->bi", gain, innovation)
    keep = np.eye(s) - np.pad(gain, ((0, 0), (0, 0), (0, s - 3)))                     # I - K H
    cov = keep @ track.cov @ keep.transpose(0, 2, 1) + gain @ position_cov @ gain.transpose(0, 2, 1)
    nis = np.einsum("bi,bi->b", innovation, np.linalg.solve(innovation_cov, innovation[..., None])[..., 0])
    return Track(mean, 0.5 * (cov + cov.transpose(0, 2, 1))), nis


def nees(track: Track, truth: np.ndarray) -> np.ndarray:
    """Normalised estimation error squared ``[B]`` of the tracks against true states ``[B, S']`` (the first
    ``S'`` components: 6 for position and velocity)."""
    k = truth.shape[1]
    error = truth - track.mean[:, :k]
    return np.einsum("bi,bi->b", error, np.linalg.solve(track.cov[:, :k, :k], error[..., None])[..., 0])
