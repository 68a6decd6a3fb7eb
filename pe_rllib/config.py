"""One typed, validated experiment config.

Every knob of pe_rllib lives in one tree of frozen dataclasses, loaded from YAML (or
keyword arguments) exactly once and validated at construction. Unknown keys and
out-of-range values raise :class:`ConfigError` with a one-line message that names the
key's full path, e.g. ``env.capture_radius: must be > 0, got -1.0``.

The same :class:`EnvConfig` object builds the training, evaluation and rendering
environments, so a flag can never be honoured by one and silently ignored by another.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, TypeVar

import yaml

__all__ = [
    "ROLES",
    "SCRIPTED_POLICIES",
    "other_role",
    "SUCCESS_RATE",
    "ConfigError",
    "RewardConfig",
    "EnvConfig",
    "SafetyConfig",
    "SelfPlayConfig",
    "TrainingConfig",
    "EvaluationConfig",
    "LeagueConfig",
    "CurriculumConfig",
    "HealthConfig",
    "ExperimentConfig",
    "from_dict",
    "to_dict",
    "load_experiment",
    "experiment_path",
    "bundled_experiments",
    "bundled_sweeps",
    "check_safety_compatible",
    "env_with",
    "experiment_with",
    "set_dotted",
]


class ConfigError(ValueError):
    """A config value or key is invalid. The message names the key's path."""


ROLES: tuple[str, str] = ("pursuer", "evader")
"""The two roles, in the fixed agent order every env, module map and array uses."""

SCRIPTED_POLICIES: dict[str, tuple[str, ...]] = {
    "pursuer": ("pure_pursuit", "proportional_navigation", "lead_pursuit", "random"),
    "evader": ("straight_flee", "circling", "random"),
}
"""Names of the scripted policies per role (implemented in :mod:`pe_rllib.policies.scripted`,
which checks at import that it implements exactly these)."""


SUCCESS_RATE: dict[str, str] = {"pursuer": "capture_rate", "evader": "escape_rate"}
"""The outcome rate each role wants high (escape: the episode runs out uncaptured)."""


def other_role(role: str) -> str:
    """The opponent of ``role``."""
    return ROLES[1 - ROLES.index(role)]


def _check(condition: bool, name: str, message: str, value: Any) -> None:
    if not condition:
        raise ConfigError(f"{name}: {message}, got {value!r}")


def _positive(obj: Any, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        _check(math.isfinite(value) and value > 0, name, "must be > 0", value)


def _at_most(obj: Any, limit: float, *names: str) -> None:
    """Upper bounds against absurd sizes (they would hang or exhaust memory, not fail)."""
    for name in names:
        value = getattr(obj, name)
        _check(value <= limit, name, f"must be <= {limit:g}", value)


def _non_negative(obj: Any, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        _check(math.isfinite(value) and value >= 0, name, "must be >= 0", value)


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
    n_obstacle_obs: int = 4
    """Full mode: the k nearest obstacles in the observation (zero-padded)."""
    fov_deg: float = 120.0
    """Partial mode: full field-of-view angle [deg] centred on the heading."""
    sensing_range: float = 8.0
    """Partial mode: the opponent is visible only within this distance [m]."""
    n_lidar_rays: int = 16
    """Partial mode: LiDAR rays, evenly spaced over 360 deg starting at the heading."""
    lidar_range: float = 5.0
    """Partial mode: LiDAR maximum range [m]; readings are normalised by it."""
    history_length: int = 1
    """Stack the last k observations (oldest first) for memoryless policies."""
    reward: RewardConfig = field(default_factory=RewardConfig)
    """Reward term weights."""

    def __post_init__(self) -> None:
        _positive(self, "arena_width", "arena_height", "dt", "pursuer_v_max", "evader_v_max",
                  "omega_max", "capture_radius", "robot_radius", "obstacle_radius_min",
                  "obstacle_radius_max", "sensing_range", "lidar_range", "fov_deg",
                  "min_init_distance", "max_init_distance")
        _non_negative(self, "obstacle_clearance")
        for name in ("max_steps", "history_length"):
            _check(isinstance(getattr(self, name), int) and getattr(self, name) >= 1,
                   name, "must be an integer >= 1", getattr(self, name))
        for name in ("prep_steps", "n_obstacles", "n_obstacle_obs", "n_lidar_rays"):
            _check(isinstance(getattr(self, name), int) and getattr(self, name) >= 0,
                   name, "must be an integer >= 0", getattr(self, name))
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

    def __post_init__(self) -> None:
        _positive(self, "control_point_distance", "weight_v")
        _non_negative(self, "margin")
        _check(0.0 < self.gamma <= 1.0, "gamma", "must be in (0, 1]", self.gamma)
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


SELFPLAY_MODES = ("alternating", "simultaneous")


@dataclass(frozen=True)
class SelfPlayConfig:
    """Who trains when (AMS-DRL style alternating freezing), see pe_rllib.selfplay.schedule."""

    mode: str = "alternating"
    """"alternating": one role trains while the other is frozen; "simultaneous": both train."""
    first_role: str = "evader"
    """The role that trains first (during the cold start, against the untrained, random opponent)."""
    cold_start_iterations: int = 2
    """Length of the cold-start phase (phase 0) in iterations; 0 skips it."""
    cold_start_opponent: str = "untrained"
    """Who plays against first_role during the cold start: "untrained" (the other role's freshly
    initialised, stochastic network, i.e. random play) or a scripted policy name for that role
    (e.g. "pure_pursuit")."""
    warmup_phase_lengths: tuple[int, ...] = (1, 2)
    """Lengths of the first alternating phases after the cold start (short early, longer later)."""
    phase_length: int = 4
    """Length of every later phase in iterations (1 = micro-phases: switch every iteration)."""
    max_phase_env_steps: int = 0
    """Force a switch once a phase has sampled this many env steps (0 = no budget)."""
    opponent_slots: int = 0
    """K frozen snapshot modules per role (ROLE_snapshot_0..K-1); a role's weights are copied into
    its next slot (round-robin) whenever its training phase ends."""
    snapshot_probability: float = 0.0
    """Per episode, the probability that the frozen role is played by one of its filled snapshots
    (uniformly) instead of its current weights."""
    frozen_deterministic: bool = False
    """The frozen role's learned modules (current weights, snapshots, pool entries) play their action
    distribution's mode, as evaluation and ``exploit`` play them, instead of sampling from it. The
    training role then learns to answer the policy it is judged against, not that policy's
    exploration noise (measured on ``converge.yaml``: the trained pursuer captured 0.30 of the
    deterministic evader and 0.76 of the same evader exploring; BENCHMARKS.md, issue 21). Learning
    modules always explore. Batched sampler only."""

    def __post_init__(self) -> None:
        _check(self.mode in SELFPLAY_MODES, "mode", f"must be one of {SELFPLAY_MODES}", self.mode)
        _check(self.first_role in ROLES, "first_role", f"must be one of {ROLES}", self.first_role)
        for name in ("cold_start_iterations", "max_phase_env_steps", "opponent_slots"):
            _check(getattr(self, name) >= 0, name, "must be >= 0", getattr(self, name))
        _check(self.phase_length >= 1, "phase_length", "must be >= 1", self.phase_length)
        if self.cold_start_opponent != "untrained":
            opponent = other_role(self.first_role)
            names = SCRIPTED_POLICIES[opponent]
            _check(self.cold_start_opponent in names, "cold_start_opponent",
                   f"must be 'untrained' or a scripted {opponent} ({', '.join(names)})",
                   self.cold_start_opponent)
        _check(0.0 <= self.snapshot_probability <= 1.0, "snapshot_probability", "must be in [0, 1]",
               self.snapshot_probability)
        _check(self.snapshot_probability == 0.0 or self.opponent_slots > 0, "snapshot_probability",
               "needs opponent_slots > 0", self.snapshot_probability)
        object.__setattr__(self, "warmup_phase_lengths", tuple(self.warmup_phase_lengths))
        for length in self.warmup_phase_lengths:
            _check(length >= 1, "warmup_phase_lengths", "entries must be >= 1", length)


SAMPLERS = ("rllib", "batched")


ACTION_DISTRIBUTIONS = ("gaussian", "squashed")


@dataclass(frozen=True)
class TrainingConfig:
    """RLlib algorithm, model, rollout, resource and checkpoint settings."""

    algorithm: str = "PPO"
    """RLlib algorithm (PPO on the new API stack)."""
    stop_iterations: int = 20
    """Training iterations of a run (``pe-rllib train --stop-iters`` overrides)."""
    seed: int = 0
    """Seed of the run (env runners derive their env seeds from it)."""
    lr: float = 3e-4
    """Learning rate."""
    gamma: float = 0.99
    """Discount factor."""
    lambda_: float = 0.95
    """GAE lambda."""
    clip_param: float = 0.2
    """PPO clip range."""
    entropy_coeff: float = 0.0
    """Entropy bonus coefficient."""
    vf_loss_coeff: float = 0.5
    """Value-loss coefficient."""
    vf_clip_param: float = 100_000.0
    """RLlib PPO's clip of the value loss (a squared error): samples beyond it give the critic no
    gradient. RLlib's default, 10, sits below the squared scale of this task's returns (capture and
    timeout bonuses of 10 plus shaping), which starved the critic: a fresh pursuer against a fixed
    evader reached a capture rate of 0.63 after 60 iterations with 1e5 against 0.33 with 10 (mean of
    3 seeds), and the quickstart pursuer's mean best-response gap fell from 0.24 to 0.02 (BENCHMARKS.md)."""
    num_epochs: int = 8
    """SGD epochs per training batch."""
    train_batch_size_per_learner: int = 4000
    """Env steps per training iteration and learner."""
    minibatch_size: int = 500
    """SGD minibatch size."""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """MLP hidden layer sizes of both roles' policy and value networks."""
    activation: str = "tanh"
    """MLP activation ("tanh" or "relu")."""
    action_distribution: str = "gaussian"
    """How the policy head's outputs become actions. "gaussian": RLlib's diagonal Gaussian, the env
    clipping its samples to [-1, 1]. "squashed": the same Gaussian over pre-squash actions, the env
    receiving their tanh (:class:`pe_rllib.policies.rl_module.SquashedDiagGaussian`; batched sampler
    only). Clipped, exploration noise costs a robot at its top speed speed on every step, and an
    entropy bonus grows without limit by moving mean and std outward together (``converge.yaml``'s
    policies reached |mean| ~13 and std ~20-50: trained on near-random bang-bang actions, evaluated
    on the mean); squashed, a saturated action stays at the bound (BENCHMARKS.md, issue 21)."""
    sampler: str = "batched"
    """"batched": pe_rllib's runner stepping num_envs_per_env_runner arenas of the numpy world at
    once (pe_rllib.training.batched_runner; timeouts are truncations); "rllib": RLlib's stock
    MultiAgentEnvRunner over the PettingZoo env (its envs stepped one by one in Python: use a few)."""
    num_env_runners: int = 0
    """Remote sampling actors (0 = sample in the driver process)."""
    num_envs_per_env_runner: int = 64
    """Arenas (batched sampler) or envs (rllib sampler) stepped by each env runner: at most this many,
    see ``min_fragment_length``."""
    min_fragment_length: int = 30
    """Fewest env steps each arena contributes to an iteration. The batch is split over runners x
    arenas, and every arena's share reaches the learner as episode chunks whose Python cost
    (episode objects, their transfer, the learner's connector pipeline) is per chunk, not per
    step: 2 runners x 256 arenas leave 8 steps per arena of a 4,000-step batch and trained 0.7x as
    fast as 2 x 64. So the arenas per runner are capped at batch / (runners x this) (see
    :func:`rollout_shape`); 0 takes ``num_envs_per_env_runner`` as given."""
    num_cpus_per_env_runner: float = 1.0
    """CPUs reserved per env runner; its torch intra-op threads follow (at least 1)."""
    num_learners: int = 0
    """Remote learner actors (0 = learn in the driver process)."""
    num_cpus_per_learner: int = 1
    """CPUs reserved per learner (the driver's, when ``num_learners`` is 0) and its torch intra-op
    threads. Torch's default, one thread per core, made the quickstart's small-MLP updates slower on
    a 16-core node than on 2 cores; raise it for large networks or minibatches on a CPU learner."""
    num_gpus_per_learner: float = 0.0
    """GPUs per learner: set > 0 on a GPU head node; the device comes from here, never hard-coded."""
    checkpoint_every: int = 1
    """Save a checkpoint every this many iterations (and always at the end)."""
    keep_checkpoints: int = 3
    """How many of the newest checkpoints to keep."""
    max_env_runner_restarts: int = 10
    """Recreate crashed env runners up to this many times (fault tolerance)."""
    init_checkpoint: str = ""
    """Start the roles in ``init_modules`` from this run's (newest intact checkpoint) or checkpoint's
    weights instead of fresh ones ("" = all fresh). ``pe-rllib exploit`` loads the frozen opponent so."""
    init_modules: tuple[str, ...] = ()
    """The roles ``init_checkpoint`` initialises, e.g. [evader]."""
    deterministic_modules: tuple[str, ...] = ()
    """Roles whose module acts deterministically (its action distribution's mode) while sampling, as
    evaluation plays it, instead of exploring. ``pe-rllib exploit`` sets the frozen opponent of an RL
    best response so: a best response must answer the policy the gap is measured against (measured:
    trained against the exploring opponent, warm-started best responses fell far below the trained
    role they started from). Batched sampler only."""

    def __post_init__(self) -> None:
        _check(self.algorithm == "PPO", "algorithm", "must be 'PPO' (the only one wired so far)", self.algorithm)
        _positive(self, "lr", "clip_param", "vf_clip_param", "num_cpus_per_env_runner")
        _non_negative(self, "entropy_coeff", "vf_loss_coeff", "num_gpus_per_learner")
        _check(0.0 < self.gamma <= 1.0, "gamma", "must be in (0, 1]", self.gamma)
        _check(0.0 <= self.lambda_ <= 1.0, "lambda_", "must be in [0, 1]", self.lambda_)
        _check(self.action_distribution in ACTION_DISTRIBUTIONS, "action_distribution",
               f"must be one of {', '.join(ACTION_DISTRIBUTIONS)}", self.action_distribution)
        for name in ("stop_iterations", "num_epochs", "train_batch_size_per_learner", "minibatch_size",
                     "num_envs_per_env_runner", "checkpoint_every", "keep_checkpoints"):
            _check(getattr(self, name) >= 1, name, "must be >= 1", getattr(self, name))
        _check(isinstance(self.num_cpus_per_learner, int) and 1 <= self.num_cpus_per_learner <= 256,
               "num_cpus_per_learner", "must be an integer in [1, 256]", self.num_cpus_per_learner)
        _check(isinstance(self.min_fragment_length, int) and 0 <= self.min_fragment_length <= 100_000,
               "min_fragment_length", "must be an integer in [0, 100000]", self.min_fragment_length)
        runners = max(1, self.num_env_runners)
        _check(runners * self.min_fragment_length <= self.total_batch_size, "min_fragment_length",
               f"{runners} env runner(s) x {self.min_fragment_length} steps need a batch of at least "
               f"{runners * self.min_fragment_length} env steps (train_batch_size_per_learner x learners is "
               f"{self.total_batch_size}); lower it or num_env_runners, or raise the batch",
               self.min_fragment_length)
        for name in ("num_env_runners", "num_learners", "max_env_runner_restarts"):
            _check(getattr(self, name) >= 0, name, "must be >= 0", getattr(self, name))
        _check(self.minibatch_size <= self.train_batch_size_per_learner, "minibatch_size",
               f"must be <= train_batch_size_per_learner ({self.train_batch_size_per_learner})", self.minibatch_size)
        _at_most(self, 1.0, "lr")
        _at_most(self, 1000, "num_epochs")
        _at_most(self, 10_000_000, "train_batch_size_per_learner")
        _at_most(self, 16_384, "num_envs_per_env_runner")
        _at_most(self, 1024, "num_env_runners", "num_cpus_per_env_runner")
        _at_most(self, 256, "num_learners", "num_gpus_per_learner")
        object.__setattr__(self, "hidden_sizes", tuple(self.hidden_sizes))
        _check(1 <= len(self.hidden_sizes) <= 16 and all(1 <= h <= 8192 for h in self.hidden_sizes),
               "hidden_sizes", "must be 1 to 16 layer sizes, each in [1, 8192]", self.hidden_sizes)
        _check(self.activation in ("tanh", "relu"), "activation", "must be 'tanh' or 'relu'", self.activation)
        _check(self.sampler in SAMPLERS, "sampler", f"must be one of {SAMPLERS}", self.sampler)
        object.__setattr__(self, "init_modules", tuple(self.init_modules))
        _check(all(m in ROLES for m in self.init_modules) and len(set(self.init_modules)) == len(self.init_modules),
               "init_modules", f"must be distinct roles out of {ROLES}", self.init_modules)
        _check(isinstance(self.init_checkpoint, str), "init_checkpoint", "must be a path", self.init_checkpoint)
        _check(bool(self.init_checkpoint) == bool(self.init_modules), "init_modules",
               "must name at least one role exactly when init_checkpoint is set", self.init_modules)
        object.__setattr__(self, "deterministic_modules", tuple(self.deterministic_modules))
        _check(all(m in ROLES for m in self.deterministic_modules)
               and len(set(self.deterministic_modules)) == len(self.deterministic_modules),
               "deterministic_modules", f"must be distinct roles out of {ROLES}", self.deterministic_modules)
        _check(not self.deterministic_modules or self.sampler == "batched", "deterministic_modules",
               "needs sampler: batched (RLlib's own runner explores with every module)", self.deterministic_modules)
        _check(self.action_distribution != "squashed" or self.sampler == "batched", "action_distribution",
               "squashed needs sampler: batched (RLlib's own runner would clip, not squash, the actions)",
               self.action_distribution)


    @property
    def total_batch_size(self) -> int:
        """Env steps per iteration over all learners (RLlib: per-learner batch x max(1, learners))."""
        return self.train_batch_size_per_learner * max(1, self.num_learners)


def rollout_shape(training: TrainingConfig) -> tuple[int, int]:
    """(arenas per env runner, rollout fragment length in steps per arena) for ``training``.

    The iteration's batch B is split over R sampling runners (the driver's when
    ``num_env_runners`` is 0) of N arenas each, L steps per arena, R x N x L >= B. N is the
    configured ``num_envs_per_env_runner``, capped at B / (R x ``min_fragment_length``) so that
    L >= ``min_fragment_length`` whatever the runner count (config validation guarantees
    R x ``min_fragment_length`` <= B); L = ceil(B / (R x N)).
    """
    runners = max(1, training.num_env_runners)
    batch = training.total_batch_size
    arenas = training.num_envs_per_env_runner
    if training.min_fragment_length:
        arenas = max(1, min(arenas, batch // (runners * training.min_fragment_length)))
    return arenas, math.ceil(batch / (runners * arenas))


def sampling_summary(training: TrainingConfig) -> str:
    """One line: how an iteration is sampled and where it is learned (the ``train`` header)."""
    arenas, fragment = rollout_shape(training)
    runners = max(1, training.num_env_runners)
    where = "driver" if training.num_env_runners == 0 else f"{runners} env runner(s)"
    capped = f" (of {training.num_envs_per_env_runner})" if arenas < training.num_envs_per_env_runner else ""
    device = "GPU" if training.num_gpus_per_learner > 0 else "CPU"
    learners = "the driver's learner" if training.num_learners == 0 else f"{training.num_learners} learners"
    return (f"{where} x {arenas} arenas{capped} x {fragment} steps = {runners * arenas * fragment:,} env steps per "
            f"iteration; {learners} on {device}, {training.num_cpus_per_learner} torch thread(s)")


def runner_threads(training: TrainingConfig) -> int:
    """Torch intra-op threads of an env runner: its CPU reservation, at least one."""
    return max(1, int(training.num_cpus_per_env_runner))


@dataclass(frozen=True)
class EvaluationConfig:
    """Periodic evaluation during training (pe_rllib.evaluation.suite): the current roles against
    every scripted opponent and each other, in the run's own world."""

    every: int = 0
    """Evaluate every this many iterations (0 = never; the last iteration is always evaluated when > 0)."""
    episodes: int = 200
    """Episodes per matchup (8 matchups; Wilson 95 % intervals on every rate)."""
    seed: int = 12345
    """Seed of the evaluation episodes (the same episodes every time, so evaluations compare)."""

    def __post_init__(self) -> None:
        _check(isinstance(self.every, int) and self.every >= 0, "every", "must be an integer >= 0", self.every)
        _check(isinstance(self.episodes, int) and 1 <= self.episodes <= 100_000, "episodes",
               "must be an integer in [1, 100000]", self.episodes)
        _check(self.seed >= 0, "seed", "must be >= 0", self.seed)


PFSP_SAMPLING = ("uniform", "pfsp_hard", "pfsp_var", "hedge")
EXPLOITER_RESETS = ("fresh", "main")


@dataclass(frozen=True)
class LeagueConfig:
    """Opponent pool per role with prioritised sampling and Elo ratings (pe_rllib.selfplay)."""

    enabled: bool = False
    """Off: plain alternating self-play (the frozen role is always its current weights, or a snapshot
    slot per ``selfplay.snapshot_probability``)."""
    pool_size: int = 8
    """Snapshots kept per role; beyond it the least useful is evicted (never the oldest, the milestone)."""
    snapshot_every: int = 0
    """Also add the training role's weights every this many of its iterations (0 = at phase ends only)."""
    current_share: float = 0.5
    """Share of the training role's episodes against the opponent's current weights; the rest draw
    a snapshot from the pool."""
    sampling: str = "pfsp_hard"
    """How pool opponents are drawn: "uniform", "pfsp_hard" ((1 - p)^power, p = the learner's win rate
    against the snapshot: hard opponents first), "pfsp_var" (p (1 - p): even opponents first) or
    "hedge" (exponential weights on the learner's cumulative losses)."""
    pfsp_power: float = 2.0
    """Exponent of pfsp_hard."""
    hedge_eta: float = 0.1
    """Learning rate of the hedge weights (per game lost by the learner)."""
    elo_k: float = 16.0
    """Elo K-factor per game."""
    scripted_opponents: tuple[str, ...] = ()
    """Scripted policies (names from :data:`SCRIPTED_POLICIES`) that join the pool of every role they
    can play as permanent entries: drawn by the same sampling weights as the snapshots, never
    evicted, not counted in ``pool_size``, and rated like them (fixed anchors of the Elo scale).
    Training against them keeps a role robust to simple strategies self-play may never show it,
    e.g. ``straight_flee`` for the pursuer."""
    anchor_every: int = 0
    """Searched anchors: every this many iterations, the yardstick's scripted search (the cross-entropy
    method over a controller family, as ``pe-rllib exploit --method search``) finds each role's best
    controller against the other role's current policy, and that controller joins the role's pool as a
    permanent entry, so the other role trains against what the yardstick would find (0 = off)."""
    anchor_slots: int = 2
    """Searched anchors kept per role (the oldest is replaced); each plays in its own module, declared up
    front, and none counts in ``pool_size``."""
    anchor_generations: int = 6
    """Cross-entropy generations per anchor search."""
    anchor_population: int = 16
    """Candidates per generation of an anchor search."""
    anchor_episodes: int = 24
    """Episodes per candidate and generation of an anchor search."""
    anchor_selection_episodes: int = 200
    """Fresh episodes on which an anchor search picks its result among its finalists."""
    anchor_opponents: bool = True
    """Whether searched anchors join the pool as opponents of the other role (True), or only teach their own
    role (``distill_coeff``) and measure the current policies (``anchor_success``, cross-play) (False)."""
    distill_coeff: float = 0.0
    """Search distillation (expert iteration, as AlphaZero distils its search into its network): the weight
    of a loss pulling each main role's mean action towards what its role's newest searched anchor (the
    best controller the search found against the other role's current policy) does on the same batch of
    observations, ``coeff * mean ||mean(s) - anchor(s)||^2`` (for a squashed distribution, tanh of the
    mean), added to PPO's loss. 0 = off; needs ``anchor_every``."""

    exploiters: bool = False
    """Main exploiters (AlphaStar): per role a learned module, ``ROLE_exploiter``, that trains during its role's
    phases only against the other role's current policy (``exploiter_share`` of the training role's episodes),
    is reset every ``exploiter_reset_every`` of its iterations, and whose snapshot joins the pool when the
    periodic evaluation's deterministic cross-play shows it beating that policy (``exploiter_admit``), so the
    main role must learn to answer it. Needs the batched sampler and ``evaluation.every``."""
    exploiter_share: float = 0.25
    """Share of the training role's episodes its exploiter plays (against the other role's current policy)."""
    exploiter_reset_every: int = 40
    """Reset an exploiter after this many iterations of its training (0 = only when admitted)."""
    exploiter_reset_to: str = "fresh"
    """What a reset gives an exploiter: "fresh" (new random weights) or "main" (its role's current weights)."""
    exploiter_admit: float = 0.5
    """Deterministic success rate against the other role's current policy at which an exploiter's snapshot
    joins its role's pool (and the exploiter is reset)."""

    def __post_init__(self) -> None:
        _check(0.0 < self.exploiter_share < 1.0, "exploiter_share", "must be in (0, 1)", self.exploiter_share)
        _check(isinstance(self.exploiter_reset_every, int) and self.exploiter_reset_every >= 0,
               "exploiter_reset_every", "must be an integer >= 0", self.exploiter_reset_every)
        _check(self.exploiter_reset_to in EXPLOITER_RESETS, "exploiter_reset_to",
               f"must be one of {EXPLOITER_RESETS}", self.exploiter_reset_to)
        _check(0.0 <= self.exploiter_admit <= 1.0, "exploiter_admit", "must be in [0, 1]", self.exploiter_admit)
        for name in ("anchor_every", "anchor_slots"):
            _check(isinstance(getattr(self, name), int) and getattr(self, name) >= 0, name,
                   "must be an integer >= 0", getattr(self, name))
        for name in ("anchor_generations", "anchor_episodes", "anchor_selection_episodes"):
            _check(isinstance(getattr(self, name), int) and getattr(self, name) >= 1, name,
                   "must be an integer >= 1", getattr(self, name))
        _check(isinstance(self.anchor_population, int) and self.anchor_population >= 2, "anchor_population",
               "must be an integer >= 2", self.anchor_population)
        _check(self.anchor_slots <= 16, "anchor_slots", "must be <= 16", self.anchor_slots)
        _check(self.distill_coeff >= 0.0, "distill_coeff", "must be >= 0", self.distill_coeff)
        _check(not self.distill_coeff or self.anchor_every > 0, "distill_coeff",
               "needs anchor_every > 0 (the searched anchors are the teachers)", self.distill_coeff)
        _check(not self.anchor_every or self.anchor_slots >= 1, "anchor_slots",
               "must be >= 1 when anchor_every > 0 (the anchors' modules)", self.anchor_slots)
        _check(isinstance(self.pool_size, int) and 2 <= self.pool_size <= 256, "pool_size",
               "must be an integer in [2, 256]", self.pool_size)
        known = sorted({name for names in SCRIPTED_POLICIES.values() for name in names})
        for name in self.scripted_opponents:
            _check(name in known, "scripted_opponents", f"unknown scripted policy (choose from: {', '.join(known)})",
                   name)
        _check(len(set(self.scripted_opponents)) == len(self.scripted_opponents), "scripted_opponents",
               "names must not repeat", list(self.scripted_opponents))
        _check(self.snapshot_every >= 0, "snapshot_every", "must be >= 0", self.snapshot_every)
        _check(0.0 <= self.current_share <= 1.0, "current_share", "must be in [0, 1]", self.current_share)
        _check(self.sampling in PFSP_SAMPLING, "sampling", f"must be one of {PFSP_SAMPLING}", self.sampling)
        _positive(self, "pfsp_power", "hedge_eta", "elo_k")
        _at_most(self, 100.0, "pfsp_power", "hedge_eta")
        _at_most(self, 400.0, "elo_k")

    @property
    def with_exploiters(self) -> bool:
        """Whether the roles have main exploiter modules (league on and ``exploiters``)."""
        return self.enabled and self.exploiters

    @property
    def anchors(self) -> int:
        """Anchor modules per role (0 when searched anchors are off)."""
        return self.anchor_slots if self.enabled and self.anchor_every else 0

    def scripted_entries(self) -> list[tuple[str, str]]:
        """``(role, name)`` for every scripted opponent and every role it can play (``random``: both)."""
        return [(role, name) for role in ROLES for name in self.scripted_opponents if name in SCRIPTED_POLICIES[role]]


CURRICULUM_FIELDS = ("min_init_distance", "max_init_distance", "n_obstacles", "p_full_obs", "evader_v_max",
                     "pursuer_v_max")
CURRICULUM_RULES = ("balance", "capture")


@dataclass(frozen=True)
class CurriculumConfig:
    """Levels of the world that get harder as the pair improves (pe_rllib.selfplay.curriculum)."""

    enabled: bool = False
    """Play the levels (off: the experiment's own world from the start)."""
    levels: tuple[dict, ...] = ()
    """Env overrides per level, easiest first (level 0); the experiment's env is the last, hardest level
    and need not be listed. Fields: min/max_init_distance, n_obstacles, p_full_obs, evader/pursuer_v_max."""
    rule: str = "balance"
    """"balance": advance when |capture - escape| <= balance_threshold; "capture": when the pursuer's
    capture rate >= capture_threshold. Either for ``consecutive`` iterations in a row."""
    balance_threshold: float = 0.2
    """The "balance" rule's largest |capture rate - escape rate| (0: exactly even; 1: always holds)."""
    capture_threshold: float = 0.5
    """The "capture" rule's smallest capture rate of the pursuer."""
    consecutive: int = 3
    """Iterations in a row the rule must hold."""
    min_iterations: int = 10
    """Iterations at a level before it can advance."""

    def __post_init__(self) -> None:
        for i, level in enumerate(self.levels):
            _check(isinstance(level, Mapping), f"levels[{i}]", "must be a mapping of env fields", level)
        object.__setattr__(self, "levels", tuple(dict(level) for level in self.levels))
        for i, level in enumerate(self.levels):
            unknown = sorted(set(level) - set(CURRICULUM_FIELDS))
            _check(not unknown, f"levels[{i}]", f"unknown field {unknown[0] if unknown else ''} (curriculum fields: "
                   f"{', '.join(CURRICULUM_FIELDS)})", level)
        _check(not self.enabled or self.levels, "levels", "needs at least one level when enabled", self.levels)
        _check(self.rule in CURRICULUM_RULES, "rule", f"must be one of {CURRICULUM_RULES}", self.rule)
        _check(0.0 <= self.balance_threshold <= 1.0, "balance_threshold", "must be in [0, 1]",
               self.balance_threshold)
        _check(0.0 <= self.capture_threshold <= 1.0, "capture_threshold", "must be in [0, 1]",
               self.capture_threshold)
        _check(isinstance(self.consecutive, int) and self.consecutive >= 1, "consecutive", "must be >= 1",
               self.consecutive)
        _check(isinstance(self.min_iterations, int) and self.min_iterations >= 0, "min_iterations", "must be >= 0",
               self.min_iterations)


HEALTH_ROLLBACK = ("offender", "bilateral", "none")


@dataclass(frozen=True)
class HealthConfig:
    """Detect a collapsing self-play and roll back (pe_rllib.selfplay.health)."""

    enabled: bool = False
    """Watch every iteration (off: no alarms, no rollbacks)."""
    domination_threshold: float = 0.9
    """A side dominates when its success (capture or escape rate) is above this ..."""
    domination_iterations: int = 5
    """... for this many iterations in a row."""
    min_entropy: float = -3.0
    """Entropy collapse: a training module's action entropy below this."""
    max_kl: float = 0.5
    """KL blow-up: a training module's mean KL to the sampling policy above this."""
    rollback: str = "offender"
    """"offender": roll the dominating (or broken) side back to its last known-good snapshot;
    "bilateral": both sides; "none": report only."""
    cooldown: int = 5
    """Iterations after an intervention before the next domination alarm."""

    def __post_init__(self) -> None:
        _check(0.5 < self.domination_threshold <= 1.0, "domination_threshold", "must be in (0.5, 1]",
               self.domination_threshold)
        _check(isinstance(self.domination_iterations, int) and self.domination_iterations >= 1,
               "domination_iterations", "must be >= 1", self.domination_iterations)
        _positive(self, "max_kl")
        _check(math.isfinite(self.min_entropy), "min_entropy", "must be finite", self.min_entropy)
        _check(self.rollback in HEALTH_ROLLBACK, "rollback", f"must be one of {HEALTH_ROLLBACK}", self.rollback)
        _check(isinstance(self.cooldown, int) and self.cooldown >= 0, "cooldown", "must be >= 0", self.cooldown)


@dataclass(frozen=True)
class ExperimentConfig:
    """Root of the config tree. More sections (training, self-play, league) plug in here."""

    env: EnvConfig = field(default_factory=EnvConfig)
    """The world, shared by training, evaluation and rendering."""
    safety: SafetyConfig = field(default_factory=SafetyConfig)
    """The CBF safety filter wrapped around the env."""
    selfplay: SelfPlayConfig = field(default_factory=SelfPlayConfig)
    """Alternating-freezing schedule."""
    training: TrainingConfig = field(default_factory=TrainingConfig)
    """RLlib algorithm, resources and checkpoints."""
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    """Periodic evaluation against fixed scripted opponents during training."""
    league: LeagueConfig = field(default_factory=LeagueConfig)
    """Opponent pool, prioritised sampling, Elo."""
    curriculum: CurriculumConfig = field(default_factory=CurriculumConfig)
    """World levels that harden as the pair improves."""
    health: HealthConfig = field(default_factory=HealthConfig)
    """Domination / collapse detection and rollback."""

    def __post_init__(self) -> None:
        if self.safety.enabled:
            check_safety_compatible(self.env, self.safety)
        if self.curriculum.enabled and self.training.sampler != "batched":
            raise ConfigError("curriculum.enabled: needs training.sampler: batched (its runners switch worlds "
                              "between iterations)")
        if self.selfplay.frozen_deterministic and self.training.sampler != "batched":
            raise ConfigError("selfplay.frozen_deterministic: needs training.sampler: batched (RLlib's own runner "
                              "explores with every module)")
        if self.league.with_exploiters and self.training.sampler != "batched":
            raise ConfigError("league.exploiters: needs training.sampler: batched (an exploiter's episode picks "
                              "both roles' modules at once)")
        if self.league.with_exploiters and not self.evaluation.every:
            raise ConfigError("league.exploiters: needs evaluation.every > 0 (the deterministic cross-play that "
                              "admits an exploiter to the pool)")
        if self.league.enabled and self.selfplay.opponent_slots < 1:
            raise ConfigError("league.enabled: needs selfplay.opponent_slots >= 1 (the fixed modules pool entries "
                              "are loaded into)")
        for i, level in enumerate(self.curriculum.levels):
            try:                                     # every level must be a valid world of its own
                world = env_with(self.env, level)
                if self.safety.enabled:
                    check_safety_compatible(world, self.safety)
            except ConfigError as err:
                raise ConfigError(f"curriculum.levels[{i}]: {err}") from None


Section = TypeVar("Section")


def replaced(section: Section, overrides: Mapping[str, Any], path: str) -> Section:
    """``section`` (a config dataclass) with some fields replaced, validated like the section read from YAML
    at ``path`` (errors name ``path.field``); ``section`` itself when there is nothing to replace."""
    if not overrides:
        return section
    return from_dict(type(section), {**to_dict(section), **overrides}, path)


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


# --------------------------------------------------------------------------- loading


def _is_dataclass_type(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _coerce(value: Any, tp: Any, path: str) -> Any:
    """Check ``value`` against annotation ``tp``; build nested dataclasses; int -> float is allowed."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(value, inner, path)
    if _is_dataclass_type(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"{path}: must be a mapping, got {value!r}")
        return from_dict(tp, value, path)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{path}: must be a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not (isinstance(value, int) or
                                           (isinstance(value, float) and value.is_integer())):
            raise ConfigError(f"{path}: must be an integer, got {value!r}")
        return int(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: must be true or false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{path}: must be a string, got {value!r}")
        return value
    if origin is tuple:
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            raise ConfigError(f"{path}: must be a list, got {value!r}")
        inner = typing.get_args(tp)[0]
        return tuple(_coerce(v, inner, f"{path}[{i}]") for i, v in enumerate(value))
    return value


def from_dict(cls: type, data: Mapping[str, Any], path: str = "") -> Any:
    """Build dataclass ``cls`` from ``data``, rejecting unknown keys and naming bad paths."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    prefix = f"{path}." if path else ""
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{prefix}{unknown[0]}: unknown key (valid keys: {', '.join(sorted(names))})")
    kwargs = {key: _coerce(value, hints[key], f"{prefix}{key}") for key, value in data.items()}
    try:
        return cls(**kwargs)
    except ConfigError as err:
        raise ConfigError(f"{prefix}{err}") from None


def to_dict(obj: Any) -> dict[str, Any]:
    """Plain-data dict of a config dataclass (YAML/JSON friendly; tuples become lists)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            value = to_dict(value)
        elif isinstance(value, tuple):
            value = list(value)
        out[f.name] = value
    return out


def set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    """``tree[a][b][c] = value`` for ``dotted`` ``"a.b.c"``, creating missing sections (plain dicts)."""
    node = tree
    *parents, leaf = dotted.split(".")
    for key in parents:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{dotted}: {key} is not a section")
    node[leaf] = value


def experiment_with(experiment: "ExperimentConfig", overrides: Mapping[str, Any]) -> "ExperimentConfig":
    """``experiment`` with dotted-path ``overrides`` applied, validated as a whole (one-line errors)."""
    data = to_dict(experiment)
    for dotted, value in overrides.items():
        set_dotted(data, dotted, value)
    return from_dict(ExperimentConfig, data)


BUNDLED_PACKAGE = "pe_rllib.tune_configs"


SWEEP_SUFFIX = "_sweep"
"""Bundled files named ``*_sweep.yaml`` are Tune sweeps (``pe-rllib tune``), not experiments."""


def _bundled(sweeps: bool) -> dict[str, Path]:
    from importlib.resources import files

    found = {Path(entry.name).stem: Path(str(entry)) for entry in files(BUNDLED_PACKAGE).iterdir()
             if entry.name.endswith(".yaml")}
    return {name: path for name, path in found.items() if name.endswith(SWEEP_SUFFIX) == sweeps}


def bundled_experiments() -> dict[str, Path]:
    """The experiment YAMLs shipped with the package, by name (``quickstart``, ``ra1``, ...)."""
    return _bundled(sweeps=False)


def bundled_sweeps() -> dict[str, Path]:
    """The sweep YAMLs shipped with the package, by name (``speed_ratio_sweep``, ...)."""
    return _bundled(sweeps=True)


def experiment_path(name_or_path: str | Path, sweep: bool = False) -> Path:
    """An experiment file (or, with ``sweep``, a sweep file): an existing path, else a bundled one's name."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    if path.exists():
        raise ConfigError(f"{path}: not a file")
    bundled = _bundled(sweeps=sweep)
    stem = path.stem if path.suffix == ".yaml" else path.name
    if stem in bundled and (len(path.parts) == 1 or path.parent.name == "tune_configs"):
        return bundled[stem]
    kind = "sweeps" if sweep else "experiments"
    raise ConfigError(f"{path}: config file not found (bundled {kind}: {', '.join(sorted(bundled))})")


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    """A YAML file whose top level is a mapping (safe loader), with one-line errors naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text (UTF-8) file") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot read ({err.strerror})") from None
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(loaded).__name__}")
    return loaded


def load_experiment(path: str | Path | None = None, overrides: Mapping[str, Any] | None = None
                    ) -> ExperimentConfig:
    """Load an :class:`ExperimentConfig` from a YAML file (or defaults), then apply overrides.

    ``path`` is a file or the name of a bundled experiment (see :func:`experiment_path`).
    ``overrides`` maps dotted paths to values, e.g. ``{"env.evader_v_max": 1.15}``.
    Errors name the file and the key path on one line.
    """
    data: dict[str, Any] = {}
    where = ""
    if path is not None:
        path = experiment_path(path)
        where = f"{path}: "
        data = read_yaml_mapping(path)
    for dotted, value in (overrides or {}).items():
        set_dotted(data, dotted, value)
    try:
        return from_dict(ExperimentConfig, data)
    except ConfigError as err:
        raise ConfigError(f"{where}{err}") from None
