"""One typed, validated experiment config.

Every knob of pe_rllib lives in one tree of frozen dataclasses, loaded from YAML (or
keyword arguments) exactly once and validated at construction. Unknown keys and
out-of-range values raise :class:`ConfigError` with a one-line message that names the
key's full path, e.g. ``env.capture_radius: must be > 0, got -1.0``.

The same :class:`EnvConfig` object builds the training, evaluation and rendering
environments, so a flag can never be honoured by one and silently ignored by another.

The tree lives in sections by concern: :mod:`~pe_rllib.config.base` (roles, errors, the YAML <->
dataclass mechanism), :mod:`~pe_rllib.config.world` (env and safety), :mod:`~pe_rllib.config.selfplay`
(schedule, league, curriculum, health), :mod:`~pe_rllib.config.training` (training and evaluation),
:mod:`~pe_rllib.config.experiment` (the root and loading) and :mod:`~pe_rllib.config.sweep` (the Tune sweep
file). Everything but the sweep schema is importable from here.
"""

from pe_rllib.config.base import (
    ROLES,
    SCRIPTED_POLICIES,
    SUCCESS_RATE,
    ConfigError,
    from_dict,
    get_dotted,
    other_role,
    replaced,
    set_dotted,
    to_dict,
)
from pe_rllib.config.experiment import (
    BUNDLED_PACKAGE,
    ExperimentConfig,
    bundled_experiments,
    bundled_sweeps,
    experiment_path,
    experiment_with,
    load_experiment,
    read_experiment,
    read_yaml_mapping,
)
from pe_rllib.config.selfplay import CurriculumConfig, HealthConfig, LeagueConfig, SelfPlayConfig
from pe_rllib.config.training import (
    EvaluationConfig,
    TrainingConfig,
    rollout_shape,
    runner_threads,
    sampling_summary,
)
from pe_rllib.config.world import EnvConfig, RewardConfig, SafetyConfig, check_safety_compatible, env_with

__all__ = [
    "BUNDLED_PACKAGE", "ROLES", "SCRIPTED_POLICIES", "SUCCESS_RATE", "ConfigError", "CurriculumConfig", "EnvConfig",
    "EvaluationConfig", "ExperimentConfig", "HealthConfig", "LeagueConfig", "RewardConfig", "SafetyConfig",
    "SelfPlayConfig", "TrainingConfig", "bundled_experiments", "bundled_sweeps", "check_safety_compatible",
    "env_with", "experiment_path", "experiment_with", "from_dict", "get_dotted", "load_experiment", "other_role",
    "read_experiment", "read_yaml_mapping", "replaced", "rollout_shape", "runner_threads", "sampling_summary",
    "set_dotted", "to_dict",
]
