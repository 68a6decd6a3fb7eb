"""The experiment's world, whichever it is: its spaces and its batched env (``experiment.world``: "planar", the
2-D unicycle world of ``experiment.env``, or "aerial", the 3-D drones of ``experiment.aerial``).

Everything above the envs that builds a world or a module for an experiment goes through here, so a second
world needs no change in the runner, evaluation or the league (the safety filter wraps the planar world only:
:func:`pe_rllib.safety.make_batched_env`)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from pe_rllib.config import ExperimentConfig


def world_spaces(experiment: ExperimentConfig) -> tuple[gym.spaces.Box, gym.spaces.Box]:
    """One robot's ``(observation_space, action_space)`` in ``experiment``'s world (new objects)."""
    if experiment.world == "aerial":
        from pe_rllib.envs.aerial.world import action_space, observation_space

        return observation_space(experiment.aerial), action_space()
    from pe_rllib.envs.batched import action_space, observation_space

    return observation_space(experiment.env), action_space()


def make_world(num_envs: int, experiment: ExperimentConfig, **kwargs: Any):
    """``num_envs`` arenas of ``experiment``'s world (a :class:`~pe_rllib.envs.world.BatchedWorld`), unfiltered."""
    if experiment.world == "aerial":
        from pe_rllib.envs.aerial import BatchedAerialPursuitEvasion

        return BatchedAerialPursuitEvasion(num_envs, experiment.aerial, **kwargs)
    from pe_rllib.envs.batched import BatchedPursuitEvasion

    return BatchedPursuitEvasion(num_envs, experiment.env, **kwargs)
