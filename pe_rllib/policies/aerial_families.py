"""The aerial world's parameterised controller families: the search space of its scripted best responses
(:mod:`pe_rllib.evaluation.search`), as :mod:`pe_rllib.policies.families` is the 2-D world's.

``aerial_pursuit`` (pursuer)
    Proportional navigation with a searchable gain (``pn_gain``; 0 is pure pursuit), an augmented term on the
    opponent's acceleration estimate (``apn_gain``), a floor on the closing speed it steers with
    (``min_closing``), the leftover thrust's direction between the line of sight (``thrust_blend`` 0) and its
    own velocity (1), and a vertical bias (``climb_bias``, fractions of ``a_max``; approaching from below or
    above). Its defaults are :class:`~pe_rllib.policies.guidance.ProportionalNavigation`'s.

``aerial_evasion`` (evader)
    A weighted sum of unit directions: away from the pursuer, level (``flee_gain``), along its own level
    heading (``straight_gain``), a sinusoidal lateral weave (``weave_amplitude``, ``weave_period`` seconds),
    a break turn across the line of sight when the pursuer is closer than ``break_distance`` metres
    (``break_gain``, with ``break_climb`` of vertical), and a vertical bias (``climb_bias``). Its defaults are
    a break-turn (:class:`~pe_rllib.policies.guidance.BreakTurn`).

Both keep the guidance laws' push off the airspace's faces and the cylinders.

Example:
    >>> import numpy as np
    >>> from pe_rllib.envs.aerial import BatchedAerialPursuitEvasion
    >>> from pe_rllib.policies.families import make_family
    >>> env = BatchedAerialPursuitEvasion(4)
    >>> obs = env.reset(seed=0)
    >>> evader = make_family("evader", env.config)
    >>> evader.family, evader.names()[:3]
    ('aerial_evasion', ['flee_gain', 'straight_gain', 'weave_amplitude'])
    >>> evader.set_params(np.stack([evader.defaults()] * 4))
    >>> evader.act(obs["evader"]).shape
    (4, 3)
"""

from __future__ import annotations

import numpy as np

from pe_rllib.config.aerial import AerialConfig
from pe_rllib.policies.families import Parameter, ParameterVector
from pe_rllib.policies.guidance import FORWARD, Guidance, _unit


class AerialFamily(ParameterVector, Guidance):
    """A guidance-law family: :class:`Guidance`'s observation helpers and avoidance, parameters per arena."""

    def __init__(self, config: AerialConfig, role: str, params: np.ndarray | None = None,
                 seed: int | None = None) -> None:
        super().__init__(config, role, seed=seed)
        self.init_params(params)


class AerialPursuitFamily(AerialFamily):
    family, roles = "aerial_pursuit", ("pursuer",)
    parameters = (
        Parameter("pn_gain", 0.0, 8.0, 4.0, "navigation constant N (0: pure pursuit of the line of sight)"),
        Parameter("apn_gain", 0.0, 4.0, 0.0, "times the opponent's acceleration estimate across the line of sight"),
        Parameter("min_closing", 0.0, 1.0, 0.2, "closing-speed floor of the PN term, as a fraction of v_max"),
        Parameter("thrust_blend", 0.0, 1.0, 0.0, "leftover thrust along the line of sight (0) .. own velocity (1)"),
        Parameter("climb_bias", -0.5, 0.5, 0.0, "vertical acceleration bias, fraction of a_max"),
    )

    def _accel(self, obs: np.ndarray) -> np.ndarray:
        n, opp, own = len(obs), self.opponent(obs), self.own(obs)
        across = opp["rel_velocity"].copy()
        across[:, 0] = 0.0
        closing = np.maximum(opp["closing"], self.column("min_closing", n) * self.v_max)
        accel = (self.column("pn_gain", n) * closing / opp["range"])[:, None] * across
        accel[:, 1:] += self.column("apn_gain", n)[:, None] * opp["acceleration"][:, 1:]
        accel += (self.column("climb_bias", n) * self.a_max)[:, None] * own["up"]
        side = np.linalg.norm(accel, axis=-1)
        accel *= np.minimum(1.0, self.a_max / np.maximum(side, 1e-9))[:, None]
        blend = self.column("thrust_blend", n)[:, None]
        ahead = _unit((1 - blend) * FORWARD + blend * _unit(own["velocity"], FORWARD), FORWARD)
        along = (accel * ahead).sum(-1)
        k = -along + np.sqrt(np.maximum(along ** 2 - (accel ** 2).sum(-1) + self.a_max ** 2, 0.0))
        return np.where(opp["known"][:, None], accel + k[:, None] * ahead, self.a_max * FORWARD)


class AerialEvasionFamily(AerialFamily):
    family, roles = "aerial_evasion", ("evader",)
    parameters = (
        Parameter("flee_gain", 0.0, 1.0, 1.0, "level direction away from the pursuer"),
        Parameter("straight_gain", 0.0, 1.0, 0.0, "own level heading"),
        Parameter("weave_amplitude", 0.0, 1.0, 0.0, "sinusoidal lateral weave"),
        Parameter("weave_period", 1.0, 10.0, 4.0, "weave period [s]"),
        Parameter("break_distance", 0.0, 120.0, 40.0, "range [m] below which it breaks across the line of sight"),
        Parameter("break_gain", 0.0, 2.0, 2.0, "break turn's weight"),
        Parameter("break_climb", -1.0, 1.0, 0.0, "vertical share of the break"),
        Parameter("climb_bias", -0.5, 0.5, 0.0, "vertical bias"),
    )

    def _accel(self, obs: np.ndarray) -> np.ndarray:
        n, opp, own = len(obs), self.opponent(obs), self.own(obs)
        up = own["up"]
        forward = np.repeat(FORWARD[None], n, axis=0)
        flee = _unit(self.level(obs, -forward), -FORWARD)
        heading = _unit(self.level(obs, own["velocity"]), FORWARD)
        swing = np.sin(2 * np.pi * self.time_s(obs) / self.column("weave_period", n))[:, None]
        across = _unit(np.cross(up, forward), FORWARD) + self.column("break_climb", n)[:, None] * up
        close = (opp["range"] < self.column("break_distance", n)) & opp["known"]
        total = (self.column("flee_gain", n)[:, None] * flee + self.column("straight_gain", n)[:, None] * heading
                 + self.column("weave_amplitude", n)[:, None] * swing * np.cross(up, heading)
                 + (close * self.column("break_gain", n))[:, None] * _unit(across, FORWARD)
                 + self.column("climb_bias", n)[:, None] * up)
        return self.a_max * _unit(total, heading)


AERIAL_FAMILIES = {"pursuer": {AerialPursuitFamily.family: AerialPursuitFamily},
                   "evader": {AerialEvasionFamily.family: AerialEvasionFamily}}
"""The aerial world's searchable controller families of each role, by name."""

__all__ = ["AERIAL_FAMILIES", "AerialEvasionFamily", "AerialFamily", "AerialPursuitFamily"]
