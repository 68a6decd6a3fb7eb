"""Parameterised controller families: the search space of the scripted best responses.

Each family is a :class:`~pe_rllib.policies.scripted.ScriptedPolicy` (the same
``act(obs [B, D]) -> actions [B, 2]`` interface every player has) whose behaviour is set
by a vector of physical parameters, **one row per arena**: a whole population of
candidate controllers plays in one batched world at once (``params`` ``[B, P]``), or a
single controller everywhere (``params`` ``[P]``). The searches of
:mod:`pe_rllib.evaluation.search` optimise these vectors against a frozen opponent.

The families are deliberately wider than the hand-tuned scripted policies (whose hazard
margin and slowdown are fixed), so that the search can find what a ten-line controller
finds:

``pursuit`` (pursuer)
    Heads for a lead point ``r + v * min(lead_factor * t_intercept, lead_horizon)`` of the
    evader's constant-velocity intercept, shifted by ``herd_offset`` metres towards the arena
    centre side of the evader (approaching from the open side herds it into a wall or
    corner), adds ``pn_gain`` times the line-of-sight rate to the turn rate (proportional
    navigation), and is pushed off obstacles and walls inside ``repulsion_range`` metres with
    ``repulsion_gain``. It slows down by up to ``misalign_slowdown`` when facing away. Under
    partial observation it heads for the evader's last-seen point; an evader never seen, or lost
    within ``scan_distance`` of that point, it looks for by turning at ``scan_rate`` while driving
    at ``scan_speed`` (the scan came later; its defaults drive straight on as the family did
    before, and vectors saved without it are completed), steering onto a circle round the arena
    centre of ``patrol_radius`` (a fraction of half the shorter side) with weight ``|patrol_gain|``
    (its sign the sense) so that a scan can sweep the edges of the arena (the patrol came last).

``evasion`` (evader)
    A weighted sum of unit directions: away from the pursuer (``flee_gain``), around the
    arena centre on a circle of ``orbit_radius`` (``orbit_gain``, its sign the sense of
    rotation), along the nearest wall away from the pursuer (``wall_follow_gain``), and a
    break turn across the pursuer's velocity when it is closer than ``juke_distance``
    (``juke_gain``), and the *open heading* (``open_gain``): of 16 directions, the one that best
    combines free run before a wall or obstacle (up to ``open_lookahead`` metres) with leading
    away from the pursuer (``open_tradeoff`` sets the mix), so a pursuer of equal speed stays
    behind in open space instead of cutting inside the turn a wall forces; plus obstacle and
    wall repulsion as above and random turn-rate jitter of ``jitter`` times the top turn rate.
    The open heading came last (its default weight 0 plays the family as before; vectors saved
    without it are completed, see :meth:`ParameterVector.complete`): against trained pursuers
    the family without it escaped 0.13 less often than an RL best response (BENCHMARKS.md,
    issue 21, seventh session). Under partial observation, a pursuer it neither sees nor remembers
    sends it towards the nearest corner's *hiding spot* (``hide_margin`` from both walls) with weight
    ``hide_gain``, slowing to ``hide_speed`` there: the warm RL evaders of issue 23 escaped out of
    the trained pursuers' sensing range near walls and in corners, where the orbit (at most 6 m from
    the centre) never went (eleventh session). Both came last; their defaults play as before.

Example:
    >>> import numpy as np
    >>> from pe_rllib.envs import BatchedPursuitEvasion
    >>> from pe_rllib.policies.families import make_family
    >>> env = BatchedPursuitEvasion(4, n_obstacles=1)
    >>> obs = env.reset(seed=0)
    >>> pursuer = make_family("pursuer", env.config)
    >>> pursuer.names()[:3]
    ['lead_factor', 'lead_horizon', 'pn_gain']
    >>> pursuer.set_params(np.stack([pursuer.defaults()] * 4))
    >>> pursuer.act(obs["pursuer"]).shape
    (4, 2)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pe_rllib.config import ConfigError, EnvConfig
from pe_rllib.config.aerial import AerialConfig
from pe_rllib.policies.scripted import ScriptedPolicy


@dataclass(frozen=True)
class Parameter:
    """One searchable parameter: its bounds, the value a search starts from, and what it does."""

    name: str
    low: float
    high: float
    default: float
    doc: str
    noise: bool = False
    """The size of a random term (its low bound, 0, plays the controller's deterministic part): see
    :meth:`ParameterVector.quiet`."""


class ParameterVector:
    """Mixin: a controller whose behaviour is set by an array of :data:`parameters`, one row per arena (or one
    row for all); the searches move it through the unit cube. Either world's families use it."""

    family = "parametric"
    parameters: tuple[Parameter, ...] = ()
    earlier_sizes: tuple[int, ...] = ()
    """Parameter counts the family had before parameters were appended to it (each appended one defaults to a
    value that keeps the earlier behaviour): a vector of such a size, saved before (a run directory's searched
    anchors, a search's start), is completed with the appended parameters' defaults."""
    params: np.ndarray

    def init_params(self, params: np.ndarray | None) -> None:
        self.name = self.family
        self.params = self.defaults()
        if params is not None:
            self.set_params(params)

    @classmethod
    def names(cls) -> list[str]:
        return [p.name for p in cls.parameters]

    @classmethod
    def bounds(cls) -> tuple[np.ndarray, np.ndarray]:
        return np.array([p.low for p in cls.parameters]), np.array([p.high for p in cls.parameters])

    @classmethod
    def defaults(cls) -> np.ndarray:
        return np.array([p.default for p in cls.parameters])

    @classmethod
    def from_unit(cls, unit: np.ndarray) -> np.ndarray:
        """Parameters from points of the unit cube ``[..., P]`` (clipped into it)."""
        low, high = cls.bounds()
        return low + np.clip(unit, 0.0, 1.0) * (high - low)

    @classmethod
    def to_unit(cls, params: np.ndarray) -> np.ndarray:
        low, high = cls.bounds()
        return (np.asarray(params, dtype=np.float64) - low) / (high - low)

    @classmethod
    def complete(cls, params: np.ndarray) -> np.ndarray:
        """``params`` ``[..., P']``, completed with the defaults of the parameters appended since, when ``P'`` is
        one of :attr:`earlier_sizes`; otherwise unchanged."""
        params = np.asarray(params, dtype=np.float64)
        if params.ndim and params.shape[-1] in cls.earlier_sizes:
            appended = cls.defaults()[params.shape[-1]:]
            params = np.concatenate([params, np.broadcast_to(appended, params.shape[:-1] + appended.shape)], axis=-1)
        return params

    @classmethod
    def quiet(cls, params: np.ndarray) -> np.ndarray:
        """``params`` ``[..., P]`` with every :attr:`Parameter.noise` parameter at its low bound (no noise): the
        controller's deterministic part, the action its random terms average to. What a network imitating the
        controller by regression should fit (the league's distillation targets): the noise only slows the fit."""
        params = np.array(cls.complete(params), dtype=np.float64)
        for i, parameter in enumerate(cls.parameters):
            if parameter.noise:
                params[..., i] = parameter.low
        return params

    @classmethod
    def describe(cls, params: np.ndarray) -> dict[str, float]:
        """``{name: value}`` of one parameter vector (rounded for reports)."""
        return {p.name: round(float(v), 4) for p, v in zip(cls.parameters, np.asarray(params).ravel())}

    def set_params(self, params: np.ndarray) -> None:
        """``[P]`` (every arena) or ``[B, P]`` (one row per arena), checked against the bounds (a vector of an
        earlier size of the family is completed, :meth:`complete`)."""
        params = self.complete(params)
        if params.shape[-1:] != (len(self.parameters),) or params.ndim not in (1, 2):
            raise ValueError(f"params: expected shape [{len(self.parameters)}] or [B, {len(self.parameters)}] "
                             f"for family {self.family!r}, got {params.shape}")
        low, high = self.bounds()
        rows = params.reshape(-1, len(self.parameters))
        outside = np.flatnonzero(np.any((rows < low - 1e-9) | (rows > high + 1e-9), axis=0))
        if outside.size:
            p = self.parameters[outside[0]]
            raise ValueError(f"params: {p.name} must be in [{p.low:g}, {p.high:g}]")
        self.params = params

    def column(self, name: str, batch: int) -> np.ndarray:
        """Parameter ``name`` per arena, ``[batch]``."""
        values = self.params[..., self.names().index(name)]
        if values.ndim == 0:
            return np.full(batch, float(values))
        if values.shape[0] != batch:
            raise ValueError(f"params: {values.shape[0]} rows for a batch of {batch} observations")
        return values


class ParametricPolicy(ParameterVector, ScriptedPolicy):
    """A scripted controller of the 2-D world whose parameters are an array, one row per arena (or one for all)."""

    def __init__(self, env_config: EnvConfig, role: str, params: np.ndarray | None = None,
                 seed: int | None = None) -> None:
        super().__init__(env_config, role, seed=seed)
        self.init_params(params)

    # ---------------------------------------------------------------- shared behaviour

    def hazard_push(self, obs: np.ndarray) -> np.ndarray:
        """Repulsion from obstacles and walls with this controller's range and gain per arena."""
        n = len(obs)
        return self.repulsion(obs, influence=np.maximum(self.column("repulsion_range", n), 1e-3),
                              gain=self.column("repulsion_gain", n))

    def drive(self, direction: np.ndarray, omega_extra: np.ndarray | float = 0.0,
              speed: np.ndarray | float = 1.0) -> np.ndarray:
        """Actions turning towards ego-frame ``direction`` ``[B, 2]`` (plus ``omega_extra`` rad/s), at ``speed``
        times top speed, slowed by ``misalign_slowdown`` when facing away from it."""
        n = len(direction)
        error = np.arctan2(direction[:, 1], direction[:, 0])
        omega = np.clip(self.column("heading_gain", n) * error + omega_extra,
                        -self.env_config.omega_max, self.env_config.omega_max)
        slowdown = self.column("misalign_slowdown", n)
        v = speed * self.v_max * (1.0 - slowdown * (1.0 - np.clip(np.cos(error), 0.0, 1.0)))
        return self.to_actions(v, omega)

    def world_frame(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Own position ``[B, 2]`` (m, arena centre at 0) and heading ``cos, sin`` ``[B]``."""
        own = self.layout.part(obs, "own")
        cfg = self.env_config
        position = own[:, 0:2] * np.array([cfg.arena_width / 2, cfg.arena_height / 2])
        return position, own[:, 2], own[:, 3]

    def circling(self, position: np.ndarray, radius: np.ndarray, sense: np.ndarray, cos_t: np.ndarray,
                 sin_t: np.ndarray) -> np.ndarray:
        """The ego-frame direction ``[B, 2]`` round the arena centre on a circle of ``radius`` [m]: the tangent in
        ``sense`` (+1 counter-clockwise, -1 clockwise, 0 none) plus a pull onto the circle (at most 1)."""
        radial = _unit(position)
        tangent = np.stack([-radial[:, 1], radial[:, 0]], axis=1)
        pull = np.clip(radius - np.linalg.norm(position, axis=1), -1.0, 1.0)
        return self.to_ego(sense[:, None] * tangent + pull[:, None] * radial, cos_t, sin_t)

    @staticmethod
    def to_ego(vectors: np.ndarray, cos_t: np.ndarray, sin_t: np.ndarray) -> np.ndarray:
        return np.stack([cos_t * vectors[:, 0] + sin_t * vectors[:, 1],
                         -sin_t * vectors[:, 0] + cos_t * vectors[:, 1]], axis=1)


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)


_REPULSION = (
    Parameter("repulsion_range", 0.05, 2.5, 0.8, "hazard clearance [m] inside which obstacles and walls repel"),
    Parameter("repulsion_gain", 0.0, 5.0, 2.0, "strength of the hazard repulsion"),
    Parameter("heading_gain", 1.0, 10.0, 4.0, "turn rate per radian of heading error [1/s]"),
    Parameter("misalign_slowdown", 0.0, 1.0, 0.3, "speed given up when facing away from the desired direction"),
)


class PursuitFamily(ParametricPolicy):
    """Lead pursuit + proportional navigation + herding + hazard repulsion (see the module docstring)."""

    family, roles = "pursuit", ("pursuer",)
    parameters = (
        Parameter("lead_factor", 0.0, 1.5, 0.5, "fraction of the constant-velocity intercept time to lead by"),
        Parameter("lead_horizon", 0.0, 5.0, 2.0, "cap on the lead time [s]"),
        Parameter("pn_gain", 0.0, 6.0, 0.0, "turn rate per unit line-of-sight rate (proportional navigation)"),
        Parameter("herd_offset", 0.0, 2.0, 0.0, "aim this far [m] to the arena-centre side of the evader"),
        *_REPULSION,
        Parameter("scan_distance", 0.0, 4.0, 0.0, "partial observation: lost evader's last-seen point [m] within "
                  "which to give it up and scan (never seen: always scan)"),
        Parameter("scan_rate", -1.0, 1.0, 0.0, "scanning turn rate, as a signed fraction of the top turn rate"),
        Parameter("scan_speed", 0.0, 1.0, 1.0, "scanning speed, as a fraction of top speed"),
        Parameter("patrol_gain", -3.0, 3.0, 0.0, "scanning: weight of patrolling a circle round the arena centre "
                  "(sign: counter-clockwise > 0)"),
        Parameter("patrol_radius", 0.1, 1.0, 0.6, "the patrol circle's radius, as a fraction of half the arena's "
                  "shorter side"),
    )
    earlier_sizes = (8, 11)     # before the scan (issue 23, third session), before the patrol (eleventh session)

    def _act(self, obs):
        n = len(obs)
        r, v, _ = self.opponent(obs)
        push = self.hazard_push(obs)
        actions = self._pursue(obs, r, v, push)
        # Partial observation: an evader never seen, or lost near where it was last seen, is looked for by turning
        # at scan_rate while driving at scan_speed (the defaults drive straight on, the family's earlier behaviour).
        # Every arena whose evader is unknown (never seen) scans, so the pursuit only ever acts on a known one.
        visible, ever = self.sighting(obs)
        scan = ~visible & (~ever | (np.linalg.norm(r, axis=1) < self.column("scan_distance", n)))
        if scan.any():
            position, cos_t, sin_t = self.world_frame(obs)
            half = min(self.env_config.arena_width, self.env_config.arena_height) / 2
            gain = self.column("patrol_gain", n)
            patrol = self.circling(position, self.column("patrol_radius", n) * half, np.sign(gain), cos_t, sin_t)
            sweep = self.drive(np.array([1.0, 0.0]) + np.abs(gain)[:, None] * patrol + push,
                               self.column("scan_rate", n) * self.env_config.omega_max, self.column("scan_speed", n))
            actions = np.where(scan[:, None], sweep, actions)
        return actions

    def _pursue(self, obs: np.ndarray, r: np.ndarray, v: np.ndarray, push: np.ndarray) -> np.ndarray:
        """Lead pursuit, herding and proportional navigation towards the evader at ``r``, ``v`` (ego frame), pushed
        off hazards by ``push``."""
        n = len(obs)
        distance = np.linalg.norm(r, axis=1)
        # Intercept time of a constant-velocity target: |r + v t| = v_p t, smallest t > 0.
        a = (v ** 2).sum(1) - self.v_max ** 2
        b = 2 * (r * v).sum(1)
        c = distance ** 2
        with np.errstate(divide="ignore", invalid="ignore"):
            disc = np.maximum(b ** 2 - 4 * a * c, 0.0)
            roots = np.stack([(-b - np.sqrt(disc)) / (2 * a), (-b + np.sqrt(disc)) / (2 * a)], axis=1)
            roots = np.where(np.abs(a)[:, None] < 1e-9, (-c / np.where(np.abs(b) > 1e-12, b, np.nan))[:, None],
                             roots)
        roots = np.where(np.isfinite(roots) & (roots > 0), roots, np.inf)
        t_intercept = roots.min(axis=1)
        t_intercept = np.where(np.isfinite(t_intercept), t_intercept, distance / self.v_max)
        lead = np.minimum(self.column("lead_factor", n) * t_intercept, self.column("lead_horizon", n))
        target = r + v * lead[:, None]
        # Herding: aim at the side of the evader that faces the arena centre, fading in the last metre.
        position, cos_t, sin_t = self.world_frame(obs)
        evader_world = position + np.stack([cos_t * r[:, 0] - sin_t * r[:, 1],
                                            sin_t * r[:, 0] + cos_t * r[:, 1]], axis=1)
        centre_side = self.to_ego(_unit(-evader_world), cos_t, sin_t)
        target = target + (self.column("herd_offset", n) * np.clip(distance - 1.0, 0.0, 1.0))[:, None] * centre_side
        own_v = self.layout.part(obs, "own")[:, 4] * self.v_max
        v_rel = v - np.stack([own_v, np.zeros(n)], axis=1)
        los_rate = (r[:, 0] * v_rel[:, 1] - r[:, 1] * v_rel[:, 0]) / np.maximum(distance ** 2, 1e-9)
        return self.drive(_unit(target) + push, self.column("pn_gain", n) * los_rate)


OPEN_HEADINGS = np.stack([np.cos(np.arange(16) * np.pi / 8), np.sin(np.arange(16) * np.pi / 8)], axis=1)
"""The 16 ego-frame unit directions the evasion family's open heading chooses from."""


class EvasionFamily(ParametricPolicy):
    """Flee + orbit + wall following + break turns + jitter + hazard repulsion (see the module docstring)."""

    family, roles = "evasion", ("evader",)
    parameters = (
        Parameter("flee_gain", 0.0, 2.0, 1.0, "weight of the direction away from the pursuer"),
        Parameter("orbit_radius", 0.5, 6.0, 3.0, "radius [m] of the circle around the arena centre"),
        Parameter("orbit_gain", -2.0, 2.0, 0.0, "weight of the orbit (sign: counter-clockwise > 0)"),
        Parameter("wall_follow_gain", 0.0, 2.0, 0.0, "weight of running along the nearest wall, away from the pursuer"),
        Parameter("juke_distance", 0.0, 4.0, 0.0, "pursuer distance [m] below which to break-turn"),
        Parameter("juke_gain", 0.0, 3.0, 1.0, "weight of the break turn across the pursuer's velocity"),
        Parameter("jitter", 0.0, 1.0, 0.0, "random turn-rate noise, as a fraction of the top turn rate", noise=True),
        *_REPULSION,
        Parameter("open_gain", 0.0, 3.0, 0.0, "weight of the open heading: the most open direction leading away"),
        Parameter("open_lookahead", 0.5, 8.0, 3.0, "free run [m] beyond which a direction counts as fully open"),
        Parameter("open_tradeoff", 0.0, 1.0, 0.5, "share of the open heading's score given to free run (the rest "
                  "to leading away from the pursuer)"),
        Parameter("hide_gain", 0.0, 3.0, 0.0, "pursuer unknown: weight of heading for the nearest corner's "
                  "hiding spot"),
        Parameter("hide_margin", 0.3, 4.0, 1.0, "the hiding spot's distance [m] from both walls of the corner"),
        Parameter("hide_speed", 0.0, 1.0, 1.0, "speed at the hiding spot, as a fraction of top speed (full speed "
                  "2 m or more from it)"),
    )
    earlier_sizes = (11, 14)    # before the open heading (issue 21, seventh session), before hiding (issue 23, 11th)

    def _act(self, obs):
        n = len(obs)
        r, v, known = self.opponent(obs)              # the pursuer, in the evader's ego frame
        distance = np.linalg.norm(r, axis=1)
        away = -_unit(r)
        position, cos_t, sin_t = self.world_frame(obs)
        orbit = self.circling(position, self.column("orbit_radius", n), np.sign(self.column("orbit_gain", n)),
                              cos_t, sin_t)
        # Along the nearest wall, in the sense that leads away from the pursuer.
        walls = self.layout.part(obs, "walls")                    # left, right, bottom, top
        nearest = walls.argmin(axis=1)
        along = np.where((nearest < 2)[:, None], np.array([0.0, 1.0]), np.array([1.0, 0.0]))
        along = self.to_ego(along, cos_t, sin_t)
        along *= np.where((along * away).sum(1) >= 0, 1.0, -1.0)[:, None]
        # Break turn: across the pursuer's velocity, to the side of its line the evader is on.
        closing = _unit(np.where(np.linalg.norm(v, axis=1, keepdims=True) > 1e-6, v, -r))
        across = np.stack([-closing[:, 1], closing[:, 0]], axis=1)
        across *= np.where((across * -r).sum(1) >= 0, 1.0, -1.0)[:, None]
        juke = (distance < self.column("juke_distance", n)) & known
        direction = (self.column("flee_gain", n)[:, None] * away
                     + np.abs(self.column("orbit_gain", n))[:, None] * _unit(orbit)
                     + self.column("wall_follow_gain", n)[:, None] * along
                     + (self.column("juke_gain", n) * juke)[:, None] * across
                     + self.column("open_gain", n)[:, None] * self.open_heading(obs, away))
        hide, speed = self.hiding(position, cos_t, sin_t)
        direction = np.where(known[:, None], direction, _unit(orbit) + hide) + self.hazard_push(obs)
        jitter = self.column("jitter", n) * self.env_config.omega_max * self.np_random.uniform(-1.0, 1.0, n)
        return self.drive(direction, jitter, np.where(known, 1.0, speed))

    def hiding(self, position: np.ndarray, cos_t: np.ndarray, sin_t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Where a pursuer it does not know of leaves the evader: ``hide_gain`` times the ego-frame way ``[B, 2]`` to
        the nearest corner's hiding spot (``hide_margin`` from both walls; its length capped at 1, so it fades in the
        last metre), and the speed ``[B]`` (top speed 2 m or more from the spot, ``hide_speed`` at it). A warm RL
        evader's escapes were spent out of the trained pursuer's sensing range near walls and in corners, where the
        family's orbit (at most 6 m from the centre) never went (BENCHMARKS.md, issue 23, eleventh session)."""
        n = len(position)
        half = np.array([self.env_config.arena_width / 2, self.env_config.arena_height / 2])
        margin = np.minimum(self.column("hide_margin", n)[:, None], half - 1e-3)
        spot = np.where(position >= 0, 1.0, -1.0) * (half - margin)
        way = spot - position
        distance = np.linalg.norm(way, axis=1)
        way = way / np.maximum(distance, 1.0)[:, None]
        gain = self.column("hide_gain", n)
        hide_speed = self.column("hide_speed", n)
        speed = np.where(gain > 0, hide_speed + (1.0 - hide_speed) * np.clip(distance / 2.0, 0.0, 1.0), 1.0)
        return gain[:, None] * self.to_ego(way, cos_t, sin_t), speed

    def open_heading(self, obs: np.ndarray, away: np.ndarray) -> np.ndarray:
        """The ego-frame unit direction ``[B, 2]`` of :data:`OPEN_HEADINGS` with the best score, ``open_tradeoff``
        x free run (up to ``open_lookahead``, as a fraction of it) + the rest x how far it leads away from the
        pursuer (``away``, from 0 towards it to 1 straight away): run where there is room, so that a pursuer of
        equal speed stays behind (a wall ahead forces a turn it can cut inside). Zero where ``open_gain`` is 0."""
        n = len(obs)
        gain = self.column("open_gain", n)
        if not gain.any():
            return np.zeros((n, 2))
        free = self.free_distance(obs, OPEN_HEADINGS)
        openness = np.clip(free / self.column("open_lookahead", n)[:, None], 0.0, 1.0)
        leading = 0.5 * (away @ OPEN_HEADINGS.T + 1.0)
        share = self.column("open_tradeoff", n)[:, None]
        return OPEN_HEADINGS[np.argmax(share * openness + (1.0 - share) * leading, axis=1)]


FAMILIES: dict[str, dict[str, type[ParametricPolicy]]] = {
    "pursuer": {PursuitFamily.family: PursuitFamily},
    "evader": {EvasionFamily.family: EvasionFamily},
}
"""The searchable controller families of each role, by name."""


def family_names(role: str) -> list[str]:
    return list(FAMILIES[role])


def make_family(role: str, env_config: EnvConfig | AerialConfig, family: str | None = None,
                params: np.ndarray | None = None, seed: int | None = None) -> ParameterVector:
    """A controller of ``role``'s ``family`` (its first by default) in the world ``env_config`` describes (the 2-D
    world's families, or the aerial world's: :mod:`pe_rllib.policies.aerial_families`); unknown names raise a
    one-line error."""
    catalogue = FAMILIES
    if isinstance(env_config, AerialConfig):
        from pe_rllib.policies.aerial_families import AERIAL_FAMILIES as catalogue
    if role not in catalogue:
        raise ConfigError(f"role: must be one of {tuple(catalogue)}, got {role!r}")
    family = family or list(catalogue[role])[0]
    if family not in catalogue[role]:
        raise ConfigError(f"unknown controller family {family!r} for {role} "
                          f"(choose from: {', '.join(catalogue[role])})")
    return catalogue[role][family](env_config, role, params=params, seed=seed)


__all__ = ["FAMILIES", "EvasionFamily", "Parameter", "ParameterVector", "ParametricPolicy", "PursuitFamily",
           "family_names", "make_family"]
