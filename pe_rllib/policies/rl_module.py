"""RLlib module specs: the learned roles' networks, and a scripted opponent as a (never trained) module.

:func:`learned_module_spec` is the one definition of a learned role's network: training
declares its modules with it, and :func:`~pe_rllib.policies.inference.load_policy`
rebuilds a module from it and loads data-only weights (no pickles).

:class:`ScriptedRLModule` returns actions directly (``Columns.ACTIONS``), like RLlib's own
heuristic modules, so the env runner skips sampling for it; it has no weights and must
never be in ``policies_to_train``.
"""

from __future__ import annotations

import numpy as np
from ray.rllib.algorithms.ppo.torch.default_ppo_torch_rl_module import DefaultPPOTorchRLModule
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.rl_module import RLModule, RLModuleSpec

from pe_rllib.config import ExperimentConfig, TrainingConfig, from_dict, to_dict
from pe_rllib.envs.parallel import action_space, observation_space
from pe_rllib.policies.scripted import make_scripted


def model_config(training: TrainingConfig) -> dict:
    """RLlib's default-model settings for the learned roles (separate policy and value MLPs)."""
    return {"fcnet_hiddens": list(training.hidden_sizes), "fcnet_activation": training.activation,
            "vf_share_layers": False}


def learned_module_spec(experiment: ExperimentConfig) -> RLModuleSpec:
    """The PPO module every learned role (and its snapshots) uses in ``experiment``'s world."""
    return RLModuleSpec(module_class=LearnedPPOModule, observation_space=observation_space(experiment.env),
                        action_space=action_space(), model_config=model_config(experiment.training))


class LearnedPPOModule(DefaultPPOTorchRLModule):
    """RLlib's default PPO torch module, minus a per-call cost when it acts.

    RLlib 2.60's ``TorchRLModule.forward_exploration`` / ``forward_inference`` call
    ``self.eval()`` on every call, and ``eval()`` walks the whole ``nn.Module`` tree (about
    50 submodules here): 0.3 ms per call, as much as the forward pass itself, and a third of
    the batched sampler's per-step time at 32 arenas (profiled). A module already in eval mode
    (the env runners put theirs there once) skips the walk; one in training mode (the learner's)
    goes through RLlib's own toggling unchanged. Same weights, state keys and outputs.
    """

    def forward_exploration(self, batch, **kwargs):
        if self.training:
            return super().forward_exploration(batch, **kwargs)
        return self._forward_exploration(batch, **kwargs)

    def forward_inference(self, batch, **kwargs):
        if self.training:
            return super().forward_inference(batch, **kwargs)
        return self._forward_inference(batch, **kwargs)


def scripted_module_spec(experiment: ExperimentConfig, name: str, role: str) -> RLModuleSpec:
    """A scripted policy playing ``role`` as an RLlib module (e.g. the cold-start opponent)."""
    return RLModuleSpec(module_class=ScriptedRLModule, observation_space=observation_space(experiment.env),
                        action_space=action_space(),
                        model_config={"policy": name, "role": role, "experiment": to_dict(experiment),
                                      "seed": experiment.training.seed})


class ScriptedRLModule(RLModule):
    """``model_config``: ``policy`` (scripted name), ``role``, ``experiment`` (plain config dict), ``seed``."""

    def setup(self) -> None:
        config = self.model_config
        experiment = from_dict(ExperimentConfig, config["experiment"])
        self.policy = make_scripted(config["policy"], config["role"], experiment.env, seed=config.get("seed", 0))

    def _forward(self, batch, **kwargs):
        obs = batch[Columns.OBS]
        obs = obs.detach().cpu().numpy() if hasattr(obs, "detach") else np.asarray(obs)
        return {Columns.ACTIONS: self.policy.act(obs)}

    def _forward_train(self, batch, **kwargs):
        raise NotImplementedError("a scripted module is never trained (keep it out of policies_to_train)")

    def get_state(self, *args, **kwargs):
        return {}

    def set_state(self, state) -> None:
        pass
