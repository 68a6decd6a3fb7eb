"""Evaluation on the batched world: matchup statistics with intervals, and whole-run evaluation."""

from pe_rllib.evaluation.matchups import MatchupResult, evaluate, wilson_interval

__all__ = ["MatchupResult", "evaluate", "wilson_interval"]
