"""The Ray session of a run: embedded local Ray kept on loopback with a private token, or a cluster's
address; the resources a config asks for; and the processes a killed driver left behind."""

from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path

from pe_rllib.config import ConfigError, ExperimentConfig

logger = logging.getLogger(__name__)


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


def ray_address(address: str | None) -> str | None:
    """The Ray cluster a run attaches to: ``address``, else ``RAY_ADDRESS`` (set by ``ray job submit``). When
    neither is set the run embeds a local Ray, and its loopback-only mode is selected here
    (:func:`keep_embedded_ray_on_loopback`), so call this before anything imports Ray."""
    address = address or os.environ.get("RAY_ADDRESS")
    if not address:
        keep_embedded_ray_on_loopback()
    return address


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


def init_ray(address: str | None = None, dashboard: bool = True, log_level: str = "INFO",
             rllib_log_level: str = "ERROR") -> str:
    """Embedded local Ray unless an address (or RAY_ADDRESS, set by ``ray job submit``) is given.

    ``rllib_log_level`` is RLlib's logger level from here on. ERROR by default: at WARN, PPO's
    KL-coefficient update warns "KL divergence ... non-finite" every iteration for the *frozen*
    module (it peeks that module's emptied KL metric, gets NaN and, correctly, leaves its
    coefficient alone); RLlib itself applies ``config.log_level`` only in ``Algorithm.setup``,
    after its config validation has already warned.

    A bare ``ray.init()`` would attach to whatever cluster a stale ``ray_current_cluster``
    file names, so the embedded case says ``address="local"`` explicitly. Embedded Ray
    binds to 127.0.0.1 (see :func:`keep_embedded_ray_on_loopback`; the dashboard host is
    set explicitly too). Returns a one-line description of where the run executes.
    """
    address = ray_address(address)
    import ray

    logging.getLogger("ray.rllib").setLevel(rllib_log_level)
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


def resource_shortfall(experiment: ExperimentConfig, cpus: float, gpus: float) -> str | None:
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
    problem = resource_shortfall(experiment, resources.get("CPU", 0.0), resources.get("GPU", 0.0))
    if problem is None:
        return
    if embedded:
        raise ConfigError(problem)
    logger.warning("%s (waiting for the cluster to provide them)", problem)
