"""What a run reports per iteration: the progress row (:class:`IterationReport`) and the TensorBoard log
(:class:`ScalarLog`, which also holds the experiment as text)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import yaml

from pe_rllib.rundir import TENSORBOARD_DIR


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


def iteration_report(result: dict, stop: int) -> IterationReport:
    from ray.rllib.utils.metrics import ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME

    figures = dict(result.get("pe", {}))
    seconds = float(result.get("time_this_iter_s", float("nan")))
    steps = figures.get("env_steps", 0)
    return IterationReport(
        iteration=int(result["training_iteration"]), stop_iterations=stop, figures=figures,
        env_steps_lifetime=int(result.get(ENV_RUNNER_RESULTS, {}).get(NUM_ENV_STEPS_SAMPLED_LIFETIME, 0)),
        iteration_seconds=seconds, steps_per_second=steps / seconds if seconds > 0 else float("nan"))


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

    def write_experiment(self, experiment: dict, step: int = 0) -> None:
        """The experiment as YAML text (TensorBoard's text tab), so the log says what was run."""
        self.writer.add_text("experiment", "```\n" + yaml.safe_dump(experiment, sort_keys=False) + "```", step)

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
