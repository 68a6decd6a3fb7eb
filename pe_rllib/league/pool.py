"""The league: per-role snapshot pools, prioritised opponent sampling, win-rate bookkeeping and Elo.

Pure bookkeeping: the caller keeps each entry's weights (by entry id) and loads the
entries :meth:`League.plan_slots` picks into the fixed snapshot modules between
iterations, so the set of RLlib modules never grows.

Win rates are the *learner's*: for an entry of the opponent role, how often the role
that trains against it wins (a win scores 1, a draw, i.e. a collision, 0.5), with a
Laplace prior, ``(score + 1) / (games + 2)``. PFSP (AlphaStar) weights an entry by
``f(p)``: ``(1 - p)^power`` ("pfsp_hard": opponents the learner loses to) or
``p (1 - p)`` ("pfsp_var": even opponents); "hedge" weights ``exp(eta * losses)`` on the
learner's cumulative losses against the entry.

Eviction when a pool has more than ``pool_size`` snapshots: the oldest snapshot is the
milestone and always stays; among the others the least useful goes, the one the learner
beats most often (highest win rate; the oldest of equals), not simply the oldest.

Scripted entries (``league.scripted_opponents``, ids like ``evader@straight_flee``) are
permanent members of their role's pool: drawn like snapshots, rated like them, never
evicted and not counted in ``pool_size``. They have no weights; the caller plays them
with their scripted module.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from pe_rllib.config import ROLES, LeagueConfig, other_role
from pe_rllib.league.elo import EloTable

CURRENT = "current"
"""Stands for the opponent's current weights in a slot plan."""


def entry_id(role: str, iteration: int | str) -> str:
    """``role@iteration`` for a snapshot, ``role@name`` for a scripted entry."""
    return f"{role}@{iteration}"


@dataclass
class PoolEntry:
    id: str
    role: str
    iteration: int
    games: int = 0
    """Games the other role's learner played against this entry."""
    learner_score: float = 0.0
    """The learner's summed score in those games (win 1, draw 0.5)."""
    learner_losses: float = 0.0
    """Games the learner did not win (the hedge loss)."""
    scripted: str = ""
    """The scripted policy's name for a scripted entry ("" for a snapshot)."""

    @property
    def learner_win_rate(self) -> float:
        return (self.learner_score + 1.0) / (self.games + 2.0)


def sampling_weights(entries: list[PoolEntry], config: LeagueConfig) -> np.ndarray:
    """Normalised probabilities of drawing each entry as the opponent (uniform if all weights vanish)."""
    if not entries:
        return np.zeros(0)
    p = np.array([e.learner_win_rate for e in entries])
    if config.sampling == "pfsp_hard":
        w = (1.0 - p) ** config.pfsp_power
    elif config.sampling == "pfsp_var":
        w = p * (1.0 - p)
    elif config.sampling == "hedge":
        losses = np.array([e.learner_losses for e in entries])
        w = np.exp(config.hedge_eta * (losses - losses.max()))
    else:
        w = np.ones(len(entries))
    total = w.sum()
    return w / total if total > 0 and math.isfinite(total) else np.full(len(entries), 1.0 / len(entries))


@dataclass
class League:
    config: LeagueConfig
    entries: dict[str, list[PoolEntry]] = field(default_factory=lambda: {role: [] for role in ROLES})
    elo: EloTable | None = None

    def __post_init__(self) -> None:
        if self.elo is None:
            self.elo = EloTable(k=self.config.elo_k)
        for role, name in self.config.scripted_entries():
            if self.find(entry_id(role, name)) is None:
                self.entries[role].append(PoolEntry(entry_id(role, name), role, 0, scripted=name))

    def pool(self, role: str) -> list[PoolEntry]:
        return self.entries[role]

    def find(self, entry: str) -> PoolEntry | None:
        role = entry.split("@", 1)[0]
        return next((e for e in self.entries.get(role, []) if e.id == entry), None)

    def add(self, role: str, iteration: int) -> tuple[PoolEntry, PoolEntry | None]:
        """Snapshot ``role`` at ``iteration`` (rated as its current policy); returns (new entry, evicted entry)."""
        existing = self.find(entry_id(role, iteration))
        if existing is not None:
            return existing, None
        entry = PoolEntry(entry_id(role, iteration), role, iteration)
        self.entries[role].append(entry)
        self.elo.copy_rating(role, entry.id)
        evicted = None
        if len(self.snapshots(role)) > self.config.pool_size:
            evicted = self.eviction_candidate(role)
            self.entries[role].remove(evicted)
            self.elo.forget(evicted.id)
        return entry, evicted

    def snapshots(self, role: str) -> list[PoolEntry]:
        """``role``'s pool entries that are weight snapshots (not scripted), oldest first."""
        return [e for e in self.entries[role] if not e.scripted]

    def eviction_candidate(self, role: str) -> PoolEntry:
        """The least useful snapshot: never the oldest (milestone); the highest learner win rate, oldest first."""
        candidates = self.snapshots(role)[1:]
        return max(candidates, key=lambda e: (e.learner_win_rate, -e.iteration))

    def record_games(self, opponent: str, learner_role: str, *, games: int, learner_score: float) -> None:
        """The learner (current ``learner_role``) played ``games`` games against ``opponent`` (an entry id or
        ``CURRENT``) and scored ``learner_score``; updates the entry's win rate and both Elo ratings."""
        if games <= 0:
            return
        if not 0.0 <= learner_score <= games:
            raise ValueError(f"learner_score: must be in [0, {games}], got {learner_score}")
        opponent_id = other_role(learner_role) if opponent == CURRENT else opponent
        entry = self.find(opponent_id)
        if entry is not None:
            entry.games += games
            entry.learner_score += learner_score
            entry.learner_losses += games - learner_score
        if learner_role == "pursuer":
            self.elo.record(learner_role, opponent_id, games=games, pursuer_score=learner_score)
        else:
            self.elo.record(opponent_id, learner_role, games=games, pursuer_score=games - learner_score)

    def plan_slots(self, opponent_role: str, slots: int, rng: np.random.Generator) -> list[str]:
        """Which pool entries of ``opponent_role`` go into its ``slots`` snapshot modules for the next iteration:
        drawn by the sampling weights without replacement (all of them when they fit)."""
        pool = self.entries[opponent_role]
        if len(pool) <= slots:
            return [e.id for e in pool]
        chosen = rng.choice(len(pool), size=slots, replace=False, p=sampling_weights(pool, self.config))
        return [pool[i].id for i in sorted(chosen)]

    def table(self) -> list[dict]:
        """Every pool entry and the current policies: id, role, iteration, Elo, games, learner win rate."""
        rows = [{"id": role, "role": role, "iteration": None, "elo": self.elo.rating(role),
                 "games": self.elo.games.get(role, 0), "learner_win_rate": None} for role in ROLES]
        for role in ROLES:
            rows += [{"id": e.id, "role": role, "iteration": None if e.scripted else e.iteration,
                      "elo": self.elo.rating(e.id),
                      "games": e.games, "learner_win_rate": e.learner_win_rate} for e in self.entries[role]]
        return rows

    def to_dict(self) -> dict:
        return {"entries": {role: [asdict(e) for e in self.entries[role]] for role in ROLES},
                "elo": self.elo.to_dict()}

    @classmethod
    def from_dict(cls, config: LeagueConfig, data: dict) -> "League":
        return cls(config, entries={role: [PoolEntry(**e) for e in data["entries"][role]] for role in ROLES},
                   elo=EloTable.from_dict(data["elo"]))
