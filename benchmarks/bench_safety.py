"""Safety filter latency per action: exact batched QP vs the cvxpy reference, same run.

    python benchmarks/bench_safety.py

States: robots spawned in random 8-obstacle layouts and moved towards their nearest
obstacle, nominal actions at full speed with random turn rates (so a good share of
rows need a correction), walls included. Targets: <= 10 us/action at N=1024,
<= 100 us at N=1, >= 50x faster than cvxpy.
"""

from __future__ import annotations

import time

import numpy as np

from common import best_rate, save
from pe_rllib.config import EnvConfig
from pe_rllib.envs.core import sample_obstacles, sample_spawns
from pe_rllib.safety import SafetyFilter

ENV = EnvConfig(n_obstacles=8)


def instances(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    obstacles = sample_obstacles(ENV, rng, n)
    pose = sample_spawns(ENV, rng, obstacles)[:, 0]
    centre = obstacles[np.arange(n), np.argmin(np.linalg.norm(obstacles[..., :2] - pose[:, None, :2], axis=-1), 1)]
    to = centre[:, :2] - pose[:, :2]
    gap = np.linalg.norm(to, axis=1) - centre[:, 2] - 0.4
    pose[:, :2] += to / np.linalg.norm(to, axis=1, keepdims=True) * (rng.uniform(0, 1, n) * gap)[:, None]
    pose[:, 2] = np.arctan2(to[:, 1], to[:, 0]) + rng.normal(0, 0.5, n)
    actions = np.stack([np.ones(n), rng.uniform(-2.84, 2.84, n)], 1)
    return pose, actions, obstacles


def main() -> None:
    exact, reference = SafetyFilter(ENV), SafetyFilter(ENV, solver="cvxpy")
    rows = []
    for n in (1, 1024):
        pose, actions, obstacles = instances(n)
        _, info = exact.filter(pose, actions, obstacles)
        rate = best_rate(lambda: (exact.filter(pose, actions, obstacles), n)[1])
        ref_n = min(n, 200)                       # cvxpy is per row; 200 rows give a stable figure
        start = time.perf_counter()
        reference.filter(pose[:ref_n], actions[:ref_n], obstacles[:ref_n])
        ref_rate = ref_n / (time.perf_counter() - start)
        row = {"num_envs": n, "exact_us_per_action": round(1e6 / rate, 2),
               "cvxpy_us_per_action": round(1e6 / ref_rate, 1), "speedup": round(rate / ref_rate, 1),
               "intervened_share": round(float(info["intervened"].mean()), 3)}
        rows.append(row)
        print(f"N={n:5d}  exact {row['exact_us_per_action']:8.2f} us/action   cvxpy "
              f"{row['cvxpy_us_per_action']:8.1f} us/action   x{row['speedup']:7.1f}   "
              f"(interventions {row['intervened_share']:.0%})")
    save("safety_latency", rows)


if __name__ == "__main__":
    main()
