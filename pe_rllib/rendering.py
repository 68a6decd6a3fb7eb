"""Record an episode of two policies to a GIF or PNG (same env config and safety as evaluation)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from pe_rllib.config import ExperimentConfig
from pe_rllib.envs.render import ArenaRenderer, Trails, save_animation
from pe_rllib.safety import make_parallel_env

logger = logging.getLogger(__name__)


def record_episode(config: ExperimentConfig, pursuer, evader, path: str | Path, *, seed: int = 0,
                   max_frames: int = 200, title: str = "") -> Path:
    """Play one episode (safety filter as configured) and save it; returns the path.

    Long episodes are subsampled to at most ``max_frames`` frames; the last frame names
    the outcome.
    """
    env = make_parallel_env(config)
    renderer = ArenaRenderer(config.env)
    stride = max(1, int(np.ceil(config.env.max_steps / max_frames)))
    obs, _ = env.reset(seed=seed)
    trails = Trails()
    trails.reset(env.world.pose[0])
    frames, step, outcome = [], 0, "running"

    def draw(caption: str) -> None:
        world = env.world
        frames.append(renderer.frame(world.pose[0], world.obstacles[0], trails.arrays(), caption))

    try:
        while env.agents:
            if step % stride == 0:
                draw(f"{title}  t = {step * config.env.dt:.1f} s")
            actions = {"pursuer": pursuer.act(obs["pursuer"]), "evader": evader.act(obs["evader"])}
            obs, _, _, _, infos = env.step(actions)
            trails.record(env.world.pose[0])
            outcome = infos["pursuer"].get("outcome", outcome)
            step += 1
        draw(f"{title}  [{outcome} after {step * config.env.dt:.1f} s]")
    finally:
        renderer.close()
        env.close()
    logger.info("recorded %d frames (%s) to %s", len(frames), outcome, path)
    return save_animation(frames, path, fps=max(1, int(round(1 / (config.env.dt * stride)))))
