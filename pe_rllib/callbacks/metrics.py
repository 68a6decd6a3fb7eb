"""Runner-side metrics: per-episode outcomes logged under the ``pe`` namespace. No decisions here.

Per episode (summed per iteration, so the driver can form exact per-iteration rates):
``pe/episodes``, ``pe/captures``, ``pe/escapes``, ``pe/collisions``,
``pe/capture_steps`` (steps of captured episodes), ``pe/filter_interventions``,
``pe/filter_infeasible`` (steps the filter had to relax or fall back), ``pe/agent_steps`` and
``pe/substitute_episodes`` (a frozen snapshot or the scripted cold-start opponent played one
side). Smoothed over the last 100 episodes (for dashboards):
``pe/capture_rate_100``, ``pe/min_distance``, ``pe/episode_steps`` and the per-term
episode returns ``pe/reward_terms/<role>/<term>``. Per pair of players
(``pe/matchups/<pursuer>|<evader>/{episodes,captures,collisions}``, summed; a player is a
module id, or with the batched sampler the league entry id a stand-in played when the
episode started): the games the league turns into win rates and Elo ratings. The batched runner also sums
``pe/kept_stand_in_steps``: agent steps played by a stand-in's old weights, kept for an
episode that started before its slot was reloaded.
"""

from __future__ import annotations

from collections import defaultdict

from ray.rllib.callbacks.callbacks import RLlibCallback

from pe_rllib.config import ROLES
from pe_rllib.policies.module_ids import is_substitute

NAMESPACE = "pe"
MATCHUP_SEPARATOR = "|"
_SUMMED = ("episodes", "captures", "escapes", "collisions", "capture_steps",
           "filter_interventions", "filter_infeasible", "agent_steps", "substitute_episodes")


def summary_record(outcome: str, steps: int, min_distance: float, interventions: int, infeasible: int,
                   reward_terms: dict[str, dict[str, float]], modules: list[str],
                   labels: list[str] | None = None) -> dict:
    """One finished episode as :func:`log_episode_counts` takes it (the stock path's callback and the batched
    runner both build it here): ``outcome`` is a name of ``core.OUTCOME_NAMES``; ``modules`` the module ids
    that played the roles (``substitute``: a snapshot or scripted module played a side) and ``labels``
    what the matchup counts name them (the league's entry ids; default: the module ids)."""
    return {"outcome": outcome, "steps": steps, "min_distance": min_distance, "interventions": interventions,
            "infeasible": infeasible, "reward_terms": reward_terms,
            "return": float(sum(value for terms in reward_terms.values() for value in terms.values())),
            "substitute": any(is_substitute(module) for module in modules),
            "modules": list(labels if labels is not None else modules)}


def episode_summary(chunks, modules: list[str]) -> dict:
    """:func:`summary_record` of one episode from its chunks' per-step infos (the stock path)."""
    outcome, steps, min_distance, interventions, infeasible = "running", 0, float("inf"), 0, 0
    terms = {role: defaultdict(float) for role in ROLES}
    for chunk in chunks:
        infos = chunk.get_infos()
        for role in ROLES:
            for info in infos.get(role, []):
                if not info:        # reset infos are empty
                    continue
                if role == "pursuer":
                    steps += 1
                    min_distance = min(min_distance, info["distance"])
                    outcome = info.get("outcome", outcome)
                interventions += int(info.get("safety_intervened", False))
                infeasible += int(info.get("safety_infeasible", False))
                for term, value in info["reward_terms"].items():
                    terms[role][term] += value
    return summary_record(outcome, steps, min_distance, interventions, infeasible,
                          {role: dict(role_terms) for role, role_terms in terms.items()}, modules)


def log_episode_counts(metrics_logger, summary: dict) -> None:
    """Log one finished episode's ``summary`` (:func:`summary_record`) under the ``pe`` namespace. Shared by the
    stock runner's callback and the batched runner, so both report the same names and meanings."""
    outcome, steps = summary["outcome"], summary["steps"]
    counts = {
        "episodes": 1, "captures": outcome == "capture", "escapes": outcome == "timeout",
        "collisions": outcome == "collision", "capture_steps": steps if outcome == "capture" else 0,
        "filter_interventions": summary["interventions"], "filter_infeasible": summary["infeasible"],
        "agent_steps": 2 * steps, "substitute_episodes": summary["substitute"],
    }
    for key in _SUMMED:
        metrics_logger.log_value((NAMESPACE, key), float(counts[key]), reduce="sum")
    if summary.get("modules"):
        pair = MATCHUP_SEPARATOR.join(summary["modules"])
        for key in ("episodes", "captures", "escapes", "collisions"):
            metrics_logger.log_value((NAMESPACE, "matchups", pair, key), float(counts[key]), reduce="sum")
    metrics_logger.log_value((NAMESPACE, "capture_rate_100"), float(outcome == "capture"),
                             reduce="mean", window=100)
    metrics_logger.log_value((NAMESPACE, "episode_steps"), float(steps), reduce="mean", window=100)
    if summary["min_distance"] < float("inf"):
        metrics_logger.log_value((NAMESPACE, "min_distance"), summary["min_distance"], reduce="mean", window=100)
    for role, role_terms in summary["reward_terms"].items():
        for term, value in role_terms.items():
            metrics_logger.log_value((NAMESPACE, "reward_terms", role, term), value, reduce="mean", window=100)


class EpisodeMetricsCallback(RLlibCallback):
    """Logs episode outcomes on the env runners (see module docstring)."""

    def on_episode_end(self, *, episode, prev_episode_chunks=None, metrics_logger=None, **kwargs) -> None:
        if metrics_logger is None:
            return
        modules = [str(episode.module_for(a)) for a in ROLES]
        log_episode_counts(metrics_logger, episode_summary([*(prev_episode_chunks or []), episode], modules))
