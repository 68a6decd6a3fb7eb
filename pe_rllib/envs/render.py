"""Matplotlib rendering of one arena (rgb arrays, GIF/PNG files). Headless (Agg)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Circle, Rectangle, Wedge  # noqa: E402

from pe_rllib.config import ROLES, EnvConfig  # noqa: E402
from pe_rllib.files import write_atomic  # noqa: E402

COLORS = {"pursuer": "#d62728", "evader": "#1f77b4"}


class Trails:
    """Both robots' past positions in one arena, for drawing (``arrays()`` -> ``[T, 2]`` per robot)."""

    def __init__(self) -> None:
        self.points: list[list[np.ndarray]] = [[], []]

    def reset(self, pose: np.ndarray) -> None:
        """Start new trails at ``pose [2, 3]``."""
        self.points = [[], []]
        self.record(pose)

    def record(self, pose: np.ndarray) -> None:
        for i in range(2):
            self.points[i].append(np.array(pose[i, :2], dtype=np.float64))

    def arrays(self) -> list[np.ndarray]:
        return [np.array(points).reshape(-1, 2) for points in self.points]


class ArenaRenderer:
    """Draws arenas into a reusable figure; ``frame(...)`` returns ``[H, W, 3]`` uint8."""

    def __init__(self, cfg: EnvConfig, size_px: int = 480) -> None:
        self.cfg = cfg
        aspect = cfg.arena_height / cfg.arena_width
        dpi = 80
        self.fig = plt.figure(figsize=(size_px / dpi, size_px * aspect / dpi + 0.4), dpi=dpi)
        self.ax = self.fig.add_axes((0.02, 0.02, 0.96, 0.96 * (1 - 0.4 / (size_px * aspect / dpi + 0.4))))

    def frame(self, pose: np.ndarray, obstacles: np.ndarray, trails: Sequence[np.ndarray] = (),
              title: str = "") -> np.ndarray:
        """Render pose ``[2, 3]``, obstacles ``[M, 3]`` and optional trails (``[T, 2]`` per agent)."""
        cfg, ax = self.cfg, self.ax
        ax.clear()
        half_w, half_h = cfg.arena_width / 2, cfg.arena_height / 2
        ax.add_patch(Rectangle((-half_w, -half_h), cfg.arena_width, cfg.arena_height,
                               fill=False, lw=2, color="black"))
        for x, y, r in obstacles:
            if r > 0:
                ax.add_patch(Circle((x, y), r, color="0.45"))
        for i, role in enumerate(ROLES):
            x, y, theta = pose[i]
            color = COLORS[role]
            if len(trails) > i and len(trails[i]) > 1:
                ax.plot(trails[i][:, 0], trails[i][:, 1], color=color, lw=1, alpha=0.6)
            if cfg.observation == "partial":
                half_fov = cfg.fov_deg / 2
                ax.add_patch(Wedge((x, y), cfg.sensing_range, np.rad2deg(theta) - half_fov,
                                   np.rad2deg(theta) + half_fov, color=color, alpha=0.07))
            ax.add_patch(Circle((x, y), cfg.robot_radius, color=color))
            ax.arrow(x, y, 0.6 * np.cos(theta), 0.6 * np.sin(theta), width=0.04, color=color)
            if role == "pursuer":
                ax.add_patch(Circle((x, y), cfg.capture_radius, fill=False, ls="--", color=color))
        ax.set_xlim(-half_w - 0.3, half_w + 0.3)
        ax.set_ylim(-half_h - 0.3, half_h + 0.3)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(title, fontsize=9)
        self.fig.canvas.draw()
        return np.asarray(self.fig.canvas.buffer_rgba())[..., :3].copy()

    def close(self) -> None:
        plt.close(self.fig)


def save_animation(frames: Sequence[np.ndarray], path: str | Path, fps: int = 20) -> Path:
    """Write frames as a GIF (``.gif``) or the last frame as a PNG (``.png``)."""
    from PIL import Image

    path = Path(path)
    if not frames:
        raise ValueError(f"{path}: no frames to write")
    images = [Image.fromarray(f) for f in frames]
    suffix = path.suffix.lower()
    buffer = io.BytesIO()
    if suffix == ".gif":
        images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:],
                       duration=int(1000 / fps), loop=0)
    elif suffix == ".png":
        images[-1].save(buffer, format="PNG")
    else:
        raise ValueError(f"{path}: unsupported image type {suffix!r} (use .gif or .png)")
    write_atomic(path, buffer.getvalue())   # never leave a half-written image behind
    return path
