"""Matplotlib rendering of one arena (rgb arrays, GIF/PNG files). Headless: figures are drawn on their own
Agg canvas, without pyplot, so importing this module selects no backend for the user's session."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Circle, Rectangle, Wedge

from pe_rllib.config import ROLES, EnvConfig
from pe_rllib.files import write_atomic

COLORS = {"pursuer": "#d62728", "evader": "#1f77b4"}


def new_figure(**kwargs) -> Figure:
    """A matplotlib figure on its own Agg canvas (no pyplot: no global figure list, no backend choice)."""
    fig = Figure(**kwargs)
    FigureCanvasAgg(fig)
    return fig


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


INTERVENTION_COLOR = "#ff8c00"
"""Where the safety filter changed a robot's action (cross on its trail)."""
CAPTURE_COLOR = "#ffd700"
"""The capture point (star)."""
OBSTACLE_COLOR = "0.45"


class ArenaRenderer:
    """Draws arenas into a reusable figure; ``frame(...)`` returns ``[H, W, 3]`` uint8.

    Colours (fixed, see the module constants): pursuer red, evader blue, obstacles grey,
    filter interventions orange crosses, capture point a gold star. In partial
    observation mode each robot's field of view is a translucent wedge of its colour and
    its LiDAR rays thin lines of its colour, ending in a dot where they hit something.
    """

    def __init__(self, cfg: EnvConfig, size_px: int = 480) -> None:
        self.cfg = cfg
        aspect = cfg.arena_height / cfg.arena_width
        dpi = 80
        self.fig = new_figure(figsize=(size_px / dpi, size_px * aspect / dpi + 0.4), dpi=dpi)
        self.ax = self.fig.add_axes((0.02, 0.02, 0.96, 0.96 * (1 - 0.4 / (size_px * aspect / dpi + 0.4))))

    def frame(self, pose: np.ndarray, obstacles: np.ndarray, trails: Sequence[np.ndarray] = (),
              title: str = "", lidar: np.ndarray | None = None,
              interventions: Sequence[np.ndarray] = (), capture: np.ndarray | None = None) -> np.ndarray:
        """Render pose ``[2, 3]``, obstacles ``[M, 3]`` and optionally: trails (``[T, 2]`` per robot),
        normalised LiDAR ranges ``[2, R]`` (:func:`pe_rllib.envs.sensing.lidar`), filter-intervention
        positions (``[K, 2]`` per robot) and the capture point ``[2]``."""
        cfg, ax = self.cfg, self.ax
        ax.clear()
        half_w, half_h = cfg.arena_width / 2, cfg.arena_height / 2
        arena = Rectangle((-half_w, -half_h), cfg.arena_width, cfg.arena_height, fill=False, lw=2, color="black")
        ax.add_patch(arena)
        for x, y, r in obstacles:
            if r > 0:
                ax.add_patch(Circle((x, y), r, color=OBSTACLE_COLOR))
        for i, role in enumerate(ROLES):
            x, y, theta = pose[i]
            color = COLORS[role]
            if len(trails) > i and len(trails[i]) > 1:
                ax.plot(trails[i][:, 0], trails[i][:, 1], color=color, lw=1.2, alpha=0.7)
            if cfg.observation == "partial":
                half_fov = cfg.fov_deg / 2
                fov = ax.add_patch(Wedge((x, y), cfg.sensing_range, np.rad2deg(theta) - half_fov,
                                         np.rad2deg(theta) + half_fov, color=color, alpha=0.12, lw=0))
                fov.set_clip_path(arena)
            if lidar is not None and lidar.shape[-1]:
                angles = theta + np.linspace(0, 2 * np.pi, lidar.shape[-1], endpoint=False)
                reach = lidar[i] * cfg.lidar_range
                ends = np.stack([x + reach * np.cos(angles), y + reach * np.sin(angles)], axis=1)
                for end in ends:
                    ax.plot((x, end[0]), (y, end[1]), color=color, lw=0.6, alpha=0.5)
                hit = lidar[i] < 1.0
                ax.plot(ends[hit, 0], ends[hit, 1], "o", color=color, ms=2.5)
            ax.add_patch(Circle((x, y), cfg.robot_radius, color=color))
            ax.arrow(x, y, 0.6 * np.cos(theta), 0.6 * np.sin(theta), width=0.04, color=color)
            if role == "pursuer":
                ax.add_patch(Circle((x, y), cfg.capture_radius, fill=False, ls="--", color=color))
        for points in interventions:
            if len(points):
                ax.plot(points[:, 0], points[:, 1], "x", color=INTERVENTION_COLOR, ms=6, mew=2)
        if capture is not None:
            ax.plot(capture[0], capture[1], "*", color=CAPTURE_COLOR, ms=22, mec="black", mew=0.8)
        ax.set_xlim(-half_w - 0.3, half_w + 0.3)
        ax.set_ylim(-half_h - 0.3, half_h + 0.3)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(title, fontsize=9)
        self.fig.canvas.draw()
        return np.asarray(self.fig.canvas.buffer_rgba())[..., :3].copy()

    def close(self) -> None:
        self.fig.clear()


VIDEO_HINT = "pip install imageio-ffmpeg (or pe_rllib[video])"


def save_animation(frames: Sequence[np.ndarray], path: str | Path, fps: int = 20) -> Path:
    """Write frames as a GIF (``.gif``), an H.264 video (``.mp4``, needs imageio-ffmpeg) or the last
    frame as a PNG (``.png``). The file appears complete or not at all."""
    from PIL import Image

    path = Path(path)
    if not frames:
        raise ValueError(f"{path}: no frames to write")
    suffix = path.suffix.lower()
    if suffix == ".mp4":
        _save_mp4(frames, path, fps)
        return path
    images = [Image.fromarray(f) for f in frames]
    buffer = io.BytesIO()
    if suffix == ".gif":
        images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:],
                       duration=int(1000 / fps), loop=0)
    elif suffix == ".png":
        images[-1].save(buffer, format="PNG")
    else:
        raise ValueError(f"{path}: unsupported image type {suffix!r} (use .gif, .mp4 or .png)")
    write_atomic(path, buffer.getvalue())   # never leave a half-written image behind
    return path


def save_figure(fig, path: str | Path) -> Path:
    """Write a matplotlib figure to ``path`` as PNG, atomically, and close it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    fig.clear()
    path = Path(path)
    write_atomic(path, buffer.getvalue())
    return path


def video_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("imageio_ffmpeg") is not None


def _save_mp4(frames: Sequence[np.ndarray], path: Path, fps: int) -> None:
    import os
    import tempfile

    if not video_available():
        raise ValueError(f"{path}: writing .mp4 needs imageio-ffmpeg ({VIDEO_HINT})")
    import imageio_ffmpeg

    height, width = frames[0].shape[:2]
    even = (height + height % 2, width + width % 2)          # H.264 (yuv420p) needs even sizes
    fd, tmp = tempfile.mkstemp(suffix=".mp4", dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    try:
        writer = imageio_ffmpeg.write_frames(tmp, (even[1], even[0]), fps=fps, macro_block_size=1,
                                             quality=7, ffmpeg_log_level="error")
        writer.send(None)
        for frame in frames:
            padded = np.full((*even, 3), 255, dtype=np.uint8)
            padded[:height, :width] = frame
            writer.send(np.ascontiguousarray(padded))
        writer.close()
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)                       # as a plainly created file would be
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
