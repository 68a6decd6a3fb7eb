"""Issue 24: the aerial safety filter's crashes and cost, against the same world without it, in one run.

    python benchmarks/aerial_safety.py [--arenas 256] [--steps 1600] [--name aerial_safety]

Crashes: both drones flown by adversarial pilots (full thrust into the nearest surface, into a corner of the
airspace, or along random directions held for 10 s) for ``--steps`` steps in ``--arenas`` arenas, with and
without the filter, in the default airspace (4 cylinders of 5-20 m) and a crowded one (12 cylinders of
5-40 m, where gaps between cylinders narrow below a body's width). Counts crashes, episodes, steps the filter
changed and steps it had no solution for.

Cost: env steps per second of the batched world with and without the filter at N = 128 and 1024, under random
actions (the filter rarely acts) and under the nearest-surface pilot (it acts on most steps), best of 3.

Results: benchmarks/results/NAME.json and BENCHMARKS.md (issue 24, "The aerial safety filter").
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from common import best_rate, save

from pe_rllib.config import ExperimentConfig, from_dict
from pe_rllib.safety import make_batched_env
from pe_rllib.safety.aerial import barrier_rows

AIRSPACES = {"default": {"n_obstacles": 4}, "crowded": {"n_obstacles": 12, "obstacle_radius_max": 40.0}}
PILOTS = ("nearest_surface", "corner", "persistent", "random")


def experiment(safety: bool, airspace: str) -> ExperimentConfig:
    return from_dict(ExperimentConfig, {"world": "aerial", "safety": {"enabled": safety},
                                        "aerial": {"observation": "full", **AIRSPACES[airspace]}})


class Pilot:
    """World-frame thrust directions turned into each drone's line-of-sight actions."""

    def __init__(self, kind: str, exp: ExperimentConfig, n: int, seed: int = 1) -> None:
        self.kind, self.exp, self.n = kind, exp, n
        self.rng = np.random.default_rng(seed)
        self.t, self.direction = 0, None

    def __call__(self, env) -> dict[str, np.ndarray]:
        state = env.world_state()
        if self.kind == "nearest_surface":
            normals, _, distance = barrier_rows(self.exp.aerial, self.exp.safety, state)
            target = np.take_along_axis(normals, distance.argmin(-1)[..., None, None].repeat(3, -1), 2)[:, :, 0]
        elif self.kind == "corner":
            target = np.broadcast_to(np.array([1.0, 1.0, -1.0]) / np.sqrt(3.0), (self.n, 2, 3))
        elif self.kind == "persistent":
            if self.t % 200 == 0:
                self.direction = self.rng.normal(size=(self.n, 2, 3))
            target = self.direction / np.linalg.norm(self.direction, axis=-1, keepdims=True)
        else:
            return {role: self.rng.uniform(-1, 1, (self.n, 3)) for role in env.agents}
        self.t += 1
        actions = np.einsum("nrji,nrj->nri", state.frames, target)
        return {role: actions[:, i] for i, role in enumerate(env.agents)}


def crashes(airspace: str, pilot: str, safety: bool, arenas: int, steps: int) -> dict:
    exp = experiment(safety, airspace)
    env = make_batched_env(arenas, exp)
    env.reset(seed=0)
    fly = Pilot(pilot, exp, arenas)
    out = {"airspace": airspace, "pilot": pilot, "safety": safety, "crashes": 0, "episodes": 0,
           "intervened_steps": 0, "infeasible_steps": 0, "drone_steps": 2 * arenas * steps}
    for _ in range(steps):
        _, _, terminated, truncated, infos = env.step(fly(env))
        out["episodes"] += int((terminated["pursuer"] | truncated["pursuer"]).sum())
        for role in env.agents:
            out["crashes"] += int(infos[role]["collision"].sum())
            out["intervened_steps"] += int(infos[role].get("safety_intervened", np.zeros(1, bool)).sum())
            out["infeasible_steps"] += int(infos[role].get("safety_infeasible", np.zeros(1, bool)).sum())
    return out


def cost(n: int, pilot: str) -> dict:
    rates = {}
    for safety in (False, True):
        exp = experiment(safety, "default")
        env = make_batched_env(n, exp)
        env.reset(seed=0)
        fly = Pilot(pilot, exp, n)
        for _ in range(50):                                   # reach the surfaces first
            env.step(fly(env))

        def run() -> int:
            env.step(fly(env))
            return n
        rates[safety] = best_rate(run)
    return {"arenas": n, "pilot": pilot, "steps_per_s_off": round(rates[False]),
            "steps_per_s_on": round(rates[True]), "on_over_off": round(rates[True] / rates[False], 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arenas", type=int, default=256)
    parser.add_argument("--steps", type=int, default=1600)
    parser.add_argument("--name", default="aerial_safety")
    args = parser.parse_args()
    rows = []
    for airspace in AIRSPACES:
        for pilot in PILOTS:
            for safety in (False, True):
                started = time.perf_counter()
                row = crashes(airspace, pilot, safety, args.arenas, args.steps)
                rows.append({"kind": "crashes", **row, "seconds": round(time.perf_counter() - started, 1)})
                print(f"{airspace:>8} {pilot:>16} filter {'on ' if safety else 'off'}: {row['crashes']:5d} crashes in "
                      f"{row['episodes']:5d} episodes; changed {row['intervened_steps'] / row['drone_steps']:.1%} of "
                      f"drone steps, no solution on {row['infeasible_steps']}", flush=True)
    for n in (128, 1024):
        for pilot in ("random", "nearest_surface"):
            row = cost(n, pilot)
            rows.append({"kind": "cost", **row})
            print(f"N={n:5d} {pilot:>16}: {row['steps_per_s_off']:>9,} env steps/s without the filter, "
                  f"{row['steps_per_s_on']:>9,} with it ({row['on_over_off']:.2f}x)", flush=True)
    save(args.name, rows)


if __name__ == "__main__":
    main()
