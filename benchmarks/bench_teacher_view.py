"""The sampling cost of privileged teachers (``league.teacher_view: full``), one run.

    python benchmarks/bench_teacher_view.py [--config partial] [--rounds 5]

One in-process batched runner (64 arenas) of the experiment samples in alternating rounds of
:data:`SAMPLE_SECONDS`: without teachers (the learner computes their actions, as with ``teacher_view:
observed``), and with a teacher for each role, whose actions the runner computes on the privileged observation
at every step. Rounds alternate so that load on a shared machine falls on both alike; the figure is the ratio of
the medians. Results: benchmarks/results/teacher_view_sampling.json and BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import statistics
import time

from common import save

from pe_rllib.config import ROLES, load_experiment
from pe_rllib.policies.families import make_family
from pe_rllib.training.session import init_ray, keep_embedded_ray_on_loopback

SAMPLE_SECONDS = 5.0
ARENAS = 64


def rate(runner, chunk: int) -> float:
    start, steps = time.perf_counter(), 0
    while time.perf_counter() - start < SAMPLE_SECONDS:
        runner.sample(num_timesteps=chunk)
        steps += chunk
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="partial")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--name", default="teacher_view_sampling")
    args = parser.parse_args()
    keep_embedded_ray_on_loopback()
    init_ray(None, dashboard=False, log_level="ERROR")
    from pe_rllib.training.algorithm import build_algorithm_config

    experiment = load_experiment(args.config, {"league.teacher_view": "full", "evaluation.every": 0,
                                               "training.num_env_runners": 0, "training.min_fragment_length": 0,
                                               "training.num_envs_per_env_runner": ARENAS})
    teachers = {role: {"family": make_family(role, experiment.env).family,
                       "params": make_family(role, experiment.env).defaults().tolist()} for role in ROLES}
    algo = build_algorithm_config(experiment).build_algo()
    rates = {"observed": [], "full": []}
    try:
        runner = algo.env_runner_group.local_env_runner
        runner.frozen_episodes = True                           # both roles act and are built, as in training
        chunk = ARENAS * 32
        runner.sample(num_timesteps=chunk)                      # warm-up
        for _ in range(args.rounds):
            for view in rates:
                runner.set_teachers(teachers if view == "full" else {})
                rates[view].append(rate(runner, chunk))
    finally:
        algo.stop()
    row = {"config": args.config, "arenas": ARENAS, "rounds": args.rounds,
           **{f"{view}_steps_per_s": round(statistics.median(r)) for view, r in rates.items()}}
    row["full_vs_observed"] = round(row["full_steps_per_s"] / row["observed_steps_per_s"], 3)
    save(args.name, [row])
    print(row)


if __name__ == "__main__":
    main()
