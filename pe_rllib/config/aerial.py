"""The aerial world's section: :class:`AerialConfig` with its :class:`RadarConfig`, :class:`TrackerConfig` and
:class:`AerialRewardConfig` (the world itself is :mod:`pe_rllib.envs.aerial`).

Units are SI (m, s, rad). Illustrative scales follow the 3-D interception study this world comes from:
quadrotor-scale drones, a pursuer of 15 m/s and 8 m/s^2 against an evader of 12 m/s and 6 m/s^2, spawned
50-300 m apart, a capture net of 2 m.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from pe_rllib.config.base import _at_most, _check, _integers_at_least, _non_negative, _positive

DRAG_MODELS = ("linear", "quadratic")
AERIAL_OBSERVATIONS = ("tracked", "full")
TRACKER_MODELS = ("cv", "ca")


@dataclass(frozen=True)
class RadarConfig:
    """A tracking sensor: noisy range, azimuth and elevation of the opponent relative to the observer, at
    a rate below the simulation's, detected with a probability that falls with range, with dropouts."""

    range_std: float = 1.0
    """Range noise (standard deviation) [m]."""
    azimuth_std: float = 0.005
    """Azimuth noise [rad]."""
    elevation_std: float = 0.005
    """Elevation noise [rad]."""
    period_steps: int = 2
    """A measurement is attempted every this many simulation steps (rate = 1 / (period_steps * dt))."""
    p_detect: float = 0.98
    """Detection probability at short range."""
    half_range: float = 500.0
    """Range [m] at which the detection probability has halved: p(r) = p_detect * 0.5 ** ((r / half_range) ** 4)."""
    max_range: float = 2000.0
    """No detection beyond this range [m]."""
    dropout_rate: float = 0.0
    """Probability per attempted measurement that the sensor drops out (detects nothing) for dropout_steps."""
    dropout_steps: int = 20
    """Length of a dropout [simulation steps]."""

    def __post_init__(self) -> None:
        _non_negative(self, "range_std", "azimuth_std", "elevation_std", "dropout_rate")
        _positive(self, "half_range", "max_range")
        _check(0.0 < self.p_detect <= 1.0, "p_detect", "must be in (0, 1]", self.p_detect)
        _check(self.dropout_rate < 1.0, "dropout_rate", "must be < 1", self.dropout_rate)
        _integers_at_least(self, 1, "period_steps", "dropout_steps")

    def detection_probability(self, distance: float) -> float:
        """p(r) of one attempted measurement at range ``distance`` (outside a dropout)."""
        if distance > self.max_range:
            return 0.0
        return self.p_detect * 0.5 ** ((distance / self.half_range) ** 4)


@dataclass(frozen=True)
class TrackerConfig:
    """The Kalman filter that turns radar measurements into a track of the opponent (Cartesian, converted
    measurements: each range-azimuth-elevation triple becomes a position with its linearised covariance)."""

    model: str = "cv"
    """"cv": constant velocity (state: position, velocity); "ca": constant acceleration (plus acceleration)."""
    process_noise: float = 4.0
    """Spectral density q of the white noise driving the model's highest derivative (acceleration for
    "cv" [m^2/s^3], jerk for "ca" [m^2/s^5]); the continuous white-noise model's Q (Bar-Shalom)."""
    initial_velocity_std: float = 15.0
    """Standard deviation [m/s] of the velocity of a fresh track (started at the first detection, at rest)."""
    initial_acceleration_std: float = 8.0
    """Standard deviation [m/s^2] of the acceleration of a fresh "ca" track."""

    def __post_init__(self) -> None:
        _check(self.model in TRACKER_MODELS, "model", f"must be one of {', '.join(TRACKER_MODELS)}", self.model)
        _positive(self, "process_noise", "initial_velocity_std", "initial_acceleration_std")

    @property
    def dim(self) -> int:
        """State dimension: 6 ("cv") or 9 ("ca")."""
        return 6 if self.model == "cv" else 9


@dataclass(frozen=True)
class AerialRewardConfig:
    """Reward weights of the aerial world (pursuer's point of view; the evader gets the negation of the shared
    terms, and pays for its own crash)."""

    capture: float = 10.0
    """Pursuer +capture, evader -capture."""
    timeout: float = 10.0
    """Pursuer -timeout, evader +timeout when the time runs out."""
    distance: float = 0.01
    """Closing shaping [per m]: pursuer += w (d_prev - d_now), evader -= same."""
    crash: float = 10.0
    """A robot that leaves the airspace or hits an obstacle loses and pays this on top of the loss."""
    effort: float = 0.0
    """Each robot -= effort * |a|^2 / a_max^2 * dt every step (control effort)."""

    def __post_init__(self) -> None:
        _non_negative(self, "capture", "timeout", "crash", "effort")
        _check(math.isfinite(self.distance), "distance", "must be finite", self.distance)


@dataclass(frozen=True)
class AerialConfig:
    """The 3-D aerial world: point-mass drones with commanded acceleration in a box airspace.

    The airspace is ``[-x_extent/2, x_extent/2] x [-y_extent/2, y_extent/2] x [0, ceiling]``; leaving it
    (through the ground, the ceiling or a side) is a crash, as is touching a vertical cylindrical obstacle.
    A robot's commanded acceleration (its action, norm-bounded by ``a_max``) is net of gravity, reaches
    the body through an optional first-order lag, and drag makes ``v_max`` the terminal speed at full thrust.
    """

    x_extent: float = 800.0
    """Airspace length along x [m]."""
    y_extent: float = 800.0
    """Airspace width along y [m]."""
    ceiling: float = 300.0
    """Airspace height [m] (the ground is z = 0)."""
    dt: float = 0.05
    """Integration step [s]."""
    max_steps: int = 800
    """Episode length in steps (40 s at dt 0.05); reaching it is a timeout (the evader escaped)."""
    pursuer_v_max: float = 15.0
    """Pursuer top speed [m/s] (terminal speed at full thrust)."""
    evader_v_max: float = 12.0
    """Evader top speed [m/s]; the speed ratio is evader_v_max / pursuer_v_max."""
    pursuer_a_max: float = 8.0
    """Pursuer acceleration bound [m/s^2] (norm of the commanded acceleration)."""
    evader_a_max: float = 6.0
    """Evader acceleration bound [m/s^2]."""
    drag: str = "linear"
    """"linear" (a_drag = -a_max v / v_max) or "quadratic" (a_drag = -a_max |v| v / v_max^2)."""
    actuator_tau: float = 0.0
    """Time constant [s] of the first-order lag between commanded and applied acceleration (0 = none)."""
    capture_radius: float = 2.0
    """The pursuer captures when the centres are at most this far apart [m]."""
    robot_radius: float = 0.3
    """Body radius [m] of both drones, for crashes."""
    min_init_distance: float = 50.0
    """Smallest pursuer-evader distance at spawn [m]."""
    max_init_distance: float = 300.0
    """Largest pursuer-evader distance at spawn [m]."""
    min_spawn_altitude: float = 50.0
    """Lowest spawn altitude [m]."""
    max_spawn_altitude: float = 250.0
    """Highest spawn altitude [m]."""
    init_speed_fraction: float = 0.5
    """Both robots start at this fraction of their top speed, level, in random horizontal directions."""
    n_obstacles: int = 0
    """Vertical cylinders (ground to ceiling) per episode."""
    obstacle_radius_min: float = 5.0
    """Smallest cylinder radius [m]."""
    obstacle_radius_max: float = 20.0
    """Largest cylinder radius [m]."""
    n_obstacle_obs: int = 2
    """The k nearest cylinders in each observation (zero-padded)."""
    observation: str = "tracked"
    """The pursuer's view of the evader: "tracked" (radar and Kalman filter) or "full" (the true state)."""
    evader_observation: str = "full"
    """The evader's view of the pursuer: "full" (default) or "tracked" (its own radar, ``evader_radar``)."""
    radar: RadarConfig = field(default_factory=RadarConfig)
    """The pursuer's tracking sensor."""
    evader_radar: RadarConfig = field(default_factory=RadarConfig)
    """The evader's sensor (used when ``evader_observation`` is "tracked")."""
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    """The Kalman filter behind every tracked observation."""
    reward: AerialRewardConfig = field(default_factory=AerialRewardConfig)
    """Reward weights."""

    def __post_init__(self) -> None:
        _positive(self, "x_extent", "y_extent", "ceiling", "dt", "pursuer_v_max", "evader_v_max",
                  "pursuer_a_max", "evader_a_max", "capture_radius", "robot_radius", "min_init_distance",
                  "max_init_distance", "init_speed_fraction", "obstacle_radius_min", "obstacle_radius_max")
        _non_negative(self, "actuator_tau", "min_spawn_altitude")
        _integers_at_least(self, 1, "max_steps")
        _integers_at_least(self, 0, "n_obstacles", "n_obstacle_obs")
        _at_most(self, 64, "n_obstacles", "n_obstacle_obs")
        _check(self.drag in DRAG_MODELS, "drag", f"must be one of {', '.join(DRAG_MODELS)}", self.drag)
        for name in ("observation", "evader_observation"):
            _check(getattr(self, name) in AERIAL_OBSERVATIONS, name,
                   f"must be one of {', '.join(AERIAL_OBSERVATIONS)}", getattr(self, name))
        _check(self.init_speed_fraction <= 1.0, "init_speed_fraction", "must be <= 1", self.init_speed_fraction)
        _check(self.capture_radius >= 2 * self.robot_radius, "capture_radius",
               f"must be >= 2 * robot_radius ({2 * self.robot_radius})", self.capture_radius)
        _check(self.min_init_distance > self.capture_radius, "min_init_distance",
               f"must be > capture_radius ({self.capture_radius})", self.min_init_distance)
        _check(self.min_init_distance <= self.max_init_distance, "min_init_distance",
               f"must be <= max_init_distance ({self.max_init_distance})", self.min_init_distance)
        _check(self.obstacle_radius_min <= self.obstacle_radius_max, "obstacle_radius_min",
               f"must be <= obstacle_radius_max ({self.obstacle_radius_max})", self.obstacle_radius_min)
        top = self.ceiling - self.robot_radius
        _check(self.robot_radius < self.min_spawn_altitude <= self.max_spawn_altitude < top, "min_spawn_altitude",
               f"spawn altitudes must satisfy robot_radius < min <= max ({self.max_spawn_altitude}) < ceiling - "
               f"robot_radius ({top})", self.min_spawn_altitude)
        _check(self.max_init_distance < 0.5 * min(self.x_extent, self.y_extent), "max_init_distance",
               f"must be < half the airspace's smaller side ({0.5 * min(self.x_extent, self.y_extent):g} m)",
               self.max_init_distance)
        _check(self.n_obstacles * math.pi * (self.obstacle_radius_max + self.capture_radius) ** 2
               <= 0.25 * self.x_extent * self.y_extent, "n_obstacles",
               "cylinders would cover more than a quarter of the airspace", self.n_obstacles)

    @property
    def speed_ratio(self) -> float:
        """Evader top speed over pursuer top speed."""
        return self.evader_v_max / self.pursuer_v_max

    def v_max(self, role: str) -> float:
        """Top speed of ``role``."""
        return {"pursuer": self.pursuer_v_max, "evader": self.evader_v_max}[role]

    def a_max(self, role: str) -> float:
        """Acceleration bound of ``role``."""
        return {"pursuer": self.pursuer_a_max, "evader": self.evader_a_max}[role]

    def observation_of(self, role: str) -> str:
        """"tracked" or "full": how ``role`` sees its opponent."""
        return {"pursuer": self.observation, "evader": self.evader_observation}[role]

    def radar_of(self, role: str) -> RadarConfig:
        """The sensor ``role`` tracks its opponent with."""
        return {"pursuer": self.radar, "evader": self.evader_radar}[role]
