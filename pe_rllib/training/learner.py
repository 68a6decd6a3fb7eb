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

import torch
from ray.rllib.algorithms.ppo.torch.ppo_torch_learner import PPOTorchLearner

logger = logging.getLogger(__name__)


def learner_threads(config) -> int:
    """Torch intra-op threads of a learner built from RLlib ``config`` (an ``AlgorithmConfig``)."""
    cpus = config.num_cpus_per_learner
    return max(1, int(cpus)) if isinstance(cpus, (int, float)) else 1


class SelfPlayPPOLearner(PPOTorchLearner):
    """PPO's torch learner, run with ``training.num_cpus_per_learner`` torch threads."""

    def build(self) -> None:
        threads = learner_threads(self.config)
        torch.set_num_threads(threads)
        logger.debug("learner: %d torch thread(s)", threads)
        super().build()

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
