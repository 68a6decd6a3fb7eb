"""Env steps per second of the batched core vs a per-env Python loop of the same world.

    python benchmarks/bench_env.py            # N in {1, 64, 4096}, full and partial observation

World: 8 obstacles, 16 LiDAR rays (partial), random actions, autoreset. The baseline
steps N single-arena PettingZoo envs one after another in a Python loop (the way a
per-env implementation would), measured in the same run. Pinned to one core by the
caller (``taskset -c 0``) for the one-core figures.
"""

from __future__ import annotations

import numpy as np
from common import best_rate, save

from pe_rllib.envs import BatchedPursuitEvasion, PursuitEvasionEnv

WORLD = dict(n_obstacles=8, n_lidar_rays=16)


def batched_rate(n: int, observation: str) -> float:
    env = BatchedPursuitEvasion(n, observation=observation, **WORLD)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    actions = [{r: rng.uniform(-1, 1, (n, 2)) for r in env.agents} for _ in range(8)]
    counter = iter(range(10**12))

    def run() -> int:
        env.step(actions[next(counter) % 8])
        return n
    return best_rate(run)


def loop_rate(n: int, observation: str) -> float:
    envs = [PursuitEvasionEnv(observation=observation, **WORLD) for _ in range(min(n, 64))]
    for i, env in enumerate(envs):
        env.reset(seed=i)
    rng = np.random.default_rng(0)
    action = {"pursuer": rng.uniform(-1, 1, 2), "evader": rng.uniform(-1, 1, 2)}

    def run() -> int:
        for env in envs:
            env.step(action)
            if not env.agents:
                env.reset()
        return len(envs)
    return best_rate(run)


def main() -> None:
    rows = []
    for observation in ("full", "partial"):
        baseline = loop_rate(64, observation)          # per-env loop speed does not depend on N
        for n in (1, 64, 4096):
            rate = batched_rate(n, observation)
            rows.append({"observation": observation, "num_envs": n, "steps_per_s": round(rate),
                         "loop_steps_per_s": round(baseline), "speedup": round(rate / baseline, 1)})
            print(f"{observation:8s} N={n:5d}  batched {rate:12,.0f} steps/s   per-env loop "
                  f"{baseline:9,.0f} steps/s   x{rate / baseline:6.1f}")
    save("env_throughput", rows)


if __name__ == "__main__":
    main()
