"""Driver-side self-play sequencing: one callback, run in ``on_train_result``.

Decisions live in pure objects (:class:`~pe_rllib.selfplay.schedule.PhaseSchedule`);
this module only reads the iteration's runner metrics, writes the driver-side figures
into ``result["pe"]`` (directly: metrics-logger values written here would surface one
iteration late) and applies freezing for the next iteration.
"""

from __future__ import annotations

import logging
import math
from typing import Sequence

import numpy as np
from ray.rllib.callbacks.callbacks import RLlibCallback
from ray.rllib.utils.metrics import ENV_RUNNER_RESULTS, LEARNER_RESULTS, NUM_ENV_STEPS_SAMPLED

from pe_rllib.callbacks.dashboard import DashboardGauges
from pe_rllib.callbacks.evaluation import LATEST, evaluation_figures
from pe_rllib.callbacks.league import (
    add_snapshot,
    admit_exploiters,
    check_health,
    exploiter_game_figures,
    exploiters_playing,
    league_figures,
    load_slots,
    opponent_modules,
    opponent_probabilities,
    phase_ended,
    plan_modules,
    record_games,
    search_anchors,
    send_teachers,
    step_exploiters,
    teachers,
)
from pe_rllib.callbacks.metrics import NAMESPACE
from pe_rllib.callbacks.weights import set_module_weights
from pe_rllib.config import ROLES
from pe_rllib.policies.module_ids import exploiter_id, slot_id, trained_modules
from pe_rllib.selfplay.snapshots import runner_seed

logger = logging.getLogger(__name__)


def apply_freezing(algorithm, training_roles: Sequence[str]) -> None:
    """Train only ``training_roles`` (and their exploiters) from the next update on (others keep their weights
    and optimiser state).

    The learners read ``config.policies_to_train`` in ``Learner.should_module_be_updated``;
    their configs are their own (unfrozen) copies. ``algorithm.config`` is frozen, so it is
    replaced by an updated copy (public ``AlgorithmConfig.copy``), which is what its
    checkpoint and any later runner recreation then see.
    """
    roles = trained_modules(training_roles, algorithm.experiment.league.exploiter_roles(training_roles))

    def set_roles(learner, _roles=roles):
        learner.config.multi_agent(policies_to_train=list(_roles))

    algorithm.learner_group.foreach_learner(set_roles)
    config = algorithm.config.copy(copy_frozen=False)
    config.multi_agent(policies_to_train=list(roles))
    config.freeze()
    algorithm.config = config
    logger.info("training roles now: %s", ", ".join(roles))


def copy_weights(algorithm, source: str, target: str) -> None:
    """Copy module ``source``'s weights into module ``target`` on the learners and every env runner."""
    weights = algorithm.learner_group.get_weights(module_ids=[source])[source]
    set_module_weights(algorithm, {target: weights})
    logger.info("snapshot: %s -> %s", source, target)


def configure_env_runners(algorithm) -> list[tuple[int, bool]]:
    """Send the self-play state to every env runner in one round trip per runner: the frozen roles
    and their stand-in modules (the mapping object) and, with a curriculum, the level's world.

    Each runner reseeds its mapping RNG from (run seed, iteration, runner index), so runners
    do not draw identical opponent sequences and a resumed run draws the same. A runner
    whose world changes rebuilds its arenas and starts new episodes
    (:meth:`BatchedSelfPlayRunner.set_world_overrides`). Returns (runner index, whether its
    mapping had been configured before) per runner.
    """
    selfplay = algorithm.selfplay
    frozen = list(selfplay.schedule.frozen_roles)
    labels, weights = {}, None
    if selfplay.league is not None:
        opponents = opponent_modules(selfplay)
        weights = opponent_probabilities(selfplay)
        labels = {module: entry for role in ROLES for module, entry in plan_modules(selfplay, role)}
    else:
        opponents = {role: [slot_id(role, j) for j in range(count)] for role, count in selfplay.pool.filled.items()}
    fixed = selfplay.cold_start_overrides()
    base, iteration = int(algorithm.config.seed or 0), selfplay.schedule.state.iterations
    probability = None if selfplay.league is None else 1.0 - selfplay.league.config.current_share
    world = selfplay.curriculum.overrides() if selfplay.curriculum.config.enabled else None
    exploiters, share = {}, 0.0
    # Teachers that act on the runners (privileged or remembering) go there every iteration: a recreated runner too.
    on_runner = selfplay.league is not None and selfplay.league.config.teacher_view != "observed"
    taught = teachers(selfplay) if on_runner else None
    if exploiters_playing(selfplay):
        league = selfplay.league.config
        exploiters = {role: exploiter_id(role) for role in league.exploiter_roles(selfplay.schedule.training_roles)}
        share = league.exploiter_share

    def configure(env_runner, _frozen=frozen, _opponents=opponents, _fixed=fixed, _probability=probability,
                  _labels=labels, _weights=weights, _world=world, _exploiters=exploiters, _share=share,
                  _taught=taught):
        mapping = env_runner.config.policy_mapping_fn
        configured = mapping.configured
        seed = runner_seed(base, iteration, int(env_runner.worker_index))
        mapping.configure(_frozen, _opponents, seed, _fixed, probability=_probability, labels=_labels,
                          weights=_weights, exploiters=_exploiters, exploiter_share=_share)
        if _world is not None:
            env_runner.set_world_overrides(_world)
        if _taught:
            env_runner.set_teachers(_taught)
        return int(env_runner.worker_index), configured

    return algorithm.env_runner_group.foreach_env_runner(configure, local_env_runner=True)


def apply_selfplay(algorithm) -> None:
    """Make learners and env runners follow ``algorithm.selfplay``: who trains, who plays, in which world."""
    apply_freezing(algorithm, algorithm.selfplay.schedule.training_roles)
    configure_env_runners(algorithm)


def sync_env_runners(algorithm) -> list[int]:
    """Before each iteration: bring every env runner up to the driver's self-play state.

    One round trip per runner, whatever changed since the last iteration (the callback
    only decides; the state reaches the runners here). Ray restarts a crashed env runner
    actor transparently, often without RLlib noticing (then ``on_env_runners_recreated``
    never fires), and the new process starts from the original config: no mapping state,
    and freshly initialised weights for every module PPO has not updated since (frozen
    roles, snapshots). Runners whose mapping had never been configured therefore also get
    all module weights. Returns the indices of the runners that were re-synced.
    """
    answers = configure_env_runners(algorithm)
    fresh = [index for index, configured in answers if not configured]
    if fresh:
        algorithm.env_runner_group.sync_weights(from_worker_or_learner_group=algorithm.learner_group,
                                                to_worker_indices=fresh, inference_only=True)
        logger.warning("env runner(s) %s were restarted: re-synced all module weights and self-play state", fresh)
    return fresh


def iteration_figures(runner_results: dict) -> dict:
    """Per-iteration rates from the runners' summed episode counts (NaN when no episode ended)."""
    pe = runner_results.get(NAMESPACE, {})

    def count(key: str) -> float:
        # A sum no runner logged this iteration reduces to NaN (or is absent): nothing happened.
        value = float(pe.get(key, 0.0))
        return value if math.isfinite(value) else 0.0

    episodes = count("episodes")

    def rate(key: str) -> float:
        return count(key) / episodes if episodes else math.nan

    capture, escape = rate("captures"), rate("escapes")
    captures, agent_steps = count("captures"), count("agent_steps")
    return {
        "episodes": int(episodes),
        "capture_rate": capture,
        "escape_rate": escape,
        "collision_rate": rate("collisions"),
        "balance_gap": abs(capture - escape),
        "mean_capture_steps": count("capture_steps") / captures if captures else math.nan,
        "intervention_rate": count("filter_interventions") / agent_steps if agent_steps else math.nan,
        "infeasible_rate": count("filter_infeasible") / agent_steps if agent_steps else math.nan,
        "substitute_episode_share": rate("substitute_episodes"),
    }


MECHANISM_FIGURES = ("action_std", "rnd_bonus", "rnd_extrinsic_reward", "rnd_predictor_loss", "ewc_penalty")
"""Learner statistics copied into the progress row as ``<name>_<role>``: the training role's action standard
deviation, and those of the optional mechanisms."""


def mechanism_figures(learner_results: dict) -> dict:
    """The mean action standard deviation, the RND bonus (mean, before its coefficient), the extrinsic reward
    beside it, the predictor's loss and the EWC penalty of every role that logged them this iteration."""
    return {f"{name}_{role}": float(learner_results[role][name]) for role in ROLES
            for name in MECHANISM_FIGURES if name in learner_results.get(role, {})}


def consolidate(algorithm, trigger: str, roles: list[str]) -> None:
    """EWC (``regularization.ewc``): at its trigger, each of ``roles`` it names consolidates on the learners."""
    ewc = algorithm.experiment.regularization.ewc
    if not ewc.enabled or ewc.trigger != trigger:
        return
    for role in (r for r in roles if r in ewc.roles):
        for result in algorithm.learner_group.foreach_learner(lambda learner, _role=role: learner.consolidate(_role)):
            result.get()                                    # re-raises a learner's error


def _observe_iteration(algorithm, figures: dict, result: dict, finished_roles: list[str]) -> str | None:
    """The iteration's outcomes into the league, exploiters, health monitor and curriculum (their figures
    into ``figures``); returns the role the health monitor wants to train next (None: no preference)."""
    selfplay = algorithm.selfplay
    runner_results = result.get(ENV_RUNNER_RESULTS, {})
    next_role = None
    if selfplay.league is not None:
        figures["league_games"] = record_games(algorithm, runner_results)
    if exploiters_playing(selfplay):
        figures["exploiter_games"] = exploiter_game_figures(runner_results)
        figures["exploiter_reset"] = step_exploiters(
            algorithm, selfplay.league.config.exploiter_roles(finished_roles))
    if selfplay.health is not None:
        events = check_health(algorithm, figures, result.get(LEARNER_RESULTS, {}))
        figures["health_events"] = events
        figures["health_interventions"] = sum(selfplay.health.counts.values())
        next_role = next((event["next_role"] for event in events if event["next_role"]), None)
    figures.update(mechanism_figures(result.get(LEARNER_RESULTS, {})))
    curriculum = selfplay.curriculum
    if curriculum.config.enabled:
        figures["curriculum_level"] = curriculum.level
        if curriculum.observe(figures):         # the runners get the level's world at the next sync
            forced = curriculum.state.forced_at[-1:] == (curriculum.state.iterations,)
            (logger.warning if forced else logger.info)(
                "curriculum: level %d from the next iteration on%s", curriculum.level,
                f" (forced: the {curriculum.config.rule} rule did not hold in {curriculum.config.max_iterations} "
                "iterations at the level below)" if forced else "")
            consolidate(algorithm, "level_up", list(ROLES))
        figures["curriculum_next"] = curriculum.level
    return next_role


def _advance_schedule(selfplay, env_steps: int, next_role: str | None, finished_roles: list[str]) -> bool:
    """Count the iteration in the phase schedule, honouring the health monitor's choice of the next role;
    returns whether the phase switched."""
    switched = selfplay.schedule.record_iteration(env_steps)
    if next_role is not None and selfplay.config.mode == "alternating":
        if switched and selfplay.schedule.training_roles != [next_role]:
            selfplay.schedule.start_phase_for(next_role, advance=False)     # skip to the weaker side's phase
        elif not switched and next_role not in finished_roles:
            selfplay.schedule.start_phase_for(next_role, advance=True)      # end this phase now
            switched = True
    return switched


def _snapshot(algorithm, switched: bool, finished_roles: list[str]) -> None:
    """At a phase switch the finished roles join the frozen pool; with a league also every
    ``snapshot_every`` iterations of a phase."""
    selfplay, league = algorithm.selfplay, algorithm.selfplay.league
    if switched:
        for role in finished_roles:
            snapshot = None
            if league is not None:
                snapshot = add_snapshot(algorithm, role)
            else:
                slot = selfplay.pool.record(role)
                if slot is not None:
                    copy_weights(algorithm, role, slot)
            phase_ended(algorithm, role, snapshot)
        consolidate(algorithm, "phase_end", finished_roles)
    elif league is not None and league.config.snapshot_every:
        if selfplay.schedule.state.iterations_in_phase % league.config.snapshot_every == 0:
            for role in finished_roles:
                add_snapshot(algorithm, role)


def _league_step(algorithm, figures: dict) -> None:
    """Searched anchors when due (and their teachers to the learners), then the slots' next plan."""
    league = algorithm.selfplay.league
    if league.config.anchors:
        due = algorithm.iteration % league.config.anchor_every == 0
        figures.update(search_anchors(algorithm) if due else {"anchor_search_s": 0.0})
        if due:
            send_teachers(algorithm)
    load_slots(algorithm)
    figures.update(league_figures(algorithm.selfplay))


class SelfPlayCallback(RLlibCallback):
    """Sequences the algorithm's self-play state once per iteration, then publishes its figures (the
    iteration's ``result["pe"]``, the latest evaluation and the dashboard gauges).

    On a phase switch: the roles that just trained are snapshotted into their next slot,
    freezing moves to the new phase's roles, and every env runner's mapping learns the new
    frozen roles and snapshot counts.
    """

    def __init__(self) -> None:
        super().__init__()
        self.gauges = DashboardGauges()

    def on_train_result(self, *, algorithm, result: dict, **kwargs) -> None:
        selfplay = algorithm.selfplay
        runner_results = result.get(ENV_RUNNER_RESULTS, {})
        # NaN when no runner reported (all were lost this iteration): nothing was sampled.
        env_steps = int(np.nan_to_num(float(runner_results.get(NUM_ENV_STEPS_SAMPLED, 0))))
        figures = iteration_figures(runner_results)
        kept = float(runner_results.get(NAMESPACE, {}).get("kept_stand_in_steps", 0.0))
        figures["kept_stand_in_share"] = kept / (2 * env_steps) if env_steps and math.isfinite(kept) else 0.0
        figures.update({"training_roles": ",".join(selfplay.schedule.training_roles),
                        "phase": selfplay.schedule.state.phase, "env_steps": env_steps})
        finished_roles = list(selfplay.schedule.training_roles)
        next_role = _observe_iteration(algorithm, figures, result, finished_roles)
        switched = _advance_schedule(selfplay, env_steps, next_role, finished_roles)
        _snapshot(algorithm, switched, finished_roles)
        if selfplay.league is not None:
            _league_step(algorithm, figures)
        if switched:
            apply_freezing(algorithm, selfplay.schedule.training_roles)
        # Mapping and world reach the runners in SelfPlayPPO.training_step (sync_env_runners).
        figures["switch_next"] = switched
        figures["snapshots_filled"] = dict(selfplay.pool.filled)
        fresh, latest = evaluation_figures(algorithm)          # after the decisions: the weights that play on
        figures.update(fresh)
        if selfplay.league is not None and selfplay.league.config.exploiters and fresh:
            success = {role: fresh[f"eval_exploiter_success_{role}"] for role in ROLES}
            figures["exploiter_admitted"] = admit_exploiters(algorithm, success)
        result[NAMESPACE] = figures
        result[LATEST] = latest
        self.gauges.publish(algorithm, result)

    def on_env_runners_recreated(self, *, algorithm, is_evaluation: bool = False, **kwargs) -> None:
        """Recreated runners come back with the original config: re-sync them now (when RLlib
        noticed; ``SelfPlayPPO.training_step`` also checks before every iteration)."""
        if not is_evaluation:
            sync_env_runners(algorithm)
