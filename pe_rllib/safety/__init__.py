"""Control-barrier-function safety filter: VCP-CBF constraints, exact batched QP, cvxpy reference, wrappers."""

from pe_rllib.safety.filter import SafetyFilter
from pe_rllib.safety.wrappers import SafeBatchedEnv, SafetyFilterWrapper, make_batched_env, make_parallel_env

__all__ = ["SafetyFilter", "SafetyFilterWrapper", "SafeBatchedEnv", "make_batched_env", "make_parallel_env"]
