"""Search distillation teachers (``league.distill_coeff``) as plain controllers, for the two places that act with
them: the learner, which computes a teacher's actions from its batch's observations, and, with
``league.teacher_view: full`` or ``remembered``, the batched runner, which computes them on the privileged
observation (:meth:`~pe_rllib.envs.batched.BatchedPursuitEvasion.privileged_observation`) or on the role's
dead-reckoned view (:class:`~pe_rllib.policies.memory.OpponentTrack`) while it steps the episodes, and hands them
to the learner in the :data:`TEACHER_TARGETS` column of each episode (:func:`teacher_targets`), with each step's
weight in the distillation loss (:func:`distill_loss`)."""

from __future__ import annotations

import numpy as np

TEACHER_TARGETS = "teacher_targets"
"""The batch column (an episode's extra model output) of a runner-side teacher: at each step its action and the
step's weight in the distillation loss, ``[A + 1]`` (action first, weight last; :func:`teacher_targets`)."""


def teacher_targets(controller, view: np.ndarray, obs: np.ndarray, unseen_weight: float) -> np.ndarray:
    """``[N, A + 1]``: ``controller``'s actions on the teacher's ``view`` ``[N, D]``, and each step's weight,
    ``unseen_weight`` where the view differs from the role's observation ``obs`` (it shows an opponent the role
    does not see: privileged or remembered) and 1 elsewhere (``league.teacher_unseen_weight``)."""
    weight = np.where(np.any(view != obs, axis=1), unseen_weight, 1.0)
    return np.concatenate([controller.act(view), weight[:, None]], axis=1).astype(np.float32)


def distill_loss(error, mask=None, weight=None):
    """The distillation loss from the per-step squared errors ``error`` (a torch tensor ``[...]``): their mean
    over the steps in ``mask`` (a recurrent module's padded sequences; None = all), weighted by ``weight`` (the
    :data:`TEACHER_TARGETS` column's last entry; None = equal weights)."""
    w = error.new_ones(error.shape) if mask is None else mask.to(error.dtype)
    if weight is not None:
        w = w * weight
    return (error * w).sum() / w.sum().clamp(min=1e-12)


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
