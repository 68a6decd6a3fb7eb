"""Ray Tune sweeps over the self-play algorithm: ``pe-rllib tune --config SWEEP.yaml``.

The sweep file and its validation are :mod:`pe_rllib.config.sweep` (the config layer, before Ray starts);
this module runs it: the trainable is :class:`~pe_rllib.training.algorithm.SelfPlayPPO` itself, each
trial's config is ``{"pe_experiment": <experiment>}`` and RLlib's own resource request sizes it. Its
self-play state is part of the algorithm's checkpoint, so a retried, restored (``--resume``) or
PBT-exploited trial continues it intact.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pe_rllib.config import ConfigError, get_dotted
from pe_rllib.config.sweep import METRIC, MODE, TRIAL_EXPERIMENT, Sweep, load_sweep
from pe_rllib.files import write_atomic

logger = logging.getLogger(__name__)

SWEEP_FILE = "pe_sweep.yaml"
"""The validated sweep, written into the sweep's directory (``--resume`` and the results table read it)."""
RESULTS_FILE = "pe_sweep_results.json"

def _trial_dirname(trial) -> str:
    return f"trial_{trial.trial_id}"


def _scheduler(sweep: Sweep):
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, PopulationBasedTraining

    if sweep.scheduler == "asha":
        return ASHAScheduler(time_attr="training_iteration", grace_period=sweep.grace_period,
                             reduction_factor=sweep.reduction_factor,
                             max_t=sweep.experiment.training.stop_iterations)
    if sweep.scheduler == "pbt":
        mutations: dict = {}
        for domain in sweep.mutations:
            tree = mutations.setdefault(TRIAL_EXPERIMENT, {})
            *parents, leaf = domain.path.split(".")
            for key in parents:
                tree = tree.setdefault(key, {})
            tree[leaf] = list(domain.values) if domain.kind in ("grid", "choice") else domain.to_tune()
        return PopulationBasedTraining(time_attr="training_iteration",
                                       perturbation_interval=sweep.perturbation_interval,
                                       hyperparam_mutations=mutations, synch=sweep.synchronous)
    return FIFOScheduler()


@dataclass
class SweepOutcome:
    directory: Path
    rows: list[dict]
    unfinished: int
    """Trials neither terminated nor errored (the sweep was interrupted): ``--resume`` continues them."""


def tune_run(sweep: Sweep | None = None, *, resume: str | Path | None = None,
             address: str | None = None) -> SweepOutcome:
    """Run a sweep (or continue the one in ``resume``); its rows (see :func:`result_rows`) are also written
    to ``pe_sweep_results.json`` in the sweep's directory."""
    from ray import tune

    from pe_rllib.training.algorithm import SelfPlayPPO
    from pe_rllib.training.session import init_ray

    if resume is not None:
        directory = Path(resume).expanduser().resolve()
        if not (directory / SWEEP_FILE).is_file():
            raise ConfigError(f"{directory}: not a pe-rllib sweep directory (no {SWEEP_FILE})")
        sweep = load_sweep(directory / SWEEP_FILE)
        init_ray(address, dashboard=False)
        check_trial_resources(sweep, embedded=not (address or os.environ.get("RAY_ADDRESS")))
        # Tuner.restore unpickles the sweep's own state (tuner.pkl): resume only sweeps you wrote.
        tuner = tune.Tuner.restore(str(directory), trainable=SelfPlayPPO, resume_unfinished=True,
                                   resume_errored=True)
    else:
        assert sweep is not None
        directory = sweep.directory
        if directory.exists() and any(directory.iterdir()):
            raise ConfigError(f"{directory}: already holds a sweep; continue it with --resume {directory}")
        from pe_rllib.callbacks.league import check_anchor_pins
        from pe_rllib.training.algorithm import build_algorithm_config

        build_algorithm_config(sweep.experiment)            # the RLlib config builds, before Ray starts
        check_anchor_pins(sweep.experiment)
        init_ray(address, dashboard=False)
        check_trial_resources(sweep, embedded=not (address or os.environ.get("RAY_ADDRESS")))
        directory.mkdir(parents=True, exist_ok=True)
        write_atomic(directory / SWEEP_FILE, yaml.safe_dump(sweep.source, sort_keys=False))
        stop = sweep.experiment.training.stop_iterations
        tuner = tune.Tuner(
            SelfPlayPPO,
            param_space=sweep.param_space(),
            tune_config=tune.TuneConfig(metric=METRIC, mode=MODE, num_samples=sweep.num_samples,
                                        scheduler=_scheduler(sweep),
                                        max_concurrent_trials=sweep.max_concurrent_trials or None,
                                        trial_dirname_creator=_trial_dirname),
            run_config=tune.RunConfig(
                name=sweep.name, storage_path=str(directory.parent), stop={"training_iteration": stop},
                # PBT clones a trial from a checkpoint of another one, which that trial's own bookkeeping
                # may delete before the clone has read it (seen with keep 1 and 2: "Could not recover
                # from checkpoint as it does not exist on storage anymore"). Under PBT every checkpoint
                # is kept.
                checkpoint_config=tune.CheckpointConfig(
                    num_to_keep=None if sweep.scheduler == "pbt" else sweep.keep_checkpoints,
                    checkpoint_score_attribute=None if sweep.scheduler == "pbt" else METRIC,
                    checkpoint_score_order=MODE, checkpoint_frequency=sweep.checkpoint_every,
                    checkpoint_at_end=True),
                failure_config=tune.FailureConfig(max_failures=sweep.max_failures),
                verbose=0),
        )
    grid = tuner.fit()
    rows = result_rows(sweep, grid)
    write_atomic(directory / RESULTS_FILE, json.dumps(rows, indent=1, default=str))
    # The statuses as saved (Tune marks interrupted trials TERMINATED in memory when it cleans up).
    saved = tune.ExperimentAnalysis(str(directory)).trials
    return SweepOutcome(directory, rows, unfinished=sum(t.status not in ("TERMINATED", "ERROR") for t in saved))


def check_trial_resources(sweep: Sweep, embedded: bool) -> None:
    """One trial's resources (RLlib's own request) must fit the cluster, or Tune waits forever."""
    import ray

    from pe_rllib.training.algorithm import SelfPlayPPO, build_algorithm_config

    request = SelfPlayPPO.default_resource_request(build_algorithm_config(sweep.experiment))
    needed = request.required_resources
    available = ray.cluster_resources()
    short = {k: v for k, v in needed.items() if v > available.get(k, 0.0) + 1e-9}
    if not short:
        return
    kind, amount = next(iter(short.items()))
    runners = sweep.experiment.training.num_env_runners
    problem = (f"training: one trial needs {amount:g} {kind} (main process + {runners} env runner(s)) but Ray "
               f"has {available.get(kind, 0.0):g}; lower training.num_env_runners")
    if embedded:
        raise ConfigError(problem)
    logger.warning("%s (waiting for the cluster to provide them)", problem)


def _metric(metrics: dict, dotted: str):
    value: Any = metrics
    for key in dotted.split("/"):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def result_rows(sweep: Sweep, grid) -> list[dict]:
    """One row per trial: the searched values, iterations, the metric, the latest evaluation's figures,
    the trial's best checkpoint (by the metric) and its error, best trial first."""
    rows = []
    for result in grid:
        metrics = result.metrics or {}
        config = result.config or {}
        # Tune reports the trainable's own config: the algorithm config, whose env_config holds the
        # trial's experiment (with PBT's latest mutations).
        experiment = config.get("env_config", {}).get("experiment") or config.get(TRIAL_EXPERIMENT, {})
        params = {}
        for domain in (*sweep.search, *sweep.mutations):
            try:
                params[domain.path] = get_dotted(experiment, domain.path)
            except KeyError:
                params[domain.path] = None
        best = None
        if result.best_checkpoints:
            scored = [(c, _metric(m, METRIC)) for c, m in result.best_checkpoints]
            scored = [(s, i, c) for i, (c, s) in enumerate(scored) if isinstance(s, (int, float)) and math.isfinite(s)]
            if scored:
                best = max(scored, key=lambda item: item[:2])[2].path      # ties: the later checkpoint
        latest = metrics.get("latest_eval", {}) or {}
        rows.append({
            "trial": Path(result.path).name, "params": params,
            "iterations": metrics.get("training_iteration"),
            "strength": latest.get("strength"),
            "pursuer_vs_scripted": latest.get("pursuer_vs_scripted"),
            "evader_vs_scripted": latest.get("evader_vs_scripted"),
            "capture_rate": (metrics.get("pe") or {}).get("capture_rate"),
            "evaluated_at": latest.get("iteration"),
            "best_checkpoint": best, "path": result.path,
            "error": str(result.error).splitlines()[0] if result.error else None,
        })
    rows.sort(key=lambda r: -(r["strength"] if isinstance(r["strength"], (int, float)) else -math.inf))
    return rows
