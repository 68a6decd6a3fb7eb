"""Driver-side self-play sequencing: one callback, run in ``on_train_result``.

Decisions live in pure objects (:class:`~pe_rllib.callbacks.schedule.PhaseSchedule`);
this module only reads the iteration's runner metrics, writes the driver-side figures
into ``result["pe"]`` (directly: metrics-logger values written here would surface one
iteration late) and applies freezing for the next iteration.
"""

from __future__ import annotations

import logging
import math
from typing import Sequence

from ray.rllib.callbacks.callbacks import RLlibCallback
from ray.rllib.utils.metrics import ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED

from pe_rllib.callbacks.metrics import NAMESPACE

logger = logging.getLogger(__name__)


def apply_freezing(algorithm, training_roles: Sequence[str]) -> None:
    """Train only ``training_roles`` from the next update on (others keep their weights and optimiser state).

    The learners read ``config.policies_to_train`` in ``Learner.should_module_be_updated``;
    their configs are their own (unfrozen) copies. ``algorithm.config`` is kept consistent
    the way RLlib's own ``Algorithm.add_module`` does it (unfreeze, set, refreeze).
    """
    roles = sorted(training_roles)

    def set_roles(learner, _roles=roles):
        learner.config.multi_agent(policies_to_train=list(_roles))

    algorithm.learner_group.foreach_learner(set_roles)
    algorithm.config._is_frozen = False
    algorithm.config.multi_agent(policies_to_train=list(roles))
    algorithm.config.freeze()
    logger.info("training roles now: %s", ", ".join(roles))


def iteration_figures(runner_results: dict) -> dict:
    """Per-iteration rates from the runners' summed episode counts (NaN when no episode ended)."""
    pe = runner_results.get(NAMESPACE, {})
    episodes = float(pe.get("episodes", 0.0))

    def rate(key: str) -> float:
        return float(pe.get(key, 0.0)) / episodes if episodes else math.nan

    capture, escape = rate("captures"), rate("escapes")
    captures = float(pe.get("captures", 0.0))
    agent_steps = float(pe.get("agent_steps", 0.0))
    return {
        "episodes": int(episodes),
        "capture_rate": capture,
        "escape_rate": escape,
        "collision_rate": rate("collisions"),
        "balance_gap": abs(capture - escape),
        "mean_capture_steps": float(pe.get("capture_steps", 0.0)) / captures if captures else math.nan,
        "intervention_rate": float(pe.get("filter_interventions", 0.0)) / agent_steps if agent_steps else math.nan,
    }


class SelfPlayCallback(RLlibCallback):
    """Sequences the algorithm's :class:`SelfPlayState` once per iteration."""

    def on_train_result(self, *, algorithm, result: dict, **kwargs) -> None:
        selfplay = algorithm.selfplay
        runner_results = result.get(ENV_RUNNER_RESULTS, {})
        env_steps = int(runner_results.get(NUM_ENV_STEPS_SAMPLED, 0))
        figures = iteration_figures(runner_results)
        figures.update({
            "training_roles": ",".join(selfplay.schedule.training_roles),
            "phase": selfplay.schedule.state.phase,
            "env_steps": env_steps,
        })
        switched = selfplay.schedule.record_iteration(env_steps)
        figures["switch_next"] = switched
        result[NAMESPACE] = figures
        if switched:
            apply_freezing(algorithm, selfplay.schedule.training_roles)
