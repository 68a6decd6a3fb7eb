"""The health monitor: detect a collapsing self-play, and decide the rollback.

Alarms, checked once per iteration:

- **domination**: a side's success (capture rate for the pursuer, escape rate for the
  evader) above ``domination_threshold`` for ``domination_iterations`` iterations in a
  row (iterations in which no episode ended do not count either way);
- **entropy collapse**: a training module's action entropy below ``min_entropy``;
- **KL blow-up**: a training module's mean KL above ``max_kl``;
- **non-finite**: a training module's loss, entropy or KL is NaN or infinite.

The response to each alarm is a :class:`HealthEvent`: which roles to roll back to their
last known-good snapshot (the offender, both with ``rollback: bilateral``, none with
``rollback: none``) and which role should train next (the weaker side after a
domination). Known-good snapshots are registered by the caller (:meth:`mark_good`):
from the very first phase on, the initial weights of both roles count as good, and a
role's snapshot at the end of a phase without alarms replaces them. After an
intervention, domination alarms pause for ``cooldown`` iterations.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from pe_rllib.config import ROLES, SUCCESS_RATE, HealthConfig, other_role


@dataclass
class HealthEvent:
    iteration: int
    reason: str
    """``domination``, ``entropy_collapse``, ``kl_blowup`` or ``non_finite``."""
    role: str
    """The role the alarm is about (the dominating or broken side)."""
    value: float
    rollback: list[str]
    """Roles to restore to their known-good snapshot."""
    restore: dict[str, str]
    """Role -> the known-good snapshot id it is restored to."""
    next_role: str | None
    """The role that should train next (None: keep the schedule)."""

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class HealthMonitor:
    config: HealthConfig
    streak: dict[str, int] = field(default_factory=lambda: {role: 0 for role in ROLES})
    known_good: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    last_intervention: int = -(10**9)
    phase_alarm: dict[str, bool] = field(default_factory=lambda: {role: False for role in ROLES})

    def mark_good(self, role: str, snapshot: str) -> None:
        """``snapshot`` holds weights of ``role`` that are known to be good."""
        self.known_good[role] = snapshot

    def phase_ended(self, role: str, snapshot: str) -> bool:
        """``role``'s phase ended with weights saved as ``snapshot``: known-good unless an alarm fired in it."""
        good = not self.phase_alarm[role]
        if good:
            self.mark_good(role, snapshot)
        self.phase_alarm[role] = False
        return good

    def _event(self, iteration: int, reason: str, role: str, value: float, weaker: str | None) -> HealthEvent:
        if self.config.rollback == "bilateral":
            rollback = list(ROLES)
        elif self.config.rollback == "offender":
            rollback = [role]
        else:
            rollback = []
        rollback = [r for r in rollback if r in self.known_good]
        self.counts[reason] = self.counts.get(reason, 0) + 1
        self.phase_alarm[role] = True
        return HealthEvent(iteration, reason, role, value, rollback, {r: self.known_good[r] for r in rollback}, weaker)

    def observe(self, iteration: int, figures: dict, training_roles: list[str],
                module_stats: dict[str, dict] | None = None) -> list[HealthEvent]:
        """One iteration's figures (``capture_rate``, ``escape_rate``) and the training modules' learner
        statistics (``{role: {"entropy", "mean_kl_loss", "total_loss"}}``); returns the alarms raised."""
        events: list[HealthEvent] = []
        for role in training_roles:
            stats = (module_stats or {}).get(role, {})
            values = {k: stats.get(k) for k in ("total_loss", "entropy", "mean_kl_loss") if stats.get(k) is not None}
            broken = {k: v for k, v in values.items() if not math.isfinite(float(v))}
            if broken:
                value = next(iter(broken.values()))
                events.append(self._event(iteration, "non_finite", role, float(value), None))
                continue
            if "entropy" in values and values["entropy"] < self.config.min_entropy:
                events.append(self._event(iteration, "entropy_collapse", role, float(values["entropy"]), None))
            elif "mean_kl_loss" in values and values["mean_kl_loss"] > self.config.max_kl:
                events.append(self._event(iteration, "kl_blowup", role, float(values["mean_kl_loss"]), None))
        for role in ROLES:
            rate = figures.get(SUCCESS_RATE[role])
            if rate is None or not math.isfinite(rate):
                continue                            # no episode ended: no evidence either way
            self.streak[role] = self.streak[role] + 1 if rate > self.config.domination_threshold else 0
        cooled = iteration - self.last_intervention >= self.config.cooldown
        for role in ROLES:
            if cooled and self.streak[role] >= self.config.domination_iterations:
                events.append(self._event(iteration, "domination", role,
                                          float(figures[SUCCESS_RATE[role]]), other_role(role)))
                self.streak = {r: 0 for r in ROLES}
                break
        if events:
            self.last_intervention = iteration
        return events

    def to_dict(self) -> dict:
        return {"streak": dict(self.streak), "known_good": dict(self.known_good), "counts": dict(self.counts),
                "last_intervention": self.last_intervention, "phase_alarm": dict(self.phase_alarm)}

    @classmethod
    def from_dict(cls, config: HealthConfig, data: dict) -> "HealthMonitor":
        return cls(config, streak=dict(data["streak"]), known_good=dict(data["known_good"]),
                   counts=dict(data["counts"]), last_intervention=int(data["last_intervention"]),
                   phase_alarm=dict(data["phase_alarm"]))
