"""The scripted policies of an experiment's world: the 2-D controllers (:mod:`~pe_rllib.policies.scripted`) or
the aerial guidance laws (:mod:`~pe_rllib.policies.guidance`), by name."""

from __future__ import annotations

from pe_rllib.config import ExperimentConfig
from pe_rllib.config.base import scripted_catalogue
from pe_rllib.policies.scripted import make_scripted


def world_scripted_names(experiment: ExperimentConfig, role: str) -> list[str]:
    """The scripted policies that can play ``role`` in ``experiment``'s world."""
    return list(scripted_catalogue(experiment.world)[role])


def make_world_scripted(name: str, role: str, experiment: ExperimentConfig, seed: int | None = None, **kwargs):
    """Scripted policy ``name`` playing ``role`` in ``experiment``'s world: a 2-D controller
    (:mod:`~pe_rllib.policies.scripted`) or an aerial guidance law (:mod:`~pe_rllib.policies.guidance`)."""
    if experiment.world == "aerial":
        from pe_rllib.policies.guidance import make_guidance

        return make_guidance(name, role, experiment.aerial, seed=seed, **kwargs)
    return make_scripted(name, role, experiment.env, seed=seed, **kwargs)
