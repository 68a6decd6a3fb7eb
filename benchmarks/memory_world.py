"""The memory test world: do recurrent pursuers beat an MLP pursuer trained on the same budget?

    python benchmarks/memory_world.py [--iterations 100] [--seeds 0 1 2] [--variants mlp lstm lstm_fb3 gru]
                                      [--out-dir DIR] [--name memory_world]

The world (the bundled ``tune_configs/memory.yaml``): an open 8 x 8 m arena, a stationary evader (the
scripted ``random`` evader at 0.01 m/s) 2.5-3.5 m away in any direction, a capture radius of 1.5 m, 90
steps (4.5 s at 1 m/s), a pursuer held still for its first 3 steps (``prep_steps``), during which it sees the evader
(``opponent_visible_steps: 3``) and never after. A capture needs the pursuer to turn towards where the
evader was and drive there; only a policy with memory knows where that is (a memoryless one cannot even use
its heading as memory: it could not turn while it saw the evader), and there is too little time to search
the disc. Each seed trains the pursuer alone against that evader (``selfplay.cold_start_opponent``) for
``--iterations`` iterations of 2,000 env steps per variant of :data:`VARIANTS` (same PPO settings), then
plays 1,000 deterministic episodes of each.

An earlier version of this world (60 steps, capture radius 1 m, 2-3 m apart) left almost no time for anything
but a perfect turn, and its results (``results/memory_world.json`` and ``memory_world_300.json``, 150 and 300
iterations) were within noise of the MLP's.

Results: benchmarks/results/memory_world_v2.json and BENCHMARKS.md (issue 23).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from common import save

from pe_rllib.config import ExperimentConfig, load_experiment
from pe_rllib.envs.core import CAPTURE

EPISODES = 1000
VARIANTS = {"mlp": {"model": "mlp"}, "lstm": {"model": "lstm"}, "lstm_fb3": {"model": "lstm", "lstm_forget_bias": 3.0},
            "gru": {"model": "gru"}, "lstm_shared": {"model": "lstm", "shared_encoder": True}}
"""The pursuers compared, as ``training`` overrides (``lstm``: the default forget-gate bias, 1)."""


def memory_experiment(variant: str, iterations: int, seed: int) -> ExperimentConfig:
    """The memory world's pursuer-only run of ``variant`` (a key of :data:`VARIANTS`), ``iterations``, ``seed``."""
    overrides = {"selfplay.cold_start_iterations": iterations, "training.stop_iterations": iterations,
                 "training.seed": seed, "training.lstm_forget_bias": 1.0}
    overrides.update({f"training.{key}": value for key, value in VARIANTS[variant].items()})
    return load_experiment("memory", overrides)


def capture_rate(run_dir: Path, experiment: ExperimentConfig, episodes: int = EPISODES, seed: int = 123) -> float:
    """The trained pursuer's deterministic capture rate against the run's stationary evader."""
    from pe_rllib.evaluation.matchups import play_first_episodes
    from pe_rllib.policies import load_policy, make_scripted
    from pe_rllib.safety import make_batched_env

    pursuer = load_policy(run_dir, "pursuer")
    evader = make_scripted("random", "evader", experiment.env, seed=seed)
    record = play_first_episodes(lambda n: make_batched_env(n, experiment), pursuer, evader, episodes, seed=seed)
    return float(np.mean(record.outcome == CAPTURE))


def memory_use(run_dir: Path, experiment: ExperimentConfig, arenas: int = 400, steps: int = 15) -> float:
    """How much the pursuer's turning follows where it saw the evader: the correlation, over ``arenas``
    starts, of the evader's initial bearing with the pursuer's heading change after ``steps`` steps
    (about 0 for a policy that cannot remember; 0.85 for an LSTM that always sees the evader)."""
    from pe_rllib.envs.rollout import rollout
    from pe_rllib.policies import load_policy, make_scripted
    from pe_rllib.policies.acting import Acting
    from pe_rllib.safety import make_batched_env

    world = make_batched_env(arenas, experiment)
    obs = world.reset(seed=5)
    first = obs["pursuer"]
    bearing, heading = np.arctan2(first[:, 7], first[:, 6]), np.arctan2(first[:, 3], first[:, 2])
    act = Acting(load_policy(run_dir, "pursuer"), make_scripted("random", "evader", experiment.env, seed=5))
    for step in rollout(world, act, obs, steps):
        pass
    last = step.next_obs["pursuer"]
    turn = np.angle(np.exp(1j * (np.arctan2(last[:, 3], last[:, 2]) - heading)))
    going = ~step.ended
    return float(np.corrcoef(bearing[going], turn[going])[0, 1])


def train_and_measure(variant: str, iterations: int, seed: int, out: Path) -> dict:
    from pe_rllib.training.run import train

    experiment = memory_experiment(variant, iterations, seed)
    start = time.perf_counter()
    train(experiment, output=out, dashboard=False)
    wall = time.perf_counter() - start
    return {"variant": variant, "seed": seed, "iterations": iterations, "wall_s": round(wall, 1),
            "capture": capture_rate(out, experiment), "memory_use": round(memory_use(out, experiment), 3)}


def main() -> None:
    from pe_rllib.evaluation.exploitability import difference_interval

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--variants", nargs="+", default=["mlp", "lstm", "lstm_fb3", "gru"], choices=sorted(VARIANTS))
    parser.add_argument("--out-dir", type=Path, default=None)
    parser.add_argument("--name", default="memory_world_v2")
    args = parser.parse_args()
    out_dir = args.out_dir or Path(tempfile.mkdtemp(prefix="memory_world_"))
    rows = []
    for seed in args.seeds:
        runs = {variant: train_and_measure(variant, args.iterations, seed, out_dir / f"{variant}_s{seed}")
                for variant in args.variants}
        mlp = runs.get("mlp")
        for variant, row in runs.items():
            if mlp is not None and variant != "mlp":
                low, high = difference_interval(row["capture"], EPISODES, mlp["capture"], EPISODES)
                row = {**row, "minus_mlp": round(row["capture"] - mlp["capture"], 4), "ci95": [round(low, 4),
                                                                                               round(high, 4)]}
            rows.append(row)
            print(f"seed {seed} {variant:>11}: capture {row['capture']:.3f}"
                  + (f", minus MLP {row['minus_mlp']:+.3f} [{row['ci95'][0]:+.3f}, {row['ci95'][1]:+.3f}]"
                     if "minus_mlp" in row else "")
                  + f", memory use {row['memory_use']:+.2f}, {row['wall_s']} s", flush=True)
    save(args.name, rows)


if __name__ == "__main__":
    main()
