"""A scripted opponent as a (never trained) RLlib module, e.g. the cold-start opponent.

It returns actions directly (``Columns.ACTIONS``), like RLlib's own heuristic modules, so
the env runner skips sampling for it; it has no weights and must never be in
``policies_to_train``.
"""

from __future__ import annotations

import numpy as np
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.rl_module import RLModule

from pe_rllib.config import ExperimentConfig, from_dict
from pe_rllib.policies.scripted import make_scripted


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
