"""Self-play's sections: the freezing schedule (:class:`SelfPlayConfig`), the league, the curriculum and the
health monitor."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

from pe_rllib.config.base import (
    ROLES,
    _at_most,
    _check,
    _integers_at_least,
    _positive,
    other_role,
    scripted_catalogue,
    scripted_name_set,
)

SELFPLAY_MODES = ("alternating", "simultaneous")


@dataclass(frozen=True)
class SelfPlayConfig:
    """Who trains when (AMS-DRL style alternating freezing), see pe_rllib.selfplay.schedule."""

    mode: str = "alternating"
    """"alternating": one role trains while the other is frozen; "simultaneous": both train."""
    first_role: str = "evader"
    """The role that trains first (during the cold start, against the untrained, random opponent)."""
    cold_start_iterations: int = 2
    """Length of the cold-start phase (phase 0) in iterations; 0 skips it."""
    cold_start_opponent: str = "untrained"
    """Who plays against first_role during the cold start: "untrained" (the other role's freshly
    initialised, stochastic network, i.e. random play) or a scripted policy name for that role
    (e.g. "pure_pursuit")."""
    warmup_phase_lengths: tuple[int, ...] = (1, 2)
    """Lengths of the first alternating phases after the cold start (short early, longer later)."""
    phase_length: int = 4
    """Length of every later phase in iterations (1 = micro-phases: switch every iteration)."""
    max_phase_env_steps: int = 0
    """Force a switch once a phase has sampled this many env steps (0 = no budget)."""
    opponent_slots: int = 0
    """K frozen snapshot modules per role (ROLE_snapshot_0..K-1); a role's weights are copied into
    its next slot (round-robin) whenever its training phase ends."""
    snapshot_probability: float = 0.0
    """Per episode, the probability that the frozen role is played by one of its filled snapshots
    (uniformly) instead of its current weights."""
    frozen_deterministic: bool = False
    """The frozen role's learned modules (current weights, snapshots, pool entries) play their action
    distribution's mode, as evaluation and ``exploit`` play them, instead of sampling from it. The
    training role then learns to answer the policy it is judged against, not that policy's
    exploration noise (measured on ``converge.yaml``: the trained pursuer captured 0.30 of the
    deterministic evader and 0.76 of the same evader exploring; BENCHMARKS.md, issue 21). Learning
    modules always explore. Batched sampler only."""

    def __post_init__(self) -> None:
        _check(self.mode in SELFPLAY_MODES, "mode", f"must be one of {SELFPLAY_MODES}", self.mode)
        _check(self.first_role in ROLES, "first_role", f"must be one of {ROLES}", self.first_role)
        for name in ("cold_start_iterations", "max_phase_env_steps", "opponent_slots"):
            _check(getattr(self, name) >= 0, name, "must be >= 0", getattr(self, name))
        _check(self.phase_length >= 1, "phase_length", "must be >= 1", self.phase_length)
        if self.cold_start_opponent != "untrained":
            opponent = other_role(self.first_role)
            names = scripted_catalogue()[opponent]        # the experiment checks the world's own names
            _check(self.cold_start_opponent in names, "cold_start_opponent",
                   f"must be 'untrained' or a scripted {opponent} ({', '.join(names)})",
                   self.cold_start_opponent)
        _check(0.0 <= self.snapshot_probability <= 1.0, "snapshot_probability", "must be in [0, 1]",
               self.snapshot_probability)
        _check(self.snapshot_probability == 0.0 or self.opponent_slots > 0, "snapshot_probability",
               "needs opponent_slots > 0", self.snapshot_probability)
        object.__setattr__(self, "warmup_phase_lengths", tuple(self.warmup_phase_lengths))
        for length in self.warmup_phase_lengths:
            _check(length >= 1, "warmup_phase_lengths", "entries must be >= 1", length)


PFSP_SAMPLING = ("uniform", "pfsp_hard", "pfsp_var", "hedge")
EXPLOITER_RESETS = ("fresh", "main")
EXPLOITER_PHASES = ("own", "all")
TEACHER_VIEWS = ("observed", "full", "remembered")


@dataclass(frozen=True)
class LeagueConfig:
    """Opponent pool per role with prioritised sampling and Elo ratings (pe_rllib.selfplay)."""

    enabled: bool = False
    """Off: plain alternating self-play (the frozen role is always its current weights, or a snapshot
    slot per ``selfplay.snapshot_probability``)."""
    pool_size: int = 8
    """Snapshots kept per role; beyond it the least useful is evicted (never the oldest, the milestone)."""
    snapshot_every: int = 0
    """Also add the training role's weights every this many of its iterations (0 = at phase ends only)."""
    current_share: float = 0.5
    """Share of the training role's episodes against the opponent's current weights; the rest draw
    a snapshot from the pool."""
    sampling: str = "pfsp_hard"
    """How pool opponents are drawn: "uniform", "pfsp_hard" ((1 - p)^power, p = the learner's win rate
    against the snapshot: hard opponents first), "pfsp_var" (p (1 - p): even opponents first) or
    "hedge" (exponential weights on the learner's cumulative losses)."""
    pfsp_power: float = 2.0
    """Exponent of pfsp_hard."""
    hedge_eta: float = 0.1
    """Learning rate of the hedge weights (per game lost by the learner)."""
    elo_k: float = 16.0
    """Elo K-factor per game."""
    scripted_opponents: tuple[str, ...] = ()
    """Scripted policies (names from the world's catalogue, :func:`~pe_rllib.config.base.scripted_catalogue`) that
    join the pool of every role they
    can play as permanent entries: drawn by the same sampling weights as the snapshots, never
    evicted, not counted in ``pool_size``, and rated like them (fixed anchors of the Elo scale).
    Training against them keeps a role robust to simple strategies self-play may never show it,
    e.g. ``straight_flee`` for the pursuer."""
    anchor_every: int = 0
    """Searched anchors: every this many iterations, the yardstick's scripted search (the cross-entropy
    method over a controller family, as ``pe-rllib exploit --method search``) finds each role's best
    controller against the other role's current policy, and that controller joins the role's pool as a
    permanent entry, so the other role trains against what the yardstick would find (0 = off)."""
    anchor_slots: int = 2
    """Searched anchors kept per role (the oldest is replaced); each plays in its own module, declared up
    front, and none counts in ``pool_size``."""
    anchor_generations: int = 6
    """Cross-entropy generations per anchor search."""
    anchor_population: int = 16
    """Candidates per generation of an anchor search."""
    anchor_episodes: int = 24
    """Episodes per candidate and generation of an anchor search."""
    anchor_selection_episodes: int = 200
    """Fresh episodes on which an anchor search picks its result among its finalists."""
    anchor_pinned: tuple[str, ...] = ()
    """``NAME=VALUE`` entries: parameters the anchor (and hunter) searches hold fixed, each in the family of the role
    that has it (e.g. ``hide_gain=0``, ``patrol_gain=0``: the teachers of the families before hiding and patrol,
    which trained better in ``partial_memory.yaml``; BENCHMARKS.md, issue 23, eleventh session). Unknown names and
    values outside the bounds are one-line errors before training starts. () = none."""
    anchor_opponents: bool = True
    """Whether searched anchors join the pool as opponents of the other role (True), or only teach their own
    role (``distill_coeff``) and measure the current policies (``anchor_success``, cross-play) (False)."""
    anchor_against: tuple[str, ...] = ()
    """Scripted policies the anchor searches play instead of the other role's current policy: a role's anchor is
    searched against the listed policy that can play the other role (at most one per role). E.g. ``[apn]``
    makes the evader's anchor (and teacher) the best evader the search finds against APN, where a run whose
    pursuer never trains would otherwise search against an untrained network. Roles without one search against
    the other role's current policy."""
    anchor_warm_start: bool = False
    """Whether each anchor search starts from its role's newest searched anchor (the previous teacher) instead of
    the family's default controller, so the searches build on each other over the run."""
    anchor_robust: int = 0
    """A robust teacher: a role's anchor search also plays the other role's newest this-many searched anchors
    (the best responses the search found to this role's earlier policies) and scores each candidate by its worst
    success rate over all its opponents, the current policy included (the maximin of double oracle's restricted
    game, McMahan et al. 2003, over pure strategies). Each costs one more search's games; at most
    ``anchor_slots``. 0 = the current policy (or ``anchor_against``) only."""
    anchor_robust_exploiters: int = 0
    """The other role's newest this-many admitted main exploiters (``exploiters``: learned best responses to this
    role, outside the search's controller family) also join a robust anchor search's opponents (needs
    ``exploiters``)."""
    hunt_roles: tuple[str, ...] = ()
    """Hunters: at each anchor search, every listed role also gets a plain searched best response to the other
    role's current policy (no robust opponents, warm-started from the role's previous hunter, the role's newest
    teacher joining its selection), kept in ``hunter_slots`` pool entries (``ROLE@huntN``) that always play as
    opponents of the other role, whatever ``anchor_opponents`` says, and never teach nor join a robust search.
    A robust teacher gives up the holes of the other role's current policy that its anchors lack (BENCHMARKS.md,
    issue 21, tenth session); a hunter finds them, as the yardstick's search does, so the other role trains
    against them. () = none; needs ``anchor_every``."""
    hunter_slots: int = 1
    """Hunters kept per hunting role (the oldest is replaced); each plays in one of the role's anchor modules."""
    hunter_share: float = 0.0
    """Share of the other role's pool episodes (``1 - current_share`` of its episodes) that meet the hunters,
    split among them by their sampling weights; 0 = none reserved, the hunters are drawn by their weights like
    any pool entry (at PFSP weights a hunter met 15-17 % of the pool episodes on average, a few games per
    iteration, and the pursuer kept the hole it found: BENCHMARKS.md, issue 21, eleventh session)."""
    distill_coeff: float = 0.0
    """Search distillation (expert iteration, as AlphaZero distils its search into its network): the weight
    of a loss pulling each main role's mean action towards what its role's newest searched anchor (the
    best controller the search found against the other role's current policy) does on the same batch of
    observations, ``coeff * mean ||mean(s) - anchor(s)||^2`` (for a squashed distribution, tanh of the
    mean), added to PPO's loss. 0 = off; needs ``anchor_every``."""
    distill_roles: tuple[str, ...] = ("pursuer", "evader")
    """The main roles that imitate their teacher (``distill_coeff``); the others train by PPO alone (their
    anchors are still searched: they are the robust searches' opponents and the pool's anchors)."""
    distill_std: float = 0.0
    """With ``distill_coeff``, also pull the imitating roles' action standard deviation (per action, of the
    Gaussian before clipping or squashing) towards this value with the same weight, ``coeff * mean ||log
    std(s) - log distill_std||^2``: the teacher fixes the mean only, and PPO alone left the stds at 1.5-3.5
    on the [-1, 1] box, where an exploring pursuer caught an evader its mean caught 0.29 of the time in
    0.005 of the games (BENCHMARKS.md, issue 21, seventh session). The first teacher's pull of the stds is a
    KL of 7-15 in the role's next iteration, which ``health.max_kl`` (0.5) takes for a blow-up and rolls back
    (2-4 times a run, each time discarding the role's phase); the ninth session's runs set ``health.max_kl:
    50``. 0 = off."""
    teacher_view: str = "observed"
    """What the teachers act on (``distill_coeff``): "observed", the role's own observation (the learner computes
    the teacher's action from the batch), or "full", the observation the role would have if it saw the other
    robot now (partial observation's opponent block filled, as in a ``p_full_obs`` episode; stacked older frames
    and LiDAR as sensed). With "full" the teacher is privileged ("learning by cheating", Chen et al. 2019): the
    batched sampler computes its actions on the runners as the episodes are stepped and hands them to the
    learner with the batch, so a student that cannot see the other robot must infer where it is from what it
    remembers. "remembered": the teacher acts on the role's observation with an opponent it cannot see filled
    in where dead reckoning from its last sighting (position, velocity, heading) puts it, for up to
    ``teacher_recall`` steps (:class:`~pe_rllib.policies.memory.OpponentTrack`): a teacher with memory, whose
    view follows from the role's own observations, computed on the runners like "full". The searches find the
    teachers' parameters on observed play unless ``anchor_recall``. "full" and "remembered" need
    ``env.observation: partial``, the planar world, the batched sampler and ``distill_steps: 0``."""
    teacher_recall: int = 40
    """With ``teacher_view: remembered``, the steps after its last sighting for which the teacher dead-reckons an
    unseen opponent (40 = 2 s at the default ``dt``; four stacked frames hold 4)."""
    anchor_recall: bool = False
    """With ``teacher_view: remembered``, whether the anchor searches score every candidate remembering, as the
    runners play the teacher (for ``teacher_recall`` steps; :func:`~pe_rllib.evaluation.search.remembering`), and
    play the other role's anchors among a robust search's opponents remembering too: a teacher is then chosen on
    the play it teaches by, as the yardstick's ``exploit --search-recall`` searches. False: the teachers are
    searched on observed play, then remember on the runners. Needs ``anchor_opponents: false``: an anchor that
    plays in the pool plays without memory (so hunters are always searched on observed play)."""
    teacher_unseen_weight: float = 1.0
    """With ``teacher_view: full`` or ``remembered``, the weight in the distillation loss (a weighted mean over the
    batch's steps) of the steps where the teacher's view differs from the role's observation, the steps where it
    shows an opponent the role does not see, against 1 for the others. A remembering pursuer teacher's view
    differs on about 6 % of the pursuer's steps in ``partial.yaml`` (the evader's: 11 %), and there it acts
    differently (BENCHMARKS.md, issue 23, sixth session): at weight 1 those steps are a twentieth of the loss. At
    16 both the LSTM and the stacked pursuer of ``partial.yaml`` became exploitable (searched evader gaps +0.20 to
    +0.23) and neither learned memory beyond 4 steps (seventh session)."""
    distill_steps: int = 0
    """With ``distill_coeff``, extra supervised steps per training iteration for each imitating role that trains
    in it, after PPO's epochs: each fits the role's mean action (and, with ``distill_std``, its standard
    deviation) to its teacher on ``training.minibatch_size`` states drawn at random from the iteration's batch,
    the distillation loss alone, through an Adam optimizer of their own (PPO's keeps its state). PPO's epochs
    give a role ``num_epochs * train_batch_size / minibatch_size`` distillation steps per iteration (80 in
    ``converge_robust.yaml``), about 1,000 per teacher, where a network fitted offline to a teacher needed
    10,000 or more (BENCHMARKS.md, issue 21, eighth and ninth sessions). 0 = none."""

    exploiters: bool = False
    """Main exploiters (AlphaStar): per role a learned module, ``ROLE_exploiter``, that trains during its role's
    phases only against the other role's current policy (``exploiter_share`` of the training role's episodes),
    is reset every ``exploiter_reset_every`` of its iterations, and whose snapshot joins the pool when the
    periodic evaluation's deterministic cross-play shows it beating that policy (``exploiter_admit``), so the
    main role must learn to answer it. Needs the batched sampler and ``evaluation.every``."""
    exploiter_share: float = 0.25
    """Share of the training role's episodes its exploiter plays (against the other role's current policy). Below
    0.5 the exploiter's batch is the smaller one, and RLlib 2.60's multi-agent minibatch iterator cycles it until
    the larger one has had ``num_epochs``: about ``num_epochs * (1 - share) / share`` passes over its data."""
    exploiter_reset_every: int = 40
    """Reset an exploiter after this many iterations of its training (0 = only when admitted)."""
    exploiter_reset_to: str = "fresh"
    """What a reset gives an exploiter: "fresh" (new random weights) or "main" (its role's current weights)."""
    exploiter_admit: float = 0.5
    """Deterministic success rate against the other role's current policy at which an exploiter's snapshot
    joins its role's pool (and the exploiter is reset)."""
    exploiter_phases: str = "own"
    """When the exploiters play and train: "own" (each during its role's phases, against the other role's frozen
    policy) or "all" (both in every iteration, against the other role's current policy, which in the other
    role's phases trains on those episodes too: the main then also learns to answer its exploiter directly, as
    AlphaStar's main agents play their main exploiters). With "all", ``exploiter_share`` of every iteration's
    episodes go to the two exploiters, half each."""

    def __post_init__(self) -> None:
        _check(0.0 < self.exploiter_share < 1.0, "exploiter_share", "must be in (0, 1)", self.exploiter_share)
        _check(isinstance(self.exploiter_reset_every, int) and self.exploiter_reset_every >= 0,
               "exploiter_reset_every", "must be an integer >= 0", self.exploiter_reset_every)
        _check(self.exploiter_reset_to in EXPLOITER_RESETS, "exploiter_reset_to",
               f"must be one of {EXPLOITER_RESETS}", self.exploiter_reset_to)
        _check(self.exploiter_phases in EXPLOITER_PHASES, "exploiter_phases",
               f"must be one of {EXPLOITER_PHASES}", self.exploiter_phases)
        _check(0.0 <= self.exploiter_admit <= 1.0, "exploiter_admit", "must be in [0, 1]", self.exploiter_admit)
        _integers_at_least(self, 0, "anchor_every", "anchor_slots", "anchor_robust", "anchor_robust_exploiters")
        _check(self.anchor_robust <= self.anchor_slots, "anchor_robust",
               f"must be <= anchor_slots ({self.anchor_slots}): the other role keeps no more anchors",
               self.anchor_robust)
        _integers_at_least(self, 1, "anchor_generations", "anchor_episodes", "anchor_selection_episodes")
        _integers_at_least(self, 2, "anchor_population")
        _check(self.anchor_slots <= 16, "anchor_slots", "must be <= 16", self.anchor_slots)
        self._check_distillation()
        for entry in self.anchor_pinned:
            name, _, value = str(entry).partition("=")
            _check(name.strip() and _is_float(value), "anchor_pinned", "entries must be NAME=VALUE with a number",
                   entry)
        _check(not self.anchor_every or self.anchor_slots >= 1, "anchor_slots",
               "must be >= 1 when anchor_every > 0 (the anchors' modules)", self.anchor_slots)
        _check(isinstance(self.pool_size, int) and 2 <= self.pool_size <= 256, "pool_size",
               "must be an integer in [2, 256]", self.pool_size)
        known = sorted(scripted_name_set())
        for key in ("scripted_opponents", "anchor_against"):
            for name in getattr(self, key):
                _check(name in known, key, f"unknown scripted policy (choose from: {', '.join(known)})", name)
        _check(len(set(self.scripted_opponents)) == len(self.scripted_opponents), "scripted_opponents",
               "names must not repeat", list(self.scripted_opponents))
        for role in ROLES:
            playing = [name for name in self.anchor_against if name in scripted_catalogue()[role]]
            _check(len(playing) <= 1, "anchor_against", f"at most one scripted {role} (the one its opponent's "
                   f"anchor search plays)", playing)
        _check(not self.anchor_against or self.anchor_every > 0, "anchor_against", "needs anchor_every > 0",
               list(self.anchor_against))
        _check(not self.anchor_robust or self.anchor_every > 0, "anchor_robust", "needs anchor_every > 0",
               self.anchor_robust)
        self._check_hunters()
        _check(not self.anchor_robust_exploiters or (self.anchor_every > 0 and self.exploiters),
               "anchor_robust_exploiters", "needs anchor_every > 0 and exploiters: true", self.anchor_robust_exploiters)
        _check(self.snapshot_every >= 0, "snapshot_every", "must be >= 0", self.snapshot_every)
        _check(0.0 <= self.current_share <= 1.0, "current_share", "must be in [0, 1]", self.current_share)
        _check(self.sampling in PFSP_SAMPLING, "sampling", f"must be one of {PFSP_SAMPLING}", self.sampling)
        _positive(self, "pfsp_power", "hedge_eta", "elo_k")
        _at_most(self, 100.0, "pfsp_power", "hedge_eta")
        _at_most(self, 400.0, "elo_k")

    def _check_distillation(self) -> None:
        """``distill_*`` and ``teacher_*``."""
        _check(self.distill_coeff >= 0.0, "distill_coeff", "must be >= 0", self.distill_coeff)
        _check(self.distill_std >= 0.0, "distill_std", "must be >= 0", self.distill_std)
        _check(not self.distill_std or self.distill_coeff > 0, "distill_std", "needs distill_coeff > 0",
               self.distill_std)
        _check(self.teacher_view in TEACHER_VIEWS, "teacher_view", f"must be one of {TEACHER_VIEWS}",
               self.teacher_view)
        _check(self.teacher_view == "observed" or self.distill_coeff > 0, "teacher_view", "needs distill_coeff > 0",
               self.teacher_view)
        _integers_at_least(self, 1, "teacher_recall")
        _check(not self.anchor_recall or self.teacher_view == "remembered", "anchor_recall",
               "needs teacher_view: remembered (the teachers that remember on the runners)", self.anchor_recall)
        _check(not self.anchor_recall or not self.anchor_opponents, "anchor_recall",
               "needs anchor_opponents: false (an anchor in the pool plays without memory)", self.anchor_recall)
        _check(self.teacher_unseen_weight > 0, "teacher_unseen_weight", "must be > 0", self.teacher_unseen_weight)
        _check(self.teacher_unseen_weight == 1.0 or self.teacher_view != "observed", "teacher_unseen_weight",
               "needs teacher_view full or remembered (an observed teacher sees what the role sees)",
               self.teacher_unseen_weight)
        _integers_at_least(self, 0, "distill_steps")
        _check(not self.distill_steps or self.distill_coeff > 0, "distill_steps", "needs distill_coeff > 0",
               self.distill_steps)
        _check(not self.distill_coeff or self.anchor_every > 0, "distill_coeff",
               "needs anchor_every > 0 (the searched anchors are the teachers)", self.distill_coeff)
        _check(bool(self.distill_roles) and set(self.distill_roles) <= set(ROLES)
               and len(set(self.distill_roles)) == len(self.distill_roles), "distill_roles",
               f"must name one or both of {ROLES}, once each", list(self.distill_roles))

    def _check_hunters(self) -> None:
        _check(set(self.hunt_roles) <= set(ROLES) and len(set(self.hunt_roles)) == len(self.hunt_roles),
               "hunt_roles", f"must name roles of {ROLES}, once each", list(self.hunt_roles))
        _check(not self.hunt_roles or self.anchor_every > 0, "hunt_roles", "needs anchor_every > 0",
               list(self.hunt_roles))
        _check(isinstance(self.hunter_slots, int) and 1 <= self.hunter_slots <= 16, "hunter_slots",
               "must be an integer in [1, 16]", self.hunter_slots)
        _check(0.0 <= self.hunter_share < 1.0, "hunter_share", "must be in [0, 1)", self.hunter_share)
        _check(not self.hunter_share or self.hunt_roles, "hunter_share", "needs hunt_roles", self.hunter_share)

    @property
    def with_exploiters(self) -> bool:
        """Whether the roles have main exploiter modules (league on and ``exploiters``)."""
        return self.enabled and self.exploiters

    def exploiter_roles(self, training_roles) -> tuple[str, ...]:
        """The roles whose exploiters play and train while ``training_roles`` train (``exploiter_phases``)."""
        if not self.with_exploiters:
            return ()
        return tuple(ROLES) if self.exploiter_phases == "all" else tuple(training_roles)

    @property
    def anchors(self) -> int:
        """Anchor modules per role, the hunters' included (0 when searched anchors are off)."""
        if not (self.enabled and self.anchor_every):
            return 0
        return self.anchor_slots + (self.hunter_slots if self.hunt_roles else 0)

    def anchor_opponent(self, role: str) -> str | None:
        """The scripted policy ``role``'s anchor search plays (None: the other role's current policy)."""
        playing = [name for name in self.anchor_against if name in scripted_catalogue()[other_role(role)]]
        return playing[0] if playing else None

    def scripted_entries(self) -> list[tuple[str, str]]:
        """``(role, name)`` for every scripted opponent and every role it can play (``random``: both)."""
        catalogue = scripted_catalogue()
        return [(role, name) for role in ROLES for name in self.scripted_opponents if name in catalogue[role]]


CURRICULUM_FIELDS = ("min_init_distance", "max_init_distance", "n_obstacles", "p_full_obs", "evader_v_max",
                     "pursuer_v_max")
CURRICULUM_RULES = ("balance", "capture")


@dataclass(frozen=True)
class CurriculumConfig:
    """Levels of the world that get harder as the pair improves (pe_rllib.selfplay.curriculum)."""

    enabled: bool = False
    """Play the levels (off: the experiment's own world from the start)."""
    levels: tuple[dict, ...] = ()
    """Env overrides per level, easiest first (level 0); the experiment's env is the last, hardest level
    and need not be listed. Fields: min/max_init_distance, n_obstacles, p_full_obs, evader/pursuer_v_max."""
    rule: str = "balance"
    """"balance": advance when |capture - escape| <= balance_threshold; "capture": when the pursuer's
    capture rate >= capture_threshold. Either for ``consecutive`` iterations in a row."""
    balance_threshold: float = 0.2
    """The "balance" rule's largest |capture rate - escape rate| (0: exactly even; 1: always holds)."""
    capture_threshold: float = 0.5
    """The "capture" rule's smallest capture rate of the pursuer."""
    consecutive: int = 3
    """Iterations in a row the rule must hold."""
    min_iterations: int = 10
    """Iterations at a level before it can advance."""
    max_iterations: int | None = None
    """Iterations at a level after which it advances even though the rule never held (None: never). Without
    it a pair that cannot balance an easy level (one side always wins it) trains there to the end and never
    meets the experiment's own world; a forced advance is logged and kept in the state (``forced_at``)."""

    def __post_init__(self) -> None:
        for i, level in enumerate(self.levels):
            _check(isinstance(level, Mapping), f"levels[{i}]", "must be a mapping of env fields", level)
        object.__setattr__(self, "levels", tuple(dict(level) for level in self.levels))
        for i, level in enumerate(self.levels):
            unknown = sorted(set(level) - set(CURRICULUM_FIELDS))
            _check(not unknown, f"levels[{i}]", f"unknown field {unknown[0] if unknown else ''} (curriculum fields: "
                   f"{', '.join(CURRICULUM_FIELDS)})", level)
        _check(not self.enabled or self.levels, "levels", "needs at least one level when enabled", self.levels)
        _check(self.rule in CURRICULUM_RULES, "rule", f"must be one of {CURRICULUM_RULES}", self.rule)
        _check(0.0 <= self.balance_threshold <= 1.0, "balance_threshold", "must be in [0, 1]",
               self.balance_threshold)
        _check(0.0 <= self.capture_threshold <= 1.0, "capture_threshold", "must be in [0, 1]",
               self.capture_threshold)
        _check(isinstance(self.consecutive, int) and self.consecutive >= 1, "consecutive", "must be >= 1",
               self.consecutive)
        _check(isinstance(self.min_iterations, int) and self.min_iterations >= 0, "min_iterations", "must be >= 0",
               self.min_iterations)
        _check(self.max_iterations is None or (isinstance(self.max_iterations, int)
                                               and self.max_iterations >= max(1, self.min_iterations)),
               "max_iterations", f"must be null or an integer >= min_iterations ({self.min_iterations}) and >= 1",
               self.max_iterations)


HEALTH_ROLLBACK = ("offender", "bilateral", "none")


@dataclass(frozen=True)
class HealthConfig:
    """Detect a collapsing self-play and roll back (pe_rllib.selfplay.health)."""

    enabled: bool = False
    """Watch every iteration (off: no alarms, no rollbacks)."""
    domination_threshold: float = 0.9
    """A side dominates when its success (capture or escape rate) is above this ..."""
    domination_iterations: int = 5
    """... for this many iterations in a row."""
    min_entropy: float = -3.0
    """Entropy collapse: a training module's action entropy below this."""
    max_kl: float = 0.5
    """KL blow-up: a training module's mean KL to the sampling policy above this."""
    rollback: str = "offender"
    """"offender": roll the dominating (or broken) side back to its last known-good snapshot;
    "bilateral": both sides; "none": report only."""
    cooldown: int = 5
    """Iterations after an intervention before the next domination alarm."""

    def __post_init__(self) -> None:
        _check(0.5 < self.domination_threshold <= 1.0, "domination_threshold", "must be in (0.5, 1]",
               self.domination_threshold)
        _check(isinstance(self.domination_iterations, int) and self.domination_iterations >= 1,
               "domination_iterations", "must be >= 1", self.domination_iterations)
        _positive(self, "max_kl")
        _check(math.isfinite(self.min_entropy), "min_entropy", "must be finite", self.min_entropy)
        _check(self.rollback in HEALTH_ROLLBACK, "rollback", f"must be one of {HEALTH_ROLLBACK}", self.rollback)
        _check(isinstance(self.cooldown, int) and self.cooldown >= 0, "cooldown", "must be >= 0", self.cooldown)


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
