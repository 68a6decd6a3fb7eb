"""The curriculum: world levels that get harder as the pair improves.

Level ``i < len(levels)`` is the experiment's env with ``levels[i]`` applied; the last
level, ``len(levels)``, is the experiment's env itself. The pair advances one level when
the rule held for ``consecutive`` iterations in a row and it has spent at least
``min_iterations`` at the level: "balance", ``|capture - escape| <= balance_threshold``
(neither side dominates, so both can still learn at a harder level), or "capture",
``capture >= capture_threshold``. Iterations without a finished episode do not count. With
``max_iterations`` set, a level the rule never held at advances after that many iterations anyway
(``forced_at`` lists those), so an unbalanced easy level cannot keep the pair from the real world.
Every arena of a runner plays the current level (the runners switch worlds between
iterations); periodic evaluation always plays the experiment's own, final world.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from pe_rllib.config import CurriculumConfig


@dataclass
class CurriculumState:
    level: int = 0
    iterations_at_level: int = 0
    streak: int = 0
    advanced_at: tuple[int, ...] = ()
    iterations: int = 0
    forced_at: tuple[int, ...] = ()


class Curriculum:
    def __init__(self, config: CurriculumConfig, state: CurriculumState | None = None) -> None:
        self.config = config
        self.state = state or CurriculumState(level=0 if config.enabled else len(config.levels))

    @property
    def final_level(self) -> int:
        return len(self.config.levels)

    @property
    def level(self) -> int:
        return self.state.level

    def overrides(self, level: int | None = None) -> dict:
        """Env field overrides of ``level`` (default: the current one); {} at the final level."""
        level = self.state.level if level is None else level
        return dict(self.config.levels[level]) if level < self.final_level else {}

    def _holds(self, figures: dict) -> bool | None:
        capture, escape = figures.get("capture_rate"), figures.get("escape_rate")
        if capture is None or escape is None or not (math.isfinite(capture) and math.isfinite(escape)):
            return None
        if self.config.rule == "capture":
            return capture >= self.config.capture_threshold
        return abs(capture - escape) <= self.config.balance_threshold

    def observe(self, figures: dict) -> bool:
        """Account one iteration at the current level; True if the next iteration plays the next level."""
        s = self.state
        s.iterations += 1
        s.iterations_at_level += 1
        if s.level >= self.final_level:
            return False
        deadline = self.config.max_iterations is not None and s.iterations_at_level >= self.config.max_iterations
        holds = self._holds(figures)
        if holds is None and not deadline:
            return False
        s.streak = s.streak + 1 if holds else 0
        ruled = s.streak >= self.config.consecutive and s.iterations_at_level >= self.config.min_iterations
        if ruled or deadline:
            if not ruled:
                s.forced_at = (*s.forced_at, s.iterations)
            s.level += 1
            s.iterations_at_level = 0
            s.streak = 0
            s.advanced_at = (*s.advanced_at, s.iterations)
            return True
        return False

    def to_dict(self) -> dict:
        return {**asdict(self.state), "advanced_at": list(self.state.advanced_at),
                "forced_at": list(self.state.forced_at)}

    @classmethod
    def from_dict(cls, config: CurriculumConfig, data: dict) -> "Curriculum":
        """The state of :meth:`to_dict` (checkpoints from before ``forced_at`` existed restore with none)."""
        return cls(config, CurriculumState(**{**data, "advanced_at": tuple(data["advanced_at"]),
                                              "forced_at": tuple(data.get("forced_at", ()))}))
