"""Pure decision objects that make self-play converge: the opponent league (pool, PFSP/Hedge sampling,
Elo), the curriculum and the health monitor. No Ray here: each object takes outcomes, returns
decisions, and round-trips through ``to_dict``/``from_dict`` (checkpointed with the algorithm)."""

from pe_rllib.league.curriculum import Curriculum
from pe_rllib.league.elo import EloTable, expected_score
from pe_rllib.league.health import HealthEvent, HealthMonitor
from pe_rllib.league.pool import League, PoolEntry, sampling_weights

__all__ = ["Curriculum", "EloTable", "HealthEvent", "HealthMonitor", "League", "PoolEntry", "expected_score",
           "sampling_weights"]
