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

from pe_rllib.config import EnvConfig, ExperimentConfig, SafetyConfig, replaced
from pe_rllib.envs import core
from pe_rllib.envs.batched import BatchedPursuitEvasion
from pe_rllib.envs.core import AGENTS, WorldState
from pe_rllib.envs.parallel import PursuitEvasionEnv
from pe_rllib.envs.worlds import make_world
from pe_rllib.safety.filter import SafetyFilter

INFO_KEYS = ("intervened", "correction", "slack", "min_barrier", "status", "infeasible")


class RoleFilters:
    """One :class:`SafetyFilter` per filtered role; filters ``[N, 2, 2]`` controls against a world state."""

    def __init__(self, env_config: EnvConfig, safety: SafetyConfig) -> None:
        self.filters = {role: SafetyFilter(env_config, role, safety=safety)
                        for role in AGENTS if role in safety.agents}

    def __call__(self, world: WorldState, controls: np.ndarray) -> tuple[np.ndarray, dict[str, dict]]:
        """Safe controls and per-role filter infos ``{role: {"safety_<key>": [N]}}`` (unfiltered
        roles are reported as never intervening)."""
        controls = controls.copy()
        n = controls.shape[0]
        infos = {}
        for i, role in enumerate(AGENTS):
            if role in self.filters:
                controls[:, i], info = self.filters[role].filter(     # the world's own arrays: no checks
                    world.pose[:, i], controls[:, i], world.obstacles, world.pose[:, 1 - i], validate=False)
            else:
                info = {key: np.zeros(n, dtype=bool if key in ("intervened", "infeasible") else np.float64)
                        for key in INFO_KEYS}
            infos[role] = {f"safety_{key}": info[key] for key in INFO_KEYS}
        return controls, infos


class FilteredWorld:
    """Base of a safety-filtered :class:`~pe_rllib.envs.world.BatchedWorld`: forwards the protocol's members to the
    wrapped world ``env`` explicitly; subclasses filter in ``step``."""

    def __init__(self, env, safety: SafetyConfig | None = None) -> None:
        self.env = env
        self.safety = safety or SafetyConfig()
        self.agents, self.num_envs, self.config = env.agents, env.num_envs, env.config

    def observation_space(self, role: str):
        return self.env.observation_space(role)

    def action_space(self, role: str):
        return self.env.action_space(role)

    def reset(self, seed: int | None = None) -> dict[str, np.ndarray]:
        return self.env.reset(seed=seed)

    def world_state(self) -> WorldState:
        return self.env.world_state()

    def start_from(self, state: WorldState) -> dict[str, np.ndarray]:
        return self.env.start_from(state)

    def set_elapsed(self, steps: np.ndarray) -> dict[str, np.ndarray]:
        return self.env.set_elapsed(steps)


class SafeBatchedEnv(FilteredWorld):
    """A :class:`BatchedPursuitEvasion` whose controls pass through a :class:`SafetyFilter` per agent (the wrapped
    env itself is ``env``)."""

    def __init__(self, env: BatchedPursuitEvasion, safety: SafetyConfig | None = None) -> None:
        super().__init__(env, safety)
        self.filters = RoleFilters(env.config, self.safety)

    def nominal_controls(self, actions: Mapping[str, np.ndarray], *, validate: bool = True) -> np.ndarray:
        return self.env.nominal_controls(actions, validate=validate)

    def privileged_observation(self) -> dict[str, np.ndarray]:
        return self.env.privileged_observation()

    def step(self, actions: Mapping[str, np.ndarray], *, validate: bool = True):
        env = self.env
        controls, filter_infos = self.filters(env.world, env.nominal_controls(actions, validate=validate))
        obs, rewards, terminated, truncated, infos = env.step_controls(controls)
        for role in AGENTS:
            infos[role].update(filter_infos[role])
        return obs, rewards, terminated, truncated, infos


class SafetyFilterWrapper(BaseParallelWrapper):
    """PettingZoo wrapper applying the CBF filter; defaults filter both agents.

    It reads the wrapped env's public ``world`` and ``config``, replaces each agent's
    action by the filtered one and calls the wrapped env's ``step`` (PettingZoo's wrapper
    contract), then adds the ``safety_*`` infos.

    Example:
        >>> from pe_rllib.envs import pursuit_evasion_v0
        >>> from pe_rllib.safety import SafetyFilterWrapper
        >>> env = SafetyFilterWrapper(pursuit_evasion_v0.parallel_env(n_obstacles=8))
        >>> _ = env.reset(seed=0)
        >>> _, _, _, _, infos = env.step({a: env.action_space(a).sample() for a in env.agents})
        >>> "safety_intervened" in infos["pursuer"]
        True
    """

    def __init__(self, env, safety: SafetyConfig | None = None, **safety_fields: Any) -> None:
        super().__init__(env)
        base = replaced(safety or SafetyConfig(), safety_fields, "safety")
        if not isinstance(env.unwrapped, PursuitEvasionEnv):
            raise TypeError(f"SafetyFilterWrapper needs a PursuitEvasionEnv, got {type(env.unwrapped).__name__}")
        self.safety = base
        self.filters = RoleFilters(env.config, base)

    def step(self, actions: Mapping[str, Any]):
        if not self.env.agents:
            raise RuntimeError("step() called on a finished episode; call reset()")
        config, world = self.env.config, self.env.world
        nominal = core.nominal_controls(config, world.t, core.stack_actions(actions, 1, single=True))
        controls, filter_infos = self.filters(world, nominal)
        safe = np.clip(core.controls_to_actions(config, controls), -1.0, 1.0).astype(np.float32)
        obs, rewards, terminated, truncated, infos = self.env.step(
            {agent: safe[0, i] for i, agent in enumerate(AGENTS)})
        for agent in AGENTS:
            infos[agent].update({key: value[0].item() for key, value in filter_infos[agent].items()})
        return obs, rewards, terminated, truncated, infos


def make_batched_env(num_envs: int, config: ExperimentConfig, **kwargs: Any):
    """The batched env an experiment config describes (either world): safety-filtered when ``safety.enabled``
    (:class:`SafeBatchedEnv` in the planar world, :class:`~pe_rllib.safety.aerial.SafeAerialEnv` in the aerial one)."""
    env = make_world(num_envs, config, **kwargs)
    if not config.safety.enabled:
        return env
    if config.world == "aerial":
        from pe_rllib.safety.aerial import SafeAerialEnv

        return SafeAerialEnv(env, config.safety)
    return SafeBatchedEnv(env, config.safety)


def make_parallel_env(config: ExperimentConfig, render_mode: str | None = None):
    """The PettingZoo env an experiment config describes: safety-filtered when ``safety.enabled`` (either world)."""
    if config.world == "aerial":
        from pe_rllib.envs.aerial_v0 import AerialPursuitEvasionEnv
        from pe_rllib.safety.aerial import AerialSafetyWrapper

        if render_mode is not None:
            raise ValueError("render_mode: the aerial world has no renderer yet")
        aerial = AerialPursuitEvasionEnv(config.aerial)
        return AerialSafetyWrapper(aerial, config.safety) if config.safety.enabled else aerial
    env = PursuitEvasionEnv(config.env, render_mode=render_mode)
    return SafetyFilterWrapper(env, config.safety) if config.safety.enabled else env
