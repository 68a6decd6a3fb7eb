"""The learner: RLlib's PPO torch learner with its torch threads taken from the config.

Torch's default intra-op thread count is one per core of the machine. A learner's
updates on this task's small MLPs (minibatches of a few hundred to a few thousand rows)
are dominated by per-op overhead that grows with the thread count, and the driver's
learner shares its node with every env runner placed there. So each learner runs with
as many threads as CPUs it reserves (``training.num_cpus_per_learner``; for the driver's
own learner, when ``num_learners`` is 0, the driver's). Everything else, including the
device (``num_gpus_per_learner``) and where the batch goes to it (once per iteration,
by the learner connector's last piece), is RLlib's.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from ray.rllib.algorithms.ppo.torch.ppo_torch_learner import PPOTorchLearner
from ray.rllib.core.columns import Columns

from pe_rllib.policies.rl_module import SquashedDiagGaussian

logger = logging.getLogger(__name__)


def learner_threads(config) -> int:
    """Torch intra-op threads of a learner built from RLlib ``config`` (an ``AlgorithmConfig``)."""
    cpus = config.num_cpus_per_learner
    return max(1, int(cpus)) if isinstance(cpus, (int, float)) else 1


class SelfPlayPPOLearner(PPOTorchLearner):
    """PPO's torch learner, run with ``training.num_cpus_per_learner`` torch threads, plus the search
    distillation term of ``league.distill_coeff`` for the main roles that have a teacher."""

    def build(self) -> None:
        threads = learner_threads(self.config)
        torch.set_num_threads(threads)
        logger.debug("learner: %d torch thread(s)", threads)
        self._teachers: dict = {}
        self._distill_coeff = 0.0
        super().build()

    def set_teachers(self, teachers: dict[str, dict]) -> None:
        """Search distillation targets (``league.distill_coeff``): ``{role: {"family": name, "params": list}}``,
        each role's newest searched anchor; roles left out have none. Plain controllers, no weights."""
        from pe_rllib.policies.families import make_family
        from pe_rllib.training.rllib_env import experiment_from_env_config

        experiment = experiment_from_env_config(self.config.env_config)
        controllers = {}
        for role, teacher in teachers.items():
            controllers[role] = make_family(role, experiment.world_config, teacher["family"],
                                            params=np.asarray(teacher["params"], dtype=np.float64))
        self._teachers = controllers
        self._distill_coeff = experiment.league.distill_coeff

    def teachers(self) -> dict[str, list[float]]:
        """The current teachers' parameters per role (for tests and diagnostics)."""
        return {role: np.asarray(c.params).tolist() for role, c in self._teachers.items()}

    def compute_loss_for_module(self, *, module_id, config, batch, fwd_out):
        loss = super().compute_loss_for_module(module_id=module_id, config=config, batch=batch, fwd_out=fwd_out)
        teacher = self._teachers.get(module_id)
        if teacher is None:
            return loss
        obs = batch[Columns.OBS]                    # [B, D], or [B, T, D] for a recurrent module's sequences
        flat = obs.detach().cpu().numpy().reshape(-1, obs.shape[-1])
        target = torch.as_tensor(teacher.act(flat), dtype=torch.float32, device=obs.device)
        target = target.reshape(*obs.shape[:-1], target.shape[-1])
        mean = fwd_out[Columns.ACTION_DIST_INPUTS][..., : target.shape[-1]]
        if self.module[module_id].unwrapped().get_train_action_dist_cls() is SquashedDiagGaussian:
            mean = SquashedDiagGaussian.env_actions(mean)    # the raw Gaussian mean: unclipped, so never gradient-free
        error = ((mean - target) ** 2).sum(-1)
        if Columns.LOSS_MASK in batch:
            mask = batch[Columns.LOSS_MASK]
            distill = error[mask].sum() / mask.sum().clamp(min=1)
        else:
            distill = error.mean()
        self.metrics.log_value((module_id, "distill_loss"), distill.item(), window=1)
        return loss + self._distill_coeff * distill

    def torch_threads(self) -> int:
        """The torch intra-op threads this learner's process runs with (for tests and diagnostics)."""
        return torch.get_num_threads()

    def device(self) -> str:
        """Where this learner's modules live ("cpu", "cuda:0", ...)."""
        for module_id in self.module.keys():
            for parameter in self.module[module_id].parameters():
                return str(parameter.device)
        return "cpu"


def on_learners(learner_group, function) -> list:
    """``function(learner)`` on every learner (the driver's own or the remote ones), as plain values.

    ``LearnerGroup.foreach_learner`` answers a ``RemoteCallResults`` of per-learner results;
    ``get()`` re-raises a learner's error.
    """
    return [result.get() for result in learner_group.foreach_learner(function)]


__all__ = ["SelfPlayPPOLearner", "learner_threads", "on_learners"]
