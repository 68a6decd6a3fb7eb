"""Frozen opponent snapshots: fixed module slots per role, and the agent-to-module mapping.

RLlib loses modules added at runtime when Tune restores a trial, and every added module
costs memory on every learner and runner, so the slots are declared up front
(``ROLE_snapshot_0 .. ROLE_snapshot_{K-1}``) and only their *weights* change, between
iterations. :class:`SnapshotPool` (pure, checkpointed) decides which slot a finished
phase's weights go to; :class:`OpponentMapping` (picklable, own seeded RNG) decides per
episode which module plays each agent.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from pe_rllib.config import ROLES, other_role
from pe_rllib.policies.module_ids import slot_id

SEED_PRIME_LARGE, SEED_PRIME_SMALL = 1_000_003, 1_009
"""Multipliers that spread (run seed, iteration, index) over distinct seeds: primes larger than any
iteration count and index in use, so no two combinations of a run share a seed."""


def runner_seed(run_seed: int, iteration: int, runner_index: int) -> int:
    """A runner's mapping seed for an iteration (32 bits): runners draw different opponent sequences, and a
    resumed run draws the same ones again."""
    return (run_seed * SEED_PRIME_LARGE + iteration * SEED_PRIME_SMALL + runner_index) % 2**32


def role_seed(run_seed: int, iteration: int, role: str) -> int:
    """A seed for an iteration's random work on ``role`` (an anchor search, a fresh exploiter)."""
    return run_seed * SEED_PRIME_SMALL + iteration * len(ROLES) + ROLES.index(role)


@dataclass
class SnapshotPool:
    """Round-robin slot bookkeeping per role (how many are filled, which is next)."""

    slots: int
    filled: dict[str, int] = field(default_factory=lambda: {role: 0 for role in ROLES})
    next_slot: dict[str, int] = field(default_factory=lambda: {role: 0 for role in ROLES})

    def record(self, role: str) -> str | None:
        """The slot that receives ``role``'s current weights (None without slots)."""
        if self.slots == 0:
            return None
        index = self.next_slot[role]
        self.next_slot[role] = (index + 1) % self.slots
        self.filled[role] = min(self.filled[role] + 1, self.slots)
        return slot_id(role, index)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "SnapshotPool":
        return cls(**data)


class OpponentMapping:
    """Agent -> module: the agent's own module, or, for a frozen role, one of its opponent modules
    (snapshot slots, or the league's scripted entries) with probability p.

    Called by RLlib once per agent and episode (the episode caches the answer). State is
    set between iterations with :meth:`configure` on every env runner; nothing flows
    back to the driver.
    """

    def __init__(self, probability: float = 0.0, seed: int = 0) -> None:
        self.probability = probability
        self.frozen_roles: tuple[str, ...] = ()
        self.opponents: dict[str, tuple[str, ...]] = {}
        self.fixed: dict[str, str] = {}
        self.exploiters: dict[str, str] = {}
        """Per training role with a main exploiter, its module (league.exploiters)."""
        self.exploiter_share = 0.0
        self.weights: dict[str, np.ndarray] = {}
        """Per role, the probability of each stand-in in ``opponents`` (uniform where a role has none)."""
        self.labels: dict[str, str] = {}
        """Module -> what it plays this iteration (the league's pool entry id); games are counted under it."""
        self.rng = np.random.default_rng(seed)
        self.configured = False
        """True once the driver has sent this object its state (a restarted runner's copy is not)."""

    def configure(self, frozen_roles, opponents: dict[str, list[str]], seed: int, fixed: dict[str, str] | None = None,
                  probability: float | None = None, labels: dict[str, str] | None = None,
                  weights: dict[str, list[float]] | None = None, exploiters: dict[str, str] | None = None,
                  exploiter_share: float = 0.0) -> None:
        """``opponents``: per role, the modules that may stand in for it while it is frozen; ``weights``: per
        role, the probability of each (the league's per-episode PFSP plan; uniform where absent); ``fixed``
        maps a role to a module that plays it in every episode (the cold-start opponent); ``probability``
        replaces the stand-in probability (the league's ``1 - current_share``); ``labels`` names what each
        stand-in module plays this iteration (the league's entry ids); ``exploiters`` maps training roles to
        their exploiter modules, each new episode playing one (against the other role's current policy) with
        probability ``exploiter_share`` (:meth:`assign`)."""
        self.frozen_roles = tuple(frozen_roles)
        self.exploiters = dict(exploiters or {})
        self.exploiter_share = float(exploiter_share) if self.exploiters else 0.0
        self.opponents = {role: tuple(modules) for role, modules in opponents.items()}
        self.weights = {}
        for role, modules in self.opponents.items():
            given = (weights or {}).get(role)
            if given is None or not modules:
                continue
            if len(given) != len(modules) or min(given) < 0 or not sum(given) > 0:
                raise ValueError(f"weights[{role!r}]: need {len(modules)} non-negative weights with a positive sum, "
                                 f"got {list(given)}")
            self.weights[role] = np.asarray(given, float) / float(sum(given))
        self.fixed = dict(fixed or {})
        self.labels = dict(labels or {})
        self.rng = np.random.default_rng(seed)
        if probability is not None:
            self.probability = probability
        self.configured = True

    def assign(self) -> dict[str, str]:
        """Both roles' modules for one new episode (the batched sampler asks once per episode): with probability
        ``exploiter_share`` a training role's exploiter against the other role's current policy, otherwise
        each role as :meth:`__call__` decides (the same draws as calling it per role)."""
        if self.exploiters and self.rng.random() < self.exploiter_share:
            roles = sorted(self.exploiters)
            role = roles[int(self.rng.integers(len(roles)))]
            return {role: self.exploiters[role], other_role(role): other_role(role)}
        return {role: self(role) for role in ROLES}

    def __call__(self, agent_id, episode=None, **kwargs):
        if agent_id in self.fixed:
            return self.fixed[agent_id]
        choices = self.opponents.get(agent_id, ())
        if agent_id in self.frozen_roles and choices and self.rng.random() < self.probability:
            weights = self.weights.get(agent_id)
            index = self.rng.integers(len(choices)) if weights is None else self.rng.choice(len(choices), p=weights)
            return choices[int(index)]
        return agent_id
