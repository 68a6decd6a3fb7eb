"""Elo ratings of pursuers against evaders.

A game is one episode between a pursuer and an evader; the pursuer scores 1 for a
capture and 0 otherwise (escape, or a collision of either side counts as a draw, 0.5).
``E = 1 / (1 + 10^((R_b - R_a) / 400))``; after a game ``R_a += K (S_a - E_a)`` and the
opponent moves by the opposite amount. Games come in batches (an iteration's episodes
between two players, or an evaluation's); a batch of N games with summed score S is
applied as N successive games each scoring S / N, so the expected score moves with the
ratings inside the batch (one update with N x K would overshoot for large batches) and
the result does not depend on the order of the games within it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

INITIAL_RATING = 1000.0


def expected_score(rating_a: float, rating_b: float) -> float:
    """The score A expects against B."""
    return 1.0 / (1.0 + 10.0 ** ((rating_b - rating_a) / 400.0))


@dataclass
class EloTable:
    """Ratings and game counts by player id (e.g. ``pursuer`` or ``evader@40``)."""

    k: float = 16.0
    ratings: dict[str, float] = field(default_factory=dict)
    games: dict[str, int] = field(default_factory=dict)

    def rating(self, player: str) -> float:
        return self.ratings.get(player, INITIAL_RATING)

    def record(self, pursuer: str, evader: str, *, games: int, pursuer_score: float) -> float:
        """Apply ``games`` games in which the pursuer scored ``pursuer_score`` in total; returns its rating change."""
        if games <= 0:
            return 0.0
        if not 0.0 <= pursuer_score <= games:
            raise ValueError(f"pursuer_score: must be in [0, {games}], got {pursuer_score}")
        mean = pursuer_score / games
        a, b = self.rating(pursuer), self.rating(evader)
        start = a
        for _ in range(int(games)):
            step = self.k * (mean - expected_score(a, b))
            a, b = a + step, b - step
        delta = a - start
        self.ratings[pursuer], self.ratings[evader] = a, b
        for player in (pursuer, evader):
            self.games[player] = self.games.get(player, 0) + games
        return delta

    def copy_rating(self, source: str, target: str) -> None:
        """A snapshot starts at its source's rating (it is the same policy)."""
        self.ratings[target] = self.rating(source)
        self.games.setdefault(target, 0)

    def forget(self, player: str) -> None:
        self.ratings.pop(player, None)
        self.games.pop(player, None)

    def to_dict(self) -> dict:
        return {"k": self.k, "ratings": dict(self.ratings), "games": dict(self.games)}

    @classmethod
    def from_dict(cls, data: dict) -> "EloTable":
        return cls(k=float(data["k"]), ratings={k: float(v) for k, v in data["ratings"].items()},
                   games={k: int(v) for k, v in data["games"].items()})
