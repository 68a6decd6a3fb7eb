"""Alternating-freezing phase schedule: a pure object, tested without Ray."""

import pytest

from pe_rllib.config import SelfPlayConfig
from pe_rllib.selfplay.schedule import PhaseSchedule


def roles_over(schedule, iterations, env_steps=1000):
    out = []
    for _ in range(iterations):
        out.append(",".join(schedule.training_roles))
        schedule.record_iteration(env_steps)
    return out


def test_cold_start_then_warmup_then_regular_phases():
    schedule = PhaseSchedule(SelfPlayConfig(first_role="evader", cold_start_iterations=2,
                                            warmup_phase_lengths=(1, 2), phase_length=3))
    assert roles_over(schedule, 11) == ["evader"] * 2 + ["pursuer"] + ["evader"] * 2 + ["pursuer"] * 3 + ["evader"] * 3
    assert schedule.state.phase == 5 and schedule.state.iterations == 11


def test_micro_phases_switch_every_iteration_and_no_cold_start():
    schedule = PhaseSchedule(SelfPlayConfig(first_role="pursuer", cold_start_iterations=0,
                                            warmup_phase_lengths=(), phase_length=1))
    assert roles_over(schedule, 4) == ["evader", "pursuer", "evader", "pursuer"]


def test_env_step_budget_forces_a_switch():
    schedule = PhaseSchedule(SelfPlayConfig(cold_start_iterations=0, warmup_phase_lengths=(),
                                            phase_length=100, max_phase_env_steps=2500))
    assert roles_over(schedule, 6, env_steps=1000) == ["pursuer"] * 3 + ["evader"] * 3


def test_simultaneous_mode_trains_both_and_still_counts_phases():
    schedule = PhaseSchedule(SelfPlayConfig(mode="simultaneous", cold_start_iterations=1,
                                            warmup_phase_lengths=(), phase_length=2))
    assert roles_over(schedule, 3) == ["pursuer,evader"] * 3
    assert schedule.frozen_roles == [] and schedule.state.phase == 2


def test_to_dict_from_dict_continues_exactly():
    config = SelfPlayConfig(cold_start_iterations=1, warmup_phase_lengths=(2,), phase_length=3)
    original = PhaseSchedule(config)
    roles_over(original, 4)
    clone = PhaseSchedule.from_dict(config, original.to_dict())
    assert roles_over(clone, 6) == roles_over(original, 6)


@pytest.mark.parametrize("field, value", [("phase_length", 0), ("first_role", "cat"), ("mode", "both"),
                                           ("warmup_phase_lengths", (2, 0)), ("max_phase_env_steps", -1)])
def test_invalid_schedule_settings(field, value):
    from pe_rllib.config import ConfigError
    with pytest.raises(ConfigError, match=field):
        SelfPlayConfig(**{field: value})
