"""The training run: a locked run directory, the iteration loop, verified checkpoints and resume.

Layout and integrity rules: :mod:`pe_rllib.rundir`. A checkpoint is written to
``iter_N.part`` (RLlib's state, every module's weights as data-only tensors, the
experiment, and last a SHA-256 manifest) and renamed when complete; resume takes the
newest checkpoint whose manifest verifies, trims ``progress.jsonl`` and the TensorBoard
log back to its iteration, and refuses an ``experiment.yaml`` that was edited in ways
that change the run (:data:`RESUME_SAFE_FIELDS` may change).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import socket
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, ContextManager

import yaml

from pe_rllib.callbacks.league import check_anchor_pins
from pe_rllib.config import ConfigError, ExperimentConfig, load_experiment, sampling_summary, to_dict
from pe_rllib.files import write_atomic
from pe_rllib.rundir import (
    CHECKPOINTS,
    EXPERIMENT_FILE,
    LATEST,
    PROGRESS_FILE,
    RunDirectoryError,
    RunLock,
    check_new_run_dir,
    checkpoint_iteration,
    checkpoint_name,
    checkpoints_newest_first,
    latest_checkpoint,
    refuse_pickles,
    remove_new_entries,
    require_run_dir,
    resolve_checkpoint,
    trim_progress,
)
from pe_rllib.training.logs import IterationReport, ScalarLog, TrainSummary, iteration_report
from pe_rllib.training.session import (
    check_resources,
    init_ray,
    ray_address,
    reap_orphaned_ray,
    resource_shortfall,
)

logger = logging.getLogger(__name__)

RESUME_SAFE_FIELDS = frozenset({
    "training.stop_iterations", "training.sampler", "training.checkpoint_every", "training.keep_checkpoints",
    "training.num_env_runners", "training.num_envs_per_env_runner", "training.num_cpus_per_env_runner",
    "training.max_env_runner_restarts",
})
"""Fields a resumed run may change (``--set`` on resume, or an edit of RUN/experiment.yaml):
they change how fast or how long the same run trains, not what it learns from."""


# --------------------------------------------------------------------------- checkpoints


def _save_checkpoint(algo, run_dir: Path, keep: int) -> Path:
    checkpoints = run_dir / CHECKPOINTS
    name = checkpoint_name(algo.iteration)
    final = checkpoints / name
    tmp = checkpoints / (name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    algo.save_checkpoint(str(tmp))                 # SelfPlayPPO.save_checkpoint: data only, with a manifest
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    write_atomic(checkpoints / LATEST, name)
    for old in checkpoints_newest_first(run_dir)[keep:]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def _dotted_differences(a: dict, b: dict, prefix: str = "") -> list[str]:
    keys = sorted(set(a) | set(b))
    out = []
    for key in keys:
        path = f"{prefix}{key}"
        if isinstance(a.get(key), dict) and isinstance(b.get(key), dict):
            out += _dotted_differences(a[key], b[key], f"{path}.")
        elif a.get(key) != b.get(key):
            out.append(path)
    return out


def resume_experiment(run_dir: Path, checkpoint: Path | None, overrides: dict | None = None) -> ExperimentConfig:
    """The experiment a resumed run continues: RUN/experiment.yaml (+ ``overrides``), which may differ
    from the checkpoint's own copy only in :data:`RESUME_SAFE_FIELDS`."""
    run_file = run_dir / EXPERIMENT_FILE
    experiment = load_experiment(run_file, overrides)
    unsafe = sorted(set(overrides or {}) - RESUME_SAFE_FIELDS)
    if unsafe:
        raise ConfigError(f"{unsafe[0]}: cannot change on resume (changeable: {', '.join(sorted(RESUME_SAFE_FIELDS))})")
    if checkpoint is not None:
        trained = load_experiment(checkpoint / EXPERIMENT_FILE)
        changed = [f for f in _dotted_differences(to_dict(trained), to_dict(experiment))
                   if f not in RESUME_SAFE_FIELDS]
        if changed:
            raise ConfigError(f"{run_file}: differs from the checkpoint {checkpoint.name} it resumes in "
                              f"{', '.join(changed)}; restore it (the checkpoint's copy is "
                              f"{checkpoint / EXPERIMENT_FILE}) or start a new run")
    return experiment


@dataclass
class _RunPlan:
    experiment: ExperimentConfig
    run_dir: Path
    checkpoint: Path | None
    created: bool


def _plan(experiment, output, resume, overrides) -> _RunPlan:
    if resume is not None:
        if experiment is not None:
            raise ConfigError("--resume continues the run's own experiment.yaml; do not pass a config too")
        run_dir = require_run_dir(Path(resume))
        try:
            checkpoint = latest_checkpoint(run_dir)
        except RunDirectoryError as err:
            if checkpoints_newest_first(run_dir):
                raise                                  # checkpoints exist but none is intact
            logger.warning("%s; starting it from iteration 0", err)
            checkpoint = None
        if checkpoint is not None:
            refuse_pickles(checkpoint)
        return _RunPlan(resume_experiment(run_dir, checkpoint, overrides), run_dir, checkpoint, created=False)
    if overrides:
        raise ConfigError("overrides without --resume belong in the experiment config")
    run_dir = Path(output) if output else Path("runs") / time.strftime("pe-%Y%m%d-%H%M%S")
    check_new_run_dir(run_dir)
    return _RunPlan(experiment or ExperimentConfig(), run_dir, None, created=not run_dir.exists())


def initial_weights(experiment: ExperimentConfig) -> dict[str, dict]:
    """The weights ``training.init_checkpoint`` gives ``training.init_modules`` (data only, checked to fit
    this experiment's network), ``{role: {name: array}}``; empty when the run starts fresh."""
    training = experiment.training
    if not training.init_checkpoint:
        return {}
    from pe_rllib.policies.inference import load_module_weights, policy_from_weights

    try:
        checkpoint = resolve_checkpoint(training.init_checkpoint)
        weights = {role: load_module_weights(checkpoint, role) for role in training.init_modules}
    except RunDirectoryError as err:
        raise ConfigError(f"training.init_checkpoint: {err}") from None
    for role, state in weights.items():
        try:
            policy_from_weights(experiment, role, state)
        except RuntimeError as err:
            raise ConfigError(f"training.init_checkpoint: {checkpoint}: the {role} weights do not fit this "
                              f"experiment's network ({str(err).splitlines()[0]})") from None
    logger.info("initialising %s from %s", ", ".join(weights), checkpoint)
    arrays = {role: {name: tensor.numpy() for name, tensor in state.items()} for role, state in weights.items()}
    if training.init_std:
        from pe_rllib.policies.rl_module import with_exploration_std

        for role in arrays.keys() - set(training.deterministic_modules):
            arrays[role] = with_exploration_std(arrays[role], training.init_std)
            logger.info("%s explores with std %g from its trained means", role, training.init_std)
    return arrays


def _starting_experiment(plan: _RunPlan, stop_iterations: int | None, address: str | None) -> ExperimentConfig:
    """The plan's experiment with ``stop_iterations`` applied, checked against this machine's CPUs when Ray
    is to be embedded (before Ray starts)."""
    experiment = plan.experiment
    if stop_iterations is not None:
        if stop_iterations < 1:
            raise ConfigError(f"stop iterations: must be >= 1, got {stop_iterations}")
        # The algorithm evaluates at its last iteration: it must know where the run stops.
        experiment = replace(experiment, training=replace(experiment.training, stop_iterations=stop_iterations))
    check_anchor_pins(experiment)
    if not address:
        problem = resource_shortfall(experiment, float(os.cpu_count() or 1), float("inf"))
        if problem is not None:
            raise ConfigError(problem)
    return experiment


def _lock(plan: _RunPlan) -> tuple[RunLock, set[str]]:
    """Take the run directory's lock (ending what a killed previous holder on this host left of Ray); returns
    the lock and the entries the directory held before this run."""
    run_dir = plan.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    existing = set(os.listdir(run_dir))
    lock = RunLock(run_dir)
    try:
        lock.acquire()
    except RunDirectoryError:
        remove_new_entries(run_dir, existing, plan.created)
        raise
    if lock.previous_holder is not None and lock.previous_holder[1] == socket.gethostname() \
            and os.path.isdir("/proc"):
        reap_orphaned_ray(lock.previous_holder[0])
    return lock, existing


def _start_algorithm(algo_config, plan: _RunPlan, init_weights: dict, run_name: str):
    """The built algorithm, restored from the plan's checkpoint or starting from ``init_weights``."""
    algo = algo_config.build_algo()
    algo.run_name = run_name
    if plan.checkpoint is not None:
        algo.restore_from_path(str(plan.checkpoint.resolve()))
        logger.info("resumed %s at iteration %d", plan.checkpoint, algo.iteration)
    elif init_weights:
        from pe_rllib.callbacks.league import start_league
        from pe_rllib.callbacks.weights import set_module_weights

        set_module_weights(algo, init_weights)
        start_league(algo)                     # the pools' first entries are the loaded weights
    return algo


@dataclass
class _Progress:
    """What a run has produced so far (kept current while it trains, so that a failure knows it)."""

    saved: Path | None                      # the newest checkpoint (the resumed one at first)
    report: IterationReport | None = None   # the last iteration's


def _iterate(algo, experiment: ExperimentConfig, run_dir: Path, scalars: ScalarLog, progress: _Progress,
             on_iteration: Callable[[IterationReport], None] | None) -> None:
    """Train to ``stop_iterations``: a progress row, TensorBoard scalars and (every ``checkpoint_every``
    and at the end) a checkpoint per iteration, recorded in ``progress`` as they are written."""
    stop, every = experiment.training.stop_iterations, experiment.training.checkpoint_every
    with open(run_dir / PROGRESS_FILE, "a", encoding="utf-8") as rows:
        while algo.iteration < stop:
            result = algo.train()
            progress.report = iteration_report(result, stop)
            rows.write(json.dumps(progress.report.to_dict()) + "\n")
            rows.flush()
            scalars.write(progress.report, result)
            if algo.iteration % every == 0 or algo.iteration >= stop:
                progress.saved = _save_checkpoint(algo, run_dir, experiment.training.keep_checkpoints)
            if on_iteration is not None:
                on_iteration(progress.report)


def _stop(algo, embedded_ray: bool, lock: RunLock) -> None:
    """Stop the algorithm and the Ray this run embedded, and always release the run directory."""
    try:
        if algo is not None:
            algo.stop()
        if embedded_ray:
            import ray

            ray.shutdown()
    finally:
        lock.release()


def train(
    experiment: ExperimentConfig | None = None,
    *,
    output: str | Path | None = None,
    resume: str | Path | None = None,
    resume_overrides: dict | None = None,
    stop_iterations: int | None = None,
    address: str | None = None,
    dashboard: bool = True,
    log_level: str = "ERROR",
    on_start: Callable[[str, Path], None] | None = None,
    on_iteration: Callable[[IterationReport], None] | None = None,
    build_guard: Callable[[], ContextManager] | None = None,
) -> TrainSummary:
    """Train (or continue) a self-play run; returns where its checkpoint is.

    Everything that can be wrong with the inputs (config, run directory, checkpoint,
    resources) is checked before the first iteration, and a run that fails before its
    first checkpoint leaves no run directory behind (a new run) or an unchanged one (a
    resume). One process writes a run directory at a time (:class:`~pe_rllib.rundir.RunLock`).
    ``log_level`` is Ray's and RLlib's (:func:`~pe_rllib.training.session.init_ray`). ``build_guard()``, when
    given, is entered around the algorithm's build (where its env runners start): the CLI drops Ray's known
    noise there.
    """
    address = ray_address(address)                 # before anything imports ray
    from pe_rllib.training.algorithm import build_algorithm_config

    plan = _plan(experiment, output, resume, resume_overrides)
    experiment = _starting_experiment(plan, stop_iterations, address)
    algo_config = build_algorithm_config(experiment, log_level)
    init_weights = initial_weights(experiment) if plan.checkpoint is None else {}
    run_dir = plan.run_dir
    lock, existing = _lock(plan)
    progress, algo, embedded_ray = _Progress(plan.checkpoint), None, False
    start = time.perf_counter()
    try:
        if resume is None:
            check_new_run_dir(run_dir)             # again, under the lock
            (run_dir / CHECKPOINTS).mkdir(exist_ok=True)
        # SIGTERM: ray.init installs sys.exit as its handler, so the finally clauses below run.
        import ray

        embedded_ray = not address and not ray.is_initialized()
        where = init_ray(address, dashboard, log_level, rllib_log_level=log_level)
        check_resources(experiment, embedded=not address)
        logger.info("running on %s", where)
        resumed_at = checkpoint_iteration(plan.checkpoint) if plan.checkpoint is not None else 0
        if resume is not None:
            trim_progress(run_dir, resumed_at)
        write_atomic(run_dir / EXPERIMENT_FILE, yaml.safe_dump(to_dict(experiment), sort_keys=False))
        if on_start is not None:
            on_start(f"{where}; {sampling_summary(experiment.training)}", run_dir)
        with build_guard() if build_guard is not None else contextlib.nullcontext():
            algo = _start_algorithm(algo_config, plan, init_weights, run_dir.resolve().name)
        scalars = ScalarLog(run_dir, purge_step=resumed_at + 1 if resume is not None else None)
        try:
            scalars.write_experiment(to_dict(experiment), resumed_at)
            _iterate(algo, experiment, run_dir, scalars, progress, on_iteration)
        finally:
            scalars.close()
    except BaseException:
        if resume is None and progress.saved is None:      # a failed start leaves nothing behind
            remove_new_entries(run_dir, existing, plan.created)
        raise
    finally:
        _stop(algo, embedded_ray, lock)
    last = progress.report
    return TrainSummary(run_dir=run_dir, checkpoint=progress.saved, iterations=algo.iteration,
                        env_steps=last.env_steps_lifetime if last else 0, seconds=time.perf_counter() - start,
                        last=last)
