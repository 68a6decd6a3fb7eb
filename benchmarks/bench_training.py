"""Training throughput: RLlib's stock multi-agent sampler vs pe_rllib's batched sampler, one run.

    python benchmarks/bench_training.py

On the quickstart world (safety filter on), measured in one process on this machine:

1. Sampling alone: ``sample()`` of one in-process env runner, env steps per second (stock
   runner with 4 and 64 envs; batched runner with N = 64, 256, 1024 arenas), and the
   runner process's resident memory after sampling.
2. End to end (sampling + learning, 2 remote env runners): the quickstart's own PPO
   settings with each sampler, and a throughput config for the batched sampler (larger
   batch, fewer epochs). Env steps per second of wall time over ``ITERATIONS``
   iterations after one warm-up iteration, and where the iteration's time goes
   (RLlib's own timers: sampling, learner update, weight sync).

Results: benchmarks/results/training_throughput.json and BENCHMARKS.md.
"""

from __future__ import annotations

import resource
import sys
import time

from common import save

from pe_rllib.config import load_experiment
from pe_rllib.training.session import init_ray, keep_embedded_ray_on_loopback

ITERATIONS = 3
SAMPLE_SECONDS = 6.0
THROUGHPUT = {"training.train_batch_size_per_learner": 32_000, "training.minibatch_size": 4_000,
              "training.num_epochs": 2, "training.num_envs_per_env_runner": 256}


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def sampling(sampler: str, envs: int) -> dict:
    from pe_rllib.training.algorithm import build_algorithm_config

    experiment = load_experiment("quickstart", {"training.sampler": sampler, "training.num_env_runners": 0,
                                                "training.num_envs_per_env_runner": envs})
    algo = build_algorithm_config(experiment).build_algo()
    try:
        runner = algo.env_runner_group.local_env_runner
        chunk = max(envs * 32, 2000)
        runner.sample(num_timesteps=chunk)                      # warm-up (compilation, first resets)
        start, steps = time.perf_counter(), 0
        while time.perf_counter() - start < SAMPLE_SECONDS:
            runner.sample(num_timesteps=chunk)
            steps += chunk
        rate = steps / (time.perf_counter() - start)
    finally:
        algo.stop()
    return {"part": "sampling", "sampler": sampler, "envs": envs, "steps_per_s": round(rate),
            "max_rss_mb": round(rss_mb())}


def end_to_end(sampler: str, label: str, overrides: dict) -> dict:
    from ray.rllib.utils.metrics import ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED

    from pe_rllib.training.algorithm import build_algorithm_config

    experiment = load_experiment("quickstart", {"training.sampler": sampler, **overrides})
    algo = build_algorithm_config(experiment).build_algo()
    try:
        algo.train()
        wall = steps = 0.0
        timers: dict[str, float] = {}
        for _ in range(ITERATIONS):
            start = time.perf_counter()
            result = algo.train()
            wall += time.perf_counter() - start
            steps += result[ENV_RUNNER_RESULTS][NUM_ENV_STEPS_SAMPLED]
            for key, value in result.get("timers", {}).items():
                if isinstance(value, (int, float)):
                    timers[key] = timers.get(key, 0.0) + value
        runner_rss = algo.env_runner_group.foreach_env_runner(
            lambda runner: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, local_env_runner=False)
    finally:
        algo.stop()
    return {"part": "end_to_end", "sampler": sampler, "config": label,
            "envs": experiment.training.num_envs_per_env_runner,
            "batch": experiment.training.train_batch_size_per_learner, "epochs": experiment.training.num_epochs,
            "steps_per_s": round(steps / wall), "seconds_per_iteration": round(wall / ITERATIONS, 3),
            "timers_s_per_iteration": {k: round(v / ITERATIONS, 3) for k, v in sorted(timers.items())},
            "runner_max_rss_mb": [round(x) for x in runner_rss]}


def main() -> int:
    keep_embedded_ray_on_loopback()
    init_ray(dashboard=False)
    rows = []
    for sampler, envs in (("rllib", 4), ("rllib", 64), ("batched", 64), ("batched", 256), ("batched", 1024)):
        rows.append(sampling(sampler, envs))
        print(rows[-1], flush=True)
    for sampler, label, overrides in (("rllib", "quickstart", {}),
                                      ("batched", "quickstart", {"training.num_envs_per_env_runner": 64}),
                                      ("batched", "throughput", THROUGHPUT)):
        rows.append(end_to_end(sampler, label, overrides))
        print(rows[-1], flush=True)
    save("training_throughput", rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
