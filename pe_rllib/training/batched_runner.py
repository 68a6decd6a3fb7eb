"""Batched self-play sampling: an RLlib ``EnvRunner`` that steps N arenas of the numpy world at once.

RLlib's ``MultiAgentEnvRunner`` costs about a millisecond per multi-agent step
(connectors, per-step callbacks and metrics, episode bookkeeping) and loops over its
sub-envs in Python, while the world core steps N arenas in microseconds. This runner
keeps RLlib in charge of everything but the step loop: modules (one ``MultiRLModule``
with ``pursuer``, ``evader``, snapshot slots and the scripted cold-start opponent),
weights and their sync (``get_state``/``set_state`` are inherited), the picklable
mapping object, learners, checkpoints, fault tolerance. Per step it runs one
``forward_exploration`` per module over the arenas that module plays in, samples the
actions and their log-probabilities from the module's action distribution, and steps a
:class:`~pe_rllib.safety.SafeBatchedEnv`. At the end of a rollout fragment it hands the
learner one :class:`SingleAgentEpisode` per (arena, role, episode segment), built from
``[T, N, ...]`` arrays and tagged with ``agent_id``/``module_id`` (the form RLlib's
learner connectors accept for multi-agent batches).

Semantics kept identical to the stock path:

* Mapping: ``config.policy_mapping_fn(role, None)`` once per role and episode (the
  mapping object's own seeded RNG), as the stock ``MultiAgentEpisode`` caches it.
* Actions: the module's exploration distribution (``get_exploration_action_dist_cls``),
  ``ACTION_LOGP`` and ``ACTION_DIST_INPUTS`` stored for PPO; the env receives the action
  clipped to the Box [-1, 1], which is what RLlib's default module-to-env pipeline
  (``GetActions`` -> ``NormalizeAndClipActions``: unsquash to [low, high] = identity on
  this space, then clip) sends. Scripted modules return ``ACTIONS`` directly.
* Observations go to the modules unchanged as float32 (the default env-to-module
  pipeline only batches them and maps agents to modules for this flat Box space).
  Bypassed connectors: the whole env-to-module and module-to-env pipelines
  (AddObservationsFromEpisodesToBatch, AgentToModuleMapping, BatchIndividualItems,
  NumpyToTensor; GetActions, TensorToNumpy, UnBatchToIndividualItems,
  ModuleToAgentUnmapping, NormalizeAndClipActions). A config that adds custom
  connectors must use ``training.sampler: rllib``.

Deliberate difference: a timeout is a *truncation* for both roles (the learner bootstraps
the value at the last observation), captures and collisions are terminations. The stock
``MultiAgentEpisode`` turns "all agents truncated" into terminated for every agent
(RLlib 2.60 ``multi_agent_episode.py``), so stock PPO does not bootstrap at timeouts.

Deliberate difference: a stand-in keeps its weights for the whole episode. The league
loads other pool entries into the snapshot slots between iterations (an iteration is a few
dozen steps per arena, an episode up to ``max_steps``); on the stock path an episode in
progress then finishes against whatever the slot now holds. Here, when new weights arrive
for a slot (or any module other than a role's own) that arenas are playing mid-episode,
:meth:`BatchedSelfPlayRunner.set_state` keeps a frozen copy of the old module for those
arenas until their episodes end; new episodes play the new weights. The copies are dropped
once no arena plays them. Each episode's outcome is counted under the label the mapping
gave its module when the episode started (the league's pool entry id), so games against a
kept copy are credited to the entry that played them. The modules that train update in
place (on-policy PPO): the roles' own and their main exploiters (a kept copy of an
exploiter would hand its learner data from weights up to an episode old, ~6 iterations
in ``converge.yaml``, and a reset exploiter would go on playing its old weights); so does a
health rollback.

No ``on_episode_*`` callbacks run here: the per-episode metrics that
:class:`~pe_rllib.callbacks.metrics.EpisodeMetricsCallback` logs on the stock path are
logged in bulk, with the same names and meanings.
"""

from __future__ import annotations

import copy
import functools
import itertools
import logging
import math
import uuid
from dataclasses import replace

import gymnasium as gym
import numpy as np
import ray
from ray.rllib.core import COMPONENT_RL_MODULE
from ray.rllib.core.columns import Columns
from ray.rllib.env.multi_agent_env_runner import MultiAgentEnvRunner
from ray.rllib.env.single_agent_episode import SingleAgentEpisode
from ray.rllib.utils.metrics import (
    EPISODE_LEN_MEAN,
    EPISODE_RETURN_MEAN,
    NUM_AGENT_STEPS_SAMPLED,
    NUM_AGENT_STEPS_SAMPLED_LIFETIME,
    NUM_ENV_STEPS_SAMPLED,
    NUM_ENV_STEPS_SAMPLED_LIFETIME,
    NUM_EPISODES,
    NUM_EPISODES_LIFETIME,
    NUM_MODULE_STEPS_SAMPLED,
    NUM_MODULE_STEPS_SAMPLED_LIFETIME,
)

from pe_rllib.callbacks.metrics import NAMESPACE, log_episode_counts
from pe_rllib.config import ROLES, env_with, runner_threads
from pe_rllib.envs.rollout import rollout
from pe_rllib.policies import state as states
from pe_rllib.policies.memory import OpponentTrack
from pe_rllib.policies.module_ids import exploiter_id
from pe_rllib.policies.rl_module import LearnedPPOModule, ScriptedRLModule, act_through_rllib, env_actions
from pe_rllib.safety import make_batched_env
from pe_rllib.training.fragments import EpisodeStats, Fragment
from pe_rllib.training.rllib_env import experiment_from_env_config
from pe_rllib.training.teachers import TEACHER_TARGETS, teacher_controllers, teacher_targets

logger = logging.getLogger(__name__)

ON_POLICY_MODULES = frozenset([*ROLES, *(exploiter_id(role) for role in ROLES)])
"""Modules whose new weights arenas play at once, mid-episode: the ones PPO trains (see the module docstring)."""


def training_exploiters(mapping) -> set[str]:
    """The exploiter modules that play and train this iteration (the mapping's; with ``league.exploiter_phases:
    all`` the frozen role's too, which then explores and has its episodes built like a training role's)."""
    return set(getattr(mapping, "exploiters", {}).values())


class _Spaces:
    """What RLlib's runner machinery reads of an env (spaces, agents); the arenas live elsewhere."""

    def __init__(self, world) -> None:
        self.possible_agents = list(world.agents)
        self.num_envs = world.num_envs
        self.single_observation_space = gym.spaces.Dict({r: world.observation_space(r) for r in world.agents})
        self.single_action_space = gym.spaces.Dict({r: world.action_space(r) for r in world.agents})
        self.observation_space = self.single_observation_space
        self.action_space = self.single_action_space
        self.unwrapped = self

    def get_observation_space(self, agent_id):
        return self.single_observation_space[agent_id]

    def get_action_space(self, agent_id):
        return self.single_action_space[agent_id]

    def close(self) -> None:
        pass


class _Segment:
    """One role's episode in one arena, within the current fragment."""

    __slots__ = ("episode_id", "pair_id", "module_id", "t_started")

    def __init__(self, episode_id: str, pair_id: str, module_id: str, t_started: int) -> None:
        self.episode_id, self.pair_id, self.module_id, self.t_started = episode_id, pair_id, module_id, t_started


class BatchedSelfPlayRunner(MultiAgentEnvRunner):
    """Steps ``num_envs_per_env_runner`` arenas in lock-step (see module docstring)."""

    def make_env(self):
        self.experiment = experiment_from_env_config(self.config.env_config)
        if self.worker_index:                 # a remote runner's process: threads per its CPU reservation
            import torch

            torch.set_num_threads(runner_threads(self.experiment.training))
        self.world_overrides: dict = {}
        self.num_envs = int(self.config.num_envs_per_env_runner)
        self.arenas = make_batched_env(self.num_envs, self.experiment)
        self.env = _Spaces(self.arenas)
        self._needs_initial_reset = True
        self._obs = None
        self._segments: list[dict[str, _Segment]] = []
        self._stats = None
        self._kept: dict[str, object] = {}                  # copies of stand-ins that arenas still play
        self._kept_ids = itertools.count()
        self._teachers: dict = {}                           # league.teacher_view full | remembered: {role: controller}
        self._tracks: dict[str, OpponentTrack] = {}         # teacher_view remembered: each role's view, per arena
        self._privileged = None                             # teacher_view full: this step's, for both roles
        self.frozen_episodes = False
        """Also hand the learners the frozen roles' episodes (which they would discard: for tests and
        diagnostics that inspect what the frozen side played)."""

    def set_world_overrides(self, overrides: dict) -> bool:
        """Play the experiment's world with ``overrides`` (a curriculum level; {} = the experiment's own).

        On a change the arenas are rebuilt and every arena starts a new episode at the next
        ``sample()`` (episodes in progress end there, unfinished, like at a fragment end).
        Observation and action spaces do not change (curriculum fields do not touch them).
        Returns whether the world changed.
        """
        if not hasattr(self, "arenas"):       # the driver's runner when remote runners sample: no env
            return False
        if dict(overrides) == self.world_overrides:
            return False
        base = experiment_from_env_config(self.config.env_config)
        self.experiment = replace(base, env=env_with(base.env, overrides))
        self.world_overrides = dict(overrides)
        self.arenas = make_batched_env(self.num_envs, self.experiment)
        self._needs_initial_reset = True
        return True

    def set_teachers(self, teachers: dict[str, dict]) -> None:
        """The roles' search distillation teachers (as the learners get them), with ``league.teacher_view: full``
        or ``remembered`` played on the runner: at every step each training role's teacher acts on that role's
        privileged observation, or its observation with the opponent dead-reckoned (:class:`OpponentTrack`), and
        the role's episodes carry its actions and their weights (``TEACHER_TARGETS``) to the learner. Otherwise
        nothing (the learner computes the teachers' actions from the batch)."""
        if hasattr(self, "arenas") and self.experiment.league.teacher_view != "observed":   # (not an env-less one)
            self._teachers = teacher_controllers(self.experiment, teachers)

    def _teacher_targets(self, role: str, obs: np.ndarray) -> np.ndarray | None:
        """``role``'s teacher's actions and weights ``[N, A + 1]`` at this step (``obs``: the role's observations;
        :func:`~pe_rllib.training.teachers.teacher_targets`), or None where it has no teacher on the runner or it
        is frozen (its episodes are not built). A remembering view records every step, teacher or not, so that it
        has the whole episode when one arrives."""
        track = self._tracks.get(role)
        view = track.view(obs) if track is not None else None
        controller = self._teachers.get(role)
        frozen = () if self.frozen_episodes else getattr(self.config.policy_mapping_fn, "frozen_roles", ())
        if controller is None or role in frozen:
            return None
        if view is None:                                   # one privileged observation per step serves both roles
            if self._privileged is None:
                self._privileged = self.arenas.privileged_observation()
            view = self._privileged[role]
        return teacher_targets(controller, view, obs, self.experiment.league.teacher_unseen_weight)

    # ------------------------------------------------------------------ episodes and mapping

    def _start_episode(self, arena: int) -> None:
        pair = uuid.uuid4().hex
        mapping = self.config.policy_mapping_fn
        assign = getattr(mapping, "assign", None)             # both roles at once (an exploiter's episode)
        modules = assign() if assign is not None else {role: mapping(role, None) for role in ROLES}
        self._segments[arena] = {role: _Segment(uuid.uuid4().hex, pair, str(modules[role]), 0) for role in ROLES}
        labels = getattr(mapping, "labels", None) or {}
        for role in ROLES:
            module_id = self._segments[arena][role].module_id
            self._module_of[role][arena] = self._player_of[role][arena] = module_id
            self._label_of[role][arena] = labels.get(module_id, module_id)
            states.reset_rows(self._state[role], self._initial_state[role], arena)   # memory starts empty
            if role in self._tracks:
                self._tracks[role].forget(arena)
        self._stats.reset(arena)

    def _initial_state_of(self, role: str):
        """The single-arena initial state of ``role``'s learned modules (all built from one spec), or None
        where they are memoryless. Scripted modules carry none; their arenas' rows are left untouched."""
        module = self.module[role]
        return states.to_numpy(module.get_initial_state()) if module.is_stateful() else None

    def _reset_all(self) -> None:
        # The seed RLlib's EnvRunner gives its envs: run seed + runner index (+1e6 for evaluation).
        seed = self.config.seed
        if seed is not None:
            seed = int(seed + (self.worker_index or 0) + 1e6 * self.config.in_evaluation)
        self._obs = self.arenas.reset(seed=seed)
        if self.num_envs > 1:
            # Arenas that start together time out together: with timeouts common (an evader that
            # escapes), whole iterations would end no episode and the per-iteration rates would
            # be empty or noisy. So the first episodes' clocks are staggered over
            # [0, max_steps); the observation carries the elapsed time, so these are ordinary
            # states. Later episodes start at 0.
            self._obs = self.arenas.set_elapsed((np.arange(self.num_envs) * self.arenas.config.max_steps)
                                                // self.num_envs)
        self._segments = [None] * self.num_envs
        self._module_of = {role: np.empty(self.num_envs, dtype=object) for role in ROLES}
        self._player_of = {role: np.empty(self.num_envs, dtype=object) for role in ROLES}
        self._label_of = {role: np.empty(self.num_envs, dtype=object) for role in ROLES}
        self._kept.clear()
        self._stats = EpisodeStats(self.num_envs)
        self._initial_state = {role: self._initial_state_of(role) for role in ROLES}
        self._state = {role: states.tile(self._initial_state[role], self.num_envs) for role in ROLES}
        self._lookback = {role: None for role in ROLES}
        league, n = self.experiment.league, self.num_envs
        self._tracks = ({role: OpponentTrack(self.arenas.config, n, league.teacher_recall) for role in ROLES}
                        if league.teacher_view == "remembered" else {})
        for arena in range(self.num_envs):
            self._start_episode(arena)
        self._needs_initial_reset = False

    # ------------------------------------------------------------------ stand-ins keep their weights

    def set_state(self, state: dict) -> None:
        """RLlib's weight sync (inherited), except that arenas playing a stand-in mid-episode keep its
        old weights until their episode ends (see the module docstring)."""
        modules = state.get(COMPONENT_RL_MODULE)
        if modules is not None and getattr(self, "_segments", None):
            if isinstance(modules, ray.ObjectRef):
                modules = ray.get(modules)
                state = {**state, COMPONENT_RL_MODULE: modules}
            self._keep_stand_ins(modules)
        super().set_state(state)

    def _keep_stand_ins(self, incoming: dict) -> None:
        for module_id, weights in incoming.items():
            if module_id in ON_POLICY_MODULES or module_id not in self.module:
                continue                      # the trained modules update in place (on-policy)
            rows = {role: np.flatnonzero(self._player_of[role] == module_id) for role in ROLES}
            if not any(len(r) for r in rows.values()):
                continue
            module = self.module[module_id]
            current = module.get_state(inference_only=True)
            if all(name in current and np.array_equal(current[name], np.asarray(value))
                   for name, value in weights.items()):
                continue                      # the same weights again
            key = f"{module_id}#kept{next(self._kept_ids)}"
            self._kept[key] = copy.deepcopy(module)
            for role, arenas in rows.items():
                self._player_of[role][arenas] = key

    def _drop_unplayed_copies(self) -> None:
        playing = set().union(*(set(players) for players in self._player_of.values()))
        for key in [key for key in self._kept if key not in playing]:
            del self._kept[key]

    def torch_threads(self) -> int:
        """The torch intra-op threads this runner's process runs with (for tests and diagnostics)."""
        import torch

        return torch.get_num_threads()

    def kept_stand_ins(self) -> int:
        """How many old stand-in copies arenas are still playing (for tests and diagnostics)."""
        return len(self._kept)

    # ------------------------------------------------------------------ acting

    def _act(self, role: str, obs: np.ndarray, explore: bool):
        """Actions (as sampled), env actions (clipped, or squashed: :func:`env_actions`), logp and dist inputs
        for one role's N arenas; a recurrent role's state advances in ``self._state[role]``."""
        import torch

        n = obs.shape[0]
        players = self._player_of[role]
        action_dim = self.arenas.action_space(role).shape[0]
        actions = np.empty((n, action_dim), np.float32)
        to_env = np.empty((n, action_dim), np.float32)
        logp = np.zeros(n, np.float32)
        dist_inputs = np.zeros((n, 2 * action_dim), np.float32)
        distinct = set(players)
        mapping = self.config.policy_mapping_fn
        # The frozen role plays as it is judged (its exploiter, which may train, explores).
        frozen_mode = self.experiment.selfplay.frozen_deterministic and role in getattr(mapping, "frozen_roles", ())
        exploiters = training_exploiters(mapping)
        for player in distinct:
            rows = slice(None) if len(distinct) == 1 else np.flatnonzero(players == player)
            if player in self._kept:
                module = self._kept[player]
                self._stats.kept_steps += len(players[rows])
            else:
                module = self.module[player]
            if getattr(module, "training", False):        # once: acting needs no train-mode toggling
                module.eval()                              # (scripted modules are no torch modules)
            batch_obs = torch.from_numpy(np.ascontiguousarray(obs[rows], dtype=np.float32))
            explores = (explore and player not in self.experiment.training.deterministic_modules
                        and not (frozen_mode and player not in exploiters))
            if isinstance(module, ScriptedRLModule):       # acts directly, never trained, no memory
                actions[rows] = module.act(batch_obs)
                to_env[rows] = np.clip(actions[rows], -1.0, 1.0)
                continue
            state_in = None
            if module.is_stateful():
                state_in = states.map_state(torch.from_numpy, states.take(self._state[role], rows))
            act = module.act if isinstance(module, LearnedPPOModule) else functools.partial(act_through_rllib, module)
            sampled, sampled_logp, inputs, state_out = act(batch_obs, explores, state_in)
            if state_out is not None:
                states.put(self._state[role], rows, state_out)
            actions[rows] = sampled.numpy()
            to_env[rows] = env_actions(module.get_exploration_action_dist_cls(), sampled).numpy()
            if sampled_logp is not None:
                logp[rows] = sampled_logp.numpy()
            dist_inputs[rows] = inputs.numpy()
        return actions, to_env, logp, dist_inputs

    # ------------------------------------------------------------------ sampling

    def sample(self, *, num_timesteps=None, num_episodes=None, explore=None, random_actions=False,
               force_reset=False, **kwargs):
        if num_episodes is not None:
            raise NotImplementedError("the batched sampler samples by timesteps (training.sampler: rllib for episodes)")
        if self.env is None:
            raise RuntimeError("this env runner has no env (the local runner when remote runners sample)")
        explore = self.config.explore if explore is None else explore
        if num_timesteps is None:
            num_timesteps = self.config.get_rollout_fragment_length(self.worker_index) * self.num_envs
        steps = max(1, math.ceil(num_timesteps / self.num_envs))
        if force_reset or self._needs_initial_reset:
            self._reset_all()
        self._drop_unplayed_copies()
        episodes = self._rollout(steps, explore)
        self._increase_counts(steps * self.num_envs)
        return episodes

    def _rollout(self, steps: int, explore: bool) -> list[SingleAgentEpisode]:
        n = self.num_envs
        fragment = Fragment(steps, n, self._obs, self._state, self.arenas.action_space("pursuer").shape[0])
        episodes: list[SingleAgentEpisode] = []
        start = np.zeros(n, np.int64)                    # fragment step at which each arena's segment began

        def act(role: str, role_obs: np.ndarray):
            sampled, to_env, role_logp, inputs = self._act(role, role_obs, explore)
            # The live state, not a copy: the step is recorded (fragment.record copies it) before any reset.
            return to_env, (sampled, role_logp, inputs, self._state[role], self._teacher_targets(role, role_obs))

        self._privileged = None
        for step in rollout(self.arenas, act, self._obs, steps):
            self._privileged = None                        # both roles have acted: the next step observes afresh
            t, infos, terminated = step.t, step.infos, step.terminated
            fragment.record(step)
            ended = step.ended
            self._stats.record(infos, ended, self._module_of, self._label_of)
            for arena in np.flatnonzero(ended):
                last_obs = {role: infos[role]["final_obs"][arena].astype(np.float32) for role in ROLES}
                episodes.extend(self._episodes(arena, int(start[arena]), t + 1, fragment, last_obs,
                                               terminated=bool(terminated["pursuer"][arena])))
                self._start_episode(arena)
                start[arena] = t + 1
            self._log_finished(ended)
        for arena in range(n):                           # ongoing episodes: a chunk, continued next fragment
            if start[arena] < steps:
                episodes.extend(self._episodes(arena, int(start[arena]), steps, fragment, None, terminated=False))
                # The next chunks of this pair get a new multi-agent episode id: RLlib's learner connectors
                # key a batch's items by (multi-agent episode, agent, module), so two chunks of one episode in
                # one batch under the same id would merge (a recurrent module's sequences would then no
                # longer match its states). The stock runner's chunks get unique ids from
                # AddOneTsToEpisodesAndTruncate, which renames multi-agent episodes only.
                pair = uuid.uuid4().hex
                for role in ROLES:
                    self._segments[arena][role].t_started += steps - int(start[arena])
                    self._segments[arena][role].pair_id = pair
        self._obs = {role: fragment.obs[role][steps].copy() for role in ROLES}
        self._lookback = {role: fragment.last_step(role) for role in ROLES}
        return episodes

    def _episodes(self, arena, begin, end, fragment: Fragment, last_obs, *, terminated: bool) -> list:
        """One SingleAgentEpisode per training role for fragment steps [begin, end) of ``arena``'s current
        episode (a frozen role's is not built: see ``frozen_episodes``).

        ``last_obs`` is the episode's final observation when it ended at ``end`` (then it is
        terminated, or else truncated by the time limit); None for a chunk that continues.

        A recurrent module's chunk stores its ``STATE_OUT`` at every step. A chunk that continues an
        episode from the previous fragment also gets that fragment's last step as a lookback of one
        step, so that RLlib's learner connector (``AddStatesFromEpisodesToBatch``) starts its first
        sequence from the state the module had after that step rather than the initial one.
        """
        out = []
        length = end - begin
        truncated = last_obs is not None and not terminated
        frozen = () if self.frozen_episodes else getattr(self.config.policy_mapping_fn, "frozen_roles", ())
        exploiters = training_exploiters(self.config.policy_mapping_fn)
        for role in ROLES:
            segment = self._segments[arena][role]
            self._stats.module_steps[segment.module_id] += length
            if role in frozen and segment.module_id not in exploiters:
                continue              # not in policies_to_train: the learners would drop it
            columns = fragment.columns(role, arena, begin, end, last_obs)
            lookback = 0
            if fragment.state_out[role] is not None and self.module[segment.module_id].is_stateful():
                columns["state_out"] = states.step_items(fragment.state_out[role], begin, end, arena)
                previous = self._lookback[role]
                if begin == 0 and segment.t_started > 0 and previous is not None:
                    lookback = 1
                    # (a teacher that arrived after the previous fragment gets a lookback action of zeros)
                    columns = {key: [states.take(previous[key], arena) if key in previous else np.zeros_like(values[0])]
                               + values for key, values in columns.items()}
            extras = {Columns.ACTION_LOGP: columns["logp"], Columns.ACTION_DIST_INPUTS: columns["dist_inputs"]}
            for key, column in (("state_out", Columns.STATE_OUT), (TEACHER_TARGETS, TEACHER_TARGETS)):
                if key in columns:
                    extras[column] = columns[key]
            episode = SingleAgentEpisode(
                segment.episode_id,
                observations=columns["obs"],
                observation_space=self.env.single_observation_space[role],
                infos=[{}] * (length + 1 + lookback),
                actions=columns["actions"],
                action_space=self.env.single_action_space[role],
                rewards=columns["rewards"],
                terminated=terminated,
                truncated=truncated,
                extra_model_outputs=extras,
                t_started=segment.t_started,
                len_lookback_buffer=lookback,
                agent_id=role,
                module_id=segment.module_id,
                multi_agent_episode_id=segment.pair_id,
            )
            out.append(episode.to_numpy() if self.episodes_to_numpy else episode)
        return out

    # ------------------------------------------------------------------ metrics

    def _increase_counts(self, env_steps: int) -> None:
        metrics = self.metrics
        metrics.log_value(NUM_ENV_STEPS_SAMPLED, env_steps, reduce="sum")
        metrics.log_value(NUM_ENV_STEPS_SAMPLED_LIFETIME, env_steps, reduce="lifetime_sum", with_throughput=True)
        self.num_env_steps_sampled_lifetime += env_steps
        for role in ROLES:
            metrics.log_value((NUM_AGENT_STEPS_SAMPLED, role), env_steps, reduce="sum")
            metrics.log_value((NUM_AGENT_STEPS_SAMPLED_LIFETIME, role), env_steps, reduce="lifetime_sum")
        for module_id, count in self._stats.module_steps.items():
            metrics.log_value((NUM_MODULE_STEPS_SAMPLED, module_id), count, reduce="sum")
            metrics.log_value((NUM_MODULE_STEPS_SAMPLED_LIFETIME, module_id), count, reduce="lifetime_sum")
        self._stats.module_steps.clear()
        metrics.log_value((NAMESPACE, "kept_stand_in_steps"), float(self._stats.kept_steps), reduce="sum")
        self._stats.kept_steps = 0

    def _log_finished(self, ended: np.ndarray) -> None:
        window = max(1, math.ceil(self.config.metrics_num_episodes_for_smoothing / (self.config.num_env_runners or 1)))
        for arena in np.flatnonzero(ended):
            summary = self._stats.finished.pop(arena)
            log_episode_counts(self.metrics, summary)
            self.metrics.log_value(NUM_EPISODES, 1, reduce="sum")
            self.metrics.log_value(NUM_EPISODES_LIFETIME, 1, reduce="lifetime_sum")
            self.metrics.log_value(EPISODE_LEN_MEAN, summary["steps"], window=window)
            self.metrics.log_value(EPISODE_RETURN_MEAN, summary["return"], window=window)


__all__ = ["BatchedSelfPlayRunner"]
