"""Optional learning mechanisms the predecessor tried (issue 25), each off by default and measured in
BENCHMARKS.md: an exploration bonus (:class:`ExplorationConfig`, random network distillation) and a
regulariser against forgetting (:class:`RegularizationConfig`, elastic weight consolidation)."""

from __future__ import annotations

from dataclasses import dataclass, field

from pe_rllib.config.base import ROLES, _check, _integers_at_least, _non_negative, _positive

EWC_TRIGGERS = ("level_up", "phase_end")


def _check_roles(obj, name: str = "roles") -> None:
    roles = getattr(obj, name)
    for role in roles:
        _check(role in ROLES, name, f"every entry must be one of {ROLES}", list(roles))
    _check(len(set(roles)) == len(roles), name, "must not repeat a role", list(roles))


@dataclass(frozen=True)
class RNDConfig:
    """Random network distillation (Burda et al. 2018): a frozen, randomly initialised target network and a
    predictor trained to match it on the observations a role visits; the predictor's normalised error on a
    step's next observation is that step's exploration bonus. Added to the role's rewards in the learner only:
    never in evaluation, ``exploit`` or any reported rate."""

    roles: tuple[str, ...] = ()
    """Roles whose rewards get the bonus (empty: off). The predecessor used it on the evader."""
    coeff: float = 0.1
    """Weight of the normalised bonus added to each step's reward."""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """Hidden layers of the target and the predictor (ReLU)."""
    embedding_dim: int = 32
    """Output size of the target and the predictor."""
    lr: float = 1e-4
    """The predictor's own Adam learning rate."""
    predictor_epochs: int = 1
    """Update cadence: passes over an iteration's observations the predictor trains for, after that
    iteration's bonus is computed (so a state is novel the first time it is seen)."""
    predictor_minibatch: int = 512
    """Observations per predictor step."""

    def __post_init__(self) -> None:
        _check_roles(self)
        _positive(self, "lr")
        _non_negative(self, "coeff")
        _integers_at_least(self, 1, "embedding_dim", "predictor_epochs", "predictor_minibatch")
        _check(len(self.hidden_sizes) > 0 and all(int(h) >= 1 for h in self.hidden_sizes), "hidden_sizes",
               "must be a non-empty list of positive layer sizes", list(self.hidden_sizes))

    @property
    def enabled(self) -> bool:
        return bool(self.roles) and self.coeff > 0


@dataclass(frozen=True)
class ExplorationConfig:
    """Exploration bonuses (training only)."""

    rnd: RNDConfig = field(default_factory=RNDConfig)
    """Random network distillation."""


@dataclass(frozen=True)
class EWCConfig:
    """Elastic weight consolidation (Kirkpatrick et al. 2017): at each trigger a role's policy weights
    ``theta*`` and a diagonal Fisher estimate ``F`` of its action distribution are taken, and from then on
    the role's loss carries ``lambda * sum F (theta - theta*)^2`` (accumulated over triggers: one anchor,
    the newest weights, with the Fisher diagonals summed)."""

    roles: tuple[str, ...] = ()
    """Roles that consolidate (empty: off)."""
    lambda_: float = 1000.0
    """Penalty weight (the predecessor's 1000)."""
    fisher_samples: int = 256
    """Observations (from the role's latest training batch) the Fisher diagonal averages over."""
    trigger: str = "level_up"
    """When to consolidate: "level_up" (the curriculum raises its level) or "phase_end" (the role's
    training phase ends)."""

    def __post_init__(self) -> None:
        _check_roles(self)
        _non_negative(self, "lambda_")
        _integers_at_least(self, 1, "fisher_samples")
        _check(self.trigger in EWC_TRIGGERS, "trigger", f"must be one of {EWC_TRIGGERS}", self.trigger)

    @property
    def enabled(self) -> bool:
        return bool(self.roles) and self.lambda_ > 0


@dataclass(frozen=True)
class RegularizationConfig:
    """Regularisers of the learner's loss."""

    ewc: EWCConfig = field(default_factory=EWCConfig)
    """Elastic weight consolidation."""
