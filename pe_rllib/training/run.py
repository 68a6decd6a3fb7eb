"""The training run: a locked run directory, the iteration loop, verified checkpoints and resume.

Layout and integrity rules: :mod:`pe_rllib.rundir`. A checkpoint is written to
``iter_N.part`` (RLlib's state, every module's weights as data-only tensors, the
experiment, and last a SHA-256 manifest) and renamed when complete; resume takes the
newest checkpoint whose manifest verifies, trims ``progress.jsonl`` and the TensorBoard
log back to its iteration, and refuses an ``experiment.yaml`` that was edited in ways
that change the run (:data:`RESUME_SAFE_FIELDS` may change).
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import signal
import socket
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import yaml

from pe_rllib.config import ConfigError, ExperimentConfig, load_experiment, sampling_summary, to_dict
from pe_rllib.files import write_atomic
from pe_rllib.rundir import (
    CHECKPOINTS,
    EXPERIMENT_FILE,
    LATEST,
    PROGRESS_FILE,
    TENSORBOARD_DIR,
    RunDirectoryError,
    RunLock,
    checkpoint_iteration,
    checkpoint_name,
    checkpoints_newest_first,
    latest_checkpoint,
    read_progress,
    refuse_pickles,
    require_run_dir,
    resolve_checkpoint,
)

logger = logging.getLogger(__name__)

RESUME_SAFE_FIELDS = frozenset({
    "training.stop_iterations", "training.sampler", "training.checkpoint_every", "training.keep_checkpoints",
    "training.num_env_runners", "training.num_envs_per_env_runner", "training.num_cpus_per_env_runner",
    "training.max_env_runner_restarts",
})
"""Fields a resumed run may change (``--set`` on resume, or an edit of RUN/experiment.yaml):
they change how fast or how long the same run trains, not what it learns from."""


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


# --------------------------------------------------------------------------- Ray


def ensure_private_token() -> None:
    """Embedded Ray enables token auth and, with no token anywhere, writes one to ~/.ray/auth_token
    with the default umask (world-readable). Create it first, readable by the owner only."""
    if os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_MODE", "").lower() == "disabled":
        return
    path = Path(os.environ.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token")
    if path.exists():
        return
    import secrets

    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_hex(32))


LOCAL_ONLY_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def keep_embedded_ray_on_loopback() -> bool:
    """Select Ray's local-only mode for an embedded run (Ray's default on macOS and Windows).

    With ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` Ray 2.60 takes 127.0.0.1 as the node IP
    (``ray._private.services.get_node_ip_address``), and every server of the node binds
    loopback: GCS, raylet, workers, dashboard agent, runtime-env agent, metrics exporters,
    dashboard and job API (measured in ``tests/test_integrity.py``). ``ray.init`` has no
    public switch for this (its ``_node_ip_address`` turns 127.0.0.1 back into the host's
    address). Ray reads the variable when it is first imported, so it must be set before
    that; returns whether it is in effect (a warning is logged otherwise). Only for
    embedded Ray: a driver attaching to a cluster must not set it.
    """
    if os.environ.get(LOCAL_ONLY_ENV) == "0":
        return True
    if "ray" in sys.modules:
        logger.warning("ray was imported before pe_rllib could select its local-only mode: embedded Ray's "
                       "servers bind Ray's default interfaces (set %s=0 before importing ray)", LOCAL_ONLY_ENV)
        return False
    os.environ[LOCAL_ONLY_ENV] = "0"
    return True


def reap_orphaned_ray(driver_pid: int) -> list[int]:
    """End the embedded-Ray processes a ``kill -9``-ed driver left behind; returns their PIDs.

    Ray 2.60's GCS and raylet die with their driver, but its dashboard and runtime-env
    agents are re-parented to init and keep running (and listening). They are found by
    the files they hold open in the driver's Ray session directory (``session_<date>_<driver
    pid>``), and only orphans (parent PID 1) whose name starts with ``ray::`` are ended.
    """
    reaped = []
    suffix = f"_{driver_pid}/"
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline") as handle:
                name = handle.read()
            if ppid != 1 or not name.startswith("ray::"):
                continue
            links = [os.readlink(f"/proc/{entry}/fd/{fd}") for fd in os.listdir(f"/proc/{entry}/fd")]
        except OSError:
            continue
        if any("/session_" in link and suffix in link for link in links):
            try:
                os.kill(int(entry), signal.SIGKILL)
                reaped.append(int(entry))
            except OSError:
                pass
    if reaped:
        logger.warning("ended %d Ray process(es) left behind by the killed run (driver pid %d)",
                       len(reaped), driver_pid)
    return reaped


def init_ray(address: str | None = None, dashboard: bool = True, log_level: str = "INFO") -> str:
    """Embedded local Ray unless an address (or RAY_ADDRESS, set by ``ray job submit``) is given.

    A bare ``ray.init()`` would attach to whatever cluster a stale ``ray_current_cluster``
    file names, so the embedded case says ``address="local"`` explicitly. Embedded Ray
    binds to 127.0.0.1 (see :func:`keep_embedded_ray_on_loopback`; the dashboard host is
    set explicitly too). Returns a one-line description of where the run executes.
    """
    address = address or os.environ.get("RAY_ADDRESS")
    if not address:
        keep_embedded_ray_on_loopback()
    import ray

    if not ray.is_initialized():
        # ray.init (re)configures the "ray" logger at `logging_level`.
        if address:
            ray.init(address=address, log_to_driver=False, logging_level=log_level)
        else:
            ensure_private_token()
            ray.init(address="local", include_dashboard=dashboard, dashboard_host="127.0.0.1",
                     log_to_driver=False, logging_level=log_level)
    context = ray.get_runtime_context()
    cpus = ray.cluster_resources().get("CPU", 0)
    gpus = ray.cluster_resources().get("GPU", 0)
    where = f"Ray cluster at {address}" if address else "embedded local Ray"
    return f"{where} (node {context.get_node_id()[:8]}, {cpus:g} CPUs, {gpus:g} GPUs)"


def _resource_shortfall(experiment: ExperimentConfig, cpus: float, gpus: float) -> str | None:
    training = experiment.training
    gpus_needed = training.num_gpus_per_learner * max(training.num_learners, 1)
    if gpus_needed > gpus:
        return (f"training.num_gpus_per_learner: the run asks for {gpus_needed:g} GPU(s) but Ray has "
                f"{gpus:g}; set it to 0 (CPU) or run on a GPU node")
    # The driver (local learner and env runner) takes no CPU reservation of its own in Ray.
    runner_cpus = training.num_cpus_per_env_runner * training.num_env_runners
    learner_cpus = training.num_learners * training.num_cpus_per_learner
    if runner_cpus + learner_cpus > cpus:
        return (f"training.num_cpus_per_env_runner: {training.num_env_runners} env runner(s) x "
                f"{training.num_cpus_per_env_runner:g} CPU + {learner_cpus} learner CPU(s) = "
                f"{runner_cpus + learner_cpus:g} CPUs, but Ray has {cpus:g}; lower num_env_runners or "
                "num_cpus_per_env_runner")
    return None


def check_resources(experiment: ExperimentConfig, embedded: bool) -> None:
    """CPUs and GPUs the config asks for must exist: Ray would otherwise wait for them forever.

    Embedded Ray cannot grow, so a shortfall is an error; a cluster may be autoscaling, so
    there it is a warning.
    """
    import ray

    resources = ray.cluster_resources()
    problem = _resource_shortfall(experiment, resources.get("CPU", 0.0), resources.get("GPU", 0.0))
    if problem is None:
        return
    if embedded:
        raise ConfigError(problem)
    logger.warning("%s (waiting for the cluster to provide them)", problem)


# --------------------------------------------------------------------------- logs


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
    ``learners/<module>/``. A resumed run appends to the same directory; ``purge_step``
    makes TensorBoard drop the events a killed run wrote after its last checkpoint."""

    def __init__(self, run_dir: Path, purge_step: int | None = None) -> None:
        from tensorboardX import SummaryWriter

        self.writer = SummaryWriter(str(run_dir / TENSORBOARD_DIR), purge_step=purge_step)

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


def trim_progress(run_dir: Path, iteration: int) -> int:
    """Drop progress rows after ``iteration`` (written by a run killed after its last checkpoint)."""
    path = run_dir / PROGRESS_FILE
    if not path.is_file():
        return 0
    lines = path.read_text(encoding="utf-8").splitlines()
    kept = [row for row in read_progress(run_dir) if row["iteration"] <= iteration]
    dropped = len(lines) - len(kept)           # later rows and a half-written last line
    if dropped:
        write_atomic(path, "".join(json.dumps(row) + "\n" for row in kept))
        logger.info("progress: dropped %d row(s) after iteration %d", dropped, iteration)
    return dropped


def _report(result: dict, stop: int) -> IterationReport:
    from ray.rllib.utils.metrics import ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME

    figures = dict(result.get("pe", {}))
    seconds = float(result.get("time_this_iter_s", float("nan")))
    steps = figures.get("env_steps", 0)
    return IterationReport(
        iteration=int(result["training_iteration"]), stop_iterations=stop, figures=figures,
        env_steps_lifetime=int(result.get(ENV_RUNNER_RESULTS, {}).get(NUM_ENV_STEPS_SAMPLED_LIFETIME, 0)),
        iteration_seconds=seconds, steps_per_second=steps / seconds if seconds > 0 else float("nan"))


# --------------------------------------------------------------------------- run directories


def check_new_run_dir(output: Path) -> None:
    """A new run's directory must be creatable and must not hold a run (checked before Ray starts)."""
    for parent in [output, *output.parents]:
        if parent.exists() and not parent.is_dir():
            raise RunDirectoryError(f"{output}: {parent} is a file, not a directory")
        if parent.exists():
            break
    if (output / EXPERIMENT_FILE).exists():
        raise RunDirectoryError(f"{output}: already holds a run; continue it with --resume {output}")


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
    return {role: {name: tensor.numpy() for name, tensor in state.items()} for role, state in weights.items()}


def _remove_new_entries(run_dir: Path, existing: set[str], created: bool) -> None:
    if created:
        shutil.rmtree(run_dir, ignore_errors=True)
        return
    for name in set(os.listdir(run_dir)) - existing:
        path = run_dir / name
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


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
) -> TrainSummary:
    """Train (or continue) a self-play run; returns where its checkpoint is.

    Everything that can be wrong with the inputs (config, run directory, checkpoint,
    resources) is checked before the first iteration, and a run that fails before its
    first checkpoint leaves no run directory behind (a new run) or an unchanged one (a
    resume). One process writes a run directory at a time (:class:`~pe_rllib.rundir.RunLock`).
    """
    address = address or os.environ.get("RAY_ADDRESS")
    if not address:
        keep_embedded_ray_on_loopback()            # before anything imports ray
    from pe_rllib.training.algorithm import build_algorithm_config

    plan = _plan(experiment, output, resume, resume_overrides)
    experiment = plan.experiment
    if stop_iterations is not None:
        if stop_iterations < 1:
            raise ConfigError(f"stop iterations: must be >= 1, got {stop_iterations}")
        # The algorithm evaluates at its last iteration: it must know where the run stops.
        experiment = replace(experiment, training=replace(experiment.training, stop_iterations=stop_iterations))
    stop = experiment.training.stop_iterations
    if not address:
        problem = _resource_shortfall(experiment, float(os.cpu_count() or 1), float("inf"))
        if problem is not None:
            raise ConfigError(problem)
    algo_config = build_algorithm_config(experiment, log_level)          # validates the env before Ray starts
    init_weights = initial_weights(experiment) if plan.checkpoint is None else {}

    run_dir = plan.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    existing = set(os.listdir(run_dir))
    lock = RunLock(run_dir)
    try:
        lock.acquire()
    except RunDirectoryError:
        _remove_new_entries(run_dir, existing, plan.created)
        raise
    if lock.previous_holder is not None and lock.previous_holder[1] == socket.gethostname() \
            and os.path.isdir("/proc"):
        reap_orphaned_ray(lock.previous_holder[0])
    saved, algo, embedded_ray = plan.checkpoint, None, False
    try:
        if resume is None:
            check_new_run_dir(run_dir)             # again, under the lock
            (run_dir / CHECKPOINTS).mkdir(exist_ok=True)
        # SIGTERM: ray.init installs sys.exit as its handler, so the finally clauses below run.
        import ray

        embedded_ray = not address and not ray.is_initialized()
        where = init_ray(address, dashboard, log_level)
        check_resources(experiment, embedded=not address)
        logger.info("running on %s", where)
        resumed_at = checkpoint_iteration(plan.checkpoint) if plan.checkpoint is not None else 0
        if resume is not None:
            trim_progress(run_dir, resumed_at)
        write_atomic(run_dir / EXPERIMENT_FILE, yaml.safe_dump(to_dict(experiment), sort_keys=False))
        if on_start is not None:
            on_start(f"{where}; {sampling_summary(experiment.training)}", run_dir)
        algo = algo_config.build_algo()
        algo.run_name = run_dir.resolve().name
        start = time.perf_counter()
        last_report = None
        if plan.checkpoint is not None:
            algo.restore_from_path(str(plan.checkpoint.resolve()))
            logger.info("resumed %s at iteration %d", plan.checkpoint, algo.iteration)
        elif init_weights:
            from pe_rllib.callbacks.league import start_league
            from pe_rllib.callbacks.weights import set_module_weights

            set_module_weights(algo, init_weights)
            start_league(algo)                     # the pools' first entries are the loaded weights
        every = experiment.training.checkpoint_every
        scalars = ScalarLog(run_dir, purge_step=resumed_at + 1 if resume is not None else None)
        try:
            with open(run_dir / PROGRESS_FILE, "a", encoding="utf-8") as progress:
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
        finally:
            scalars.close()
        iterations = algo.iteration
        env_steps = last_report.env_steps_lifetime if last_report else 0
    except BaseException:
        if resume is None and saved is None:               # a failed start leaves nothing behind
            _remove_new_entries(run_dir, existing, plan.created)
        raise
    finally:
        try:
            if algo is not None:
                algo.stop()
            if embedded_ray:
                import ray

                ray.shutdown()
        finally:
            lock.release()
    return TrainSummary(run_dir=run_dir, checkpoint=saved, iterations=iterations, env_steps=env_steps,
                        seconds=time.perf_counter() - start, last=last_report)

