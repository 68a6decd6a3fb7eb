"""The experiment config -> RLlib ``AlgorithmConfig``, and the self-play PPO algorithm.

Modules: ``pursuer`` and ``evader`` (trainable) plus ``selfplay.opponent_slots`` frozen
snapshot slots per role, all declared up front. The agent-to-module mapping is a
picklable :class:`~pe_rllib.selfplay.snapshots.OpponentMapping` with its own seeded
RNG: each agent plays its own module, except that the frozen role may be played by a
snapshot. Who trains is decided by the phase schedule and applied to the learners
(``policies_to_train``). Schedule and snapshot pool are part of the algorithm's
checkpoint state, so ``--resume`` continues the same phase at the same iteration with
the same pool.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import yaml
from ray.rllib.algorithms.ppo import PPO, PPOConfig
from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec

from pe_rllib.callbacks.league import load_slots, send_teachers, start_league
from pe_rllib.callbacks.metrics import EpisodeMetricsCallback
from pe_rllib.callbacks.selfplay import SelfPlayCallback, apply_selfplay, sync_env_runners
from pe_rllib.config import ROLES, ExperimentConfig, from_dict, other_role, rollout_shape, to_dict
from pe_rllib.config.sweep import TRIAL_EXPERIMENT
from pe_rllib.files import write_atomic
from pe_rllib.policies.module_ids import (
    anchor_id,
    exploiter_id,
    scripted_id,
    scripted_opponent_id,
    slot_id,
    trained_modules,
)
from pe_rllib.policies.rl_module import anchor_module_spec, learned_module_spec, scripted_module_spec
from pe_rllib.rundir import (
    EXPERIMENT_FILE,
    POLICIES,
    SELFPLAY_STATE_KEY,
    RunDirectoryError,
    refuse_pickles,
    verify_checkpoint,
    write_manifest,
)
from pe_rllib.selfplay import Curriculum, HealthMonitor, League
from pe_rllib.selfplay.schedule import PhaseSchedule
from pe_rllib.selfplay.snapshots import OpponentMapping, SnapshotPool
from pe_rllib.training.learner import SelfPlayPPOLearner
from pe_rllib.training.rllib_env import experiment_from_env_config, register

logger = logging.getLogger(__name__)



def _plan(entries) -> dict[str, float]:
    """A role's slot plan, {entry: per-episode probability}; checkpoints before 2026-12 stored a list
    (entries met uniformly)."""
    if isinstance(entries, dict):
        return {entry: float(p) for entry, p in entries.items()}
    return {entry: 1.0 / len(entries) for entry in entries}


def _arrays(weights: dict) -> dict:
    return {name: np.asarray(value) for name, value in weights.items()}


class SelfPlayState:
    """Everything self-play needs to continue exactly: the phase schedule, the snapshot slots and,
    when enabled, the league (pool entries with their weights, win rates, Elo, the slot plan) and
    the health monitor (streaks, known-good weights, events)."""

    def __init__(self, experiment: ExperimentConfig, data: dict | None = None) -> None:
        data = data or {}
        config = experiment.selfplay
        self.config = config
        self.schedule = (PhaseSchedule.from_dict(config, data["schedule"]) if "schedule" in data
                         else PhaseSchedule(config))
        self.pool = (SnapshotPool.from_dict(data["pool"]) if "pool" in data
                     else SnapshotPool(config.opponent_slots))
        self.league = None
        if experiment.league.enabled:
            self.league = (League.from_dict(experiment.league, data["league"]) if "league" in data
                           else League(experiment.league))
        self.league_weights = {k: _arrays(v) for k, v in data.get("league_weights", {}).items()}
        self.slot_plan = {role: _plan(entries) for role, entries in data.get("slot_plan", {}).items()}
        self.health = None
        if experiment.health.enabled:
            self.health = (HealthMonitor.from_dict(experiment.health, data["health"]) if "health" in data
                           else HealthMonitor(experiment.health))
        self.good_weights = {k: _arrays(v) for k, v in data.get("good_weights", {}).items()}
        self.events = list(data.get("events", []))
        self.exploiter_iterations = {role: int(n) for role, n in data.get("exploiter_iterations", {}).items()}
        """Per role, iterations its exploiter trained since its last reset (league.exploiters)."""
        self.evaluation = dict(data.get("evaluation", {}))     # the latest periodic evaluation's figures
        self.curriculum = (Curriculum.from_dict(experiment.curriculum, data["curriculum"]) if "curriculum" in data
                           else Curriculum(experiment.curriculum))

    def cold_start_overrides(self) -> dict[str, str]:
        """During the cold start with a scripted opponent: {opponent role: its scripted module}."""
        if self.config.cold_start_opponent == "untrained" or self.schedule.state.phase != 0:
            return {}
        opponent = other_role(self.config.first_role)
        return {opponent: scripted_id(opponent)}

    def to_dict(self) -> dict:
        data = {"schedule": self.schedule.to_dict(), "pool": self.pool.to_dict()}
        if self.league is not None:
            data.update(league=self.league.to_dict(), league_weights=self.league_weights, slot_plan=self.slot_plan,
                        exploiter_iterations=self.exploiter_iterations)
        if self.health is not None:
            data.update(health=self.health.to_dict(), good_weights=self.good_weights, events=self.events)
        if self.curriculum.config.enabled:
            data["curriculum"] = self.curriculum.to_dict()
        if self.evaluation:
            data["evaluation"] = self.evaluation
        return data


"""The key of a Tune trial's config that holds its experiment (a plain dict, search domains resolved)."""


def _algorithm_config(config):
    """A Tune trial's ``{"pe_experiment": {...}}`` as the experiment's algorithm config; anything else as is."""
    if isinstance(config, dict) and TRIAL_EXPERIMENT in config:
        return build_algorithm_config(from_dict(ExperimentConfig, config[TRIAL_EXPERIMENT]))
    return config


def _plain(value):
    """``value`` with numpy scalars and arrays as Python numbers and lists (dicts and lists recursively)."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(item) for item in value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def export_policies(algo, directory: Path) -> None:
    """Every module's weights as data-only torch tensors (``torch.load(weights_only=True)``)."""
    import torch

    directory.mkdir(parents=True, exist_ok=True)
    for module_id, state in algo.learner_group.get_weights().items():
        if not state:                     # scripted modules have no weights
            continue
        tensors = {name: torch.as_tensor(np.asarray(value)) for name, value in state.items()}
        torch.save(tensors, directory / f"{module_id}.pt")


class SelfPlayPPO(PPO):
    """PPO whose checkpoint state also carries the self-play state (callbacks are not checkpointed).

    It is also the Tune trainable of ``pe-rllib tune``: a trial's config is
    ``{"pe_experiment": <experiment dict>}``, turned into this experiment's algorithm
    config both for the trial's resource request (RLlib's own
    ``default_resource_request``) and for the algorithm itself.
    """

    def __init__(self, config=None, **kwargs) -> None:
        super().__init__(_algorithm_config(config), **kwargs)

    @classmethod
    def default_resource_request(cls, config):
        return super().default_resource_request(_algorithm_config(config))

    def train(self):
        """One iteration; the result holds plain Python numbers only.

        RLlib 2.60's msgpack checkpoints call ``msgpack_numpy.patch()``, which patches msgpack for the
        whole process. After a trial's first checkpoint, numpy scalars in its results then reach Tune's
        driver as ``{b"nd": ..., b"type": ..., b"data": ...}`` dicts, and Tune's JSON logger fails on the
        bytes keys. Plain numbers travel unchanged (tests/test_sweep.py runs a sweep across checkpoints).
        """
        return _plain(super().train())

    def save_checkpoint(self, checkpoint_dir: str) -> None:
        """A pe_rllib checkpoint, for ``pe-rllib train`` and Tune alike: RLlib's state with every state file
        as msgpack (data only), every module's weights as data-only tensors, the experiment, and last a
        SHA-256 manifest.

        RLlib 2.60 still writes class_and_ctor_args.pkl next to each component; only
        ``Algorithm.from_checkpoint`` reads them (``restore_from_path``, which resume and Tune's
        restore use, does not), so they are removed and a checkpoint holds no pickle at all.
        """
        directory = Path(checkpoint_dir)
        self.save_to_path(str(directory.resolve()), use_msgpack=True)
        for pickled in directory.rglob("*.pkl"):
            pickled.unlink()
        export_policies(self, directory / POLICIES)
        write_atomic(directory / EXPERIMENT_FILE, yaml.safe_dump(to_dict(self.experiment), sort_keys=False))
        write_manifest(directory, self.iteration)

    def load_checkpoint(self, checkpoint_dir: str) -> None:
        """Tune's restore of a trial: only an intact checkpoint without pickled state (see :func:`refuse_pickles`)."""
        directory = Path(checkpoint_dir)
        problem = verify_checkpoint(directory)
        if problem is not None:
            raise RunDirectoryError(f"{directory}: {problem}")
        refuse_pickles(directory)
        super().load_checkpoint(checkpoint_dir)

    run_name: str | None = None
    """The ``run`` tag of the run's dashboard metrics (``pe-rllib train`` sets the run directory's name;
    a Tune trial uses its trial name)."""

    def setup(self, config) -> None:
        super().setup(config)
        self.experiment = experiment_from_env_config(self.config.env_config)
        self.selfplay = SelfPlayState(self.experiment)
        start_league(self)
        apply_selfplay(self)

    def training_step(self):
        sync_env_runners(self)            # restarted runners must not sample with stale state
        return super().training_step()

    def get_state(self, *args, **kwargs):
        state = super().get_state(*args, **kwargs)
        state[SELFPLAY_STATE_KEY] = self.selfplay.to_dict()
        return state

    def set_state(self, state) -> None:
        super().set_state(state)
        if SELFPLAY_STATE_KEY in state:
            self.selfplay = SelfPlayState(self.experiment, state[SELFPLAY_STATE_KEY])
            if self.selfplay.league is not None:
                load_slots(self, replan=False)
                send_teachers(self)
            apply_selfplay(self)


def module_spec(experiment: ExperimentConfig) -> MultiRLModuleSpec:
    """``pursuer``, ``evader``, K snapshot slots per role and, if configured, the scripted cold-start opponent
    and the league's scripted pool entries (one module each)."""
    learned = {role: learned_module_spec(experiment, role) for role in ROLES}
    specs = {module: learned[role] for role in ROLES
             for module in (role, *(slot_id(role, k) for k in range(experiment.selfplay.opponent_slots)))}
    selfplay = experiment.selfplay
    if selfplay.cold_start_opponent != "untrained":
        opponent = other_role(selfplay.first_role)
        specs[scripted_id(opponent)] = scripted_module_spec(experiment, selfplay.cold_start_opponent, opponent)
    if experiment.league.enabled:
        for role, name in experiment.league.scripted_entries():
            specs[scripted_opponent_id(role, name)] = scripted_module_spec(experiment, name, role)
        for role in ROLES:
            for index in range(experiment.league.anchors):
                specs[anchor_id(role, index)] = anchor_module_spec(experiment, role)
            if experiment.league.with_exploiters:
                specs[exploiter_id(role)] = learned[role]
    return MultiRLModuleSpec(rl_module_specs=specs)


def runner_class(sampler: str) -> dict:
    """``env_runners(...)`` arguments selecting the sampler (default: RLlib's own runner)."""
    if sampler == "batched":
        from pe_rllib.training.batched_runner import BatchedSelfPlayRunner

        return {"env_runner_cls": BatchedSelfPlayRunner}
    return {}


def build_algorithm_config(experiment: ExperimentConfig, log_level: str = "ERROR") -> PPOConfig:
    """The RLlib PPO config for an experiment (env, modules, runners, learners, callbacks); ``log_level`` is
    RLlib's (see :func:`~pe_rllib.training.session.init_ray`, which applies it before RLlib validates)."""
    training = experiment.training
    env_config = {"experiment": to_dict(experiment)}
    schedule = PhaseSchedule(experiment.selfplay)
    initial_roles = trained_modules(schedule.training_roles, experiment.league.exploiter_roles(schedule.training_roles))
    spec = module_spec(experiment)
    arenas, fragment = rollout_shape(training)
    if arenas < training.num_envs_per_env_runner:
        logger.info("arenas per env runner: %d of the %d configured, so that each steps %d times per iteration "
                    "(training.min_fragment_length %d)", arenas, training.num_envs_per_env_runner, fragment,
                    training.min_fragment_length)
    return (
        PPOConfig(algo_class=SelfPlayPPO)
        .environment(register(), env_config=env_config)
        .multi_agent(policies=set(spec.rl_module_specs),
                     policy_mapping_fn=OpponentMapping(experiment.selfplay.snapshot_probability, training.seed),
                     policies_to_train=initial_roles)
        .rl_module(rl_module_spec=spec)
        .env_runners(num_env_runners=training.num_env_runners,
                     num_envs_per_env_runner=arenas,
                     rollout_fragment_length=fragment,
                     num_cpus_per_env_runner=training.num_cpus_per_env_runner,
                     **runner_class(training.sampler))
        .learners(num_learners=training.num_learners, num_gpus_per_learner=training.num_gpus_per_learner,
                  num_cpus_per_learner=training.num_cpus_per_learner, learner_class=SelfPlayPPOLearner)
        .training(lr=training.lr, gamma=training.gamma, lambda_=training.lambda_,
                  clip_param=training.clip_param, entropy_coeff=training.entropy_coeff,
                  vf_loss_coeff=training.vf_loss_coeff, vf_clip_param=training.vf_clip_param,
                  num_epochs=training.num_epochs,
                  train_batch_size_per_learner=training.train_batch_size_per_learner,
                  minibatch_size=training.minibatch_size)
        .callbacks([EpisodeMetricsCallback, SelfPlayCallback])
        .fault_tolerance(restart_failed_env_runners=True,
                         max_num_env_runner_restarts=training.max_env_runner_restarts)
        .debugging(seed=training.seed, log_level=log_level)
    )
