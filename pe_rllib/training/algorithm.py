"""The experiment config -> RLlib ``AlgorithmConfig``, and the self-play PPO algorithm.

Modules: ``pursuer`` and ``evader`` (trainable) plus ``selfplay.opponent_slots`` frozen
snapshot slots per role, all declared up front. The agent-to-module mapping is a
picklable :class:`~pe_rllib.callbacks.snapshots.OpponentMapping` with its own seeded
RNG: each agent plays its own module, except that the frozen role may be played by a
snapshot. Who trains is decided by the phase schedule and applied to the learners
(``policies_to_train``). Schedule and snapshot pool are part of the algorithm's
checkpoint state, so ``--resume`` continues the same phase at the same iteration with
the same pool.
"""

from __future__ import annotations

import logging

from ray.rllib.algorithms.ppo import PPO, PPOConfig
from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
from ray.rllib.core.rl_module.rl_module import RLModuleSpec

from pe_rllib.callbacks.metrics import EpisodeMetricsCallback
from pe_rllib.callbacks.schedule import PhaseSchedule, other
from pe_rllib.callbacks.selfplay import SelfPlayCallback, apply_selfplay, sync_env_runners
from pe_rllib.callbacks.snapshots import OpponentMapping, SnapshotPool, scripted_id, slot_ids
from pe_rllib.config import ExperimentConfig, SelfPlayConfig, to_dict
from pe_rllib.envs.core import AGENTS
from pe_rllib.envs.rllib_env import RLlibPursuitEvasion, experiment_from_env_config, register
from pe_rllib.policies.rl_module import ScriptedRLModule

logger = logging.getLogger(__name__)

STATE_KEY = "pe_selfplay"


class SelfPlayState:
    """Everything self-play needs to continue exactly: the phase schedule and the snapshot pool."""

    def __init__(self, config: SelfPlayConfig, data: dict | None = None) -> None:
        data = data or {}
        self.config = config
        self.schedule = (PhaseSchedule.from_dict(config, data["schedule"]) if "schedule" in data
                         else PhaseSchedule(config))
        self.pool = (SnapshotPool.from_dict(data["pool"]) if "pool" in data
                     else SnapshotPool(config.opponent_slots))

    def cold_start_overrides(self) -> dict[str, str]:
        """During the cold start with a scripted opponent: {opponent role: its scripted module}."""
        if self.config.cold_start_opponent == "untrained" or self.schedule.state.phase != 0:
            return {}
        opponent = other(self.config.first_role)
        return {opponent: scripted_id(opponent)}

    def to_dict(self) -> dict:
        return {"schedule": self.schedule.to_dict(), "pool": self.pool.to_dict()}


class SelfPlayPPO(PPO):
    """PPO whose checkpoint state also carries the self-play state (callbacks are not checkpointed)."""

    def setup(self, config) -> None:
        super().setup(config)
        self.experiment = experiment_from_env_config(self.config.env_config)
        self.selfplay = SelfPlayState(self.experiment.selfplay)
        apply_selfplay(self)

    def training_step(self):
        sync_env_runners(self)            # restarted runners must not sample with stale state
        return super().training_step()

    def get_state(self, *args, **kwargs):
        state = super().get_state(*args, **kwargs)
        state[STATE_KEY] = self.selfplay.to_dict()
        return state

    def set_state(self, state) -> None:
        super().set_state(state)
        if STATE_KEY in state:
            self.selfplay = SelfPlayState(self.experiment.selfplay, state[STATE_KEY])
            apply_selfplay(self)


def module_spec(experiment: ExperimentConfig, probe: RLlibPursuitEvasion) -> MultiRLModuleSpec:
    training = experiment.training
    model_config = {"fcnet_hiddens": list(training.hidden_sizes), "fcnet_activation": training.activation,
                    "vf_share_layers": False}
    slots = experiment.selfplay.opponent_slots
    roles_of = {role: role for role in AGENTS} | {slot: slot.split("_")[0] for slot in slot_ids(slots)}
    specs = {module: RLModuleSpec(observation_space=probe.observation_spaces[role],
                                  action_space=probe.action_spaces[role], model_config=model_config)
             for module, role in roles_of.items()}
    selfplay = experiment.selfplay
    if selfplay.cold_start_opponent != "untrained":
        opponent = other(selfplay.first_role)
        specs[scripted_id(opponent)] = RLModuleSpec(
            module_class=ScriptedRLModule, observation_space=probe.observation_spaces[opponent],
            action_space=probe.action_spaces[opponent],
            model_config={"policy": selfplay.cold_start_opponent, "role": opponent,
                          "experiment": to_dict(experiment), "seed": experiment.training.seed})
    return MultiRLModuleSpec(rl_module_specs=specs)


def build_algorithm_config(experiment: ExperimentConfig, log_level: str = "ERROR") -> PPOConfig:
    """The RLlib PPO config for an experiment (env, modules, runners, learners, callbacks).

    ``log_level`` is RLlib's. ERROR by default: at WARN, PPO's KL-coefficient update
    warns "KL divergence ... non-finite" every iteration for the *frozen* module (it peeks
    that module's emptied KL metric, gets NaN and, correctly, leaves its coefficient alone).
    """
    training = experiment.training
    # RLlib applies config.log_level to its logger only in Algorithm.setup, after config
    # validation has already warned; apply it now so the level holds from the start.
    logging.getLogger("ray.rllib").setLevel(log_level)
    env_config = {"experiment": to_dict(experiment)}
    probe = RLlibPursuitEvasion(env_config)          # also proves the env builds before Ray starts work
    initial_roles = PhaseSchedule(experiment.selfplay).training_roles
    spec = module_spec(experiment, probe)
    return (
        PPOConfig(algo_class=SelfPlayPPO)
        .environment(register(), env_config=env_config)
        .multi_agent(policies=set(spec.rl_module_specs),
                     policy_mapping_fn=OpponentMapping(experiment.selfplay.snapshot_probability, training.seed),
                     policies_to_train=initial_roles)
        .rl_module(rl_module_spec=spec)
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
