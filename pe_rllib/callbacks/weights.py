"""Module weights on the driver: read a role's weights, set modules' weights everywhere."""

from __future__ import annotations

import numpy as np


def role_weights(algorithm, roles) -> dict[str, dict]:
    """Current weights of ``roles`` as numpy arrays (the driver's own copy)."""
    weights = algorithm.learner_group.get_weights(module_ids=list(roles))
    return {role: {name: np.array(value, copy=True) for name, value in weights[role].items()} for role in roles}


def set_module_weights(algorithm, weights: dict[str, dict]) -> None:
    """Set modules' weights (``{module: {name: array}}``) on the learners and every env runner."""
    algorithm.learner_group.set_weights(weights)
    algorithm.env_runner_group.sync_weights(from_worker_or_learner_group=algorithm.learner_group,
                                            policies=list(weights), inference_only=True)
