"""pe_rllib: pursuit-evasion self-play on Ray RLlib with a CBF safety filter.

Entry points: the ``pe-rllib`` command (:mod:`pe_rllib.cli`), the world
(:mod:`pe_rllib.envs`), the safety filter (:mod:`pe_rllib.safety`), policies
(:mod:`pe_rllib.policies`) and training (:mod:`pe_rllib.training`).
"""

__version__ = "0.1.0"
