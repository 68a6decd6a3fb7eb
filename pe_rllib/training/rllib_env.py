"""Thin RLlib ``MultiAgentEnv`` adapter over the PettingZoo env (with the safety wrapper).

Not ``ParallelPettingZooEnv``: that one orders agents arbitrarily, keeps a stale
``agents`` list after episodes end and cannot render. Here the agent order is fixed
(``["pursuer", "evader"]``), ``agents`` always mirrors the live PettingZoo agents, and
the env is built from the same validated :class:`~pe_rllib.config.ExperimentConfig`
(passed as plain data under ``env_config["experiment"]``) that builds evaluation and
rendering envs, so a flag cannot be honoured by one and ignored by another.
"""

from __future__ import annotations

from typing import Any, Mapping

from ray.rllib.env.multi_agent_env import MultiAgentEnv

from pe_rllib.config import ROLES, ExperimentConfig, from_dict
from pe_rllib.safety.wrappers import make_parallel_env

ENV_NAME = "pursuit_evasion_v0"


def experiment_from_env_config(env_config: Mapping[str, Any]) -> ExperimentConfig:
    """The experiment config carried inside an RLlib ``env_config``."""
    return from_dict(ExperimentConfig, dict(env_config.get("experiment", {})))


class RLlibPursuitEvasion(MultiAgentEnv):
    """RLlib multi-agent view of :class:`PursuitEvasionEnv`."""

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        self.experiment = experiment_from_env_config(config or {})
        self.env = make_parallel_env(self.experiment)
        self.possible_agents = list(ROLES)
        self.agents = []
        self.observation_spaces = {agent: self.env.observation_space(agent) for agent in ROLES}
        self.action_spaces = {agent: self.env.action_space(agent) for agent in ROLES}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        obs, infos = self.env.reset(seed=seed, options=options)
        self.agents = list(self.env.agents)
        return obs, infos

    def step(self, action_dict):
        obs, rewards, terminated, truncated, infos = self.env.step(action_dict)
        self.agents = list(self.env.agents)
        terminated["__all__"] = all(terminated.values())
        truncated["__all__"] = all(truncated.values())
        return obs, rewards, terminated, truncated, infos

    def render(self):
        return self.env.render()


def register() -> str:
    """Register the env with Ray Tune's registry (idempotent); returns its name."""
    from ray.tune.registry import register_env

    register_env(ENV_NAME, lambda config: RLlibPursuitEvasion(config))
    return ENV_NAME
