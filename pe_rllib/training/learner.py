"""The learner: RLlib's PPO torch learner with its torch threads taken from the config, plus the optional
mechanisms that act on the training data or the loss (search distillation, ``exploration.rnd``).

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
import math

import numpy as np
import torch
from ray.rllib.algorithms.ppo.torch.ppo_torch_learner import PPOTorchLearner
from ray.rllib.core.columns import Columns

from pe_rllib.policies.rl_module import SquashedDiagGaussian
from pe_rllib.training.ewc import ElasticWeightConsolidation
from pe_rllib.training.rnd import RandomNetworkDistillation, add_bonus, module_chunks
from pe_rllib.training.teachers import TEACHER_TARGETS, distill_loss, teacher_controllers

logger = logging.getLogger(__name__)

RND_STATE_KEY = "pe_rnd"
"""The learner state's entry holding the RND models (plain arrays), next to RLlib's own components."""
EWC_STATE_KEY = "pe_ewc"
"""The learner state's entry holding the EWC anchors and Fisher diagonals (plain arrays)."""


def _named(components, key: str) -> bool:
    return components is not None and key in ([components] if isinstance(components, str) else components)


def learner_threads(config) -> int:
    """Torch intra-op threads of a learner built from RLlib ``config`` (an ``AlgorithmConfig``)."""
    cpus = config.num_cpus_per_learner
    return max(1, int(cpus)) if isinstance(cpus, (int, float)) else 1


class SelfPlayPPOLearner(PPOTorchLearner):
    """PPO's torch learner, run with ``training.num_cpus_per_learner`` torch threads, plus the search
    distillation term of ``league.distill_coeff`` for the main roles that have a teacher and the RND
    exploration bonus of ``exploration.rnd`` and the EWC penalty of ``regularization.ewc`` on the roles they
    name."""

    def build(self) -> None:
        from pe_rllib.training.rllib_env import experiment_from_env_config

        threads = learner_threads(self.config)
        torch.set_num_threads(threads)
        logger.debug("learner: %d torch thread(s)", threads)
        self._teachers: dict = {}
        self._teacher_view = "observed"
        self._distill_coeff = 0.0
        self._distill_log_std = None
        self._distill_obs: dict[str, np.ndarray] = {}
        self._distill_optimizers: dict[str, torch.optim.Optimizer] = {}
        super().build()
        experiment = experiment_from_env_config(self.config.env_config)
        rnd = experiment.exploration.rnd
        self._rnd_coeff = rnd.coeff
        self._rnd = {role: RandomNetworkDistillation(rnd, int(np.prod(self.module[role].observation_space.shape)),
                                                     seed=experiment.training.seed + 7919 * (i + 1),
                                                     device=self.device())
                     for i, role in enumerate(rnd.roles)} if rnd.enabled else {}
        self._rng = np.random.default_rng(experiment.training.seed + 104729)
        ewc = experiment.regularization.ewc
        self._ewc = {role: ElasticWeightConsolidation(ewc.lambda_) for role in ewc.roles} if ewc.enabled else {}
        self._ewc_samples = ewc.fisher_samples
        self._ewc_obs: dict[str, np.ndarray] = {}
        self._distill_steps = experiment.league.distill_steps
        self._minibatch_rows = int(self.config.minibatch_size or self.config.train_batch_size_per_learner)

    def update(self, *args, training_data=None, **kwargs):
        """RLlib's update, after the RND bonus (if any) joined the trained roles' episode rewards: before the
        learner connector computes PPO's advantages from them, and only here (runners, evaluation and every
        reported rate see the world's own rewards). EWC roles keep observations of their batch for the Fisher
        estimate of their next consolidation, and imitating roles in training (``league.distill_steps``) all of
        their batch's observations for their extra distillation steps."""
        distilling = [role for role in self._teachers if self._distill_steps and self.should_module_be_updated(role)]
        if (self._rnd or self._ewc or distilling) and training_data is not None:
            training_data.solve_refs()          # idempotent: RLlib's own update finds them solved
            episodes = training_data.episodes or []
            trained = {role: model for role, model in self._rnd.items() if self.should_module_be_updated(role)}
            figures = add_bonus(episodes, trained, self._rnd_coeff, self._rng) if trained else {}
            for role, values in figures.items():
                for key, value in values.items():
                    self.metrics.log_value((role, key), value, window=1)
            for role in self._ewc:
                self._keep_observations(role, episodes, self._ewc_obs, self._ewc_samples)
            for role in distilling:
                self._keep_observations(role, episodes, self._distill_obs, None)
        return super().update(*args, training_data=training_data, **kwargs)

    def _keep_observations(self, role: str, episodes: list, into: dict, samples: int | None) -> None:
        """``into[role]``: the observations ``role`` acted on in ``episodes`` (``samples`` of them at random, or
        all), ``[B, D]`` float32; left as it was when ``role`` played none."""
        chunks = [np.asarray(e.get_observations(slice(0, len(e)))) for e in module_chunks(episodes, role)]
        if chunks:
            obs = np.concatenate(chunks).reshape(sum(len(c) for c in chunks), -1).astype(np.float32, copy=False)
            if samples is not None:
                obs = obs[np.sort(self._rng.choice(len(obs), size=min(len(obs), samples), replace=False))]
            into[role] = obs

    def consolidate(self, role: str) -> bool:
        """EWC: anchor ``role`` at its current weights and add its Fisher diagonal on its latest training
        observations; False when ``role`` does not consolidate or has not trained yet."""
        if role not in self._ewc:
            return False
        if role not in self._ewc_obs:
            logger.warning("EWC: %s has no training observations yet (not trained since the run started or "
                           "resumed); this consolidation is skipped", role)
            return False
        self._ewc[role].consolidate(self.module[role].unwrapped(), self._ewc_obs[role])
        logger.info("EWC: %s consolidated (%d so far)", role, self._ewc[role].consolidations)
        return True

    def rnd_state(self) -> dict:
        """Each RND role's state (plain arrays; for checkpoints and tests)."""
        return {role: model.get_state() for role, model in self._rnd.items()}

    def ewc_state(self) -> dict:
        """Each EWC role's anchor, Fisher diagonal and consolidation count (plain arrays)."""
        return {role: model.get_state() for role, model in self._ewc.items()}

    def get_state(self, components=None, *, not_components=None, **kwargs):
        state = super().get_state(components, not_components=not_components, **kwargs)
        for key, present, getter in ((RND_STATE_KEY, self._rnd, self.rnd_state),
                                     (EWC_STATE_KEY, self._ewc, self.ewc_state)):
            if present and (components is None or _named(components, key)) and not _named(not_components, key):
                state[key] = getter()
        return state

    def set_state(self, state) -> None:
        super().set_state(state)
        for role, saved in state.get(RND_STATE_KEY, {}).items():
            if role in self._rnd:
                self._rnd[role].set_state(saved)
        for role, saved in state.get(EWC_STATE_KEY, {}).items():
            if role in self._ewc:
                self._ewc[role].set_state(saved, self.device())

    def set_teachers(self, teachers: dict[str, dict]) -> None:
        """Search distillation targets (``league.distill_coeff``): ``{role: {"family": name, "params": list}}``,
        each role's newest searched anchor; roles left out have none. Plain controllers, no weights, played
        without their random terms (:func:`~pe_rllib.training.teachers.teacher_controllers`). With
        ``league.teacher_view: full`` or ``remembered`` the runners act with the same teachers and the batch carries
        their actions."""
        from pe_rllib.training.rllib_env import experiment_from_env_config

        experiment = experiment_from_env_config(self.config.env_config)
        self._teachers = teacher_controllers(experiment, teachers)
        self._teacher_view = experiment.league.teacher_view
        self._distill_coeff = experiment.league.distill_coeff
        self._distill_log_std = math.log(experiment.league.distill_std) if experiment.league.distill_std else None

    def teachers(self) -> dict[str, list[float]]:
        """The current teachers' parameters per role (for tests and diagnostics)."""
        return {role: np.asarray(c.params).tolist() for role, c in self._teachers.items()}

    def compute_loss_for_module(self, *, module_id, config, batch, fwd_out):
        loss = super().compute_loss_for_module(module_id=module_id, config=config, batch=batch, fwd_out=fwd_out)
        self._log_action_std(module_id, batch, fwd_out)
        if module_id in self._ewc:
            penalty = self._ewc[module_id].penalty(self.module[module_id].unwrapped())
            if penalty is not None:
                self.metrics.log_value((module_id, "ewc_penalty"), penalty.item(), window=1)
                loss = loss + penalty
        if module_id not in self._teachers:
            return loss
        weight = None
        if self._teacher_view != "observed":        # computed by the runners (privileged or remembering view)
            if TEACHER_TARGETS not in batch:
                raise RuntimeError(f"league.teacher_view: {self._teacher_view!r}: the batch of {module_id!r} has no "
                                   f"{TEACHER_TARGETS!r} column (only the batched sampler's runners compute it)")
            target, weight = batch[TEACHER_TARGETS][..., :-1], batch[TEACHER_TARGETS][..., -1]
        else:          # obs: [B, D], or [B, T, D] for a recurrent module's sequences
            target = self._teacher_actions(module_id, batch[Columns.OBS])
        error = self._distill_error(module_id, target, fwd_out[Columns.ACTION_DIST_INPUTS])
        distill = distill_loss(error, batch[Columns.LOSS_MASK] if Columns.LOSS_MASK in batch else None, weight)
        self.metrics.log_value((module_id, "distill_loss"), distill.item(), window=1)
        return loss + self._distill_coeff * distill

    def _log_action_std(self, module_id: str, batch, fwd_out) -> None:
        """Log ``(module_id, "action_std")``: the mean standard deviation of the role's Gaussian (before clipping
        or squashing) over the minibatch's states and action dimensions. Far above the action box's half-width
        (1), the role trains on near-random play while evaluation judges its mean (BENCHMARKS.md, issue 21,
        seventh session; issue 24, sixth session)."""
        with torch.no_grad():
            std = fwd_out[Columns.ACTION_DIST_INPUTS].chunk(2, dim=-1)[1].exp().mean(-1)
            if Columns.LOSS_MASK in batch:
                std = std[batch[Columns.LOSS_MASK]]
            # A tensor, as PPO's own statistics: no device sync per minibatch on a GPU learner.
            self.metrics.log_value((module_id, "action_std"), std.mean(), window=1)

    def _teacher_actions(self, module_id: str, obs: torch.Tensor) -> torch.Tensor:
        """What ``module_id``'s teacher does on ``obs`` ``[..., D]``: ``[..., A]``, on ``obs``'s device."""
        flat = obs.detach().cpu().numpy().reshape(-1, obs.shape[-1])
        target = torch.as_tensor(self._teachers[module_id].act(flat), dtype=torch.float32, device=obs.device)
        return target.reshape(*obs.shape[:-1], target.shape[-1])

    def _distill_error(self, module_id: str, target: torch.Tensor, dist_inputs: torch.Tensor) -> torch.Tensor:
        """Per state, the squared distance of ``module_id``'s mean action from the teacher's ``target`` (plus, with
        ``distill_std``, of its log standard deviations from the target's): ``[..., A]`` -> ``[...]``."""
        mean, log_std = dist_inputs.chunk(2, dim=-1)
        if self.module[module_id].unwrapped().get_train_action_dist_cls() is SquashedDiagGaussian:
            mean = SquashedDiagGaussian.env_actions(mean)    # the raw Gaussian mean: unclipped, so never gradient-free
        error = ((mean - target) ** 2).sum(-1)
        if self._distill_log_std is not None:
            error = error + ((log_std - self._distill_log_std) ** 2).sum(-1)
        return error

    def after_gradient_based_update(self, *, timesteps) -> None:
        """RLlib's hook after PPO's epochs, plus ``league.distill_steps`` supervised steps for each imitating role
        trained in this update, on minibatches of the states :meth:`update` kept from its batch.

        The steps use an Adam optimizer of their own (at the PPO optimizer's current learning rate), so that
        PPO's moment estimates stay those of PPO's own loss, not of hundreds of supervised steps with near-zero
        gradients on a fitted teacher (a design choice, not measured against sharing: the KL rollbacks first
        blamed on sharing came as often without it, from the first teacher's jump; BENCHMARKS.md, issue 21,
        ninth session). Their moments are not checkpointed: a resumed run starts them afresh."""
        super().after_gradient_based_update(timesteps=timesteps)
        kept, self._distill_obs = self._distill_obs, {}
        device = self.device()
        for module_id, kept_obs in kept.items():
            module, optimizer = self.module[module_id], self._distill_optimizer(module_id)
            obs = torch.as_tensor(kept_obs, device=device)
            targets, losses = self._teacher_actions(module_id, obs), []
            for _ in range(self._distill_steps):
                rows = torch.as_tensor(self._rng.integers(0, len(obs), size=min(len(obs), self._minibatch_rows)),
                                       device=device)
                fwd_out = module.forward_train({Columns.OBS: obs[rows]})
                loss = self._distill_error(module_id, targets[rows], fwd_out[Columns.ACTION_DIST_INPUTS]).mean()
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
            optimizer.zero_grad(set_to_none=True)
            self.metrics.log_value((module_id, "distill_extra_loss"), float(np.mean(losses)), window=1)

    def _distill_optimizer(self, module_id: str) -> torch.optim.Optimizer:
        """The Adam optimizer of ``module_id``'s extra distillation steps, at its PPO optimizer's current rate."""
        lr = self.get_optimizer(module_id).param_groups[0]["lr"]
        if module_id not in self._distill_optimizers:
            self._distill_optimizers[module_id] = torch.optim.Adam(self.module[module_id].parameters(), lr=lr)
        optimizer = self._distill_optimizers[module_id]
        for group in optimizer.param_groups:
            group["lr"] = lr
        return optimizer

    def torch_threads(self) -> int:
        """The torch intra-op threads this learner's process runs with (for tests and diagnostics)."""
        return torch.get_num_threads()

    def device(self) -> str:
        """Where this learner's modules live ("cpu", "cuda:0", ...)."""
        for module_id in self.module.keys():
            module = self.module[module_id]
            if isinstance(module, torch.nn.Module):     # not the searched anchors' plain controllers
                for parameter in module.parameters():
                    return str(parameter.device)
        return "cpu"


def on_learners(learner_group, function) -> list:
    """``function(learner)`` on every learner (the driver's own or the remote ones), as plain values.

    ``LearnerGroup.foreach_learner`` answers a ``RemoteCallResults`` of per-learner results;
    ``get()`` re-raises a learner's error.
    """
    return [result.get() for result in learner_group.foreach_learner(function)]


__all__ = ["SelfPlayPPOLearner", "learner_threads", "on_learners"]
