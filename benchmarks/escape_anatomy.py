"""Where and how evaders escape a trained pursuer: the trained evader against the run's RL best-response evaders
(issue 23, eleventh session).

    python benchmarks/escape_anatomy.py RUN [RUN ...] --name issue23_escape_anatomy [--episodes 1000]

For each run's final checkpoint, the trained pursuer plays the trained evader and every warm or fresh RL evader
``pe-rllib exploit --method rl`` left under ``RUN/exploit/evader-*`` (their final checkpoints), in the run's own
world with its safety filter, one episode per arena (seed 0). Per step of each arena's first episode: whether the
pursuer sees the evader and, where it does not, why (beyond its sensing range, outside its field of view, behind an
obstacle); the distance between them; how far from the arena centre each robot is; whether the evader is near a
wall (within 1.5 m) or in a corner (within 3 m of two walls); its speed. Each is averaged over an episode's steps,
then over the episodes that ended in capture and in escape. What a best response does that the
trained evader does not is where the search families and the teachers fall short. Results: ``results/NAME.json``;
a table on stdout.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from common import final_checkpoints, runs_arguments, save

from pe_rllib.envs.core import CAPTURE, wrap_angle
from pe_rllib.envs.rollout import first_episodes
from pe_rllib.envs.sensing import observation_layout
from pe_rllib.policies.acting import Acting
from pe_rllib.policies.inference import load_policy
from pe_rllib.policies.scripted import FLAG_ON
from pe_rllib.rundir import resolve_checkpoint
from pe_rllib.safety import make_batched_env

FEATURES = ("pursuer_sees", "out_of_range", "out_of_view", "occluded", "distance", "evader_from_centre",
            "evader_near_wall", "evader_in_corner", "evader_speed", "pursuer_from_centre")


def step_features(cfg, pose: np.ndarray, next_pose: np.ndarray, seen: np.ndarray) -> dict[str, np.ndarray]:
    """The features of one step ``[N]`` from the poses ``[N, 2, 3]`` before and after it and whether the pursuer saw
    the evader before it."""
    pursuer, evader = pose[:, 0], pose[:, 1]
    rel = evader[:, :2] - pursuer[:, :2]
    distance = np.linalg.norm(rel, axis=1)
    in_range = distance <= cfg.sensing_range
    in_view = np.abs(wrap_angle(np.arctan2(rel[:, 1], rel[:, 0]) - pursuer[:, 2])) <= np.deg2rad(cfg.fov_deg) / 2
    to_wall = np.stack([cfg.arena_width / 2 - np.abs(evader[:, 0]), cfg.arena_height / 2 - np.abs(evader[:, 1])], 1)
    return {"pursuer_sees": seen, "out_of_range": ~in_range, "out_of_view": in_range & ~in_view,
            "occluded": in_range & in_view & ~seen, "distance": distance,
            "evader_from_centre": np.linalg.norm(evader[:, :2], axis=1), "evader_near_wall": to_wall.min(1) < 1.5,
            "evader_in_corner": to_wall.max(1) < 3.0,
            "evader_speed": np.linalg.norm(next_pose[:, 1, :2] - evader[:, :2], axis=1) / cfg.dt,
            "pursuer_from_centre": np.linalg.norm(pursuer[:, :2], axis=1)}


def anatomy(experiment, pursuer, evader, episodes: int, seed: int) -> dict:
    """Per-outcome means of :data:`FEATURES` over ``episodes`` first episodes."""
    env = make_batched_env(episodes, experiment)
    obs = env.reset(seed=seed)
    sums = {name: np.zeros(episodes) for name in FEATURES}
    steps, captured = np.zeros(episodes), np.zeros(episodes, dtype=bool)
    layout = observation_layout(experiment.env)
    pose = env.world_state().pose.copy()
    for step, live in first_episodes(env, Acting(pursuer, evader), obs):
        next_pose = env.world_state().pose.copy()
        moving = live & ~step.ended             # where an episode ended, the next pose is a new episode's start
        seen = layout.part(step.obs["pursuer"], "visible")[:, 0] > FLAG_ON
        features = step_features(experiment.env, pose, np.where(moving[:, None, None], next_pose, pose), seen)
        for name, value in features.items():
            sums[name] += live * value
        steps += live
        ended = step.ended & live
        captured[ended] = step.infos["pursuer"]["outcome"][ended] == CAPTURE
        pose = next_pose
    means = {name: total / np.maximum(steps, 1) for name, total in sums.items()}
    row = {"episodes": episodes, "capture_rate": round(float(captured.mean()), 4)}
    for outcome, mask in (("all", np.ones(episodes, dtype=bool)), ("capture", captured), ("escape", ~captured)):
        row[outcome] = {name: round(float(value[mask].mean()), 4) if mask.any() else None
                        for name, value in {**means, "steps": steps}.items()}
    return row


def main() -> None:
    args = runs_arguments(__doc__.splitlines()[0])
    rows = []
    for run, checkpoint, experiment in final_checkpoints(args.runs):
        pursuer = load_policy(checkpoint, "pursuer")
        evaders = {"trained": checkpoint} | {path.name: resolve_checkpoint(path)
                                             for path in sorted(Path(run, "exploit").glob("evader-*")) if path.is_dir()}
        for name, source in evaders.items():
            row = {"run": str(run), "evader": name, "checkpoint": str(source),
                   **anatomy(experiment, pursuer, load_policy(source, "evader"), args.episodes, seed=0)}
            rows.append(row)
            escape = row["escape"]
            print(f"{run} {name}: escape {1 - row['capture_rate']:.3f}; in escapes the pursuer sees it "
                  f"{escape['pursuer_sees']:.2f} of the steps, it is out of range {escape['out_of_range']:.2f}, "
                  f"{escape['evader_from_centre']:.1f} m from the centre, near a wall {escape['evader_near_wall']:.2f},"
                  f" in a corner {escape['evader_in_corner']:.2f}, at {escape['evader_speed']:.2f} m/s", flush=True)
    save(args.name, rows)


if __name__ == "__main__":
    main()
