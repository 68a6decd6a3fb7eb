"""Elastic weight consolidation (``regularization.ewc``): a pull back towards the weights a role had when it
last consolidated, weighted by how much each weight mattered to its actions then.

At a consolidation (a curriculum level-up or the end of the role's training phase, per
``regularization.ewc.trigger``) the role's weights become the anchor ``theta*`` and a diagonal Fisher estimate
of its action distribution is added to ``F``: the mean over ``fisher_samples`` observations of the role's
latest training batch of the squared gradient of ``log pi(a | o)``, with ``a`` drawn from the policy (the
true Fisher, not the empirical one). From then on the role's PPO loss carries
``lambda * sum_i F_i (theta_i - theta*_i)^2`` (Kirkpatrick et al. 2017; the Fisher diagonals of successive
consolidations summed, with the newest weights as the one anchor, as in Schwarz et al.'s online EWC without
decay). The value head's weights do not enter ``log pi``, so their ``F`` is zero and they move freely.

Feed-forward policies only (the config refuses recurrent ones: their log-probabilities need whole sequences).
The state is plain arrays (:meth:`ElasticWeightConsolidation.get_state`), checkpointed with the learner.
"""

from __future__ import annotations

import numpy as np
import torch
from ray.rllib.core.columns import Columns


def _log_probabilities(module, obs: torch.Tensor) -> torch.Tensor:
    """``log pi(a | o)`` ``[B]`` of actions drawn from the module's own training distribution."""
    out = module.forward_train({Columns.OBS: obs})
    dist = module.get_train_action_dist_cls().from_logits(out[Columns.ACTION_DIST_INPUTS])
    with torch.no_grad():
        actions = dist.sample()
    return dist.logp(actions)


def fisher_diagonal(module, obs: np.ndarray) -> dict[str, torch.Tensor]:
    """The mean squared per-sample gradient of ``log pi(a | o)`` over ``obs`` ``[B, D]``, per parameter."""
    params = dict(module.named_parameters())
    total = {name: torch.zeros_like(p) for name, p in params.items()}
    device = next(iter(params.values())).device
    x = torch.as_tensor(np.asarray(obs), dtype=torch.float32, device=device)
    for row in range(len(x)):
        grads = torch.autograd.grad(_log_probabilities(module, x[row:row + 1]).sum(), list(params.values()),
                                    allow_unused=True)
        for (name, _), grad in zip(params.items(), grads):
            if grad is not None:
                total[name] += grad.detach() ** 2
    return {name: value / max(len(x), 1) for name, value in total.items()}


class ElasticWeightConsolidation:
    """One role's anchor weights and summed Fisher diagonal (none until its first consolidation)."""

    def __init__(self, lambda_: float) -> None:
        self.lambda_ = lambda_
        self.anchor: dict[str, torch.Tensor] = {}
        self.fisher: dict[str, torch.Tensor] = {}
        self.consolidations = 0

    def consolidate(self, module, obs: np.ndarray) -> None:
        """Anchor at the module's current weights; add the Fisher diagonal on ``obs`` to ``F``."""
        fresh = fisher_diagonal(module, obs)
        self.fisher = {name: self.fisher.get(name, 0.0) + value for name, value in fresh.items()}
        self.anchor = {name: p.detach().clone() for name, p in module.named_parameters()}
        self.consolidations += 1

    def penalty(self, module) -> torch.Tensor | None:
        """``lambda * sum F (theta - theta*)^2`` (differentiable in the module's weights); None before the
        first consolidation."""
        if not self.anchor:
            return None
        terms = [(self.fisher[name] * (p - self.anchor[name]) ** 2).sum()
                 for name, p in module.named_parameters() if name in self.anchor]
        return self.lambda_ * torch.stack(terms).sum()

    def get_state(self) -> dict:
        return {"anchor": {k: v.cpu().numpy().copy() for k, v in self.anchor.items()},
                "fisher": {k: v.cpu().numpy().copy() for k, v in self.fisher.items()},
                "consolidations": self.consolidations}

    def set_state(self, state: dict, device: str | torch.device = "cpu") -> None:
        self.anchor = {k: torch.as_tensor(np.asarray(v), device=device) for k, v in state["anchor"].items()}
        self.fisher = {k: torch.as_tensor(np.asarray(v), device=device) for k, v in state["fisher"].items()}
        self.consolidations = int(state["consolidations"])


__all__ = ["ElasticWeightConsolidation", "fisher_diagonal"]
