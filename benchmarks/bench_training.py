"""Training throughput of the quickstart: 0, 1 and 2 env runners, our adapter vs RLlib's stock path.

    python benchmarks/bench_training.py

Both paths train the same experiment (tune_configs/quickstart.yaml, safety filter on)
with the same PPO settings; the stock path wraps the same PettingZoo env in RLlib's
``ParallelPettingZooEnv``. Per configuration: one warm-up iteration, then env steps
sampled per second of wall time (sampling + learning) over ``ITERATIONS`` iterations.
(RLlib's own sampling timer is smoothed across iterations, warm-up included, so it is
not used for a sampling-only figure.)
"""

from __future__ import annotations

import sys
from pathlib import Path

import ray
from common import save

from pe_rllib.config import load_experiment
from pe_rllib.safety import make_parallel_env
from pe_rllib.training.algorithm import build_algorithm_config

ITERATIONS = 3
QUICKSTART = Path(__file__).resolve().parent.parent / "tune_configs" / "quickstart.yaml"


def stock_env(config):
    from ray.rllib.env.wrappers.pettingzoo_env import ParallelPettingZooEnv

    from pe_rllib.training.rllib_env import experiment_from_env_config
    return ParallelPettingZooEnv(make_parallel_env(experiment_from_env_config(config)))


def measure(path: str, runners: int) -> dict:
    from ray.rllib.utils.metrics import ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED
    from ray.tune.registry import register_env

    experiment = load_experiment(QUICKSTART, {"training.num_env_runners": runners})
    config = build_algorithm_config(experiment)
    if path == "stock":
        register_env("pe_stock", stock_env)
        config = config.environment("pe_stock", env_config=config.env_config)
    algo = config.build_algo()
    try:
        algo.train()
        wall = steps = 0.0
        for _ in range(ITERATIONS):
            result = algo.train()
            steps += result[ENV_RUNNER_RESULTS][NUM_ENV_STEPS_SAMPLED]
            wall += result["time_this_iter_s"]
    finally:
        algo.stop()
    return {"path": path, "env_runners": runners, "envs_per_runner": experiment.training.num_envs_per_env_runner,
            "steps_per_s": round(steps / wall)}


def main() -> None:
    ray.init(address="local", include_dashboard=False, log_to_driver=False)
    rows = []
    for runners in (0, 1, 2):
        for path in ("ours", "stock"):
            row = measure(path, runners)
            rows.append(row)
            print(f"{path:6s} env_runners={runners}  {row['steps_per_s']:6d} env steps/s (sample + train)",
                  flush=True)
    save("training_throughput", rows)


if __name__ == "__main__":
    sys.exit(main())
