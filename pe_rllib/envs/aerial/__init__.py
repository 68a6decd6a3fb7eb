"""The 3-D aerial world: point-mass drones in a box airspace, the pursuer tracking the evader by radar and a
Kalman filter (:mod:`~pe_rllib.envs.aerial.dynamics`, :mod:`~pe_rllib.envs.aerial.tracking`,
:mod:`~pe_rllib.envs.aerial.sensing`, :mod:`~pe_rllib.envs.aerial.world`)."""

from pe_rllib.envs.aerial.world import BatchedAerialPursuitEvasion, make_aerial_config

__all__ = ["BatchedAerialPursuitEvasion", "make_aerial_config"]
