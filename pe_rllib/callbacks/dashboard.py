"""Live run figures for the Ray dashboard: ``ray.util.metrics`` gauges, set by the driver every iteration
(:class:`DashboardGauges`, published by the self-play callback after it wrote the iteration's figures).

Ray exports them on every node's metrics endpoint (``--metrics-export-port``) with a
``ray_`` prefix, from where Prometheus scrapes them and the dashboard's Grafana panels
show them (query e.g. ``ray_pe_capture_rate``). Every gauge is tagged ``run`` (the run
directory's name for ``pe-rllib train``, the trial's name in a Tune sweep); the per-role
ones also ``role``. A figure that does not exist in a run (no league, no curriculum, no
evaluation yet) is not set.
"""

from __future__ import annotations

import math

from pe_rllib.callbacks.evaluation import LATEST
from pe_rllib.callbacks.metrics import NAMESPACE
from pe_rllib.config import ROLES

RATES = {
    "pe_capture_rate": ("capture_rate", "Share of the iteration's training episodes that ended in a capture"),
    "pe_escape_rate": ("escape_rate", "Share of the iteration's training episodes the evader survived"),
    "pe_collision_rate": ("collision_rate", "Share of the iteration's training episodes that ended in a collision"),
    "pe_balance_gap": ("balance_gap", "|capture rate - escape rate| of the iteration"),
    "pe_safety_intervention_rate": ("intervention_rate", "Share of agent steps whose action the CBF filter changed"),
    "pe_curriculum_level": ("curriculum_level", "Curriculum level played this iteration"),
    "pe_phase": ("phase", "Self-play phase index"),
}
OTHER = {
    "pe_env_steps_per_second": "Env steps sampled per second of the iteration",
    "pe_iteration": "Training iteration",
    "pe_eval_strength": "Latest periodic evaluation: the weaker role's success against scripted opponents",
}
PER_ROLE = {
    "pe_training": "1 for the role(s) training this iteration, 0 for the frozen one",
    "pe_league_size": "Snapshots in the role's league pool",
    "pe_eval_vs_scripted": "Latest periodic evaluation: the role's success against the scripted opponents",
}


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class DashboardGauges:
    """Sets the gauges from an iteration's ``result["pe"]`` (:class:`~pe_rllib.callbacks.selfplay.SelfPlayCallback`
    calls :meth:`publish` once it has written it)."""

    def __init__(self) -> None:
        self.gauges = None

    def _create(self) -> dict:
        from ray.util.metrics import Gauge

        gauges = {name: Gauge(name, description=text, tag_keys=("run",)) for name, (_, text) in RATES.items()}
        gauges.update({name: Gauge(name, description=text, tag_keys=("run",)) for name, text in OTHER.items()})
        gauges.update({name: Gauge(name, description=text, tag_keys=("run", "role"))
                       for name, text in PER_ROLE.items()})
        return gauges

    def publish(self, algorithm, result: dict) -> None:
        if self.gauges is None:
            self.gauges = self._create()
        run = getattr(algorithm, "run_name", None) or algorithm.trial_name
        figures = result.get(NAMESPACE, {})
        values = {name: figures.get(key) for name, (key, _) in RATES.items()}
        seconds = result.get("time_this_iter_s")
        if _finite(seconds) and seconds > 0:
            values["pe_env_steps_per_second"] = figures.get("env_steps", 0) / seconds
        values["pe_iteration"] = result.get("training_iteration")
        latest = result.get(LATEST, {})
        values["pe_eval_strength"] = latest.get("strength")
        for name, value in values.items():
            if _finite(value):
                self.gauges[name].set(float(value), tags={"run": run})
        training = set(str(figures.get("training_roles", "")).split(","))
        league = algorithm.selfplay.league
        success = {"pursuer": latest.get("pursuer_vs_scripted"), "evader": latest.get("evader_vs_scripted")}
        for role in ROLES:
            tags = {"run": run, "role": role}
            self.gauges["pe_training"].set(1.0 if role in training else 0.0, tags=tags)
            if league is not None:
                self.gauges["pe_league_size"].set(float(len(league.pool(role))), tags=tags)
            if _finite(success[role]):
                self.gauges["pe_eval_vs_scripted"].set(float(success[role]), tags=tags)
