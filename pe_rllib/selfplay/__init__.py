"""Self-play's decisions, as pure objects: who trains when (``schedule``), the opponent league (``pool``:
PFSP/Hedge sampling; ``elo``), the snapshot slots and the picklable policy mapping (``snapshots``), the
curriculum and the health monitor. ``pe_rllib.callbacks`` is the RLlib glue that applies them. No Ray
here: each object takes outcomes, returns decisions, and round-trips through ``to_dict``/``from_dict``
(checkpointed with the algorithm)."""

from pe_rllib.selfplay.curriculum import Curriculum
from pe_rllib.selfplay.elo import EloTable, expected_score
from pe_rllib.selfplay.health import HealthEvent, HealthMonitor
from pe_rllib.selfplay.pool import League, PoolEntry, sampling_weights

__all__ = ["Curriculum", "EloTable", "HealthEvent", "HealthMonitor", "League", "PoolEntry", "expected_score",
           "sampling_weights"]
