"""Search distillation teachers (``league.distill_coeff``) as plain controllers, for the two places that act with
them: the learner, which computes a teacher's actions from its batch's observations, and, with
``league.teacher_view: full``, the batched runner, which computes them on the privileged observation
(:meth:`~pe_rllib.envs.batched.BatchedPursuitEvasion.privileged_observation`) while it steps the episodes and
hands them to the learner in the :data:`TEACHER_ACTIONS` column of each episode."""

from __future__ import annotations

import numpy as np

TEACHER_ACTIONS = "teacher_actions"
"""The batch column (an episode's extra model output) holding the teacher's action at each step (``[A]``)."""


def teacher_controllers(experiment, teachers: dict[str, dict]) -> dict:
    """``{role: controller}`` for ``{role: {"family": name, "params": list}}`` (each role's newest searched anchor),
    played without their random terms (:meth:`~pe_rllib.policies.families.ParameterVector.quiet`): a regression
    onto a noisy target learns its mean anyway, only slower (BENCHMARKS.md, issue 21, eighth session)."""
    from pe_rllib.policies.families import make_family

    controllers = {}
    for role, teacher in teachers.items():
        controller = make_family(role, experiment.world_config, teacher["family"])
        controller.set_params(controller.quiet(np.asarray(teacher["params"], dtype=np.float64)))
        controllers[role] = controller
    return controllers
