"""The memory test world: does an LSTM pursuer beat an MLP pursuer trained on the same budget?

    python benchmarks/memory_world.py [--iterations 150] [--seeds 0 1 2] [--out-dir DIR]

The world (:data:`MEMORY_WORLD`): an open 8 x 8 m arena, a stationary evader (the scripted ``random``
evader at 0.01 m/s) 2-3 m away in any direction, a pursuer held still for its first 3 steps
(``prep_steps``), during which it sees the evader (``opponent_visible_steps: 3``) and never after.
A capture needs the pursuer to turn towards where the evader was and drive there; only a policy
with memory knows where that is (a memoryless one cannot even use its heading as memory: it could
not turn while it saw the evader). Each seed trains the pursuer alone against that evader
(``selfplay.cold_start_opponent``) for ``--iterations`` iterations of 2,000 env steps, once as an
MLP and once as an LSTM (same PPO settings), then plays 1,000 deterministic episodes of each.

Results: benchmarks/results/memory_world.json and BENCHMARKS.md (issue 23).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from common import save

from pe_rllib.config import ExperimentConfig, from_dict
from pe_rllib.envs.core import CAPTURE

MEMORY_WORLD = {
    "env": {"arena_width": 8.0, "arena_height": 8.0, "n_obstacles": 0, "max_steps": 60, "omega_max": 6.0,
            "min_init_distance": 2.0, "max_init_distance": 3.0, "capture_radius": 1.0, "evader_v_max": 0.01,
            "prep_steps": 3, "opponent_visible_steps": 3,
            "reward": {"capture": 10.0, "timeout": 0.0, "distance": 1.0, "collision": 10.0}},
    "selfplay": {"first_role": "pursuer", "cold_start_opponent": "random"},
    "training": {"train_batch_size_per_learner": 2000, "minibatch_size": 250, "num_epochs": 6, "lr": 0.001,
                 "hidden_sizes": [64, 64], "cell_size": 64, "max_seq_len": 20, "num_envs_per_env_runner": 32,
                 "num_env_runners": 0, "checkpoint_every": 1000},
    "evaluation": {"every": 0},
}
EPISODES = 1000


def memory_experiment(model: str, iterations: int, seed: int) -> ExperimentConfig:
    """The memory world's pursuer-only run: ``model`` ("mlp" or "lstm"), ``iterations``, ``seed``."""
    data = {**MEMORY_WORLD,
            "selfplay": {**MEMORY_WORLD["selfplay"], "cold_start_iterations": iterations},
            "training": {**MEMORY_WORLD["training"], "model": model, "stop_iterations": iterations, "seed": seed}}
    return from_dict(ExperimentConfig, data)


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


def train_and_measure(model: str, iterations: int, seed: int, out: Path) -> dict:
    from pe_rllib.training.run import train

    experiment = memory_experiment(model, iterations, seed)
    start = time.perf_counter()
    train(experiment, output=out, dashboard=False)
    wall = time.perf_counter() - start
    return {"model": model, "seed": seed, "iterations": iterations, "wall_s": round(wall, 1),
            "capture": capture_rate(out, experiment), "memory_use": round(memory_use(out, experiment), 3)}


def main() -> None:
    from pe_rllib.evaluation.exploitability import difference_interval

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=150)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out-dir", type=Path, default=None)
    args = parser.parse_args()
    out_dir = args.out_dir or Path(tempfile.mkdtemp(prefix="memory_world_"))
    rows = []
    for seed in args.seeds:
        pair = {model: train_and_measure(model, args.iterations, seed, out_dir / f"{model}_s{seed}")
                for model in ("mlp", "lstm")}
        low, high = difference_interval(pair["lstm"]["capture"], EPISODES, pair["mlp"]["capture"], EPISODES)
        for row in pair.values():
            rows.append({**row, "lstm_minus_mlp": round(pair["lstm"]["capture"] - pair["mlp"]["capture"], 4),
                         "ci95": [round(low, 4), round(high, 4)]})
        print(f"seed {seed}: LSTM {pair['lstm']['capture']:.3f} vs MLP {pair['mlp']['capture']:.3f} "
              f"(memory use {pair['lstm']['memory_use']:+.2f} / {pair['mlp']['memory_use']:+.2f}) "
              f"(difference 95 % interval [{low:+.3f}, {high:+.3f}]; walls {pair['lstm']['wall_s']} / "
              f"{pair['mlp']['wall_s']} s)", flush=True)
    save("memory_world", rows)


if __name__ == "__main__":
    main()
