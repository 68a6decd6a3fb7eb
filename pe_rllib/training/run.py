"""The training run: a run directory, the iteration loop, atomic checkpoints and resume.

Run directory layout::

    RUN/experiment.yaml            the validated experiment (what --resume continues)
    RUN/progress.jsonl             one JSON line per iteration (driver-side figures)
    RUN/tensorboard/               the same plus learner statistics, for TensorBoard
    RUN/checkpoints/iter_000012/   RLlib checkpoint + experiment.yaml (modules, optimisers,
                                   self-play state, iteration counter)
    RUN/checkpoints/latest         name of the newest complete checkpoint

A checkpoint is written to ``iter_N.part`` and renamed when complete, and ``latest`` is
replaced atomically, so a run killed at any moment resumes from its last complete
checkpoint; stale ``.part`` directories are removed on resume.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import yaml

from pe_rllib.config import ConfigError, ExperimentConfig, load_experiment, to_dict
from pe_rllib.files import write_atomic

logger = logging.getLogger(__name__)

EXPERIMENT_FILE = "experiment.yaml"
CHECKPOINTS = "checkpoints"
LATEST = "latest"


class RunDirectoryError(ValueError):
    """A run or checkpoint directory is missing, incomplete or not a pe_rllib run."""


@dataclass
class IterationReport:
    iteration: int
    stop_iterations: int
    figures: dict
    env_steps_lifetime: int
    iteration_seconds: float
    steps_per_second: float

    def to_dict(self) -> dict:
        return {"iteration": self.iteration, "env_steps_lifetime": self.env_steps_lifetime,
                "iteration_seconds": self.iteration_seconds, "steps_per_second": self.steps_per_second,
                **{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in self.figures.items()}}


@dataclass
class TrainSummary:
    run_dir: Path
    checkpoint: Path | None
    iterations: int
    env_steps: int
    seconds: float
    last: IterationReport | None


def latest_checkpoint(run_dir: Path) -> Path:
    """The newest complete checkpoint of a run directory (clear error otherwise)."""
    run_dir = Path(run_dir)
    if not (run_dir / EXPERIMENT_FILE).is_file():
        raise RunDirectoryError(f"{run_dir}: not a pe_rllib run directory (no {EXPERIMENT_FILE})")
    pointer = run_dir / CHECKPOINTS / LATEST
    if not pointer.is_file():
        raise RunDirectoryError(f"{run_dir}: run has no complete checkpoint yet")
    checkpoint = run_dir / CHECKPOINTS / pointer.read_text().strip()
    if not (checkpoint / EXPERIMENT_FILE).is_file():
        raise RunDirectoryError(f"{checkpoint}: checkpoint is incomplete")
    return checkpoint


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint directory from a run directory or a checkpoint directory."""
    path = Path(path)
    if not path.exists():
        raise RunDirectoryError(f"{path}: no such run or checkpoint directory")
    if (path / EXPERIMENT_FILE).is_file() and (path / "learner_group").is_dir():
        return path
    return latest_checkpoint(path)


def _prepare_run_dir(experiment: ExperimentConfig, output: Path | None) -> Path:
    run_dir = output or Path("runs") / time.strftime("pe-%Y%m%d-%H%M%S")
    if (run_dir / EXPERIMENT_FILE).exists():
        raise RunDirectoryError(f"{run_dir}: already holds a run; continue it with --resume {run_dir}")
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / CHECKPOINTS).mkdir(exist_ok=True)
    write_atomic(run_dir / EXPERIMENT_FILE, yaml.safe_dump(to_dict(experiment), sort_keys=False))
    return run_dir


def _save_checkpoint(algo, run_dir: Path, keep: int) -> Path:
    checkpoints = run_dir / CHECKPOINTS
    name = f"iter_{algo.iteration:06d}"
    final = checkpoints / name
    tmp = checkpoints / (name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    algo.save_to_path(str(tmp.resolve()))
    shutil.copy(run_dir / EXPERIMENT_FILE, tmp / EXPERIMENT_FILE)
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    write_atomic(checkpoints / LATEST, name)
    complete = sorted(p for p in checkpoints.glob("iter_*") if not p.name.endswith(".part"))
    for old in complete[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def init_ray(address: str | None = None, dashboard: bool = True, log_level: str = "INFO") -> str:
    """Embedded local Ray unless an address (or RAY_ADDRESS, set by ``ray job submit``) is given.

    A bare ``ray.init()`` would attach to whatever cluster a stale ``ray_current_cluster``
    file names, so the embedded case says ``address="local"`` explicitly. Returns a
    one-line description of where the run executes.
    """
    import ray

    address = address or os.environ.get("RAY_ADDRESS")
    if not ray.is_initialized():
        # ray.init (re)configures the "ray" logger at `logging_level`.
        if address:
            ray.init(address=address, log_to_driver=False, logging_level=log_level)
        else:
            ray.init(address="local", include_dashboard=dashboard, log_to_driver=False, logging_level=log_level)
    context = ray.get_runtime_context()
    cpus = ray.cluster_resources().get("CPU", 0)
    gpus = ray.cluster_resources().get("GPU", 0)
    where = f"Ray cluster at {address}" if address else "embedded local Ray"
    return f"{where} (node {context.get_node_id()[:8]}, {cpus:g} CPUs, {gpus:g} GPUs)"


def _flatten(tree: dict, prefix: str) -> dict:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}/{key}"))
        else:
            out[f"{prefix}/{key}"] = value
    return out


class ScalarLog:
    """TensorBoard event files in ``RUN/tensorboard`` (``tensorboard --logdir RUN``): the driver-side
    figures under ``pe/``, the runners' per-episode metrics (smoothed min distance, episode
    length, per-term returns per role, summed outcome counts) under ``runners/``,
    throughput under ``perf/`` and each module's learner statistics under
    ``learners/<module>/``. A resumed run appends to the same directory."""

    def __init__(self, run_dir: Path) -> None:
        from tensorboardX import SummaryWriter

        self.writer = SummaryWriter(str(run_dir / "tensorboard"))

    def write(self, report: IterationReport, result: dict) -> None:
        from ray.rllib.utils.metrics import ENV_RUNNER_RESULTS, LEARNER_RESULTS

        step = report.iteration
        scalars = {f"pe/{k}": v for k, v in report.figures.items()}
        scalars.update({"perf/steps_per_second": report.steps_per_second,
                        "perf/env_steps_lifetime": report.env_steps_lifetime})
        for module, stats in result.get(LEARNER_RESULTS, {}).items():
            if isinstance(stats, dict):
                scalars.update({f"learners/{module}/{k}": v for k, v in stats.items()})
        scalars.update(_flatten(result.get(ENV_RUNNER_RESULTS, {}).get("pe", {}), "runners"))
        for key, value in scalars.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                self.writer.add_scalar(key, value, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def _check_gpus(experiment: ExperimentConfig, embedded: bool) -> None:
    """GPUs the config asks for must exist: Ray would otherwise wait for them forever.

    Embedded Ray cannot grow, so a shortfall is an error there; a cluster may be
    autoscaling, so there it is a warning.
    """
    import ray

    training = experiment.training
    needed = training.num_gpus_per_learner * max(training.num_learners, 1)
    available = ray.cluster_resources().get("GPU", 0.0)
    if needed <= available:
        return
    message = (f"training.num_gpus_per_learner: the run asks for {needed:g} GPU(s) but Ray has "
               f"{available:g}; set it to 0 (CPU) or run on a GPU node")
    if embedded:
        raise ConfigError(message)
    logger.warning("%s (waiting for the cluster to provide them)", message)


def _report(result: dict, stop: int) -> IterationReport:
    from ray.rllib.utils.metrics import ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME

    figures = dict(result.get("pe", {}))
    seconds = float(result.get("time_this_iter_s", float("nan")))
    steps = figures.get("env_steps", 0)
    return IterationReport(
        iteration=int(result["training_iteration"]), stop_iterations=stop, figures=figures,
        env_steps_lifetime=int(result.get(ENV_RUNNER_RESULTS, {}).get(NUM_ENV_STEPS_SAMPLED_LIFETIME, 0)),
        iteration_seconds=seconds, steps_per_second=steps / seconds if seconds > 0 else float("nan"))


def train(
    experiment: ExperimentConfig | None = None,
    *,
    output: str | Path | None = None,
    resume: str | Path | None = None,
    stop_iterations: int | None = None,
    address: str | None = None,
    dashboard: bool = True,
    log_level: str = "ERROR",
    on_start: Callable[[str, Path], None] | None = None,
    on_iteration: Callable[[IterationReport], None] | None = None,
) -> TrainSummary:
    """Train (or continue) a self-play run; returns where its checkpoint is.

    Everything that can be wrong with the inputs (config, run directory, checkpoint) is
    checked before Ray starts.
    """
    from pe_rllib.training.algorithm import build_algorithm_config

    if resume is not None:
        if experiment is not None:
            raise ConfigError("--resume continues the run's own experiment.yaml; do not pass a config too")
        run_dir = Path(resume)
        checkpoint = latest_checkpoint(run_dir)
        experiment = load_experiment(run_dir / EXPERIMENT_FILE)
        for stale in (run_dir / CHECKPOINTS).glob("*.part"):
            shutil.rmtree(stale, ignore_errors=True)
    else:
        experiment = experiment or ExperimentConfig()
        checkpoint = None
    stop = stop_iterations or experiment.training.stop_iterations
    if stop < 1:
        raise ConfigError(f"stop iterations: must be >= 1, got {stop}")
    algo_config = build_algorithm_config(experiment, log_level)          # validates the env before Ray starts
    address = address or os.environ.get("RAY_ADDRESS")
    where = init_ray(address, dashboard, log_level)
    _check_gpus(experiment, embedded=not address)
    run_dir = run_dir if resume is not None else _prepare_run_dir(experiment, Path(output) if output else None)
    logger.info("running on %s", where)
    if on_start is not None:
        on_start(where, run_dir)
    algo = algo_config.build_algo()
    start = time.perf_counter()
    last_report, saved = None, checkpoint
    try:
        if checkpoint is not None:
            algo.restore_from_path(str(checkpoint.resolve()))
            logger.info("resumed %s at iteration %d", checkpoint, algo.iteration)
        every = experiment.training.checkpoint_every
        scalars = ScalarLog(run_dir)
        with open(run_dir / "progress.jsonl", "a") as progress:
            while algo.iteration < stop:
                result = algo.train()
                last_report = _report(result, stop)
                progress.write(json.dumps(last_report.to_dict()) + "\n")
                progress.flush()
                scalars.write(last_report, result)
                if algo.iteration % every == 0 or algo.iteration >= stop:
                    saved = _save_checkpoint(algo, run_dir, experiment.training.keep_checkpoints)
                if on_iteration is not None:
                    on_iteration(last_report)
        scalars.close()
        iterations = algo.iteration
        env_steps = last_report.env_steps_lifetime if last_report else 0
    finally:
        algo.stop()
    return TrainSummary(run_dir=run_dir, checkpoint=saved, iterations=iterations, env_steps=env_steps,
                        seconds=time.perf_counter() - start, last=last_report)
