"""The aerial world: env steps per second (batched vs a per-env loop), and the guidance laws' table.

    taskset -c 0 python benchmarks/bench_aerial.py [--episodes 1000]

Throughput: N in {1, 16, 256, 1024, 4096} arenas of the default aerial world (radar and Kalman filter for the
pursuer, 2 cylinders observed of 4), random actions, autoreset, against N single-arena PettingZoo envs
(``aerial_v0``) stepped one after another in a Python loop, measured in the same run. Pin to one core
(``taskset -c 0``) for one-core figures.

Guidance table: every scripted pursuer (pure pursuit, PN, APN on the tracked estimate; PN on the true state as
the upper bound) against every scripted evader, ``--episodes`` episodes each from the same starts: capture
rate with its 95 % interval, median miss distance (closest approach), median time to capture, crashes. Run
for the default CV tracker and for the CA tracker (whose acceleration estimate APN uses).

Results: benchmarks/results/aerial_throughput.json, aerial_guidance.json and BENCHMARKS.md (issue 24).
"""

from __future__ import annotations

import argparse

import numpy as np
from common import best_rate, save

from pe_rllib.envs import aerial_v0
from pe_rllib.envs.aerial import BatchedAerialPursuitEvasion, make_aerial_config
from pe_rllib.envs.core import CAPTURE, COLLISION
from pe_rllib.evaluation.matchups import wilson_interval
from pe_rllib.policies.guidance import EVADERS, make_guidance

WORLD = dict(n_obstacles=4, n_obstacle_obs=2)


def batched_rate(n: int) -> float:
    env = BatchedAerialPursuitEvasion(n, **WORLD)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    actions = [{r: rng.uniform(-1, 1, (n, 3)) for r in env.agents} for _ in range(8)]
    counter = iter(range(10**12))

    def run() -> int:
        env.step(actions[next(counter) % 8])
        return n
    return best_rate(run)


def loop_rate(n: int) -> float:
    envs = [aerial_v0.parallel_env(**WORLD) for _ in range(n)]
    for i, env in enumerate(envs):
        env.reset(seed=i)
    action = {"pursuer": np.array([0.5, 0.2, 0.0]), "evader": np.array([0.3, -0.4, 0.1])}

    def run() -> int:
        for env in envs:
            env.step(action)
            if not env.agents:
                env.reset()
        return len(envs)
    return best_rate(run)


def matchup(pursuer: str, evader: str, episodes: int, **fields) -> dict:
    """One scripted pairing over ``episodes`` first episodes of as many arenas (seeded starts)."""
    env = BatchedAerialPursuitEvasion(episodes, **fields)
    obs = env.reset(seed=11)
    p, e = make_guidance(pursuer, "pursuer", env.config, seed=1), make_guidance(evader, "evader", env.config, seed=2)
    ended = np.zeros(episodes, bool)
    outcome, miss, length = np.zeros(episodes, int), np.zeros(episodes), np.zeros(episodes)
    for _ in range(env.config.max_steps):
        actions = {"pursuer": p.act(obs["pursuer"]), "evader": e.act(obs["evader"])}
        obs, _, terminated, truncated, infos = env.step(actions)
        new = (terminated["pursuer"] | truncated["pursuer"]) & ~ended
        outcome[new], miss[new] = infos["pursuer"]["outcome"][new], infos["pursuer"]["miss_distance"][new]
        length[new] = infos["pursuer"]["episode_length"][new]
        ended |= new
    captured = outcome == CAPTURE
    low, high = wilson_interval(int(captured.sum()), episodes)
    return {"capture": round(float(captured.mean()), 3), "ci95": [round(low, 3), round(high, 3)],
            "miss_median_m": round(float(np.median(miss)), 2),
            "time_to_capture_median_s": round(float(np.median(length[captured])) * env.config.dt, 1)
            if captured.any() else None, "crash": round(float(np.mean(outcome == COLLISION)), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=1000)
    args = parser.parse_args()
    rows = []
    for n in (1, 16, 256, 1024, 4096):
        rate, baseline = batched_rate(n), loop_rate(min(n, 64))    # the loop's rate does not grow with N
        rows.append({"num_envs": n, "steps_per_s": round(rate), "loop_steps_per_s": round(baseline),
                     "speedup": round(rate / baseline, 1)})
        print(f"N={n:5d}  batched {rate:11,.0f} steps/s   per-env loop {baseline:8,.0f} steps/s   "
              f"x{rate / baseline:6.1f}", flush=True)
    save("aerial_throughput", rows)
    table = []
    for tracker in ("cv", "ca"):
        pursuers = [("pure_pursuit", "tracked"), ("pn", "tracked"), ("apn", "tracked"), ("pn", "full")]
        for pursuer, view in pursuers:
            for evader in EVADERS:
                fields = {**WORLD, "observation": view, "tracker": {"model": tracker}}
                row = {"tracker": tracker, "pursuer": pursuer, "view": view, "evader": evader,
                       **matchup(pursuer, evader, args.episodes, **fields)}
                table.append(row)
                print(f"{tracker} {pursuer:>12} ({view:7}) vs {evader:>10}: capture {row['capture']:.3f} "
                      f"[{row['ci95'][0]:.3f}, {row['ci95'][1]:.3f}]  miss {row['miss_median_m']:7.2f} m  "
                      f"t {row['time_to_capture_median_s']} s  crash {row['crash']:.3f}", flush=True)
    save("aerial_guidance", table)


if __name__ == "__main__":
    make_aerial_config()          # fail fast on a broken default world
    main()
