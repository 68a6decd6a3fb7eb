"""Scripted guidance laws and evasive manoeuvres for the aerial world, acting on observations.

Every policy here has a trained policy's interface, ``act(obs [B, D]) -> actions [B, 3]`` in [-1, 1] (an
acceleration in the robot's line-of-sight frame, as a fraction of its ``a_max``), and reads only what the
observation carries (:mod:`pe_rllib.envs.aerial.sensing`): a pursuer in a "tracked" world steers on the Kalman
filter's estimate, one in a ``observation: full`` world on the truth (the true-state upper bound).

Pursuers:
* ``pure_pursuit``: drive the velocity towards the top speed along the line of sight.
* ``pn``: proportional navigation, ``a_perp = N Vc lambda_dot`` (``N`` = ``gain``, 4 by default), with the
  thrust left over along the line of sight.
* ``apn``: augmented PN, plus ``N/2`` times the opponent's acceleration estimate across the line of sight
  (needs ``tracker.model: ca`` to be more than PN on a tracked world).

Evaders: ``straight`` (level at top speed along the current heading), ``weave`` (plus a sinusoidal lateral
acceleration), ``break_turn`` (flee along the line of sight until the pursuer closes within
``break_distance``, then turn hard across it), ``random`` (a random direction held for a second).
Every controller blends in a push away from the airspace's faces within ``margin`` metres and from the observed
cylinders within ``obstacle_margin`` metres of their surface.
"""

from __future__ import annotations

import numpy as np

from pe_rllib.config import ROLES, ConfigError
from pe_rllib.config.aerial import AerialConfig
from pe_rllib.config.base import AERIAL_SCRIPTED_POLICIES
from pe_rllib.envs.aerial.sensing import OBSTACLE_SCALE, layout

PURSUERS = AERIAL_SCRIPTED_POLICIES["pursuer"]
EVADERS = AERIAL_SCRIPTED_POLICIES["evader"]


class Guidance:
    """Base class: the observation's quantities in SI units, and the boundary push."""

    name = "guidance"
    roles: tuple[str, ...] = ROLES

    def __init__(self, config: AerialConfig, role: str, *, margin: float = 40.0, obstacle_margin: float = 25.0,
                 seed: int | None = None) -> None:
        if role not in self.roles:
            raise ConfigError(f"policy {self.name!r} cannot play {role!r} (roles: {', '.join(self.roles)})")
        self.config, self.role, self.margin, self.obstacle_margin = config, role, margin, obstacle_margin
        self.slices = layout(config)
        self.v_max, self.a_max = config.v_max(role), config.a_max(role)
        self.v_ref = config.pursuer_v_max + config.evader_v_max
        self.a_ref = max(config.pursuer_a_max, config.evader_a_max)
        self.np_random = np.random.default_rng(seed)

    def act(self, obs: np.ndarray) -> np.ndarray:
        """Actions ``[B, 3]`` (or ``[3]`` for one observation)."""
        obs = np.asarray(obs, dtype=np.float64)
        batch = obs[None] if obs.ndim == 1 else obs
        if batch.shape[-1] != self.slices["time"].stop:
            raise ValueError(f"observation: expected dimension {self.slices['time'].stop}, got {batch.shape[-1]}")
        accel = self._accel(batch) + self._boundary_push(batch)
        norm = np.linalg.norm(accel, axis=-1, keepdims=True)
        actions = (accel / np.maximum(norm, self.a_max)).astype(np.float32)     # |a| <= a_max, as a fraction
        return actions[0] if obs.ndim == 1 else actions

    def _accel(self, obs: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    # ---------------------------------------------------------------- observation helpers

    def own(self, obs: np.ndarray) -> dict[str, np.ndarray]:
        block = obs[:, self.slices["own"]]
        return {"velocity": block[:, 0:3] * self.v_max, "up": block[:, 6:9], "x": block[:, 9:12],
                "position": block[:, 12:15]}

    def opponent(self, obs: np.ndarray) -> dict[str, np.ndarray]:
        block = obs[:, self.slices["opponent"]]
        return {"range": np.maximum(block[:, 0] * self.config.max_init_distance, 1e-3),
                "closing": block[:, 2] * self.v_ref, "rel_velocity": block[:, 3:6] * self.v_ref,
                "acceleration": block[:, 8:11] * self.a_ref, "known": block[:, 14] > 0.5}

    def time_s(self, obs: np.ndarray) -> np.ndarray:
        return obs[:, self.slices["time"]][:, 0] * self.config.max_steps * self.config.dt

    def _boundary_push(self, obs: np.ndarray) -> np.ndarray:
        """A push (line-of-sight frame) of up to ``a_max`` per face away from faces closer than ``margin``."""
        own = self.own(obs)
        up, east = own["up"], own["x"]
        north = np.cross(up, east)
        cfg = self.config
        half = np.array([cfg.x_extent / 2, cfg.y_extent / 2, cfg.ceiling / 2])
        position = own["position"] * half + np.array([0.0, 0.0, cfg.ceiling / 2])
        push = np.zeros_like(up)
        for axis, (direction, low, high) in enumerate(((east, -half[0], half[0]), (north, -half[1], half[1]),
                                                        (up, 0.0, cfg.ceiling))):
            near_low = np.clip(1.0 - (position[:, axis] - low) / self.margin, 0.0, 1.0)
            near_high = np.clip(1.0 - (high - position[:, axis]) / self.margin, 0.0, 1.0)
            push += ((near_low - near_high) * 2.0 * self.a_max)[:, None] * direction
        return push + self._obstacle_push(obs)

    def _obstacle_push(self, obs: np.ndarray) -> np.ndarray:
        """A horizontal push (line-of-sight frame) of up to ``2 a_max`` away from each observed cylinder whose
        surface is closer than ``obstacle_margin``."""
        k = self.config.n_obstacle_obs
        if not k:
            return 0.0
        block = obs[:, self.slices["obstacles"]].reshape(len(obs), k, 5)
        offset, gap, valid = block[..., 0:3] * OBSTACLE_SCALE, block[..., 3] * OBSTACLE_SCALE, block[..., 4] > 0.5
        strength = np.clip(1.0 - gap / self.obstacle_margin, 0.0, 1.0) * valid
        away = -offset / np.maximum(np.linalg.norm(offset, axis=-1, keepdims=True), 1e-9)
        return (2.0 * self.a_max * strength[..., None] * away).sum(axis=1)

    def level(self, obs: np.ndarray, vector: np.ndarray) -> np.ndarray:
        """``vector`` (line-of-sight frame) with its vertical part removed."""
        up = self.own(obs)["up"]
        return vector - (vector * up).sum(-1, keepdims=True) * up


def _unit(v: np.ndarray, default: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    return np.where(norm > 1e-9, v / np.maximum(norm, 1e-12), default)


FORWARD = np.array([1.0, 0.0, 0.0])


class PurePursuit(Guidance):
    name, roles = "pure_pursuit", ("pursuer",)

    def _accel(self, obs):
        target = self.v_max * FORWARD - self.own(obs)["velocity"]      # e1 points at the opponent (or ahead)
        return self.a_max * _unit(target, FORWARD)


class ProportionalNavigation(Guidance):
    name, roles = "pn", ("pursuer",)

    def __init__(self, config, role, *, gain: float = 4.0, augmented: bool = False, **kwargs) -> None:
        super().__init__(config, role, **kwargs)
        self.gain, self.augmented = gain, augmented

    def _accel(self, obs):
        opp = self.opponent(obs)
        across = np.zeros_like(opp["rel_velocity"])
        across[:, 1:] = opp["rel_velocity"][:, 1:]                     # relative velocity across the line of sight
        closing = np.maximum(opp["closing"], 0.2 * self.v_max)         # keep steering while the closing speed is low
        accel = self.gain * (closing / opp["range"])[:, None] * across  # N Vc lambda_dot
        if self.augmented:
            accel[:, 1:] += 0.5 * self.gain * opp["acceleration"][:, 1:]
        side = np.linalg.norm(accel, axis=-1)
        scale = np.minimum(1.0, self.a_max / np.maximum(side, 1e-9))
        accel *= scale[:, None]
        # The thrust left over goes along the line of sight: pure pursuit's term, which brings the pursuer round
        # from any heading (measured: with it along the own velocity instead, PN kept flying off its lead
        # against fleeing evaders and captured 0.09-0.57 where this captures 0.91-1.0; the price is 1.15x
        # the straight-line intercept time from an exact collision course).
        accel[:, 0] = np.sqrt(np.maximum(self.a_max ** 2 - (scale * side) ** 2, 0.0))
        return np.where(opp["known"][:, None], accel, self.a_max * FORWARD)


class AugmentedProportionalNavigation(ProportionalNavigation):
    name = "apn"

    def __init__(self, config, role, **kwargs) -> None:
        super().__init__(config, role, augmented=True, **kwargs)


class Straight(Guidance):
    name, roles = "straight", ("evader",)

    def _accel(self, obs):
        heading = _unit(self.level(obs, self.own(obs)["velocity"]), FORWARD)
        return self.a_max * heading


class Weave(Straight):
    name = "weave"

    def __init__(self, config, role, *, period: float = 4.0, **kwargs) -> None:
        super().__init__(config, role, **kwargs)
        self.period = period

    def _accel(self, obs):
        heading = _unit(self.level(obs, self.own(obs)["velocity"]), FORWARD)
        lateral = np.cross(self.own(obs)["up"], heading)
        swing = np.sin(2 * np.pi * self.time_s(obs) / self.period)[:, None]
        return self.a_max * (0.6 * heading + 0.8 * swing * lateral)


class BreakTurn(Guidance):
    name, roles = "break_turn", ("evader",)

    def __init__(self, config, role, *, break_distance: float = 40.0, **kwargs) -> None:
        super().__init__(config, role, **kwargs)
        self.break_distance = break_distance

    def _accel(self, obs):
        opp = self.opponent(obs)
        away = _unit(self.level(obs, -FORWARD[None].repeat(len(obs), 0)), -FORWARD)
        across = _unit(np.cross(self.own(obs)["up"], FORWARD[None].repeat(len(obs), 0)), FORWARD)
        close = (opp["range"] < self.break_distance) & opp["known"]
        return self.a_max * np.where(close[:, None], across, away)


class RandomManoeuvre(Guidance):
    name, roles = "random", ("pursuer", "evader")

    def __init__(self, config, role, *, hold: float = 1.0, **kwargs) -> None:
        super().__init__(config, role, **kwargs)
        self.hold_steps = max(1, round(hold / config.dt))
        self._direction: np.ndarray | None = None
        self._age = 0

    def _accel(self, obs):
        if self._direction is None or self._direction.shape[0] != len(obs) or self._age % self.hold_steps == 0:
            self._direction = _unit(self.np_random.standard_normal((len(obs), 3)), FORWARD)
        self._age += 1
        return self.a_max * self._direction


GUIDANCE = {cls.name: cls for cls in (PurePursuit, ProportionalNavigation, AugmentedProportionalNavigation, Straight,
                                      Weave, BreakTurn, RandomManoeuvre)}


_IMPLEMENTED = {role: tuple(name for name, cls in GUIDANCE.items() if role in cls.roles) for role in ROLES}
if _IMPLEMENTED != AERIAL_SCRIPTED_POLICIES:   # the config validates names against its catalogue
    raise ImportError(f"guidance laws {_IMPLEMENTED} disagree with config.AERIAL_SCRIPTED_POLICIES")


def make_guidance(name: str, role: str, config: AerialConfig, seed: int | None = None, **kwargs) -> Guidance:
    """The scripted aerial policy ``name`` playing ``role`` (one-line error for an unknown name or role)."""
    if name not in GUIDANCE:
        raise ConfigError(f"policy {name!r}: unknown aerial policy (known: {', '.join(sorted(GUIDANCE))})")
    return GUIDANCE[name](config, role, seed=seed, **kwargs)
