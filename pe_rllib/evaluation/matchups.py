"""Evaluate a pursuer against an evader on the batched core.

``evaluate`` plays exactly ``episodes`` episodes: it runs up to ``num_envs`` arenas at
once and counts each arena's *first* episode only, so short episodes are not
over-represented (counting whatever finishes first would bias towards captures).
Any object with ``act(obs [B, D]) -> actions [B, 2]`` can play either role, and so can a recurrent
policy (``stateful``, ``initial_state(batch)``, ``step(obs, state)``: see
:class:`~pe_rllib.policies.acting.Acting`), whose memory starts afresh in every episode.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from typing import Callable, Protocol

import numpy as np

from pe_rllib.config import EnvConfig
from pe_rllib.envs.batched import BatchedPursuitEvasion
from pe_rllib.envs.core import AGENTS, CAPTURE, COLLISION, TIMEOUT
from pe_rllib.envs.rollout import first_episodes
from pe_rllib.envs.world import BatchedWorld
from pe_rllib.policies.acting import Acting

logger = logging.getLogger(__name__)


def wilson_interval(successes: float, trials: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval (95% by default) of a rate ``successes / trials``."""
    if trials <= 0:
        return (0.0, 1.0)
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


class Policy(Protocol):
    """What plays a role: ``act`` (memoryless); a recurrent policy also has ``stateful = True``,
    ``initial_state(batch)`` and ``step(obs, state) -> (actions, state)``, which evaluation uses instead."""

    def act(self, obs: np.ndarray) -> np.ndarray: ...


@dataclass
class MatchupResult:
    """Outcome statistics of one pursuer-vs-evader matchup."""

    pursuer: str
    evader: str
    episodes: int
    capture_rate: float
    escape_rate: float
    collision_rate: float
    pursuer_collision_rate: float
    evader_collision_rate: float
    mean_time_to_capture: float | None
    mean_episode_steps: float
    intervention_rate: float | None = None
    infeasible_rate: float | None = None
    agent_steps: int = 0
    """Agent steps the filter rates are over (the trials of their intervals)."""
    miss_distance: dict[str, float] | None = None
    """Worlds that report a closest approach (the aerial one): its median and 10th / 90th percentiles [m]."""
    effort: dict[str, float] | None = None
    """Worlds that report control effort (the aerial one): each role's mean integral of ``|a|^2 dt`` per episode."""

    def ci95(self) -> dict[str, list[float]]:
        """Wilson 95 % intervals of every rate (episode rates over episodes, filter rates over agent steps)."""
        out = {}
        for name in ("capture_rate", "escape_rate", "collision_rate", "pursuer_collision_rate",
                     "evader_collision_rate"):
            low, high = wilson_interval(getattr(self, name) * self.episodes, self.episodes)
            out[name] = [round(low, 4), round(high, 4)]
        for name in ("intervention_rate", "infeasible_rate"):
            if getattr(self, name) is not None and self.agent_steps:
                low, high = wilson_interval(getattr(self, name) * self.agent_steps, self.agent_steps)
                out[name] = [round(low, 6), round(high, 6)]
        return out

    def to_dict(self) -> dict:
        return {**asdict(self), "ci95": self.ci95()}


@dataclass
class FirstEpisodes:
    """Per-arena record of each arena's first episode (see :func:`play_first_episodes`)."""

    outcome: np.ndarray                  # [n] outcome codes (core.CAPTURE, TIMEOUT, COLLISION)
    length: np.ndarray                   # [n] steps
    collided: dict[str, np.ndarray]      # {role: [n] bool}
    min_clearance: np.ndarray            # [n] smallest body clearance of either robot to an obstacle or wall
    interventions: int = 0               # safety-filter interventions over the live agent steps
    infeasible: int = 0
    agent_steps: int = 0
    filtered: bool = False
    miss_distance: np.ndarray | None = None    # [n] closest approach, where the world reports it
    effort: dict[str, np.ndarray] | None = None   # {role: [n]} integral of |a|^2 dt, where the world reports it


def play_first_episodes(make_env: Callable[[int], BatchedWorld], pursuer: Policy, evader: Policy, n: int,
                        *, seed: int, prepare: Callable[[object], object] | None = None) -> FirstEpisodes:
    """Play ``n`` arenas until each has finished its first episode (evaluation's use of the rollout loop).

    ``prepare(state) -> state``, when given, runs after ``env.reset(seed=seed)`` on a copy of the
    world's state (:meth:`~pe_rllib.envs.world.BatchedWorld.world_state`) and may place the arenas'
    starts; the arenas then start from what it returns.
    """
    env = make_env(n)
    obs = env.reset(seed=seed)
    if prepare is not None:
        obs = env.start_from(prepare(env.world_state()))
    record = FirstEpisodes(outcome=np.zeros(n, dtype=np.int64), length=np.zeros(n, dtype=np.int64),
                           collided={role: np.zeros(n, dtype=bool) for role in AGENTS},
                           min_clearance=np.full(n, np.inf))
    for step, live in first_episodes(env, Acting(pursuer, evader), obs):
        infos = step.infos
        for role in AGENTS:
            record.min_clearance[live] = np.minimum(record.min_clearance[live], infos[role]["clearance"][live])
            if "safety_intervened" in infos[role]:
                record.filtered = True
                record.interventions += int(infos[role]["safety_intervened"][live].sum())
                record.infeasible += int(infos[role]["safety_infeasible"][live].sum())
                record.agent_steps += int(live.sum())
        new = step.ended & live
        record.outcome[new] = infos["pursuer"]["outcome"][new]
        record.length[new] = infos["pursuer"]["episode_length"][new]
        for role in AGENTS:
            record.collided[role][new] = infos[role]["collision"][new]
        if "miss_distance" in infos["pursuer"]:
            if record.miss_distance is None:
                record.miss_distance = np.zeros(n)
                record.effort = {role: np.zeros(n) for role in AGENTS}
            record.miss_distance[new] = infos["pursuer"]["miss_distance"][new]
            for role in AGENTS:
                record.effort[role][new] = infos[role]["effort"][new]
    return record


def summarize(env_config: EnvConfig, records: list[FirstEpisodes], names: tuple[str, str]) -> MatchupResult:
    """One :class:`MatchupResult` over the first episodes of ``records``."""
    outcome = np.concatenate([r.outcome for r in records])
    length = np.concatenate([r.length for r in records])
    captured = outcome == CAPTURE
    result = MatchupResult(
        pursuer=names[0], evader=names[1], episodes=len(outcome),
        capture_rate=float(captured.mean()),
        escape_rate=float((outcome == TIMEOUT).mean()),
        collision_rate=float((outcome == COLLISION).mean()),
        pursuer_collision_rate=float(np.concatenate([r.collided["pursuer"] for r in records]).mean()),
        evader_collision_rate=float(np.concatenate([r.collided["evader"] for r in records]).mean()),
        mean_time_to_capture=float(length[captured].mean() * env_config.dt) if captured.any() else None,
        mean_episode_steps=float(length.mean()),
    )
    if all(r.miss_distance is not None for r in records):
        miss = np.concatenate([r.miss_distance for r in records])
        result.miss_distance = {f"p{q}": round(float(np.percentile(miss, q)), 3) for q in (10, 50, 90)}
        result.effort = {role: round(float(np.concatenate([r.effort[role] for r in records]).mean()), 3)
                         for role in AGENTS}
    if any(r.filtered for r in records):
        agent_steps = sum(r.agent_steps for r in records)
        result.intervention_rate = sum(r.interventions for r in records) / max(agent_steps, 1)
        result.infeasible_rate = sum(r.infeasible for r in records) / max(agent_steps, 1)
        result.agent_steps = agent_steps
    return result


def evaluate(
    env_config: EnvConfig,
    pursuer: Policy,
    evader: Policy,
    episodes: int,
    *,
    seed: int = 0,
    num_envs: int = 1024,
    names: tuple[str, str] = ("pursuer", "evader"),
    make_env: Callable[[int], BatchedWorld] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> MatchupResult:
    """Play ``episodes`` episodes and aggregate outcomes.

    ``make_env(n)`` builds the batched env (e.g. with a safety filter); by default a
    plain :class:`BatchedPursuitEvasion` over ``env_config``. Batch ``k`` of at most
    ``num_envs`` arenas is reset with seed ``seed + k``. ``progress(done, total)`` is
    called after each batch.
    """
    if episodes < 1:
        raise ValueError(f"episodes: must be >= 1, got {episodes}")
    make_env = make_env or (lambda n: BatchedPursuitEvasion(n, env_config))
    records = []
    done_total = 0
    while done_total < episodes:
        n = min(num_envs, episodes - done_total)
        records.append(play_first_episodes(make_env, pursuer, evader, n, seed=seed + len(records)))
        done_total += n
        if progress is not None:
            progress(done_total, episodes)
    result = summarize(env_config, records, names)
    logger.info("%s vs %s: capture %.3f escape %.3f collision %.3f over %d episodes",
                names[0], names[1], result.capture_rate, result.escape_rate, result.collision_rate, episodes)
    return result
