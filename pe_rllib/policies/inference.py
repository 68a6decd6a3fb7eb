"""Deployment-grade inference: a trained role's policy from a run or checkpoint, no Ray cluster.

The policy applies exactly what training applied between env and module and back:
observations go in as float32 unchanged (the env already normalises them; no
connector filters are configured), and actions come out of the module's action
distribution, then are clipped to the Box [-1, 1] like RLlib's ``clip``/``unsquash``
step for this action space does.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pe_rllib.config import EnvConfig, ExperimentConfig, load_experiment


class LearnedPolicy:
    """``act(obs [B, D]) -> actions [B, 2]`` for one role of a trained run.

    Attributes:
        role: "pursuer" or "evader".
        env_config: the :class:`EnvConfig` it was trained with
            (``parallel_env(**to_dict(policy.env_config))`` rebuilds its world).
        experiment: the whole experiment config of the run.
        checkpoint: the checkpoint directory it was loaded from.
    """

    def __init__(self, module, role: str, experiment: ExperimentConfig, checkpoint: Path,
                 deterministic: bool = True, seed: int | None = None) -> None:
        import torch

        self.module = module
        self.role = role
        self.experiment = experiment
        self.env_config: EnvConfig = experiment.env
        self.checkpoint = checkpoint
        self.deterministic = deterministic
        self._dist_cls = module.get_inference_action_dist_cls()
        self._generator = torch.Generator().manual_seed(seed if seed is not None else 0)
        self._dim = module.observation_space.shape[0]

    def act(self, obs: np.ndarray) -> np.ndarray:
        import torch

        obs = np.asarray(obs, dtype=np.float32)
        single = obs.ndim == 1
        batch = obs[None] if single else obs
        if batch.shape[-1] != self._dim:
            raise ValueError(f"observation: expected dimension {self._dim} for {self.role}, got {batch.shape[-1]}")
        with torch.no_grad():
            out = self.module.forward_inference({"obs": torch.from_numpy(batch)})
            dist = self._dist_cls.from_logits(out["action_dist_inputs"])
            if self.deterministic:
                actions = dist.to_deterministic().sample()
            else:
                mean, log_std = out["action_dist_inputs"].chunk(2, dim=-1)
                noise = torch.randn(mean.shape, generator=self._generator)
                actions = mean + noise * log_std.exp()
        actions = np.clip(actions.numpy(), -1.0, 1.0).astype(np.float32)
        return actions[0] if single else actions


def load_policy(path: str | Path, role: str, *, deterministic: bool = True, seed: int | None = None) -> LearnedPolicy:
    """Load ``role``'s trained policy from a run directory (newest checkpoint) or a checkpoint."""
    from ray.rllib.core.rl_module.rl_module import RLModule

    from pe_rllib.training.run import EXPERIMENT_FILE, resolve_checkpoint

    if role not in ("pursuer", "evader"):
        raise ValueError(f"role: must be 'pursuer' or 'evader', got {role!r}")
    checkpoint = resolve_checkpoint(path)
    module_dir = checkpoint / "learner_group" / "learner" / "rl_module" / role
    if not module_dir.is_dir():
        raise FileNotFoundError(f"{checkpoint}: no module for {role!r} in this checkpoint")
    module = RLModule.from_checkpoint(str(module_dir.resolve()))
    module.eval()
    experiment = load_experiment(checkpoint / EXPERIMENT_FILE)
    return LearnedPolicy(module, role, experiment, checkpoint, deterministic=deterministic, seed=seed)
