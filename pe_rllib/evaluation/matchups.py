"""Evaluate a pursuer against an evader on the batched core.

``evaluate`` plays exactly ``episodes`` episodes: it runs up to ``num_envs`` arenas at
once and counts each arena's *first* episode only, so short episodes are not
over-represented (counting whatever finishes first would bias towards captures).
Any object with ``act(obs [B, D]) -> actions [B, 2]`` can play either role.
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


def evaluate(
    env_config: EnvConfig,
    pursuer: Policy,
    evader: Policy,
    episodes: int,
    *,
    seed: int = 0,
    num_envs: int = 1024,
    names: tuple[str, str] = ("pursuer", "evader"),
    make_env: Callable[[int], BatchedPursuitEvasion] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> MatchupResult:
    """Play ``episodes`` episodes and aggregate outcomes.

    ``make_env(n)`` builds the batched env (e.g. with a safety filter); by default a
    plain :class:`BatchedPursuitEvasion` over ``env_config``. ``progress(done, total)``
    is called after each batch.
    """
    if episodes < 1:
        raise ValueError(f"episodes: must be >= 1, got {episodes}")
    make_env = make_env or (lambda n: BatchedPursuitEvasion(n, env_config))
    policies = dict(zip(AGENTS, (pursuer, evader)))
    outcome, length = [], []
    collided = {role: [] for role in AGENTS}
    interventions = infeasible = agent_steps = 0
    filtered = False
    done_total, batch_index = 0, 0
    while done_total < episodes:
        n = min(num_envs, episodes - done_total)
        env = make_env(n)
        obs = env.reset(seed=seed + batch_index)
        finished = np.zeros(n, dtype=bool)
        batch_outcome = np.zeros(n, dtype=np.int64)
        batch_length = np.zeros(n, dtype=np.int64)
        batch_collided = {role: np.zeros(n, dtype=bool) for role in AGENTS}
        while not finished.all():
            actions = {role: policies[role].act(obs[role]) for role in AGENTS}
            obs, _, terminated, truncated, infos = env.step(actions)
            live = ~finished
            for role in AGENTS:
                if "safety_intervened" in infos[role]:
                    filtered = True
                    interventions += int(infos[role]["safety_intervened"][live].sum())
                    infeasible += int(infos[role]["safety_infeasible"][live].sum())
                    agent_steps += int(live.sum())
            new = (terminated["pursuer"] | truncated["pursuer"]) & live
            batch_outcome[new] = infos["pursuer"]["outcome"][new]
            batch_length[new] = infos["pursuer"]["episode_length"][new]
            for role in AGENTS:
                batch_collided[role][new] = infos[role]["collision"][new]
            finished |= new
        outcome.append(batch_outcome)
        length.append(batch_length)
        for role in AGENTS:
            collided[role].append(batch_collided[role])
        done_total += n
        batch_index += 1
        if progress is not None:
            progress(done_total, episodes)
    outcome_all, length_all = np.concatenate(outcome), np.concatenate(length)
    captured = outcome_all == CAPTURE
    result = MatchupResult(
        pursuer=names[0], evader=names[1], episodes=episodes,
        capture_rate=float(captured.mean()),
        escape_rate=float((outcome_all == TIMEOUT).mean()),
        collision_rate=float((outcome_all == COLLISION).mean()),
        pursuer_collision_rate=float(np.concatenate(collided["pursuer"]).mean()),
        evader_collision_rate=float(np.concatenate(collided["evader"]).mean()),
        mean_time_to_capture=float(length_all[captured].mean() * env_config.dt) if captured.any() else None,
        mean_episode_steps=float(length_all.mean()),
    )
    if filtered:
        result.intervention_rate = interventions / max(agent_steps, 1)
        result.infeasible_rate = infeasible / max(agent_steps, 1)
        result.agent_steps = agent_steps
    logger.info("%s vs %s: capture %.3f escape %.3f collision %.3f over %d episodes",
                names[0], names[1], result.capture_rate, result.escape_rate, result.collision_rate, episodes)
    return result
