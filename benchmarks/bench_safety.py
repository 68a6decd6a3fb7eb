"""Safety filter latency per action: exact batched QP vs the cvxpy reference, same run.

    python benchmarks/bench_safety.py

States: robots spawned in random 8-obstacle layouts and moved towards their nearest
obstacle, nominal actions at full speed with random turn rates (so a good share of
rows need a correction), walls included. Targets: <= 10 us/action at N=1024,
<= 100 us at N=1, >= 50x faster than cvxpy. cvxpy is timed twice: as the filter's
reference (tight tolerances + polishing) and with OSQP's default tolerances.
"""

from __future__ import annotations

import time

import numpy as np
from common import best_rate, save

from pe_rllib.config import EnvConfig
from pe_rllib.envs.core import sample_obstacles, sample_spawns
from pe_rllib.safety import SafetyFilter
from pe_rllib.safety.reference import CvxpyQP

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


def cvxpy_us_per_solve(filt: SafetyFilter, pose, actions, obstacles, options: dict, rows: int = 200) -> float:
    """Microseconds per row of the cvxpy QP (compiled once), with the given OSQP options.

    The filter's reference runs OSQP at eps 1e-9 with polishing (exact to 1e-15, the
    ground truth in the tests); "default tolerances" is plain OSQP as most users would call it.
    """
    a, b = filt.constraints(pose[:rows], obstacles[:rows])
    qp = CvxpyQP(a.shape[1], filt.low, filt.high, filt.weights)
    qp.options = options
    qp.solve(a[0], b[0], actions[0])
    start = time.perf_counter()
    for i in range(rows):
        qp.solve(a[i], b[i], actions[i])
    return (time.perf_counter() - start) / rows * 1e6


def main() -> None:
    exact, reference = SafetyFilter(ENV), SafetyFilter(ENV, solver="cvxpy")
    pose, actions, obstacles = instances(1024)
    reference_us = cvxpy_us_per_solve(reference, pose, actions, obstacles, CvxpyQP.SOLVER_OPTIONS["OSQP"])
    default_us = cvxpy_us_per_solve(reference, pose, actions, obstacles, {})
    rows = []
    for n in (1, 1024):
        # N = 1 cycles through the 1024 single-robot instances, so both figures average over
        # the same mix of states (some needing a correction, most not).
        batches = [(pose[i:i + n], actions[i:i + n], obstacles[i:i + n]) for i in range(0, 1024, n)]
        cursor = iter(range(10**12))

        def run() -> int:
            exact.filter(*batches[next(cursor) % len(batches)])
            return n
        rate = best_rate(run)
        _, info = exact.filter(pose, actions, obstacles)
        row = {"num_envs": n, "exact_us_per_action": round(1e6 / rate, 2),
               "cvxpy_reference_us": round(reference_us, 1), "cvxpy_default_tol_us": round(default_us, 1),
               "speedup_vs_reference": round(reference_us * rate / 1e6, 1),
               "speedup_vs_default_tol": round(default_us * rate / 1e6, 1),
               "intervened_share": round(float(info["intervened"].mean()), 3)}
        rows.append(row)
        print(f"N={n:5d}  exact {row['exact_us_per_action']:8.2f} us/action   cvxpy reference "
              f"{reference_us:8.1f} us (x{row['speedup_vs_reference']:.0f})   cvxpy default tolerances "
              f"{default_us:7.1f} us (x{row['speedup_vs_default_tol']:.0f})   "
              f"(interventions {row['intervened_share']:.0%})")
    save("safety_latency", rows)


if __name__ == "__main__":
    main()
