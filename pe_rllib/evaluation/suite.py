"""Evaluate a trained run: its roles against every scripted opponent, each other, another run, its pool.

Everything runs on the batched world core in the run's own world (``experiment.yaml`` of
the checkpoint) with its safety setting unless told otherwise, deterministic policies, the
same seeds for every row, and every rate with a Wilson 95 % interval
(:func:`~pe_rllib.evaluation.matchups.wilson_interval`). Scripted rows are played in the
same world as the trained rows, so a row like "pure_pursuit vs trained evader" is the
yardstick for "trained pursuer vs trained evader".

Policies are loaded without executing anything from the run directory
(:func:`~pe_rllib.policies.load_policy`); which snapshot slots are filled is read from the
checkpoint's msgpack state (data only).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from pe_rllib.config import ROLES, ConfigError, ExperimentConfig, load_experiment, to_dict
from pe_rllib.evaluation.matchups import MatchupResult, evaluate
from pe_rllib.rundir import EXPERIMENT_FILE, resolve_checkpoint, selfplay_state

logger = logging.getLogger(__name__)

AGAINST = ("scripted", "pool")


@dataclass
class Player:
    """A named policy for one role."""

    name: str
    role: str
    policy: object


@dataclass
class RunEvaluation:
    """All matchups of one evaluation, and the cross-play matrix when the pool was evaluated."""

    checkpoint: str
    world: dict
    safety: bool
    episodes: int
    seed: int
    rows: list[MatchupResult] = field(default_factory=list)
    cross_play: dict | None = None
    head_to_head: dict | None = None
    """Against another run: which run's roles are ahead (:func:`head_to_head`)."""
    exploitability: dict[str, dict] = field(default_factory=dict)
    """Per role, the summary of the ``pe-rllib exploit`` result recorded for this checkpoint (if any)."""

    def to_dict(self) -> dict:
        return {"checkpoint": self.checkpoint, "world": self.world, "safety": self.safety,
                "episodes": self.episodes, "seed": self.seed, "rows": [r.to_dict() for r in self.rows],
                "cross_play": self.cross_play, "head_to_head": self.head_to_head,
                "exploitability": self.exploitability}


def filled_snapshots(checkpoint: Path) -> dict[str, int]:
    """How many snapshot slots per role hold a snapshot, from the checkpoint's msgpack state (no code)."""
    pool = selfplay_state(checkpoint).get("pool", {})
    return {role: int(pool.get("filled", {}).get(role, 0)) for role in ROLES}


def trained_players(checkpoint: Path, label: str = "trained") -> dict[str, Player]:
    from pe_rllib.policies import load_policy

    return {role: Player(f"{label} {role}", role, load_policy(checkpoint, role)) for role in ROLES}


def scripted_players(experiment: ExperimentConfig, role: str, seed: int) -> list[Player]:
    from pe_rllib.policies import make_world_scripted, world_scripted_names

    return [Player(name, role, make_world_scripted(name, role, experiment, seed=seed))
            for name in world_scripted_names(experiment, role)]


def scripted_matchups(experiment: ExperimentConfig, trained: dict[str, Player], seed: int
                      ) -> list[tuple[Player, Player]]:
    """Trained vs trained, the trained pursuer vs every scripted evader, every scripted pursuer vs the
    trained evader."""
    return ([(trained["pursuer"], trained["evader"])]
            + [(trained["pursuer"], e) for e in scripted_players(experiment, "evader", seed)]
            + [(p, trained["evader"]) for p in scripted_players(experiment, "pursuer", seed)])


def play(experiment: ExperimentConfig, matchups: list[tuple[Player, Player]], episodes: int, *, seed: int,
         num_envs: int = 1024, progress=None) -> list[MatchupResult]:
    """Every matchup in ``experiment``'s world (safety as configured), the same seeds for every row."""
    from pe_rllib.safety import make_batched_env

    return [evaluate(experiment.world_config, pursuer.policy, evader.policy, episodes, seed=seed, num_envs=num_envs,
                     names=(pursuer.name, evader.name), make_env=lambda n: make_batched_env(n, experiment),
                     progress=progress(f"{pursuer.name} vs {evader.name}") if progress else None)
            for pursuer, evader in matchups]


def strength(rows: list[MatchupResult]) -> dict[str, float]:
    """Headline figures of a scripted evaluation: ``rows`` as :func:`scripted_matchups` orders them (trained
    vs trained first; then the rows of the trained pursuer and of the trained evader, by their names).

    ``pursuer_vs_scripted``: the trained pursuer's mean capture rate over the scripted evaders;
    ``evader_vs_scripted``: the trained evader's mean escape rate over the scripted pursuers;
    ``trained_capture``: trained pursuer vs trained evader; ``best_scripted_capture``: the best
    scripted pursuer's capture rate against the trained evader; ``pursuer_shortfall``: how much
    better that scripted pursuer does against our evader than our pursuer does (> 0: a
    5-line controller beats the trained pursuer); ``best_scripted_escape`` and
    ``evader_shortfall``: the same for the evader (the best scripted evader's escape rate
    against the trained pursuer, minus the trained evader's).
    """
    trained = rows[0]                                                   # the order of scripted_matchups
    versus_scripted_evaders = [r for r in rows[1:] if r.pursuer == trained.pursuer]
    versus_scripted_pursuers = [r for r in rows[1:] if r.evader == trained.evader]
    best = max(r.capture_rate for r in versus_scripted_pursuers)
    best_escape = max(r.escape_rate for r in versus_scripted_evaders)
    return {
        "pursuer_vs_scripted": sum(r.capture_rate for r in versus_scripted_evaders) / len(versus_scripted_evaders),
        "evader_vs_scripted": sum(r.escape_rate for r in versus_scripted_pursuers) / len(versus_scripted_pursuers),
        "trained_capture": trained.capture_rate,
        "best_scripted_capture": best,
        "pursuer_shortfall": best - trained.capture_rate,
        "best_scripted_escape": best_escape,
        "evader_shortfall": best_escape - trained.escape_rate,
    }


def evaluate_weights(experiment: ExperimentConfig, weights: dict[str, dict],
                     pool: dict[str, list[dict]] | None = None) -> dict[str, float]:
    """:func:`strength` of in-memory role weights (a learner's current ones) in ``experiment``'s world,
    with its ``evaluation`` settings: what training reports every ``evaluation.every`` iterations.

    ``pool``: per role, the weights of its filled snapshot slots. With snapshots, also
    ``pursuer_vs_pool`` (the current pursuer's mean capture rate over the evader snapshots)
    and ``evader_vs_pool`` (the current evader's mean escape rate over the pursuer snapshots):
    whether the current roles still beat their own past.
    """
    from pe_rllib.policies.inference import policy_from_weights

    settings = experiment.evaluation
    trained = {role: Player(f"trained {role}", role, policy_from_weights(experiment, role, weights[role]))
               for role in ROLES}
    rows = play(experiment, scripted_matchups(experiment, trained, settings.seed), settings.episodes,
                seed=settings.seed)
    figures = strength(rows)
    pool = pool or {}
    past = {role: [Player(f"{role} snapshot {j}", role, policy_from_weights(experiment, role, w))
                   for j, w in enumerate(pool.get(role, []))] for role in ROLES}
    if past["evader"]:
        versus = play(experiment, [(trained["pursuer"], e) for e in past["evader"]], settings.episodes,
                      seed=settings.seed)
        figures["pursuer_vs_pool"] = sum(r.capture_rate for r in versus) / len(versus)
    if past["pursuer"]:
        versus = play(experiment, [(p, trained["evader"]) for p in past["pursuer"]], settings.episodes,
                      seed=settings.seed)
        figures["evader_vs_pool"] = sum(r.escape_rate for r in versus) / len(versus)
    return figures


def shared_world(experiment: ExperimentConfig, teams: list[dict[str, Player]], error: str
                 ) -> tuple[ExperimentConfig, list[dict[str, Player]]]:
    """The world in which trained ``teams`` (each ``{role: Player}`` of one run) can meet, and the teams as
    they play there. Runs whose worlds differ only in frame stacking (``env.history_length``) meet in the
    world with the longest stack, each policy seeing as many of the newest frames as it was trained on
    (:class:`~pe_rllib.policies.acting.NewestFrames`); any other difference raises ``ConfigError(error)``."""
    from dataclasses import replace

    from pe_rllib.envs.sensing import observation_layout
    from pe_rllib.policies.acting import NewestFrames

    worlds = [team["pursuer"].policy.env_config for team in teams]
    if experiment.world == "aerial":                 # no frame stacking there: the worlds must be the same
        if any(world != experiment.aerial for world in worlds):
            raise ConfigError(error)
        return experiment, teams
    if any(replace(world, history_length=1) != replace(experiment.env, history_length=1) for world in worlds):
        raise ConfigError(error)
    world = max([experiment.env, *worlds], key=lambda env: env.history_length)
    frame = observation_layout(world).frame_dim
    teams = [{role: player if env.history_length == world.history_length else
              Player(player.name, role, NewestFrames(player.policy, env.history_length * frame))
              for role, player in team.items()} for team, env in zip(teams, worlds)]
    return replace(experiment, env=world), teams


def head_to_head(ours_vs_theirs: MatchupResult, theirs_vs_ours: MatchupResult) -> dict:
    """Which of two runs' pairs is ahead, from the two cross-play matchups: our pursuer against their evader
    (``ours_vs_theirs``) and their pursuer against our evader (``theirs_vs_ours``). In a zero-sum game the
    better pair's pursuer captures the other's evader more often than the other way round, so the verdict is on
    ``lead`` = the first capture rate minus the second, with its Newcombe 95 % interval: "ours ahead" when the
    interval lies above 0, "theirs ahead" when below, else "level"."""
    from pe_rllib.evaluation.exploitability import difference_interval

    a, b = ours_vs_theirs.capture_rate, theirs_vs_ours.capture_rate
    low, high = difference_interval(a, ours_vs_theirs.episodes, b, theirs_vs_ours.episodes)
    verdict = "ours ahead" if low > 0 else "theirs ahead" if high < 0 else "level"
    return {"our_pursuer_capture": a, "their_pursuer_capture": b, "lead": a - b,
            "ci95": [round(low, 4), round(high, 4)], "verdict": verdict}


def evaluate_run(
    path: str | Path,
    *,
    against: str = "scripted",
    episodes: int = 500,
    seed: int = 0,
    safety: bool | None = None,
    num_envs: int = 1024,
    progress: Callable[[str], Callable[[int, int], None]] | None = None,
) -> RunEvaluation:
    """Evaluate the newest intact checkpoint of ``path`` (a run or checkpoint directory).

    ``against``: ``"scripted"`` (both trained roles against every scripted opponent, and
    against each other), ``"pool"`` (the cross-play matrix over the current roles and the
    filled snapshot slots), or another run/checkpoint directory (its roles against ours, in the
    same world; a run with more stacked frames than the other sets the world, see :func:`shared_world`).
    """
    checkpoint = resolve_checkpoint(path)
    experiment = load_experiment(checkpoint / EXPERIMENT_FILE)
    if safety is not None:
        from dataclasses import replace

        experiment = replace(experiment, safety=replace(experiment.safety, enabled=safety))
    ours = trained_players(checkpoint)
    matchups: list[tuple[Player, Player]] = []
    cross_play = None
    if against == "scripted":
        matchups = scripted_matchups(experiment, ours, seed)
    elif against == "pool":
        from pe_rllib.policies import load_policy
        from pe_rllib.policies.module_ids import slot_id

        filled = filled_snapshots(checkpoint)
        pools = {role: [ours[role]] + [Player(slot_id(role, j), role, load_policy(checkpoint, role,
                                                                                   module_id=slot_id(role, j)))
                                       for j in range(filled[role])] for role in ROLES}
        matchups = [(p, e) for p in pools["pursuer"] for e in pools["evader"]]
        cross_play = {"pursuers": [p.name for p in pools["pursuer"]], "evaders": [e.name for e in pools["evader"]]}
    else:
        theirs = trained_players(resolve_checkpoint(against), label=f"{Path(against).name}")
        experiment, (ours, theirs) = shared_world(experiment, [ours, theirs], f"{against}: trained in a different "
                                                  f"world than {path}")
        matchups = [(ours["pursuer"], ours["evader"]), (ours["pursuer"], theirs["evader"]),
                    (theirs["pursuer"], ours["evader"])]
    result = RunEvaluation(checkpoint=str(checkpoint), world=to_dict(experiment.world_config),
                           safety=experiment.safety.enabled, episodes=episodes, seed=seed)
    result.rows = play(experiment, matchups, episodes, seed=seed, num_envs=num_envs, progress=progress)
    if cross_play is not None:
        rates = {(r.pursuer, r.evader): r.capture_rate for r in result.rows}
        cross_play["capture_rate"] = [[rates[p, e] for e in cross_play["evaders"]] for p in cross_play["pursuers"]]
        result.cross_play = cross_play
    if against not in AGAINST:
        result.head_to_head = head_to_head(result.rows[1], result.rows[2])
    from pe_rllib.evaluation.exploitability import exploit_results

    result.exploitability = {role: r.summary() for role, r in exploit_results(checkpoint).items()}
    logger.info("evaluated %s: %d matchups x %d episodes", checkpoint, len(result.rows), episodes)
    return result


__all__ = ["AGAINST", "RunEvaluation", "evaluate_run", "evaluate_weights", "filled_snapshots", "head_to_head",
           "strength"]
