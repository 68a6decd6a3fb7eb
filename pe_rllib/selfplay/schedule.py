"""Alternating-freezing phase schedule: a pure state machine, no Ray.

Phase 0 is the cold start: ``first_role`` trains against the untrained (random,
stochastic) opponent for ``cold_start_iterations``. Then phases alternate the training
role, starting with the *other* role (the cold-start learner is frozen while its
opponent catches up). Phase k >= 1 lasts ``warmup_phase_lengths[k - 1]`` iterations while
that list lasts, then ``phase_length``. A phase also ends once it has sampled
``max_phase_env_steps`` env steps (if set). In ``simultaneous`` mode both roles always
train; the phases still advance (they pace snapshots and reporting).

Example:
    >>> from pe_rllib.config import SelfPlayConfig
    >>> schedule = PhaseSchedule(SelfPlayConfig(cold_start_iterations=1, warmup_phase_lengths=(1,),
    ...                                          phase_length=2))
    >>> roles = []
    >>> for _ in range(6):
    ...     roles.append(schedule.training_roles[0])
    ...     _ = schedule.record_iteration(env_steps=4000)
    >>> roles
    ['evader', 'pursuer', 'evader', 'evader', 'pursuer', 'pursuer']
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from pe_rllib.config import ROLES, SelfPlayConfig, other_role


@dataclass
class PhaseState:
    phase: int = 0
    iterations_in_phase: int = 0
    env_steps_in_phase: int = 0
    iterations: int = 0


class PhaseSchedule:
    """Decides which roles train; advance it once per training iteration."""

    def __init__(self, config: SelfPlayConfig, state: PhaseState | None = None) -> None:
        self.config = config
        self.state = state or PhaseState()
        if self.state.phase == 0 and config.cold_start_iterations == 0:
            self.state.phase = 1

    def phase_role(self, phase: int) -> str:
        """The role trained in ``phase`` (alternating mode)."""
        first = self.config.first_role
        return first if phase == 0 or phase % 2 == 0 else other_role(first)

    def phase_length(self, phase: int) -> int:
        if phase == 0:
            return self.config.cold_start_iterations
        warmup = self.config.warmup_phase_lengths
        return warmup[phase - 1] if phase - 1 < len(warmup) else self.config.phase_length

    @property
    def training_roles(self) -> list[str]:
        if self.config.mode == "simultaneous":
            return list(ROLES)
        return [self.phase_role(self.state.phase)]

    @property
    def frozen_roles(self) -> list[str]:
        return [role for role in ROLES if role not in self.training_roles]

    def record_iteration(self, env_steps: int) -> bool:
        """Account one finished iteration; returns True if a new phase starts next iteration."""
        s = self.state
        s.iterations += 1
        s.iterations_in_phase += 1
        s.env_steps_in_phase += int(env_steps)
        budget = self.config.max_phase_env_steps
        if s.iterations_in_phase >= self.phase_length(s.phase) or (budget and s.env_steps_in_phase >= budget):
            s.phase += 1
            s.iterations_in_phase = 0
            s.env_steps_in_phase = 0
            return True
        return False

    def start_phase_for(self, role: str, advance: bool) -> None:
        """Make the upcoming phase one in which ``role`` trains (the health monitor's "weaker side next").

        ``advance``: the current phase has not ended yet (end it now). In alternating mode a
        phase of the other role is skipped if needed; the new phase starts from zero.
        """
        s = self.state
        if advance:
            s.phase += 1
        if self.config.mode == "alternating" and self.phase_role(s.phase) != role:
            s.phase += 1
        s.iterations_in_phase = 0
        s.env_steps_in_phase = 0

    def to_dict(self) -> dict:
        return asdict(self.state)

    @classmethod
    def from_dict(cls, config: SelfPlayConfig, data: dict) -> "PhaseSchedule":
        return cls(config, PhaseState(**data))
