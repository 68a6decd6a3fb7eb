"""Record an episode of two policies to a GIF or PNG (same env config and safety as evaluation)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from pe_rllib.config import ExperimentConfig
from pe_rllib.envs.parallel import PursuitEvasionEnv
from pe_rllib.envs.render import save_animation

logger = logging.getLogger(__name__)


def record_episode(config: ExperimentConfig, pursuer, evader, path: str | Path, *, seed: int = 0,
                   max_frames: int = 200, title: str = "") -> Path:
    """Play one episode (safety filter as configured) and save it; returns the path.

    Long episodes are subsampled to at most ``max_frames`` frames.
    """
    env = PursuitEvasionEnv(config.env, render_mode="rgb_array")
    if config.safety.enabled:
        from pe_rllib.safety import SafetyFilterWrapper
        env = SafetyFilterWrapper(env, config.safety)
    stride = max(1, int(np.ceil(config.env.max_steps / max_frames)))
    obs, _ = env.reset(seed=seed)
    frames, step, outcome = [], 0, "running"
    base = env.unwrapped
    while env.agents:
        if step % stride == 0:
            frames.append(base.render())
        actions = {"pursuer": pursuer.act(obs["pursuer"]), "evader": evader.act(obs["evader"])}
        obs, _, _, _, infos = env.step(actions)
        outcome = infos["pursuer"].get("outcome", outcome)
        step += 1
    base._renderer.fig.suptitle(f"{title}  [{outcome} after {step} steps]", fontsize=9)
    frames.append(base.render())
    env.close()
    logger.info("recorded %d frames (%s) to %s", len(frames), outcome, path)
    return save_animation(frames, path, fps=max(1, int(round(1 / (config.env.dt * stride)))))
