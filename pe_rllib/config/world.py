"""The world's sections: :class:`EnvConfig` (with its :class:`RewardConfig`) and :class:`SafetyConfig`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from pe_rllib.config.base import (
    ROLES,
    ConfigError,
    _at_most,
    _check,
    _integers_at_least,
    _non_negative,
    _positive,
    replaced,
)


@dataclass(frozen=True)
class RewardConfig:
    """Weights of the named reward terms (pursuer's point of view unless stated).

    Every term is reported per step in ``infos[agent]["reward_terms"]``; a weight of 0
    switches a term off. In general-sum mode each agent gets its own terms; in zero-sum
    mode the evader's reward is exactly minus the pursuer's.
    """

    capture: float = 10.0
    """Pursuer +capture, evader -capture on the capture step."""
    timeout: float = 10.0
    """Pursuer -timeout, evader +timeout when the episode runs out of time (escape)."""
    distance: float = 0.0
    """Distance shaping weight w [per metre]: pursuer += w (d_prev - distance_discount * d_now), evader -= same."""
    distance_discount: float = 1.0
    """g in the distance shaping. Equal to ``training.gamma`` it is potential-based (policy-invariant)
    shaping; the default 1.0 is the plain closing distance, which is not (see ``envs/rewards.py``)."""
    survival: float = 0.0
    """Evader += survival every step it survives (not captured, not crashed)."""
    visibility: float = 0.0
    """Pursuer += visibility every step the evader is in its field of view and line of sight."""
    obstacle_approach: float = 0.0
    """Each agent -= obstacle_approach * (1 - clearance / approach_distance) when closer than
    approach_distance to an obstacle or wall."""
    approach_distance: float = 1.0
    """Clearance [m] below which obstacle_approach starts to penalise."""
    collision: float = 10.0
    """An agent that hits an obstacle or wall loses the game and pays this on top (the episode ends):
    a crashing pursuer gets -(collision + timeout), a crashing evader -(collision + capture)."""
    zero_sum: bool = False
    """If true the evader's reward (and each term) is minus the pursuer's."""

    def __post_init__(self) -> None:
        _non_negative(self, "capture", "timeout", "survival", "visibility",
                      "obstacle_approach", "collision")
        _check(math.isfinite(self.distance), "distance", "must be finite", self.distance)
        _check(0.0 < self.distance_discount <= 1.0, "distance_discount", "must be in (0, 1]",
               self.distance_discount)
        _positive(self, "approach_distance")


OBSERVATION_MODES = ("full", "partial")


@dataclass(frozen=True)
class EnvConfig:
    """The 2-D pursuit-evasion world: arena, robots, obstacles, sensing, episode, rewards.

    Defaults follow the predecessor's reference numbers (DESIGN.md). The arena is
    centred at the origin and spans [-W/2, W/2] x [-H/2, H/2].
    """

    arena_width: float = 20.0
    """Arena width W [m]."""
    arena_height: float = 20.0
    """Arena height H [m]."""
    dt: float = 0.05
    """Integration time step [s]."""
    max_steps: int = 600
    """Episode length in steps; reaching it is a timeout (the evader escaped)."""
    prep_steps: int = 0
    """Evader head start: the pursuer is held still for the first prep_steps steps."""
    pursuer_v_max: float = 1.0
    """Pursuer top speed [m/s]; action a[0] in [-1, 1] maps linearly to v in [0, v_max]."""
    evader_v_max: float = 1.0
    """Evader top speed [m/s]; the speed ratio is evader_v_max / pursuer_v_max."""
    omega_max: float = 2.84
    """Turn-rate limit of both robots [rad/s]; a[1] in [-1, 1] maps to [-omega_max, omega_max]."""
    capture_radius: float = 0.5
    """The pursuer captures when the centres are at most this far apart [m]."""
    robot_radius: float = 0.15
    """Body radius of both robots [m], used for obstacle and wall collisions."""
    n_obstacles: int = 4
    """Number of circular obstacles per episode (upper bound when min_obstacles is set)."""
    min_obstacles: int | None = None
    """If set, each episode draws its obstacle count uniformly from [min_obstacles, n_obstacles]."""
    obstacle_radius_min: float = 0.3
    """Smallest obstacle radius [m]."""
    obstacle_radius_max: float = 1.0
    """Largest obstacle radius [m]."""
    obstacle_clearance: float = 0.5
    """Free gap [m] kept between obstacles, between obstacles and walls, and around spawns."""
    min_init_distance: float = 2.0
    """Smallest pursuer-evader distance at spawn [m]."""
    max_init_distance: float = 10.0
    """Largest pursuer-evader distance at spawn [m]."""
    observation: str = "full"
    """"full" (opponent always observed) or "partial" (field of view, range, occlusion, LiDAR)."""
    p_full_obs: float = 0.0
    """Partial mode only: per-episode probability that the opponent is observed regardless of
    FOV/range/occlusion (masking curriculum)."""
    last_seen: bool = True
    """Partial mode: the observation's last-seen block gives where and how long ago the opponent was last seen.
    False: it always reads as never seen (0, 0, 1, 0), so a policy must remember where it lost the opponent
    itself. The block is memory the world gives every policy, a frame-stacked MLP included: worth 0.07-0.33 of
    success to the searched teachers of ``partial.yaml``, where remembering more (dead reckoning) is worth
    nothing (``benchmarks/memory_value.py``, BENCHMARKS.md, issue 23, seventh session)."""
    n_obstacle_obs: int = 4
    """Full mode: the k nearest obstacles in the observation (zero-padded)."""
    fov_deg: float = 120.0
    """Partial mode: full field-of-view angle [deg] centred on the heading."""
    sensing_range: float = 8.0
    """Partial mode: the opponent is visible only within this distance [m]."""
    n_lidar_rays: int = 16
    """Partial mode (or ``full_obs_lidar``): LiDAR rays, evenly spaced over 360 deg starting at the heading."""
    lidar_range: float = 5.0
    """Partial mode (or ``full_obs_lidar``): LiDAR maximum range [m]; readings are normalised by it."""
    full_obs_lidar: bool = False
    """Full mode only: the observation also carries the LiDAR block (``n_lidar_rays`` rays of ``lidar_range``)
    after the obstacles: how far the robot sees free space in each direction, against every obstacle and wall.
    The free run that the evasion family's open heading computes from the obstacle block (issue 21: a network
    on the raw observation imitates that heading badly). Scripted policies keep using the obstacle block."""
    history_length: int = 1
    """Stack the last k observations (oldest first) for memoryless policies."""
    opponent_visible_steps: int = 0
    """Full mode only: both roles observe the opponent block during the first this many steps of an
    episode only, zeros after (0 = always). The memory test world: a policy must remember where the
    opponent was (``training.model: lstm``) to go on pursuing it; a memoryless one can only search.
    With ``prep_steps`` at least as long, the pursuer cannot turn while it sees the evader, so it
    cannot keep the bearing in its heading either (``benchmarks/memory_world.py``)."""
    reward: RewardConfig = field(default_factory=RewardConfig)
    """Reward term weights."""

    def __post_init__(self) -> None:
        _positive(self, "arena_width", "arena_height", "dt", "pursuer_v_max", "evader_v_max",
                  "omega_max", "capture_radius", "robot_radius", "obstacle_radius_min",
                  "obstacle_radius_max", "sensing_range", "lidar_range", "fov_deg",
                  "min_init_distance", "max_init_distance")
        _non_negative(self, "obstacle_clearance")
        _integers_at_least(self, 1, "max_steps", "history_length")
        _integers_at_least(self, 0, "prep_steps", "n_obstacles", "n_obstacle_obs", "n_lidar_rays",
                           "opponent_visible_steps")
        _check(self.prep_steps < self.max_steps, "prep_steps", f"must be < max_steps ({self.max_steps})",
               self.prep_steps)
        _at_most(self, 10_000.0, "arena_width", "arena_height", "sensing_range", "lidar_range")
        _at_most(self, 1.0, "dt")
        _at_most(self, 10_000_000, "max_steps")
        _at_most(self, 1024, "n_obstacles", "n_obstacle_obs", "n_lidar_rays")
        _at_most(self, 64, "history_length")
        # A robot must not cross the capture zone or turn half a circle within one step.
        step = max(self.pursuer_v_max, self.evader_v_max) * self.dt
        _check(step <= self.capture_radius, "dt",
               f"moves a robot {step:g} m per step, more than capture_radius ({self.capture_radius:g} m); "
               "lower dt or the speeds", self.dt)
        _check(self.omega_max * self.dt <= math.pi / 2, "omega_max",
               f"turns more than 90 deg per step at dt={self.dt:g}", self.omega_max)
        if self.min_obstacles is not None:
            _check(isinstance(self.min_obstacles, int) and 0 <= self.min_obstacles <= self.n_obstacles,
                   "min_obstacles", f"must be an integer in [0, n_obstacles={self.n_obstacles}]",
                   self.min_obstacles)
        _check(self.obstacle_radius_min <= self.obstacle_radius_max, "obstacle_radius_min",
               f"must be <= obstacle_radius_max ({self.obstacle_radius_max})", self.obstacle_radius_min)
        _check(self.observation in OBSERVATION_MODES, "observation",
               f"must be one of {OBSERVATION_MODES}", self.observation)
        _check(0.0 <= self.p_full_obs <= 1.0, "p_full_obs", "must be in [0, 1]", self.p_full_obs)
        _check(not self.opponent_visible_steps or self.observation == "full", "opponent_visible_steps",
               "needs observation: full (partial observation has its own visibility)", self.opponent_visible_steps)
        _check(self.last_seen or self.observation == "partial", "last_seen",
               "false needs observation: partial (only partial observations carry a last-seen block)",
               self.last_seen)
        _check(not self.full_obs_lidar or self.observation == "full", "full_obs_lidar",
               "needs observation: full (partial observations carry LiDAR already)", self.full_obs_lidar)
        _check(not self.full_obs_lidar or self.n_lidar_rays > 0, "full_obs_lidar", "needs n_lidar_rays > 0",
               self.full_obs_lidar)
        _check(self.fov_deg <= 360.0, "fov_deg", "must be <= 360", self.fov_deg)
        _check(self.capture_radius >= 2 * self.robot_radius, "capture_radius",
               f"must be >= 2 * robot_radius ({2 * self.robot_radius}) so robots cannot overlap uncaptured",
               self.capture_radius)
        _check(self.min_init_distance > self.capture_radius, "min_init_distance",
               f"must be > capture_radius ({self.capture_radius})", self.min_init_distance)
        _check(self.min_init_distance <= self.max_init_distance, "min_init_distance",
               f"must be <= max_init_distance ({self.max_init_distance})", self.min_init_distance)
        half_w, half_h = self.spawn_half_extent
        _check(half_w > 0 and half_h > 0, "robot_radius",
               "leaves no room to spawn inside the arena walls (with obstacle_clearance)",
               self.robot_radius)
        diagonal = 2 * math.hypot(half_w, half_h)
        _check(self.min_init_distance < diagonal, "min_init_distance",
               f"cannot fit in the spawnable area (diagonal {diagonal:.2f} m)", self.min_init_distance)
        # Obstacles with their clearance must leave room: cap the covered area at half the arena.
        covered = self.n_obstacles * math.pi * (self.obstacle_radius_max + self.obstacle_clearance) ** 2
        _check(covered <= 0.5 * self.arena_width * self.arena_height, "n_obstacles",
               f"obstacles (radius <= {self.obstacle_radius_max} plus clearance) would cover more than "
               "half the arena, spawning would be impossible", self.n_obstacles)

    @property
    def spawn_half_extent(self) -> tuple[float, float]:
        """Half-extent of the box in which robot centres may spawn (walls minus body and clearance)."""
        margin = self.robot_radius + self.obstacle_clearance
        return self.arena_width / 2 - margin, self.arena_height / 2 - margin

    @property
    def speed_ratio(self) -> float:
        """Evader top speed over pursuer top speed."""
        return self.evader_v_max / self.pursuer_v_max

    def v_max(self, role: str) -> float:
        """Top speed of ``role`` ("pursuer" or "evader")."""
        return {"pursuer": self.pursuer_v_max, "evader": self.evader_v_max}[role]


SOLVERS = ("exact", "cvxpy")
SAFETY_MODES = ("filter", "layer")


@dataclass(frozen=True)
class SafetyConfig:
    """Discrete-time virtual-control-point CBF safety filter (see pe_rllib.safety)."""

    enabled: bool = True
    """Filter actions at all."""
    agents: tuple[str, ...] = ("pursuer", "evader")
    """Which agents' actions are filtered."""
    solver: str = "exact"
    """"exact" (vectorised active-set QP) or "cvxpy" (reference, ~1 ms per solve)."""
    control_point_distance: float = 0.1
    """d: distance [m] of the virtual control point ahead of the robot centre."""
    margin: float = 0.05
    """Extra clearance [m] added to every barrier (covers linearisation error)."""
    gamma: float = 0.2
    """Discrete-time CBF decay: h(x_{k+1}) >= (1 - gamma) h(x_k), gamma in (0, 1]."""
    weight_v: float = 1.0
    """QP weight on the speed correction (v - v_nom)^2."""
    weight_omega: float | None = None
    """QP weight on the turn-rate correction; default d^2 so steering is as cheap as braking."""
    agent_avoidance: bool = False
    """Also keep this robot's control point away from the other robot (treated as static)."""
    braking: float = 0.5
    """Aerial world: the deceleration each braking barrier keeps in reserve, as a fraction of the drone's a_max
    (at most 1/sqrt(3) = 0.577 keeps a corner of the airspace feasible; smaller is more cautious). The planar
    world ignores it, as the aerial one ignores the planar fields (control point, gamma, weights, solver)."""
    mode: str = "filter"
    """"filter": the QP corrects the env's actions after the policy (post hoc). "layer" (BarrierNet-style,
    issue 25): the same QP is also the last layer of each learned policy, on the constraints its observation
    implies, so the policy's mean action is safe by construction and trained through the QP; the env-side
    filter (``enabled``) stays the guarantee, and its interventions count what the layer alone let through.
    With ``enabled: false`` (``--safety off``) the layer alone stands between the policy and the obstacles."""

    def __post_init__(self) -> None:
        _check(self.mode in SAFETY_MODES, "mode", f"must be one of {SAFETY_MODES}", self.mode)
        _positive(self, "control_point_distance", "weight_v")
        _non_negative(self, "margin")
        _check(0.0 < self.gamma <= 1.0, "gamma", "must be in (0, 1]", self.gamma)
        _check(0.0 < self.braking <= 1.0, "braking", "must be in (0, 1]", self.braking)
        if self.weight_omega is not None:
            _positive(self, "weight_omega")
        _check(self.solver in SOLVERS, "solver", f"must be one of {SOLVERS}", self.solver)
        agents = tuple(self.agents)
        object.__setattr__(self, "agents", agents)
        for agent in agents:
            _check(agent in ROLES, "agents", "entries must be 'pursuer' or 'evader'", agent)

    @property
    def qp_weights(self) -> tuple[float, float]:
        """The QP's weights on the ``(v, omega)`` corrections: ``weight_v`` and ``weight_omega`` (derived:
        ``weight_v * d^2`` unless set)."""
        if self.weight_omega is not None:
            return self.weight_v, self.weight_omega
        return self.weight_v, self.weight_v * self.control_point_distance ** 2


def env_with(env: EnvConfig, overrides: Mapping[str, Any]) -> EnvConfig:
    """``env`` with some fields replaced (a curriculum level), validated like any env section."""
    return replaced(env, overrides, "env")


def check_safety_compatible(env: EnvConfig, safety: SafetyConfig) -> None:
    """Spawns must lie inside the filter's safe set, or it starts infeasible."""
    needed = safety.control_point_distance + safety.margin
    if needed > env.obstacle_clearance + 1e-12:
        raise ConfigError(
            f"safety.control_point_distance: control_point_distance + margin ({needed:g}) must be <= "
            f"env.obstacle_clearance ({env.obstacle_clearance:g}) so robots spawn inside the safe set")
