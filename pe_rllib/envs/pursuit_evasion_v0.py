"""Versioned entry point (bump the suffix when dynamics, observations or rewards change)."""

from __future__ import annotations

from typing import Any

from pe_rllib.envs.parallel import PursuitEvasionEnv


def parallel_env(**env_fields: Any) -> PursuitEvasionEnv:
    """A :class:`PursuitEvasionEnv`; every :class:`~pe_rllib.config.EnvConfig` field is a keyword."""
    return PursuitEvasionEnv(**env_fields)


__all__ = ["parallel_env", "PursuitEvasionEnv"]
