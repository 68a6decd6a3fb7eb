"""The experiment config -> RLlib ``AlgorithmConfig``, and the self-play PPO algorithm.

Modules: ``pursuer`` and ``evader``, one per role; the agent-to-module mapping is the
identity (agent id == module id), a static, picklable function, so env runners that
are recreated after a failure need nothing re-applied. Who trains is decided by the
phase schedule and applied to the learners (``policies_to_train``); the schedule's
state is part of the algorithm's checkpoint state, so ``--resume`` continues the same
phase at the same iteration.
"""

from __future__ import annotations

import logging

from ray.rllib.algorithms.ppo import PPO, PPOConfig
from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
from ray.rllib.core.rl_module.rl_module import RLModuleSpec

from pe_rllib.callbacks.metrics import EpisodeMetricsCallback
from pe_rllib.callbacks.schedule import PhaseSchedule
from pe_rllib.callbacks.selfplay import SelfPlayCallback, apply_freezing
from pe_rllib.config import ExperimentConfig, SelfPlayConfig, to_dict
from pe_rllib.envs.core import AGENTS
from pe_rllib.envs.rllib_env import RLlibPursuitEvasion, experiment_from_env_config, register

logger = logging.getLogger(__name__)

STATE_KEY = "pe_selfplay"


def agent_to_module(agent_id, episode=None, **kwargs):
    """Identity mapping: the pursuer agent is played by module ``pursuer``, the evader by ``evader``."""
    return agent_id


class SelfPlayState:
    """Everything self-play needs to continue exactly: today the phase schedule."""

    def __init__(self, config: SelfPlayConfig, data: dict | None = None) -> None:
        data = data or {}
        self.schedule = (PhaseSchedule.from_dict(config, data["schedule"]) if "schedule" in data
                         else PhaseSchedule(config))

    def to_dict(self) -> dict:
        return {"schedule": self.schedule.to_dict()}


class SelfPlayPPO(PPO):
    """PPO whose checkpoint state also carries the self-play state (callbacks are not checkpointed)."""

    def setup(self, config) -> None:
        super().setup(config)
        self.experiment = experiment_from_env_config(self.config.env_config)
        self.selfplay = SelfPlayState(self.experiment.selfplay)
        apply_freezing(self, self.selfplay.schedule.training_roles)

    def get_state(self, *args, **kwargs):
        state = super().get_state(*args, **kwargs)
        state[STATE_KEY] = self.selfplay.to_dict()
        return state

    def set_state(self, state) -> None:
        super().set_state(state)
        if STATE_KEY in state:
            self.selfplay = SelfPlayState(self.experiment.selfplay, state[STATE_KEY])
            apply_freezing(self, self.selfplay.schedule.training_roles)


def module_spec(experiment: ExperimentConfig, probe: RLlibPursuitEvasion) -> MultiRLModuleSpec:
    training = experiment.training
    model_config = {"fcnet_hiddens": list(training.hidden_sizes), "fcnet_activation": training.activation,
                    "vf_share_layers": False}
    return MultiRLModuleSpec(rl_module_specs={
        role: RLModuleSpec(observation_space=probe.observation_spaces[role],
                           action_space=probe.action_spaces[role], model_config=model_config)
        for role in AGENTS})


def build_algorithm_config(experiment: ExperimentConfig, log_level: str = "ERROR") -> PPOConfig:
    """The RLlib PPO config for an experiment (env, modules, runners, learners, callbacks).

    ``log_level`` is RLlib's. ERROR by default: at WARN, PPO's KL-coefficient update
    warns "KL divergence ... non-finite" every iteration for the *frozen* module (it peeks
    that module's emptied KL metric, gets NaN and, correctly, leaves its coefficient alone).
    """
    training = experiment.training
    env_config = {"experiment": to_dict(experiment)}
    probe = RLlibPursuitEvasion(env_config)          # also proves the env builds before Ray starts work
    initial_roles = PhaseSchedule(experiment.selfplay).training_roles
    return (
        PPOConfig(algo_class=SelfPlayPPO)
        .environment(register(), env_config=env_config)
        .multi_agent(policies=set(AGENTS), policy_mapping_fn=agent_to_module, policies_to_train=initial_roles)
        .rl_module(rl_module_spec=module_spec(experiment, probe))
        .env_runners(num_env_runners=training.num_env_runners,
                     num_envs_per_env_runner=training.num_envs_per_env_runner,
                     num_cpus_per_env_runner=training.num_cpus_per_env_runner)
        .learners(num_learners=training.num_learners, num_gpus_per_learner=training.num_gpus_per_learner)
        .training(lr=training.lr, gamma=training.gamma, lambda_=training.lambda_,
                  clip_param=training.clip_param, entropy_coeff=training.entropy_coeff,
                  vf_loss_coeff=training.vf_loss_coeff, num_epochs=training.num_epochs,
                  train_batch_size_per_learner=training.train_batch_size_per_learner,
                  minibatch_size=training.minibatch_size)
        .callbacks([EpisodeMetricsCallback, SelfPlayCallback])
        .fault_tolerance(restart_failed_env_runners=True,
                         max_num_env_runner_restarts=training.max_env_runner_restarts)
        .debugging(seed=training.seed, log_level=log_level)
    )
