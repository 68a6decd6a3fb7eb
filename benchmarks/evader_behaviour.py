"""How evaders play against one pursuer: where they run and how close they let it come (issue 21, seventh session).

    python benchmarks/evader_behaviour.py RUN [EVADER_RUN ...] --name issue21_evader_behaviour [--episodes 512]

Plays RUN's trained pursuer (final checkpoint) against RUN's trained evader and against the evader of each
EVADER_RUN (for example an RL best response's run directory under ``RUN/exploit/``), ``--episodes`` first
episodes each from the same starts, and reports from the true states of every step: escape rate, mean
distance of the evader from the nearest wall and the share of steps within 0.7 m of one, its mean distance
from the arena centre, the share of steps with the pursuer within 1 m, and on those close steps the share
with the evader's heading within 30 degrees of the pursuer's (a tail chase). Results: ``results/NAME.json``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from common import save

from pe_rllib.config import load_experiment
from pe_rllib.envs.core import CAPTURE
from pe_rllib.envs.rollout import first_episodes
from pe_rllib.policies.acting import Acting
from pe_rllib.policies.inference import load_policy
from pe_rllib.rundir import EXPERIMENT_FILE, resolve_checkpoint
from pe_rllib.safety import make_batched_env


def play_states(experiment, pursuer, evader, episodes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Poses ``[T, N, 6]`` (pursuer x, y, heading, evader x, y, heading), live masks ``[T, N]`` and outcomes."""
    env = make_batched_env(episodes, experiment)
    world = getattr(env, "env", env)                 # the safety wrapper's world, or the world itself
    obs = env.reset(seed=0)
    poses, lives, outcome = [world.state()[:, :6].copy()], [np.ones(episodes, bool)], np.zeros(episodes, int)
    for step, live in first_episodes(env, Acting(pursuer, evader), obs):
        ended = step.ended & live
        outcome[ended] = step.infos["pursuer"]["outcome"][ended]
        poses.append(world.state()[:, :6].copy())
        lives.append(live & ~step.ended)              # an ended arena's state is already its next episode's
    return np.array(poses), np.array(lives), outcome


def features(experiment, poses: np.ndarray, live: np.ndarray, outcome: np.ndarray) -> dict:
    cfg = experiment.env
    pursuer, evader = poses[..., 0:2], poses[..., 3:5]
    wall = np.minimum(cfg.arena_width / 2 - np.abs(evader[..., 0]), cfg.arena_height / 2 - np.abs(evader[..., 1]))
    distance = np.linalg.norm(evader - pursuer, axis=-1)
    heading_gap = np.abs(np.angle(np.exp(1j * (poses[..., 5] - poses[..., 2]))))
    close = live & (distance < 1.0)
    return {"escape_rate": round(float(np.mean(outcome != CAPTURE)), 4),
            "wall_distance_m": round(float(wall[live].mean()), 3),
            "near_wall_share": round(float((wall[live] < 0.7).mean()), 3),
            "centre_distance_m": round(float(np.linalg.norm(evader, axis=-1)[live].mean()), 3),
            "pursuer_within_1m_share": round(float(close.sum() / live.sum()), 3),
            "tail_chase_share_when_close": round(float((heading_gap[close] < np.pi / 6).mean()), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("evader_runs", nargs="*", type=Path)
    parser.add_argument("--name", required=True)
    parser.add_argument("--episodes", type=int, default=512)
    args = parser.parse_args()
    experiment = load_experiment(args.run / EXPERIMENT_FILE)
    checkpoint = resolve_checkpoint(args.run)
    pursuer = load_policy(checkpoint, "pursuer")
    evaders = {"trained": load_policy(checkpoint, "evader")}
    evaders.update({str(run): load_policy(resolve_checkpoint(run), "evader") for run in args.evader_runs})
    rows = []
    for label, evader in evaders.items():
        row = {"pursuer": str(checkpoint), "evader": label,
               **features(experiment, *play_states(experiment, pursuer, evader, args.episodes))}
        rows.append(row)
        print(row, flush=True)
    save(args.name, rows)


if __name__ == "__main__":
    main()
