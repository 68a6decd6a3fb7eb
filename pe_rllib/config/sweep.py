"""The sweep file of ``pe-rllib tune --config SWEEP.yaml``: its schema, validated in the config layer.

A sweep file names an experiment and declares, next to it, which fields to search::

    name: speed_ratio_sweep
    experiment: quickstart              # a bundled name, a path (relative to this file) or a mapping
    set: {training.stop_iterations: 100}    # fixed overrides for every trial
    search:                             # dotted experiment fields -> one domain each
      env.evader_v_max: {grid: [0.8, 1.0, 1.15]}
      env.reward.distance: {uniform: [0.5, 2.0]}
      training.lr: {loguniform: [1.0e-4, 1.0e-3]}
      env.n_obstacles: {choice: [0, 2, 4]}     # also: randint: [low, high)
    num_samples: 1                      # samples of the random domains (grids multiply)
    scheduler: {type: asha, grace_period: 50, reduction_factor: 2}
    #  or {type: pbt, perturbation_interval: 50, synchronous: false,
    #      mutations: {training.lr: {loguniform: [1e-4, 1e-3]}}}
    storage_path: runs/sweeps           # relative to the working directory
    checkpoint: {every: 50, keep: 2}    # keep the 2 best by the metric (Tune also keeps the latest;
                                        # under PBT all: PBT clones trials from them)
    max_failures: 2                     # a failed trial restarts from its last checkpoint
    max_concurrent_trials: 2

The trainable is :class:`~pe_rllib.training.algorithm.SelfPlayPPO` itself: each trial's
config is ``{"pe_experiment": <experiment>}`` and RLlib's own resource request sizes it.
Its self-play state (schedule, pools, league, monitor, curriculum) is part of the
algorithm's checkpoint, so a retried, restored (``--resume``) or PBT-exploited trial
continues it intact.

**The metric** is ``latest_eval/strength``: the weaker role's success against the fixed
scripted opponents in the latest periodic evaluation
(:data:`pe_rllib.callbacks.evaluation.STRENGTH`). The episode return of a zero-sum game
says nothing (one side's gain is the other's loss), and a capture/escape balance can look
perfect while both sides are weak. Exploitability (``pe-rllib exploit``) is the stronger
yardstick but costs a best-response training per trial; run it on the best trials.

Everything in the file is checked before Ray starts, with one-line errors naming the
key: unknown fields, ill-typed domains (``uniform`` over an integer field), values the
experiment would reject, scheduler intervals shorter than the evaluation interval.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from pe_rllib.config.base import ConfigError, _check, from_dict, get_dotted, set_dotted, to_dict
from pe_rllib.config.experiment import (
    ExperimentConfig,
    experiment_path,
    experiment_path_beside,
    experiment_with,
    read_experiment,
    read_yaml_mapping,
)

TRIAL_EXPERIMENT = "pe_experiment"
"""The key of a trial's experiment (as a dict) in its Tune config."""
METRIC = "latest_eval/strength"
MODE = "max"

DOMAINS = ("grid", "choice", "uniform", "loguniform", "randint")
FIXED_BY_SWEEP = {"training.stop_iterations": "the sweep's trials stop at the experiment's stop_iterations; set it "
                                              "under `set:`"}
LEARNER_FIELDS = ("training.lr", "training.entropy_coeff", "training.clip_param", "training.vf_loss_coeff",
                  "training.vf_clip_param", "training.gamma", "training.lambda_", "training.num_epochs")
"""What PBT may mutate: learner settings that a running trial can take over from a checkpoint. The
world, the modules and the self-play schedule define what a checkpoint *is* and stay fixed."""



@dataclass(frozen=True)
class CheckpointSection:
    """``checkpoint:`` of a sweep file."""

    every: int | None = None
    """Iterations between checkpoints; a multiple of ``evaluation.every`` (default: that interval)."""
    keep: int = 2
    """The best checkpoints kept per trial, by the metric."""

    def __post_init__(self) -> None:
        _check(self.every is None or self.every >= 1, "every", "must be an integer >= 1", self.every)
        _check(self.keep >= 1, "keep", "must be an integer >= 1", self.keep)


@dataclass(frozen=True)
class SweepFile:
    """A sweep file as written, typed: unknown keys and ill-typed values are refused like in any config
    section (``from_dict``); :func:`load_sweep` resolves it against its experiment into a :class:`Sweep`."""

    search: dict
    """Dotted experiment fields -> one domain each (``{grid: [...]}``, ``{uniform: [low, high]}``, ...)."""
    name: str | None = None
    """The sweep's directory name under ``storage_path`` (default: the file's stem)."""
    experiment: Any = None
    """A bundled experiment name, a path (relative to the sweep file) or a mapping (default: the defaults)."""
    set: dict | None = None
    """Fixed dotted overrides for every trial."""
    num_samples: int = 1
    """Samples of the random domains (grids multiply)."""
    scheduler: dict | None = None
    """``{type: fifo | asha | pbt, ...options}`` (default: fifo)."""
    storage_path: str = "runs/sweeps"
    """Where sweeps live, relative to the working directory."""
    checkpoint: CheckpointSection = field(default_factory=CheckpointSection)
    max_failures: int = 2
    """Restarts of a failed trial from its last checkpoint."""
    max_concurrent_trials: int = 0
    """Trials at once (0: as many as the resources allow)."""

    def __post_init__(self) -> None:
        name = self.name
        _check(name is None or (name and "/" not in name and not name.startswith(".")), "name",
               "must be a plain directory name", name)
        _check(isinstance(self.search, Mapping) and bool(self.search), "search", "must map dotted fields to domains",
               self.search)
        _check(self.experiment is None or isinstance(self.experiment, (str, Mapping)), "experiment",
               "must be an experiment name, a path or a mapping", self.experiment)
        _check(self.set is None or isinstance(self.set, Mapping), "set",
               "must be a mapping of dotted fields to values", self.set)
        _check(self.scheduler is None or isinstance(self.scheduler, Mapping), "scheduler",
               "must be a mapping {type: fifo | asha | pbt, ...}", self.scheduler)
        _check(self.num_samples >= 1, "num_samples", "must be an integer >= 1", self.num_samples)
        _check(bool(self.storage_path), "storage_path", "must be a directory path", self.storage_path)
        _check(self.max_failures >= 0, "max_failures", "must be an integer >= 0", self.max_failures)
        _check(self.max_concurrent_trials >= 0, "max_concurrent_trials", "must be an integer >= 0",
               self.max_concurrent_trials)


@dataclass(frozen=True)
class Domain:
    """One searched field: ``kind`` in :data:`DOMAINS`, ``values`` (grid/choice) or ``[low, high]``."""

    path: str
    kind: str
    values: tuple

    def to_tune(self):
        from ray import tune

        if self.kind == "grid":
            return tune.grid_search(list(self.values))
        if self.kind == "choice":
            return tune.choice(list(self.values))
        return getattr(tune, self.kind)(*self.values)          # uniform, loguniform, randint: (low, high)

    def to_dict(self) -> dict:
        return {self.kind: list(self.values)}


@dataclass(frozen=True)
class Sweep:
    name: str
    experiment: ExperimentConfig
    search: tuple[Domain, ...]
    num_samples: int = 1
    scheduler: str = "fifo"
    grace_period: int = 0
    reduction_factor: float = 2.0
    perturbation_interval: int = 0
    mutations: tuple[Domain, ...] = ()
    synchronous: bool = False
    """PBT: all trials wait at each perturbation point, so every bottom trial is exploited there (slower
    trials hold the others up); asynchronous PBT only compares trials that happen to have reported."""
    storage_path: str = "runs/sweeps"
    checkpoint_every: int = 0
    keep_checkpoints: int = 2
    max_failures: int = 2
    max_concurrent_trials: int = 0
    source: dict = field(default_factory=dict, compare=False)

    @property
    def directory(self) -> Path:
        return Path(self.storage_path).expanduser().resolve() / self.name

    def param_space(self) -> dict:
        """``{TRIAL_EXPERIMENT: experiment dict}`` with Tune domains at the searched paths."""
        space = to_dict(self.experiment)
        for domain in self.search:
            set_dotted(space, domain.path, domain.to_tune())
        return {TRIAL_EXPERIMENT: space}


def _domain(path: str, spec: Any, base: ExperimentConfig, where: str) -> Domain:
    """A validated domain: ``spec`` is ``{kind: values}`` and every value it can produce is valid."""
    try:
        current = get_dotted(to_dict(base), path)
    except KeyError:
        raise ConfigError(f"{where}{path}: not a field of the experiment") from None
    if path in FIXED_BY_SWEEP:
        raise ConfigError(f"{where}{path}: cannot be searched ({FIXED_BY_SWEEP[path]})")
    if not isinstance(spec, Mapping) or len(spec) != 1 or next(iter(spec)) not in DOMAINS:
        raise ConfigError(f"{where}{path}: must be one of {{{' | '.join(f'{d}: ...' for d in DOMAINS)}}}, got {spec!r}")
    kind, values = next(iter(spec.items()))
    if not isinstance(values, list) or not values:
        raise ConfigError(f"{where}{path}.{kind}: must be a non-empty list, got {values!r}")
    if kind in ("uniform", "loguniform", "randint"):
        if len(values) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            raise ConfigError(f"{where}{path}.{kind}: must be [low, high] (two numbers), got {values!r}")
        low, high = values
        if not low < high:
            raise ConfigError(f"{where}{path}.{kind}: low must be < high, got {values!r}")
        if kind == "loguniform" and low <= 0:
            raise ConfigError(f"{where}{path}.loguniform: bounds must be > 0, got {values!r}")
        is_int = isinstance(current, int) and not isinstance(current, bool)
        if kind == "randint" and not (is_int and all(isinstance(v, int) for v in values)):
            raise ConfigError(f"{where}{path}.randint: needs an integer field and integer bounds, got {values!r}")
        if kind != "randint" and not isinstance(current, float):
            raise ConfigError(f"{where}{path}.{kind}: samples real numbers but the field is "
                              f"{type(current).__name__}; use grid, choice or randint")
        samples = [low, high - 1] if kind == "randint" else [low, high]
    else:
        samples = values
    for value in samples:
        try:
            experiment_with(base, {path: value})
        except ConfigError as err:
            raise ConfigError(f"{where}{path}: {value!r} is not a valid value ({err})") from None
    return Domain(path, kind, tuple(values))


def _positive_int(data: Mapping, key: str, default: int, where: str, minimum: int = 1) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{where}{key}: must be an integer >= {minimum}, got {value!r}")
    return value


def _base_experiment(sweep_file: SweepFile, path: Path, where: str) -> ExperimentConfig:
    """The sweep's ``experiment`` (a bundled name, a path relative to the sweep file, or a mapping) with its
    ``set`` overrides applied and checked."""
    spec = sweep_file.experiment if sweep_file.experiment is not None else {}
    if isinstance(spec, str):
        experiment_data = read_experiment(experiment_path_beside(path, spec))
    else:
        experiment_data = dict(spec)
    fixed = sweep_file.set or {}
    try:
        base = from_dict(ExperimentConfig, experiment_data)
        for dotted in fixed:
            try:
                get_dotted(to_dict(base), dotted)
            except KeyError:
                raise ConfigError(f"set.{dotted}: not a field of the experiment") from None
        return experiment_with(base, fixed)
    except ConfigError as err:
        raise ConfigError(f"{where}{err}") from None


SCHEDULER_OPTIONS = {"fifo": set(), "asha": {"grace_period", "reduction_factor"},
                     "pbt": {"perturbation_interval", "mutations", "synchronous"}}


def _scheduler_options(data: Mapping, base: ExperimentConfig, where: str) -> tuple[str, dict[str, Any]]:
    """``(type, options)`` of the sweep's ``scheduler`` (fifo by default); intervals are at least the
    evaluation's (the metric only changes at evaluations)."""
    scheduler = dict(data.get("scheduler") or {"type": "fifo"})
    kind = scheduler.pop("type", "fifo")
    every = base.evaluation.every
    if kind not in SCHEDULER_OPTIONS:
        raise ConfigError(f"{where}scheduler.type: must be fifo, asha or pbt, got {kind!r}")
    extra = sorted(set(scheduler) - SCHEDULER_OPTIONS[kind])
    if extra:
        raise ConfigError(f"{where}scheduler.{extra[0]}: not an option of {kind} "
                          f"(options: {', '.join(sorted(SCHEDULER_OPTIONS[kind])) or 'none'})")
    options: dict[str, Any] = {}
    if kind == "asha":
        options["grace_period"] = _positive_int(scheduler, "grace_period", every, f"{where}scheduler.", every)
        factor = scheduler.get("reduction_factor", 2)
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or factor <= 1:
            raise ConfigError(f"{where}scheduler.reduction_factor: must be a number > 1, got {factor!r}")
        options["reduction_factor"] = float(factor)
    if kind == "pbt":
        options["perturbation_interval"] = _positive_int(scheduler, "perturbation_interval", every,
                                                         f"{where}scheduler.", every)
        mutations = scheduler.get("mutations")
        if not isinstance(mutations, Mapping) or not mutations:
            raise ConfigError(f"{where}scheduler.mutations: PBT needs at least one learner setting to mutate")
        for key in mutations:
            if key not in LEARNER_FIELDS:
                raise ConfigError(f"{where}scheduler.mutations.{key}: PBT mutates learner settings only "
                                  f"({', '.join(LEARNER_FIELDS)})")
        options["mutations"] = tuple(_domain(k, v, base, f"{where}scheduler.mutations.")
                                     for k, v in mutations.items())
        synchronous = scheduler.get("synchronous", False)
        if not isinstance(synchronous, bool):
            raise ConfigError(f"{where}scheduler.synchronous: must be true or false, got {synchronous!r}")
        options["synchronous"] = synchronous
    return kind, options


def _checkpointing(section: CheckpointSection, every: int, where: str) -> int:
    """``checkpoint.every`` (default: the evaluation's interval), a multiple of the evaluation's interval."""
    checkpoint_every = section.every if section.every is not None else every
    if checkpoint_every % every:
        raise ConfigError(f"{where}checkpoint.every: must be a multiple of evaluation.every ({every}), got "
                          f"{checkpoint_every}: checkpoints are ranked by the metric, which the evaluation measures")
    return checkpoint_every


def load_sweep(path: str | Path) -> Sweep:
    """Read and validate a sweep file (a path, or a bundled sweep's name such as ``speed_ratio_sweep``)."""
    path = experiment_path(path, sweep=True)
    data = read_yaml_mapping(path)
    where = f"{path}: "
    if "search" not in data:
        raise ConfigError(f"{where}search: missing (a sweep searches at least one field; to train one "
                          "experiment use `pe-rllib train`)")
    try:
        sweep_file = from_dict(SweepFile, data)
    except ConfigError as err:
        raise ConfigError(f"{where}{err}") from None
    base = _base_experiment(sweep_file, path, where)
    domains = tuple(_domain(key, value, base, f"{where}search.") for key, value in sweep_file.search.items())
    _check_grid_combinations(base, domains, where)
    if base.evaluation.every < 1:
        raise ConfigError(f"{where}experiment: evaluation.every must be >= 1 in a sweep (the metric "
                          f"{METRIC} comes from the periodic evaluation)")
    kind, options = _scheduler_options(data, base, where)
    return Sweep(
        name=sweep_file.name or path.stem, experiment=base, search=domains, scheduler=kind, **options,
        num_samples=sweep_file.num_samples, storage_path=sweep_file.storage_path,
        checkpoint_every=_checkpointing(sweep_file.checkpoint, base.evaluation.every, where),
        keep_checkpoints=sweep_file.checkpoint.keep, max_failures=sweep_file.max_failures,
        max_concurrent_trials=sweep_file.max_concurrent_trials,
        source={**data, "experiment": to_dict(base), "set": {}})


def _check_grid_combinations(base: ExperimentConfig, domains: tuple[Domain, ...], where: str) -> None:
    """Fields are checked one by one above; combinations of discrete values can still clash (a speed
    ratio with a spawn distance, ...): check every combination (up to 256 of them)."""
    discrete = [d for d in domains if d.kind in ("grid", "choice")]
    if len(discrete) < 2 or math.prod(len(d.values) for d in discrete) > 256:
        return
    for values in itertools.product(*(d.values for d in discrete)):
        combination = {d.path: v for d, v in zip(discrete, values)}
        try:
            experiment_with(base, combination)
        except ConfigError as err:
            raise ConfigError(f"{where}search: the combination {combination} is not a valid experiment ({err})"
                              ) from None


