"""The periodic evaluation, run by the algorithm itself at the end of an iteration.

It lives in the algorithm (not in the ``pe-rllib train`` loop) so that every way of
running it reports the same figures: a ``train`` run's ``progress.jsonl`` and a Tune
trial's results alike. Every ``evaluation.every`` iterations and at the last one, the
current roles play the scripted set and the filled snapshot slots (figures ``eval_*``,
see :func:`pe_rllib.evaluation.suite.evaluate_weights`); with the league on, they also
play each other and every pool entry, and these deterministic games are the pool entries'
win rates (what PFSP weighs) and the Elo ratings from then on.

The fresh figures go into ``result["pe"]`` (and so ``progress.jsonl``) only in the
iteration that measured them. Every result also carries the latest evaluation under
``result["latest_eval"]`` (``iteration`` says when it was measured), so a Tune scheduler
(ASHA, PBT) or Tune's best-checkpoint bookkeeping always finds its metric,
``latest_eval/strength``.
"""

from __future__ import annotations

import logging
import math
import time

from pe_rllib.config import ROLES, ExperimentConfig
from pe_rllib.policies.module_ids import exploiter_id, slot_id

logger = logging.getLogger(__name__)

LATEST = "latest_eval"
STRENGTH = "eval_strength"
"""The weaker role's strength against the fixed scripted opponents:
``min(eval_pursuer_vs_scripted, eval_evader_vs_scripted)``. In a zero-sum game the
episode return says nothing about quality (one side's gain is the other's loss), so this
is what a sweep ranks trials by: a pair is only as good as its weaker side."""


def evaluation_due(experiment: ExperimentConfig, iteration: int) -> bool:
    every = experiment.evaluation.every
    return every > 0 and (iteration % every == 0 or iteration >= experiment.training.stop_iterations)


def evaluate_now(algo) -> dict:
    """The current roles against the scripted set and the filled snapshot slots, as ``eval_*`` figures."""
    from pe_rllib.evaluation.suite import evaluate_weights

    experiment = algo.experiment
    start = time.perf_counter()
    filled = algo.selfplay.pool.filled
    slots = {role: [slot_id(role, j) for j in range(filled.get(role, 0))] for role in ROLES}
    weights = algo.learner_group.get_weights(module_ids=list(ROLES) + [m for ids in slots.values() for m in ids])
    current = {role: weights[role] for role in ROLES}
    figures = evaluate_weights(experiment, current,
                               pool={role: [weights[m] for m in ids] for role, ids in slots.items()})
    if algo.selfplay.league is not None:
        figures.update(rate_league(algo, current))
    figures = {f"eval_{key}": value for key, value in figures.items()}
    figures[STRENGTH] = min(figures["eval_pursuer_vs_scripted"], figures["eval_evader_vs_scripted"])
    logger.info("evaluation at iteration %d took %.1f s", algo.iteration, time.perf_counter() - start)
    return figures


def rate_league(algo, current: dict[str, dict]) -> dict:
    """Deterministic cross-play of the current roles against each other and every pool entry of the other
    role (the evaluation's episodes; a collision is a draw): the entries' win rates for PFSP and the Elo
    ratings (:meth:`League.record_evaluation`). With exploiters, each exploiter also plays the other role's
    current policy: ``exploiter_success_<role>`` (capture / escape rate), what admits it to the pool."""
    from pe_rllib.evaluation.suite import Player, play
    from pe_rllib.policies.catalogue import make_world_scripted
    from pe_rllib.policies.families import make_family
    from pe_rllib.policies.inference import policy_from_weights
    from pe_rllib.selfplay.pool import CURRENT, game_score

    experiment = algo.experiment
    state, settings = algo.selfplay, experiment.evaluation

    def player(name: str, role: str, weights: dict) -> Player:
        return Player(name, role, policy_from_weights(experiment, role, weights))

    def entry_player(entry) -> Player:
        if entry.scripted:
            return Player(entry.id, entry.role, make_world_scripted(entry.scripted, entry.role, experiment,
                                                                    seed=settings.seed))
        if entry.anchor:
            return Player(entry.id, entry.role, make_family(entry.role, experiment.world_config, entry.anchor,
                                                            params=state.league_weights[entry.id]["params"],
                                                            seed=settings.seed))
        return player(entry.id, entry.role, state.league_weights[entry.id])

    ours = {role: player(role, role, current[role]) for role in ROLES}
    matchups = [(ours["pursuer"], ours["evader"])]
    matchups += [(ours["pursuer"], entry_player(e)) for e in state.league.pool("evader")]
    matchups += [(entry_player(e), ours["evader"]) for e in state.league.pool("pursuer")]
    figures = {}
    if state.league.config.exploiters:                   # each exploiter against the other role's current policy
        ids = [exploiter_id(role) for role in ROLES]
        exploiters = algo.learner_group.get_weights(module_ids=ids)
        matchups += [(player(ids[0], "pursuer", exploiters[ids[0]]), ours["evader"]),
                     (ours["pursuer"], player(ids[1], "evader", exploiters[ids[1]]))]
    for row in play(experiment, matchups, settings.episodes, seed=settings.seed):
        if row.pursuer == exploiter_id("pursuer"):
            figures["exploiter_success_pursuer"] = row.capture_rate
        elif row.evader == exploiter_id("evader"):
            figures["exploiter_success_evader"] = row.escape_rate
        else:
            learner = "pursuer" if row.pursuer == "pursuer" else "evader"
            opponent = row.evader if learner == "pursuer" else row.pursuer
            state.league.record_evaluation(
                CURRENT if opponent in ROLES else opponent, learner, games=row.episodes,
                learner_score=game_score(learner, row.episodes, row.capture_rate * row.episodes,
                                         row.collision_rate * row.episodes))
    return {**figures, **{f"elo_{role}": state.league.elo.rating(role) for role in ROLES}}


def evaluation_figures(algo) -> tuple[dict, dict]:
    """``(fresh, latest)``: this iteration's ``eval_*`` figures if an evaluation was due (else empty), and
    the latest evaluation's figures without the prefix, with ``iteration`` (NaN strength before the first)."""
    state = algo.selfplay
    if not evaluation_due(algo.experiment, algo.iteration):
        # Before the first evaluation: NaN, so the metric's key is there from the first result on.
        return {}, dict(state.evaluation) or {"strength": math.nan, "iteration": 0}
    fresh = evaluate_now(algo)
    state.evaluation = {key.removeprefix("eval_"): value for key, value in fresh.items()}
    state.evaluation["iteration"] = algo.iteration
    return fresh, dict(state.evaluation)
