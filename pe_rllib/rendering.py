"""Record an episode of two policies to a GIF, MP4 or PNG (same env config and safety as evaluation).

What is drawn (:class:`~pe_rllib.envs.render.ArenaRenderer`): the arena and obstacles,
both trajectories, each robot's heading and the pursuer's capture radius, the capture
point when the episode ends in a capture, an orange cross wherever the safety filter
changed a robot's action, and in partial-observation worlds each robot's field of view
and LiDAR rays. The aerial world's episodes are drawn by :mod:`pe_rllib.envs.aerial.render`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from pe_rllib.config import ROLES, ExperimentConfig
from pe_rllib.envs.core import CAPTURE, OUTCOME_NAMES, RUNNING
from pe_rllib.envs.render import ArenaRenderer, Trails, save_animation
from pe_rllib.envs.rollout import first_episodes
from pe_rllib.envs.sensing import lidar
from pe_rllib.policies.acting import Acting
from pe_rllib.safety import make_batched_env

logger = logging.getLogger(__name__)


def record_episode(config: ExperimentConfig, pursuer, evader, path: str | Path, *, seed: int = 0,
                   max_frames: int = 200, title: str = "", size_px: int = 480) -> Path:
    """Play one episode (safety filter as configured) and save it; returns the path.

    ``.gif``/``.mp4``: the episode, subsampled to at most ``max_frames`` frames; ``.png``:
    the last frame (the whole trajectory). The last frame names the outcome.
    """
    if config.world == "aerial":
        return record_aerial_episode(config, pursuer, evader, path, seed=seed, max_frames=max_frames, title=title)
    env = make_batched_env(1, config, autoreset=False)
    renderer = ArenaRenderer(config.env, size_px=size_px)
    stride = max(1, int(np.ceil(config.env.max_steps / max_frames)))
    still = Path(path).suffix.lower() == ".png"
    partial = config.env.observation == "partial"
    obs = env.reset(seed=seed)
    world = env.world_state()
    trails = Trails()
    trails.reset(world.pose[0])
    interventions: dict[str, list[np.ndarray]] = {role: [] for role in ROLES}
    frames, step, outcome = [], 0, RUNNING

    def draw(caption: str, capture: np.ndarray | None = None) -> None:
        rays = lidar(config.env, world.pose[:1], world.obstacles[:1])[0] if partial else None
        marks = [np.array(interventions[role]).reshape(-1, 2) for role in ROLES]
        frames.append(renderer.frame(world.pose[0], world.obstacles[0], trails.arrays(), caption, lidar=rays,
                                     interventions=marks, capture=capture))

    try:
        for transition, _ in first_episodes(env, Acting(pursuer, evader), obs):
            if step % stride == 0 and not still:
                draw(f"{title}  t = {step * config.env.dt:.1f} s")
            before = world.pose[0, :, :2].copy()
            world = env.world_state()
            for role in ROLES:
                if transition.infos[role].get("safety_intervened", np.zeros(1, bool))[0]:
                    interventions[role].append(before[ROLES.index(role)])
            trails.record(world.pose[0])
            outcome = int(transition.infos["pursuer"]["outcome"][0])
            step += 1
        capture = world.pose[0, 1, :2].copy() if outcome == CAPTURE else None
        marked = sum(len(points) for points in interventions.values())
        draw(f"{title}  [{OUTCOME_NAMES[outcome]} after {step * config.env.dt:.1f} s, {marked} filter interventions]",
             capture)
    finally:
        renderer.close()
    logger.info("recorded %d frames (%s) to %s", len(frames), OUTCOME_NAMES[outcome], path)
    return save_animation(frames, path, fps=max(1, int(round(1 / (config.env.dt * stride)))))


def record_aerial_episode(config: ExperimentConfig, pursuer, evader, path: str | Path, *, seed: int = 0,
                          max_frames: int = 100, title: str = "") -> Path:
    """:func:`record_episode` for the aerial world (:func:`~pe_rllib.envs.aerial.render.draw_episode`: 3-D view,
    top and side projections, the pursuer's radar track with its uncertainty)."""
    from pe_rllib.envs.aerial.render import AerialTrace, draw_episode

    cfg = config.aerial
    env = make_batched_env(1, config, autoreset=False)
    obs = env.reset(seed=seed)
    trace, tracked = AerialTrace(), cfg.observation == "tracked"
    trace.record(env.world_state(), tracked)
    outcome = RUNNING
    for transition, _ in first_episodes(env, Acting(pursuer, evader), obs):
        trace.record(env.world_state(), tracked)
        outcome = int(transition.infos["pursuer"]["outcome"][0])
        miss = float(transition.infos["pursuer"]["miss_distance"][0])
    steps = len(trace.positions) - 1
    obstacles = env.world_state().obstacles[0]
    capture = trace.positions[-1][1] if outcome == CAPTURE else None
    still = Path(path).suffix.lower() == ".png"
    stride = max(1, int(np.ceil(steps / max(1, max_frames - 1))))
    ends = [steps + 1] if still else [*range(2, steps + 1, stride), steps + 1]
    frames = [draw_episode(cfg, trace, obstacles, f"{title}  t = {(end - 1) * cfg.dt:.1f} s", upto=end)
              for end in ends[:-1]]
    frames.append(draw_episode(cfg, trace, obstacles, f"{title}  [{OUTCOME_NAMES[outcome]} after "
                                                      f"{steps * cfg.dt:.1f} s, miss distance {miss:.1f} m]",
                               capture=capture))
    logger.info("recorded %d frames (%s) to %s", len(frames), OUTCOME_NAMES[outcome], path)
    return save_animation(frames, path, fps=max(1, int(round(1 / (cfg.dt * stride)))))
