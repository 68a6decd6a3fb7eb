"""The root of the tree (:class:`ExperimentConfig`), its cross-section checks, and loading an experiment from a
YAML file or a bundled name with dotted overrides."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from pe_rllib.config.aerial import AerialConfig
from pe_rllib.config.base import (
    WORLDS,
    ConfigError,
    from_dict,
    other_role,
    scripted_catalogue,
    scripted_name_set,
    set_dotted,
    to_dict,
)
from pe_rllib.config.mechanisms import ExplorationConfig, RegularizationConfig
from pe_rllib.config.selfplay import CurriculumConfig, HealthConfig, LeagueConfig, SelfPlayConfig
from pe_rllib.config.training import EvaluationConfig, TrainingConfig
from pe_rllib.config.world import EnvConfig, SafetyConfig, check_safety_compatible, env_with


@dataclass(frozen=True)
class ExperimentConfig:
    """Root of the config tree. More sections (training, self-play, league) plug in here."""

    world: str = "planar"
    """Which world the experiment plays in: "planar" (the 2-D unicycle world of ``env``) or "aerial" (the 3-D
    drones of ``aerial``, :mod:`pe_rllib.envs.aerial`)."""
    env: EnvConfig = field(default_factory=EnvConfig)
    """The 2-D world, shared by training, evaluation and rendering (``world: planar``)."""
    aerial: AerialConfig = field(default_factory=AerialConfig)
    """The 3-D aerial world (``world: aerial``)."""
    safety: SafetyConfig = field(default_factory=SafetyConfig)
    """The CBF safety filter wrapped around the env."""
    selfplay: SelfPlayConfig = field(default_factory=SelfPlayConfig)
    """Alternating-freezing schedule."""
    training: TrainingConfig = field(default_factory=TrainingConfig)
    """RLlib algorithm, resources and checkpoints."""
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    """Periodic evaluation against fixed scripted opponents during training."""
    league: LeagueConfig = field(default_factory=LeagueConfig)
    """Opponent pool, prioritised sampling, Elo."""
    curriculum: CurriculumConfig = field(default_factory=CurriculumConfig)
    """World levels that harden as the pair improves."""
    health: HealthConfig = field(default_factory=HealthConfig)
    """Domination / collapse detection and rollback."""
    exploration: ExplorationConfig = field(default_factory=ExplorationConfig)
    """Exploration bonuses added to the training rewards (random network distillation)."""
    regularization: RegularizationConfig = field(default_factory=RegularizationConfig)
    """Regularisers of the learner's loss (elastic weight consolidation)."""

    def __post_init__(self) -> None:
        if self.world not in WORLDS:
            raise ConfigError(f"world: must be one of {', '.join(WORLDS)}, got {self.world!r}")
        if self.world == "aerial":
            self._check_aerial()
        self._check_scripted_names()
        if self.safety.enabled and self.world == "planar":
            check_safety_compatible(self.env, self.safety)
        if self.curriculum.enabled and self.training.sampler != "batched":
            raise ConfigError("curriculum.enabled: needs training.sampler: batched (its runners switch worlds "
                              "between iterations)")
        if self.selfplay.frozen_deterministic and self.training.sampler != "batched":
            raise ConfigError("selfplay.frozen_deterministic: needs training.sampler: batched (RLlib's own runner "
                              "explores with every module)")
        if self.league.with_exploiters and self.training.sampler != "batched":
            raise ConfigError("league.exploiters: needs training.sampler: batched (an exploiter's episode picks "
                              "both roles' modules at once)")
        if self.league.with_exploiters and not self.evaluation.every:
            raise ConfigError("league.exploiters: needs evaluation.every > 0 (the deterministic cross-play that "
                              "admits an exploiter to the pool)")
        if self.league.enabled and self.selfplay.opponent_slots < 1:
            raise ConfigError("league.enabled: needs selfplay.opponent_slots >= 1 (the fixed modules pool entries "
                              "are loaded into)")
        self._check_mechanisms()
        for i, level in enumerate(self.curriculum.levels):
            try:                                     # every level must be a valid world of its own
                world = env_with(self.env, level)
                if self.safety.enabled:
                    check_safety_compatible(world, self.safety)
            except ConfigError as err:
                raise ConfigError(f"curriculum.levels[{i}]: {err}") from None


    def _check_aerial(self) -> None:
        """What the aerial world does not have, as one-line errors naming the field to change."""
        if self.safety.enabled and self.aerial.actuator_tau > 0:
            raise ConfigError("aerial.actuator_tau: must be 0 with safety.enabled (the aerial filter brakes through "
                              "the commanded acceleration), or set safety.enabled: false")
        missing = [("safety.agent_avoidance", self.safety.enabled and self.safety.agent_avoidance, "the aerial "
                    "filter keeps the drones off the airspace's faces and the cylinders only"),
                   ("curriculum.enabled", self.curriculum.enabled, "the curriculum's levels are 2-D world fields"),
                   ("training.sampler", self.training.sampler != "batched", "must be 'batched' (the stock RLlib "
                    "runner steps the 2-D PettingZoo env)")]
        for name, active, why in missing:
            if active:
                raise ConfigError(f"{name}: not available with world: aerial ({why})")

    def _check_mechanisms(self) -> None:
        """What the optional mechanisms of ``exploration`` and ``regularization`` need."""
        if self.exploration.rnd.enabled:
            if self.training.sampler != "batched":
                raise ConfigError("exploration.rnd.roles: needs training.sampler: batched")
            if self.training.num_learners > 1:
                raise ConfigError("exploration.rnd.roles: needs training.num_learners <= 1 (each learner would "
                                  "train its own predictor)")
        if self.safety.mode == "layer":
            needs = [("world", self.world == "planar", "planar (the layer is the 2-D unicycle QP)"),
                     ("env.observation", self.env.observation == "full", "full (the layer rebuilds the "
                      "constraints from the observed pose and obstacles)"),
                     ("training.model", not self.training.recurrent, "mlp"),
                     ("training.action_distribution", self.training.action_distribution == "gaussian", "gaussian "
                      "(the layer moves the Gaussian's mean)")]
            for name, ok, what in needs:
                if not ok:
                    raise ConfigError(f"safety.mode: 'layer' needs {name}: {what}")
        ewc = self.regularization.ewc
        if ewc.enabled and self.training.recurrent:
            raise ConfigError("regularization.ewc.roles: needs training.model: mlp (a recurrent policy's Fisher "
                              "estimate needs whole sequences)")
        if self.league.distill_steps and self.training.recurrent:
            raise ConfigError("league.distill_steps: needs training.model: mlp (a recurrent policy's extra "
                              "distillation steps would need whole sequences and their states)")
        if ewc.enabled and ewc.trigger == "level_up" and not self.curriculum.enabled:
            raise ConfigError("regularization.ewc.trigger: 'level_up' needs curriculum.enabled (or use 'phase_end')")
        self._check_teacher_view()

    def _check_teacher_view(self) -> None:
        """What teachers acting on the runners (``league.teacher_view: full | remembered``) need."""
        view = self.league.teacher_view
        if view != "observed":
            needs = [("world", self.world == "planar", "planar"),
                     ("env.observation", self.env.observation == "partial", "partial (in full observation the "
                      "teacher sees what the student sees)"),
                     ("training.sampler", self.training.sampler == "batched", "batched (its runners compute the "
                      "teachers' actions)"),
                     ("league.distill_steps", not self.league.distill_steps, "0 (the extra steps compute the "
                      "teachers' actions from the observations)")]
            for name, ok, what in needs:
                if not ok:
                    raise ConfigError(f"league.teacher_view: {view!r} needs {name}: {what}")

    def _check_scripted_names(self) -> None:
        """Scripted opponents must exist in the experiment's world (the sections accept both worlds' names)."""
        catalogue = scripted_catalogue(self.world)
        opponent = other_role(self.selfplay.first_role)
        if self.selfplay.cold_start_opponent not in ("untrained", *catalogue[opponent]):
            raise ConfigError(f"selfplay.cold_start_opponent: must be 'untrained' or a scripted {opponent} of the "
                              f"{self.world} world ({', '.join(catalogue[opponent])}), "
                              f"got {self.selfplay.cold_start_opponent!r}")
        known = scripted_name_set(self.world)
        for key in ("scripted_opponents", "anchor_against"):
            for name in getattr(self.league, key):
                if name not in known:
                    raise ConfigError(f"league.{key}: {name!r} is not a scripted policy of the {self.world} "
                                      f"world (choose from: {', '.join(sorted(known))})")

    @property
    def world_config(self) -> EnvConfig | AerialConfig:
        """The section of the world the experiment plays in (``env`` or ``aerial``)."""
        return self.aerial if self.world == "aerial" else self.env


def experiment_with(experiment: "ExperimentConfig", overrides: Mapping[str, Any]) -> "ExperimentConfig":
    """``experiment`` with dotted-path ``overrides`` applied, validated as a whole (one-line errors)."""
    data = to_dict(experiment)
    for dotted, value in overrides.items():
        set_dotted(data, dotted, value)
    return from_dict(ExperimentConfig, data)


BUNDLED_PACKAGE = "pe_rllib.tune_configs"


SWEEP_SUFFIX = "_sweep"
"""Bundled files named ``*_sweep.yaml`` are Tune sweeps (``pe-rllib tune``), not experiments."""


def _bundled(sweeps: bool) -> dict[str, Path]:
    from importlib.resources import files

    found = {Path(entry.name).stem: Path(str(entry)) for entry in files(BUNDLED_PACKAGE).iterdir()
             if entry.name.endswith(".yaml")}
    return {name: path for name, path in found.items() if name.endswith(SWEEP_SUFFIX) == sweeps}


def bundled_experiments() -> dict[str, Path]:
    """The experiment YAMLs shipped with the package, by name (``quickstart``, ``ra1``, ...)."""
    return _bundled(sweeps=False)


def bundled_sweeps() -> dict[str, Path]:
    """The sweep YAMLs shipped with the package, by name (``speed_ratio_sweep``, ...)."""
    return _bundled(sweeps=True)


def experiment_path(name_or_path: str | Path, sweep: bool = False) -> Path:
    """An experiment file (or, with ``sweep``, a sweep file): an existing path, else a bundled one's name."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    if path.exists():
        raise ConfigError(f"{path}: not a file")
    bundled = _bundled(sweeps=sweep)
    stem = path.stem if path.suffix == ".yaml" else path.name
    if stem in bundled and (len(path.parts) == 1 or path.parent.name == "tune_configs"):
        return bundled[stem]
    kind = "sweeps" if sweep else "experiments"
    raise ConfigError(f"{path}: config file not found (bundled {kind}: {', '.join(sorted(bundled))})")


def experiment_path_beside(file: Path, spec: str) -> Path:
    """The experiment ``spec`` names from inside ``file`` (a sweep's ``experiment``, an experiment's ``extends``):
    a path relative to ``file``'s folder if one is there, else what :func:`experiment_path` finds."""
    candidate = file.parent / spec
    return experiment_path(candidate if candidate.is_file() else spec)


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    """A YAML file whose top level is a mapping (safe loader), with one-line errors naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text (UTF-8) file") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot read ({err.strerror})") from None
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(loaded).__name__}")
    return loaded


EXTENDS_KEY = "extends"
"""An experiment YAML's optional top-level key naming the experiment it changes (see :func:`read_experiment`)."""


def merged(base: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` laid over it: mappings merge key by key, anything else (lists too) replaces."""
    out = dict(base)
    for key, value in changes.items():
        old = out.get(key)
        out[key] = merged(old, value) if isinstance(old, Mapping) and isinstance(value, Mapping) else value
    return out


def read_experiment(path: Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """An experiment YAML's mapping with its ``extends`` chain resolved.

    ``extends: NAME`` (a path relative to the file, else a bundled experiment's name) makes the file a list of
    changes to that experiment: its sections merge key by key into the base's, and lists and values replace. A
    cycle, or an ``extends`` that is not a string, is a one-line error naming the file.
    """
    data = read_yaml_mapping(path)
    if EXTENDS_KEY not in data:
        return data
    spec = data.pop(EXTENDS_KEY)
    if not isinstance(spec, str) or not spec:
        raise ConfigError(f"{path}: {EXTENDS_KEY}: must be an experiment file or bundled name, got {spec!r}")
    try:
        base_path = experiment_path_beside(path, spec)
    except ConfigError as err:
        raise ConfigError(f"{path}: {EXTENDS_KEY}: {err}") from None
    chain = (*_seen, path.resolve())
    if base_path.resolve() in chain:
        raise ConfigError(f"{path}: {EXTENDS_KEY}: {spec!r} is already in the chain of extends (a cycle)")
    return merged(read_experiment(base_path, chain), data)


def load_experiment(path: str | Path | None = None, overrides: Mapping[str, Any] | None = None
                    ) -> ExperimentConfig:
    """Load an :class:`ExperimentConfig` from a YAML file (or defaults), then apply overrides.

    ``path`` is a file or the name of a bundled experiment (see :func:`experiment_path`); a file may
    ``extends:`` another (:func:`read_experiment`). ``overrides`` maps dotted paths to values, e.g.
    ``{"env.evader_v_max": 1.15}``. Errors name the file and the key path on one line.
    """
    data: dict[str, Any] = {}
    where = ""
    if path is not None:
        path = experiment_path(path)
        where = f"{path}: "
        data = read_experiment(path)
    for dotted, value in (overrides or {}).items():
        set_dotted(data, dotted, value)
    try:
        return from_dict(ExperimentConfig, data)
    except ConfigError as err:
        raise ConfigError(f"{where}{err}") from None
