"""Control-barrier-function safety filter: VCP-CBF constraints, exact batched QP, cvxpy reference, wrappers."""

from pe_rllib.safety.filter import SafetyFilter, check_compatible
from pe_rllib.safety.wrappers import SafeBatchedEnv, SafetyFilterWrapper, make_batched_env

__all__ = ["SafetyFilter", "SafetyFilterWrapper", "SafeBatchedEnv", "make_batched_env", "check_compatible"]
