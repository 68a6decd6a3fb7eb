"""The throughput cost of recurrence: MLP, LSTM and GRU policies, sampling and learning, one run.

    python benchmarks/bench_recurrent.py [--config quickstart] [--iterations 4]

For each variant of :data:`VARIANTS` (mlp, lstm, gru, and the LSTM with one encoder shared by policy and value,
``training.shared_encoder``; cell 64, sequences of 20 steps), in one process:

1. Sampling alone: ``sample()`` of one in-process batched runner (64 arenas), env steps per second.
2. End to end: ``--iterations`` iterations of the experiment's own training (its runners and
   batch) after one warm-up iteration; env steps per second of wall time and RLlib's own timers
   (sampling, learner update).

Every figure is also given as a ratio to the MLP's, measured in the same run.
Results: benchmarks/results/recurrent_throughput.json and BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import time

from common import save

from pe_rllib.config import load_experiment
from pe_rllib.training.session import init_ray, keep_embedded_ray_on_loopback

VARIANTS = {"mlp": {"training.model": "mlp"}, "lstm": {"training.model": "lstm"}, "gru": {"training.model": "gru"},
            "lstm_shared": {"training.model": "lstm", "training.shared_encoder": True}}
SAMPLE_SECONDS = 6.0
ARENAS = 64


def _experiment(config: str, model: str, **overrides):
    return load_experiment(config, {**VARIANTS[model], "training.cell_size": 64, "training.max_seq_len": 20,
                                    "evaluation.every": 0, **overrides})


def sampling(config: str, model: str) -> float:
    from pe_rllib.training.algorithm import build_algorithm_config

    experiment = _experiment(config, model, **{"training.num_env_runners": 0,
                                               "training.num_envs_per_env_runner": ARENAS,
                                               "training.min_fragment_length": 0})
    algo = build_algorithm_config(experiment).build_algo()
    try:
        runner = algo.env_runner_group.local_env_runner
        chunk = ARENAS * 32
        runner.sample(num_timesteps=chunk)                      # warm-up
        start, steps = time.perf_counter(), 0
        while time.perf_counter() - start < SAMPLE_SECONDS:
            runner.sample(num_timesteps=chunk)
            steps += chunk
        return steps / (time.perf_counter() - start)
    finally:
        algo.stop()


def end_to_end(config: str, model: str, iterations: int) -> dict:
    from pe_rllib.training.algorithm import build_algorithm_config

    experiment = _experiment(config, model)
    algo = build_algorithm_config(experiment).build_algo()
    try:
        algo.train()                                            # warm-up
        sample_s = learn_s = 0.0
        start = time.perf_counter()
        for _ in range(iterations):
            timers = algo.train()["timers"]
            sample_s += timers.get("env_runner_sampling_timer", 0.0)
            learn_s += timers.get("learner_update_timer", 0.0)
        wall = time.perf_counter() - start
    finally:
        algo.stop()
    steps = iterations * experiment.training.total_batch_size
    return {"steps_per_s": steps / wall, "sampling_s_per_iter": sample_s / iterations,
            "learning_s_per_iter": learn_s / iterations}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="quickstart")
    parser.add_argument("--iterations", type=int, default=4)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--name", default="recurrent_throughput")
    args = parser.parse_args()
    keep_embedded_ray_on_loopback()
    init_ray(None, dashboard=False, log_level="ERROR")
    rows = []
    for model in args.variants:
        rate = sampling(args.config, model)
        e2e = end_to_end(args.config, model, args.iterations)
        rows.append({"model": model, "sampling_steps_per_s": round(rate), **{k: round(v, 3) for k, v in e2e.items()}})
        print(rows[-1], flush=True)
    base = rows[0]
    for row in rows:
        row["sampling_vs_mlp"] = round(row["sampling_steps_per_s"] / base["sampling_steps_per_s"], 3)
        row["end_to_end_vs_mlp"] = round(row["steps_per_s"] / base["steps_per_s"], 3)
        row["learning_time_vs_mlp"] = round(row["learning_s_per_iter"] / base["learning_s_per_iter"], 3)
    save(args.name, [{"config": args.config, "iterations": args.iterations, **row} for row in rows])
    for row in rows:
        print(f"{row['model']:>11}: sampling {row['sampling_steps_per_s']:,} steps/s ({row['sampling_vs_mlp']}x), "
              f"end to end {row['steps_per_s']:,.0f} steps/s ({row['end_to_end_vs_mlp']}x), learner "
              f"{row['learning_s_per_iter']:.2f} s/iter ({row['learning_time_vs_mlp']}x)")


if __name__ == "__main__":
    main()
