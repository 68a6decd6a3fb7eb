"""Safety as an env wrapper (DESIGN.md decision 3): the guarantee holds wherever the env runs.

* :class:`SafeBatchedEnv` wraps :class:`~pe_rllib.envs.BatchedPursuitEvasion`.
* :class:`SafetyFilterWrapper` wraps the PettingZoo :class:`~pe_rllib.envs.PursuitEvasionEnv`.

Both filter the *physical* controls each step (after the action -> (v, omega) mapping
and the prep-phase hold) and add per-agent safety infos: ``safety_intervened``,
``safety_correction``, ``safety_slack``, ``safety_min_barrier``, ``safety_status``,
``safety_infeasible``. The policy's own action is never altered in place, so
log-probabilities in training stay those of the sampled action.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
from pettingzoo.utils.wrappers import BaseParallelWrapper

from pe_rllib.config import ExperimentConfig, SafetyConfig, from_dict, to_dict
from pe_rllib.envs.batched import BatchedPursuitEvasion
from pe_rllib.envs.core import AGENTS
from pe_rllib.envs.parallel import PursuitEvasionEnv
from pe_rllib.safety.filter import SafetyFilter

INFO_KEYS = ("intervened", "correction", "slack", "min_barrier", "status", "infeasible")


class SafeBatchedEnv:
    """A :class:`BatchedPursuitEvasion` whose controls pass through a :class:`SafetyFilter` per agent."""

    def __init__(self, env: BatchedPursuitEvasion, safety: SafetyConfig | None = None) -> None:
        self.env = env
        self.safety = safety or SafetyConfig()
        self.filters = {role: SafetyFilter(env.config, role, safety=self.safety)
                        for role in AGENTS if role in self.safety.agents}

    def __getattr__(self, name: str) -> Any:   # reset, state, world, config, layout, ...
        return getattr(self.env, name)

    def step(self, actions: Mapping[str, np.ndarray]):
        env = self.env
        controls = env.nominal_controls(actions)
        world = env.world
        filter_info = {}
        for i, role in enumerate(AGENTS):
            if role in self.filters:
                controls[:, i], filter_info[role] = self.filters[role].filter(
                    world.pose[:, i], controls[:, i], world.obstacles, world.pose[:, 1 - i])
        obs, rewards, terminated, truncated, infos = env.step_controls(controls)
        n = env.num_envs
        for role in AGENTS:
            info = filter_info.get(role)
            for key in INFO_KEYS:
                if info is not None:
                    value = info[key]
                else:   # unfiltered agent: reported as never intervening
                    value = np.zeros(n, dtype=bool if key in ("intervened", "infeasible") else np.float64)
                infos[role][f"safety_{key}"] = value
        return obs, rewards, terminated, truncated, infos


class SafetyFilterWrapper(BaseParallelWrapper):
    """PettingZoo wrapper applying the CBF filter; defaults filter both agents.

    Example:
        >>> from pe_rllib.envs import pursuit_evasion_v0
        >>> from pe_rllib.safety import SafetyFilterWrapper
        >>> env = SafetyFilterWrapper(pursuit_evasion_v0.parallel_env(n_obstacles=8))
        >>> _ = env.reset(seed=0)
        >>> _, _, _, _, infos = env.step({a: env.action_space(a).sample() for a in env.agents})
        >>> "safety_intervened" in infos["pursuer"]
        True
    """

    def __init__(self, env: PursuitEvasionEnv, safety: SafetyConfig | None = None, **safety_fields: Any) -> None:
        super().__init__(env)
        base = safety or SafetyConfig()
        if safety_fields:
            base = from_dict(SafetyConfig, {**to_dict(base), **safety_fields}, "safety")
        if not isinstance(env.unwrapped, PursuitEvasionEnv):
            raise TypeError(f"SafetyFilterWrapper needs a PursuitEvasionEnv, got {type(env.unwrapped).__name__}")
        self.safety = base
        self._safe_core = SafeBatchedEnv(env.unwrapped.core, base)

    def step(self, actions: Mapping[str, Any]):
        base = self.env.unwrapped
        if not base.agents:
            raise RuntimeError("step() called on a finished episode; call reset()")
        batched = {agent: np.asarray(actions[agent], dtype=np.float64).reshape(1, 2) for agent in AGENTS}
        result = self._safe_core.step(batched)
        return base._unbatch(*result)


def make_batched_env(num_envs: int, config: ExperimentConfig, **kwargs: Any):
    """The batched env an experiment config describes: safety-filtered when ``safety.enabled``."""
    env = BatchedPursuitEvasion(num_envs, config.env, **kwargs)
    return SafeBatchedEnv(env, config.safety) if config.safety.enabled else env
