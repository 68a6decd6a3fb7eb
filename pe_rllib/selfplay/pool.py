"""The league: per-role snapshot pools, prioritised opponent sampling, win-rate bookkeeping and Elo.

Pure bookkeeping: the caller keeps each entry's weights (by entry id) and loads the
entries :meth:`League.plan_slots` picks into the fixed snapshot modules between
iterations, so the set of RLlib modules never grows.

Win rates are the *learner's*: for an entry of the opponent role, how often the role
that trains against it wins (a win scores 1, a draw, i.e. a collision, 0.5), with a
Laplace prior, ``(score + 1) / (games + 2)``. They come from deterministic games: the
periodic evaluation's cross-play of the current roles against every entry
(:meth:`League.record_evaluation`, the latest cross-play per entry). Training games, which
the learner plays with exploration noise, rate an entry only until it has been
cross-played, and move Elo ratings only until the first cross-play. PFSP (AlphaStar)
weights an entry by ``f(p)``: ``(1 - p)^power`` ("pfsp_hard": opponents the learner loses
to) or ``p (1 - p)`` ("pfsp_var": even opponents); "hedge" weights ``exp(eta * losses)``
on the learner's cumulative losses against the entry.

PFSP is per episode: :meth:`League.plan_slots` gives the probability with which each new
episode of the frozen role (when it does not play the current weights) meets each entry,
and these are exactly the sampling weights. The snapshot slots are a cache: when the
snapshot entries do not all fit, the ``slots - 1`` most likely ones stay loaded and the
last slot rotates, each iteration, over the others (drawn in proportion to their weights,
and played with their summed weight), so every entry is met with its own weight in
expectation over iterations, and exactly within an iteration when the pool fits. Scripted
entries play in their own modules and take no slot.

Eviction when a pool has more than ``pool_size`` snapshots: the oldest snapshot is the
milestone and always stays; among the others the least useful goes, the one the learner
beats most often (highest win rate; the oldest of equals), not simply the oldest.

Scripted entries (``league.scripted_opponents``, ids like ``evader@straight_flee``) are
permanent members of their role's pool: drawn like snapshots, rated like them, never
evicted and not counted in ``pool_size``. They have no weights; the caller plays them
with their scripted module.

Searched anchors (``league.anchor_every``, ids like ``evader@anchor12``) are controllers a
search found against the other role's policy at that iteration: drawn and rated like the
rest, not counted in ``pool_size``, at most ``anchor_slots`` per role (the oldest goes).
The caller keeps their parameters (as it keeps snapshot weights) and plays them in the
role's anchor modules. Hunters (``league.hunt_roles``, ids like ``evader@hunt12``) are searched
anchors too, found against the other role's current policy alone: kept in ``hunter_slots`` of
their own, always playable as opponents, never teachers.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from pe_rllib.config import ROLES, LeagueConfig, other_role
from pe_rllib.selfplay.elo import EloTable

CURRENT = "current"
"""Stands for the opponent's current weights in a slot plan."""

DRAW_SCORE = 0.5
"""A collision ends a game without a winner: each side scores half a game (a draw in Elo's terms)."""


def game_score(role: str, games: float, captures: float, collisions: float) -> float:
    """``role``'s score in [0, games] over ``games`` games with ``captures`` captures and ``collisions``
    draws (the one scoring rule of the league's win rates and Elo, from training and evaluation games)."""
    pursuer = captures + DRAW_SCORE * collisions
    score = pursuer if role == "pursuer" else games - pursuer
    return min(max(score, 0.0), games)


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
    """Games the learner did not win (the hedge loss): training games until the entry is cross-played,
    deterministic cross-play games from then on."""
    scripted: str = ""
    """The scripted policy's name for a scripted entry ("" for a snapshot)."""
    eval_games: int = 0
    """Deterministic games of the latest cross-play of the other role's current policy against this entry."""
    eval_learner_score: float = 0.0
    """The current policy's score in those games (win 1, draw 0.5)."""
    anchor: str = ""
    """The controller family of a searched anchor ("" otherwise)."""
    exploiter: bool = False
    """Whether the entry is an admitted main exploiter's snapshot (a learned best response to the other role)."""
    hunter: bool = False
    """Whether a searched anchor is a hunter (``league.hunt_roles``): an opponent, never a teacher."""

    @property
    def learner_win_rate(self) -> float:
        """From the latest deterministic cross-play once there was one, else from the training games."""
        if self.eval_games:
            return (self.eval_learner_score + 1.0) / (self.eval_games + 2.0)
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


def _normalised(weights: dict[int, float]) -> dict[int, float]:
    """``weights`` scaled to sum to 1 (uniform when they sum to 0)."""
    total = sum(weights.values())
    if total <= 0:
        return {i: 1.0 / len(weights) for i in weights}
    return {i: w / total for i, w in weights.items()}


@dataclass
class League:
    config: LeagueConfig
    entries: dict[str, list[PoolEntry]] = field(default_factory=lambda: {role: [] for role in ROLES})
    elo: EloTable | None = None
    cross_played: bool = False
    """True once a deterministic cross-play was recorded: from then on training games move no Elo rating."""

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

    def add(self, role: str, iteration: int, *, exploiter: bool = False) -> tuple[PoolEntry, PoolEntry | None]:
        """Snapshot ``role`` at ``iteration`` (rated as its current policy), or with ``exploiter`` its main
        exploiter (``role@x<iteration>``, rated like a new player); returns (new entry, evicted entry)."""
        new_id = entry_id(role, f"x{iteration}" if exploiter else iteration)
        existing = self.find(new_id)
        if existing is not None:
            return existing, None
        entry = PoolEntry(new_id, role, iteration, exploiter=exploiter)
        self.entries[role].append(entry)
        if not exploiter:
            self.elo.copy_rating(role, new_id)
        evicted = None
        if len(self.snapshots(role)) > self.config.pool_size:
            evicted = self.eviction_candidate(role)
            self.entries[role].remove(evicted)
            self.elo.forget(evicted.id)
        return entry, evicted

    def snapshots(self, role: str) -> list[PoolEntry]:
        """``role``'s pool entries that are weight snapshots (neither scripted nor anchors), oldest first."""
        return [e for e in self.entries[role] if not e.scripted and not e.anchor]

    def exploiter_snapshots(self, role: str) -> list[PoolEntry]:
        """``role``'s admitted exploiters still in the pool, oldest first."""
        return [e for e in self.entries[role] if e.exploiter]

    def anchors(self, role: str) -> list[PoolEntry]:
        """``role``'s searched anchors, hunters included, oldest first (their order places them in the role's
        anchor modules)."""
        return [e for e in self.entries[role] if e.anchor]

    def teacher_anchors(self, role: str) -> list[PoolEntry]:
        """``role``'s searched anchors that are not hunters (the teachers), oldest first."""
        return [e for e in self.anchors(role) if not e.hunter]

    def hunters(self, role: str) -> list[PoolEntry]:
        """``role``'s hunters, oldest first."""
        return [e for e in self.anchors(role) if e.hunter]

    def add_anchor(self, role: str, iteration: int, family: str, *,
                   hunter: bool = False) -> tuple[PoolEntry, PoolEntry | None]:
        """A searched controller of ``family`` for ``role`` found at ``iteration`` joins the pool, as a hunter
        with ``hunter``; returns (new entry, the one of its kind it replaced: the oldest, once there are more
        than ``anchor_slots`` anchors or ``hunter_slots`` hunters)."""
        kind, slots = ("hunt", self.config.hunter_slots) if hunter else ("anchor", self.config.anchor_slots)
        entry = PoolEntry(entry_id(role, f"{kind}{iteration}"), role, iteration, anchor=family, hunter=hunter)
        if self.find(entry.id) is not None:
            raise ValueError(f"{entry.id}: this anchor already exists")
        self.entries[role].append(entry)
        same_kind = self.hunters(role) if hunter else self.teacher_anchors(role)
        replaced = None
        if len(same_kind) > slots:
            replaced = same_kind[0]
            self.entries[role].remove(replaced)
            self.elo.forget(replaced.id)
        return entry, replaced

    def eviction_candidate(self, role: str) -> PoolEntry:
        """The least useful snapshot: never the oldest (milestone); the highest learner win rate, oldest first."""
        candidates = self.snapshots(role)[1:]
        return max(candidates, key=lambda e: (e.learner_win_rate, -e.iteration))

    def record_games(self, opponent: str, learner_role: str, *, games: int, learner_score: float) -> None:
        """The learner (current ``learner_role``) played ``games`` training games against ``opponent`` (an entry
        id or ``CURRENT``) and scored ``learner_score``. Counted on the entry; they rate it only until it is
        cross-played, and move Elo ratings only until the first cross-play (they carry exploration noise)."""
        if games <= 0:
            return
        opponent_id, entry = self._opponent(opponent, learner_role, games, learner_score)
        if entry is not None:
            entry.games += games
            entry.learner_score += learner_score
            if not entry.eval_games:
                entry.learner_losses += games - learner_score
        if not self.cross_played:
            self._rate(learner_role, opponent_id, games, learner_score)

    def record_evaluation(self, opponent: str, learner_role: str, *, games: int, learner_score: float) -> None:
        """A deterministic cross-play: the current ``learner_role`` scored ``learner_score`` in ``games`` games
        against ``opponent`` (an entry id or ``CURRENT``, the other role's current policy). Replaces the entry's
        evaluated win rate (the current policy is what PFSP must rate against) and moves both Elo ratings."""
        if games <= 0:
            return
        opponent_id, entry = self._opponent(opponent, learner_role, games, learner_score)
        if entry is not None:
            entry.eval_games, entry.eval_learner_score = games, learner_score
            entry.learner_losses += games - learner_score
        self.cross_played = True
        self._rate(learner_role, opponent_id, games, learner_score)

    def _opponent(self, opponent: str, learner_role: str, games: int,
                  learner_score: float) -> tuple[str, PoolEntry | None]:
        """(opponent id, its pool entry or None) for a batch of games, after checking the score."""
        if not 0.0 <= learner_score <= games:
            raise ValueError(f"learner_score: must be in [0, {games}], got {learner_score}")
        opponent_id = other_role(learner_role) if opponent == CURRENT else opponent
        return opponent_id, self.find(opponent_id)

    def _rate(self, learner_role: str, opponent_id: str, games: int, learner_score: float) -> None:
        if learner_role == "pursuer":
            self.elo.record(learner_role, opponent_id, games=games, pursuer_score=learner_score)
        else:
            self.elo.record(opponent_id, learner_role, games=games, pursuer_score=games - learner_score)

    def plan_slots(self, opponent_role: str, slots: int, rng: np.random.Generator) -> dict[str, float]:
        """``{entry id: probability}``: the entries of ``opponent_role`` playable next iteration and the
        probability with which a new episode against the pool meets each (see the module docstring).

        Snapshot entries beyond ``slots`` share the last slot, one of them (drawn by weight) per
        iteration; scripted entries and anchors (in modules of their own) are always playable (anchors
        other than hunters only with ``anchor_opponents``). With ``hunter_share`` the hunters together get
        that share of the probability, the other entries the rest, each group split by its weights.
        Probabilities sum to 1 (an empty dict when nothing is playable).
        """
        pool = self.entries[opponent_role]
        weights = sampling_weights(pool, self.config)
        snapshots = [i for i, e in enumerate(pool) if not e.scripted and not e.anchor]
        playable = {i: float(weights[i]) for i, e in enumerate(pool)
                    if e.scripted or e.hunter or (e.anchor and self.config.anchor_opponents)}
        if len(snapshots) <= slots:
            playable.update({i: float(weights[i]) for i in snapshots})
        elif slots > 0:
            likely = sorted(snapshots, key=lambda i: (-weights[i], -pool[i].iteration))
            playable.update({i: float(weights[i]) for i in likely[:slots - 1]})
            rest = likely[slots - 1:]
            share = float(weights[rest].sum())
            draw = (weights[rest] / share) if share > 0 else np.full(len(rest), 1.0 / len(rest))
            playable[rest[int(rng.choice(len(rest), p=draw))]] = share
        if not playable:
            return {}
        plan = _normalised(playable)
        hunters = [i for i in playable if pool[i].hunter]
        share = self.config.hunter_share
        if share and hunters and len(hunters) < len(playable):
            met = _normalised({i: playable[i] for i in hunters})
            others = _normalised({i: p for i, p in playable.items() if i not in met})
            plan = {**{i: (1.0 - share) * p for i, p in others.items()}, **{i: share * p for i, p in met.items()}}
        return {pool[i].id: plan[i] for i in sorted(plan)}

    def table(self) -> list[dict]:
        """Every pool entry and the current policies: id, role, iteration, Elo, training games, cross-played
        games (the latest cross-play's), learner win rate."""
        rows = [{"id": role, "role": role, "iteration": None, "elo": self.elo.rating(role),
                 "games": self.elo.games.get(role, 0), "eval_games": None, "learner_win_rate": None} for role in ROLES]
        for role in ROLES:
            rows += [{"id": e.id, "role": role, "iteration": None if e.scripted else e.iteration,
                      "elo": self.elo.rating(e.id), "games": e.games, "eval_games": e.eval_games,
                      "learner_win_rate": e.learner_win_rate} for e in self.entries[role]]
        return rows

    def to_dict(self) -> dict:
        return {"entries": {role: [asdict(e) for e in self.entries[role]] for role in ROLES},
                "elo": self.elo.to_dict(), "cross_played": self.cross_played}

    @classmethod
    def from_dict(cls, config: LeagueConfig, data: dict) -> "League":
        return cls(config, entries={role: [PoolEntry(**e) for e in data["entries"][role]] for role in ROLES},
                   elo=EloTable.from_dict(data["elo"]), cross_played=bool(data.get("cross_played", False)))
