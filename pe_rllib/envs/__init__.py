"""Pursuit-evasion environments: batched numpy core, PettingZoo facade, RLlib adapter."""

from pe_rllib.envs import pursuit_evasion_v0
from pe_rllib.envs.batched import BatchedPursuitEvasion, make_env_config
from pe_rllib.envs.parallel import PursuitEvasionEnv

__all__ = ["BatchedPursuitEvasion", "PursuitEvasionEnv", "make_env_config", "pursuit_evasion_v0"]
