"""The sampling cost of teachers acting on the runners (``league.teacher_view: full | remembered``), one run.

    python benchmarks/bench_teacher_view.py [--config partial] [--rounds 5]

One in-process batched runner (64 arenas, both roles' episodes built) per view samples in alternating rounds of
:data:`SAMPLE_SECONDS`: ``observed`` (no teacher on the runner: the learner computes their actions), ``full``
(each role's teacher acts on its privileged observation at every step) and ``remembered`` (on its dead-reckoned
view). Rounds alternate so that load on a shared machine falls on all alike; the figures are the ratios of the
medians to ``observed``'s. Results: benchmarks/results/teacher_view_sampling.json and BENCHMARKS.md.
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
VIEWS = ("observed", "full", "remembered")


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

    algos, runners, rates = [], {}, {view: [] for view in VIEWS}
    try:
        for view in VIEWS:
            experiment = load_experiment(args.config, {"league.teacher_view": view, "evaluation.every": 0,
                                                       "training.num_env_runners": 0,
                                                       "training.min_fragment_length": 0,
                                                       "training.num_envs_per_env_runner": ARENAS})
            algos.append(build_algorithm_config(experiment).build_algo())
            runner = runners[view] = algos[-1].env_runner_group.local_env_runner
            runner.frozen_episodes = True                       # both roles act and are built, as in training
            runner.set_teachers({role: {"family": make_family(role, experiment.env).family,
                                        "params": make_family(role, experiment.env).defaults().tolist()}
                                 for role in ROLES})            # (ignored by "observed": the learner's job)
            runner.sample(num_timesteps=ARENAS * 32)            # warm-up
        for _ in range(args.rounds):
            for view, runner in runners.items():
                rates[view].append(rate(runner, ARENAS * 32))
    finally:
        for algo in algos:
            algo.stop()
    row = {"config": args.config, "arenas": ARENAS, "rounds": args.rounds,
           **{f"{view}_steps_per_s": round(statistics.median(r)) for view, r in rates.items()}}
    for view in VIEWS[1:]:
        row[f"{view}_vs_observed"] = round(row[f"{view}_steps_per_s"] / row["observed_steps_per_s"], 3)
    save(args.name, [row])
    print(row)


if __name__ == "__main__":
    main()
