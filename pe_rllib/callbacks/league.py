"""Driver-side application of the league and the health monitor (the decisions: :mod:`pe_rllib.selfplay`).

Between iterations, on the driver:

1. the iteration's games (the runners' ``pe/matchups`` counts, per pair of modules) are
   counted for the pool entries that played (:meth:`League.record_games`); they rate an
   entry, and move Elo ratings, only until the periodic evaluation's deterministic
   cross-play does (:func:`pe_rllib.callbacks.evaluation.rate_league`);
2. the health monitor reads the iteration's rates and the training modules' learner
   statistics; an alarm restores the affected roles' known-good weights and may hand the
   next phase to the weaker side;
3. at a phase end (and every ``league.snapshot_every`` iterations of a role's training)
   the role's weights join its pool, and the monitor's known-good snapshot advances if the
   phase raised no alarm;
4. every ``league.anchor_every`` iterations, the scripted search finds each role's best
   controller against the other role's current policy and it joins the role's pool as a
   searched anchor (:func:`search_anchors`);
5. for every frozen role, the entries :meth:`League.plan_slots` makes playable are loaded
   into its fixed snapshot modules (a scripted entry is played by its own scripted module,
   declared up front like the slots), and the mapping plays the pool in
   ``1 - league.current_share`` of the episodes, each episode drawing its entry by the
   plan's per-episode probabilities (PFSP per episode). With the batched sampler an
   episode already playing a slot finishes against the entry it started with (the runner
   keeps a copy of the old weights), and its game is counted for that entry.

The weights of pool entries and known-good snapshots live in the driver's
:class:`~pe_rllib.training.algorithm.SelfPlayState` (numpy arrays, checkpointed as msgpack
data); RLlib's set of modules never changes.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from pe_rllib.callbacks.metrics import MATCHUP_SEPARATOR, NAMESPACE
from pe_rllib.callbacks.weights import role_weights, set_module_weights
from pe_rllib.config import ROLES, ConfigError, other_role
from pe_rllib.policies.module_ids import anchor_id, exploiter_id, scripted_opponent_id, slot_id
from pe_rllib.selfplay.pool import CURRENT, game_score
from pe_rllib.selfplay.snapshots import SEED_PRIME_LARGE, role_seed

logger = logging.getLogger(__name__)

HUNTER_SEED_OFFSET = SEED_PRIME_LARGE
"""Added to an anchor search's seed for the same role's hunter search, so the two draw different episodes."""


def plan_modules(state, role: str) -> list[tuple[str, str]]:
    """``(module, entry id)`` for each entry of ``role`` in this iteration's slot plan: snapshot entries
    fill the snapshot slots in order, scripted entries play in their scripted modules, searched anchors
    in the role's anchor modules (by their place among the role's anchors)."""
    anchors = [entry.id for entry in state.league.anchors(role)]
    modules, slot = [], 0
    for entry_id in state.slot_plan.get(role, []):
        entry = state.league.find(entry_id)
        if entry is not None and entry.scripted:
            modules.append((scripted_opponent_id(role, entry.scripted), entry_id))
        elif entry is not None and entry.anchor:
            modules.append((anchor_id(role, anchors.index(entry_id)), entry_id))
        else:
            modules.append((slot_id(role, slot), entry_id))
            slot += 1
    return modules


def opponent_modules(state) -> dict[str, list[str]]:
    """Per role, the modules that stand in for it while frozen this iteration (for the mapping)."""
    return {role: [module for module, _ in plan_modules(state, role)] for role in ROLES}


def opponent_probabilities(state) -> dict[str, list[float]]:
    """Per role, the per-episode probability of each of :func:`opponent_modules`' modules (same order)."""
    return {role: [state.slot_plan[role][entry] for _, entry in plan_modules(state, role)] for role in ROLES}


def _entry_played(state, module: str) -> str | None:
    """The pool entry behind a matchup name: the batched sampler reports the entry id an episode's
    stand-in played (the mapping's label when the episode started); the stock sampler reports the
    module, resolved to the entry the module plays this iteration. None if unknown."""
    if state.league.find(module) is not None:
        return module
    for role in ROLES:
        for played_by, entry in plan_modules(state, role):
            if module == played_by:
                return entry
    return None


def record_games(algorithm, runner_results: dict) -> int:
    """The iteration's games between a current role and the other role's current weights or pool entries
    into the league; returns the games recorded. A collision counts as a draw."""
    state = algorithm.selfplay
    matchups = runner_results.get(NAMESPACE, {}).get("matchups", {})
    recorded = 0
    for pair, counts in matchups.items():
        pursuer_module, evader_module = pair.split(MATCHUP_SEPARATOR)
        games = int(np.nan_to_num(float(counts.get("episodes", 0.0))))
        if games <= 0:
            continue
        if pursuer_module == "pursuer":
            opponent = CURRENT if evader_module == "evader" else _entry_played(state, evader_module)
            learner = "pursuer"
        elif evader_module == "evader":
            opponent, learner = _entry_played(state, pursuer_module), "evader"
        else:
            continue                                  # neither side current (not a game the league rates)
        if opponent is None:
            continue                                  # the cold-start opponent, or a slot not from the league
        captures, collisions = (float(np.nan_to_num(float(counts.get(key, 0.0)))) for key in ("captures", "collisions"))
        state.league.record_games(opponent, learner, games=games,
                                  learner_score=game_score(learner, games, captures, collisions))
        recorded += games
    return recorded


def add_snapshot(algorithm, role: str) -> str:
    """``role``'s current weights join its pool (evicting the least useful entry if full); returns the id."""
    state = algorithm.selfplay
    entry, evicted = state.league.add(role, algorithm.iteration)
    state.league_weights[entry.id] = role_weights(algorithm, [role])[role]
    if evicted is not None:
        state.league_weights.pop(evicted.id, None)
        logger.info("league: %s evicted (learner win rate %.2f)", evicted.id, evicted.learner_win_rate)
    return entry.id


HEALTH_EVENTS_KEPT = 100
"""The newest health events the checkpointed state keeps (``pe-rllib status`` shows them)."""


def check_health(algorithm, figures: dict, learner_results: dict) -> list[dict]:
    """Run the monitor on this iteration; apply rollbacks; returns the events (as dicts)."""
    state = algorithm.selfplay
    stats = {role: learner_results.get(role, {}) for role in state.schedule.training_roles}
    events = state.health.observe(algorithm.iteration, figures, state.schedule.training_roles, stats)
    for event in events:
        restore = {role: state.good_weights[role] for role in event.rollback if role in state.good_weights}
        if restore:
            set_module_weights(algorithm, restore)
        logger.warning("health: %s of the %s at iteration %d (%.3f): rolled back %s; next phase: %s",
                       event.reason, event.role, event.iteration, event.value, ", ".join(event.rollback) or "nothing",
                       event.next_role or "as scheduled")
    records = [event.to_dict() for event in events]
    state.events = (state.events + records)[-HEALTH_EVENTS_KEPT:]
    return records


def phase_ended(algorithm, role: str, snapshot: str | None) -> None:
    """``role``'s phase ended: its weights become known-good unless an alarm fired during the phase."""
    state = algorithm.selfplay
    if state.health is not None and state.health.phase_ended(role, snapshot or f"{role}@{algorithm.iteration}"):
        state.good_weights[role] = role_weights(algorithm, [role])[role]


def start_league(algorithm) -> None:
    """A fresh run's league and monitor: both roles' current (initial) weights are the pools' first
    entries (the milestones) and the first known-good snapshots. Called again after the weights were
    replaced before the first iteration (``training.init_checkpoint``)."""
    state = algorithm.selfplay
    if state.league is None and state.health is None:
        return
    weights = role_weights(algorithm, ROLES)
    for role in ROLES:
        if state.league is not None:
            entry, _ = state.league.add(role, algorithm.iteration)
            state.league_weights[entry.id] = weights[role]
        if state.health is not None:
            state.health.mark_good(role, f"{role}@{algorithm.iteration}")
            state.good_weights[role] = weights[role]
    if state.league is not None:
        load_slots(algorithm)


def load_slots(algorithm, *, replan: bool = True) -> dict[str, dict[str, float]]:
    """Plan the pool entries every frozen role plays next iteration (and how often each) and load them into
    its snapshot modules. ``replan=False`` loads the plan the state holds (a restored checkpoint's, so a
    resumed run plays exactly what the interrupted one would have)."""
    state = algorithm.selfplay
    if replan or not state.slot_plan:
        slots = state.config.opponent_slots
        rng = np.random.default_rng([int(algorithm.config.seed or 0), state.schedule.state.iterations, 7])
        state.slot_plan = {role: state.league.plan_slots(role, slots, rng) for role in state.schedule.frozen_roles}
    weights, filled = {}, {role: 0 for role in ROLES}
    for role in state.slot_plan:
        for module, entry in plan_modules(state, role):
            if entry in state.league_weights:          # scripted entries have no weights
                weights[module] = state.league_weights[entry]
                filled[role] += not state.league.find(entry).anchor     # anchors take no snapshot slot
    if weights:
        set_module_weights(algorithm, weights)
    state.pool.filled.update(filled)
    return state.slot_plan


def _role_seed(algorithm, role: str) -> int:
    """A seed for this iteration's random work on ``role`` (an anchor search, a fresh exploiter), from the run's
    seed, so a resumed run repeats it."""
    return role_seed(int(algorithm.config.seed or 0), algorithm.iteration, role)


def exploiters_playing(state) -> bool:
    """Whether the training roles' exploiters play this iteration: with league.exploiters, except in the
    cold start against a scripted opponent (the training role then meets only that opponent)."""
    return state.league is not None and state.league.config.exploiters and not state.cold_start_overrides()


def anchor_params(state, role: str, newest: int) -> list[tuple[str, np.ndarray]]:
    """``(family, params)`` of ``role``'s newest ``newest`` searched anchors (teachers), newest first."""
    return _searched_params(state, state.league.teacher_anchors(role)[::-1][:newest])


def _searched_params(state, entries) -> list[tuple[str, np.ndarray]]:
    """``(family, params)`` of searched pool entries (anchors or hunters), in the given order."""
    return [(entry.anchor, np.asarray(state.league_weights[entry.id]["params"])) for entry in entries]


def search_anchors(algorithm) -> dict:
    """Searched anchors: for each role, the yardstick's scripted search finds the best controller against the
    other role's current policy (or the scripted policy ``league.anchor_against`` names; with
    ``league.anchor_robust``, the most robust one against it and the other role's newest anchors), starting from
    the role's newest anchor with ``league.anchor_warm_start``, every candidate and anchor remembering with
    ``league.anchor_recall``, and it joins the role's pool (replacing the oldest anchor beyond
    ``league.anchor_slots``); then each role of ``league.hunt_roles`` gets its hunter
    (:func:`search_hunter`). Returns progress figures: the searches' wall time and each anchor's (and hunter's)
    success rate on its selection episodes (an anchor's worst over its opponents)."""
    from pe_rllib.evaluation.search import remembering, search_best_response
    from pe_rllib.policies.catalogue import make_world_scripted
    from pe_rllib.policies.families import make_family
    from pe_rllib.policies.inference import policy_from_weights

    state, experiment = algorithm.selfplay, algorithm.experiment
    config = state.league.config
    started = time.perf_counter()
    current = role_weights(algorithm, ROLES)
    recall = config.teacher_recall if config.anchor_recall else 0      # teachers searched as they teach
    found = {role: anchor_params(state, role, config.anchor_robust or 1) for role in ROLES}   # before any is added
    rates = {}
    for role in ROLES:
        other, seed = other_role(role), _role_seed(algorithm, role)
        scripted = config.anchor_opponent(role)
        opponents = [make_world_scripted(scripted, other, experiment, seed=seed) if scripted
                     else policy_from_weights(experiment, other, current[other])]
        opponents += [remembering(experiment, make_family(other, experiment.world_config, name, params=params,
                                                          seed=seed), recall)
                      for name, params in found[other][:config.anchor_robust]]
        exploiters = state.league.exploiter_snapshots(other)[::-1][:config.anchor_robust_exploiters]
        opponents += [policy_from_weights(experiment, other, state.league_weights[entry.id]) for entry in exploiters]
        start = found[role][0][1] if config.anchor_warm_start and found[role] else None
        result = search_best_response(experiment, role, opponents, _anchor_settings(config, role, seed, recall),
                                      start=start)
        entry = _add_searched(algorithm, role, result)
        rates[role] = round(result.selection_rate, 4)
        logger.info("league: anchor %s (%s %s) succeeds %.2f against %s%s", entry.id, result.family,
                    result.params, result.selection_rate, scripted or f"the current {other}",
                    f" and {len(opponents) - 1} of its best responses (worst)" if len(opponents) > 1 else "")
    figures = {"anchor_success": rates}
    if config.hunt_roles:
        figures["hunter_success"] = {role: search_hunter(algorithm, role, current[other_role(role)])
                                     for role in config.hunt_roles}
    return {"anchor_search_s": round(time.perf_counter() - started, 3), **figures}


def search_hunter(algorithm, role: str, opponent_weights: dict) -> float:
    """``role``'s hunter (``league.hunt_roles``): the search's plain best response to the other role's current
    policy (``opponent_weights``), warm-started from the role's previous hunter, with the role's newest teacher
    among its finalists; it joins the pool (replacing the oldest beyond ``league.hunter_slots``) as an opponent
    of the other role. Returns its success rate on the selection episodes."""
    from pe_rllib.evaluation.search import search_best_response
    from pe_rllib.policies.inference import policy_from_weights

    state, experiment = algorithm.selfplay, algorithm.experiment
    seed = _role_seed(algorithm, role) + HUNTER_SEED_OFFSET
    opponent = policy_from_weights(experiment, other_role(role), opponent_weights)
    previous = _searched_params(state, state.league.hunters(role)[-1:])
    teacher = anchor_params(state, role, 1)
    found = previous or teacher                    # the previous hunter, else the newest teacher
    start = found[0][1] if found else None
    result = search_best_response(experiment, role, [opponent], _anchor_settings(state.league.config, role, seed),
                                  start=start, candidates=[params for _, params in teacher])
    entry = _add_searched(algorithm, role, result, hunter=True)
    logger.info("league: hunter %s (%s %s) succeeds %.2f against the current %s", entry.id, result.family,
                result.params, result.selection_rate, other_role(role))
    return round(result.selection_rate, 4)


def _anchor_settings(config, role: str, seed: int, recall: int = 0):
    """The search settings of an anchor or hunter search (``league.anchor_*``; candidates remembering for
    ``recall`` steps)."""
    from pe_rllib.evaluation.search import SearchSettings

    return SearchSettings(generations=config.anchor_generations, population=config.anchor_population,
                          episodes=config.anchor_episodes, selection_episodes=config.anchor_selection_episodes,
                          seed=seed, recall=recall, pinned=anchor_pins(config, role))


def _search_family(role: str):
    """The family an anchor search of ``role`` searches (the role's first, as :class:`SearchSettings` defaults)."""
    from pe_rllib.policies.families import FAMILIES

    return next(iter(FAMILIES[role].values()))


def anchor_pins(config, role: str) -> tuple[tuple[str, float], ...]:
    """``league.anchor_pinned`` as ``(name, value)`` pairs of ``role``'s family (the others belong to the other
    role's)."""
    names = _search_family(role).names()
    pairs = [(name.strip(), float(value)) for name, _, value in (e.partition("=") for e in config.anchor_pinned)]
    return tuple((name, value) for name, value in pairs if name in names)


def check_anchor_pins(experiment) -> None:
    """Every ``league.anchor_pinned`` name is a parameter of a role's search family and its value within the
    bounds (one-line :class:`ConfigError` otherwise), checked before training starts."""
    from pe_rllib.evaluation.search import pinning

    config = experiment.league
    if not config.anchor_pinned:
        return
    known = {name for role in ROLES for name in _search_family(role).names()}
    for entry in config.anchor_pinned:
        if entry.partition("=")[0].strip() not in known:
            raise ConfigError(f"league.anchor_pinned: {entry!r} names no parameter of the search families "
                              f"(choose from: {', '.join(sorted(known))})")
    for role in ROLES:
        try:
            pinning(_search_family(role), anchor_pins(config, role))
        except ConfigError as err:
            raise ConfigError(f"league.anchor_pinned: {str(err).partition(': ')[2]}") from None


def _add_searched(algorithm, role: str, result, *, hunter: bool = False):
    """A search's result joins ``role``'s pool as an anchor (or hunter) with its parameters; returns the entry."""
    from pe_rllib.policies.families import make_family

    state = algorithm.selfplay
    family = make_family(role, algorithm.experiment.world_config, result.family)
    entry, replaced = state.league.add_anchor(role, algorithm.iteration, result.family, hunter=hunter)
    state.league_weights[entry.id] = {"params": np.array([result.params[name] for name in family.names()])}
    if replaced is not None:
        state.league_weights.pop(replaced.id, None)
    return entry


def teachers(state) -> dict[str, dict]:
    """Each distilling role's teacher (``league.distill_coeff``, ``distill_roles``): its newest searched anchor,
    as ``{role: {"family": name, "params": list}}`` (roles without an anchor yet are left out)."""
    if state.league is None or not state.league.config.distill_coeff:
        return {}
    found = {}
    for role in state.league.config.distill_roles:
        anchors = state.league.teacher_anchors(role)
        if anchors:
            newest = anchors[-1]
            found[role] = {"family": newest.anchor,
                           "params": np.asarray(state.league_weights[newest.id]["params"]).tolist()}
    return found


def send_teachers(algorithm) -> None:
    """Give every learner the current search distillation teachers (after an anchor search, and on restore; the
    env runners get them with the self-play state before every iteration, for ``league.teacher_view: full`` or
    ``remembered``)."""
    found = teachers(algorithm.selfplay)
    if found:
        results = algorithm.learner_group.foreach_learner(lambda learner, _found=found: learner.set_teachers(_found))
        for result in results:
            result.get()                                    # re-raises a learner's error


def exploiter_weights(algorithm, role: str) -> dict:
    """The weights a reset gives ``role``'s exploiter: fresh random ones (a new module, seeded by run, role and
    iteration) or the role's current ones (``league.exploiter_reset_to``)."""
    if algorithm.experiment.league.exploiter_reset_to == "main":
        return role_weights(algorithm, [role])[role]
    import torch

    from pe_rllib.policies.rl_module import learned_module_spec

    with torch.random.fork_rng():
        torch.manual_seed(_role_seed(algorithm, role))
        module = learned_module_spec(algorithm.experiment, role).build()
    return {name: value.detach().numpy().copy() for name, value in module.state_dict().items()}


def reset_exploiter(algorithm, role: str) -> None:
    set_module_weights(algorithm, {exploiter_id(role): exploiter_weights(algorithm, role)})
    algorithm.selfplay.exploiter_iterations[role] = 0
    logger.info("league: %s reset (%s)", exploiter_id(role), algorithm.experiment.league.exploiter_reset_to)


def step_exploiters(algorithm, roles) -> list[str]:
    """Count an iteration of ``roles``' exploiters (those that trained); reset those due
    (``league.exploiter_reset_every``). Returns the roles whose exploiter was reset."""
    state, config = algorithm.selfplay, algorithm.experiment.league
    reset = []
    for role in roles:
        state.exploiter_iterations[role] = state.exploiter_iterations.get(role, 0) + 1
        if config.exploiter_reset_every and state.exploiter_iterations[role] >= config.exploiter_reset_every:
            reset_exploiter(algorithm, role)
            reset.append(role)
    return reset


def exploiter_game_figures(runner_results: dict) -> dict:
    """Per role, its exploiter's training games this iteration and its success in them (capture / escape)."""
    matchups = runner_results.get(NAMESPACE, {}).get("matchups", {})
    out = {}
    for role in ROLES:
        pair = (exploiter_id(role), other_role(role)) if role == "pursuer" else (other_role(role), exploiter_id(role))
        counts = matchups.get(MATCHUP_SEPARATOR.join(pair), {})
        games = float(np.nan_to_num(float(counts.get("episodes", 0.0))))
        if games > 0:
            key = "captures" if role == "pursuer" else "escapes"
            out[role] = {"games": int(games), "success": float(np.nan_to_num(float(counts.get(key, 0.0)))) / games}
    return out


def admit_exploiters(algorithm, success: dict[str, float]) -> list[str]:
    """Exploiters whose deterministic success rate against the other role's current policy reached
    ``league.exploiter_admit`` join their role's pool as snapshots (the main role must answer them), and are
    reset. ``success``: per role, from the periodic evaluation's cross-play. Returns the new entry ids."""
    state = algorithm.selfplay
    admitted = []
    for role, rate in success.items():
        if rate < algorithm.experiment.league.exploiter_admit:
            continue
        entry, evicted = state.league.add(role, algorithm.iteration, exploiter=True)
        state.league_weights[entry.id] = role_weights(algorithm, [exploiter_id(role)])[exploiter_id(role)]
        if evicted is not None:
            state.league_weights.pop(evicted.id, None)
        logger.info("league: %s admitted (success %.2f against the current %s)", entry.id, rate, other_role(role))
        admitted.append(entry.id)
        reset_exploiter(algorithm, role)
    return admitted


def league_figures(state) -> dict:
    """Per-iteration league figures for progress.jsonl: pool sizes, Elo of the current roles, and per frozen
    role the playable entries with the share of pool episodes that meet each."""
    return {"league_pool": {role: len(state.league.pool(role)) for role in ROLES},
            "elo": {role: round(state.league.elo.rating(role), 1) for role in ROLES},
            "league_slots": {role: {entry: round(p, 4) for entry, p in plan.items()}
                             for role, plan in state.slot_plan.items()}}


__all__ = ["add_snapshot", "admit_exploiters", "check_health", "exploiter_game_figures", "exploiters_playing",
           "league_figures", "load_slots", "opponent_modules", "opponent_probabilities", "phase_ended",
           "plan_modules", "record_games", "reset_exploiter", "search_anchors", "send_teachers", "start_league",
           "step_exploiters", "teachers"]
