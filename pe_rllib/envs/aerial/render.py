"""Matplotlib pictures of one aerial episode: a 3-D view beside top (x-y) and side (x-z) projections, both true
paths, the pursuer's radar track of the evader with its uncertainty, the cylinders and the capture point.
Headless (its own Agg canvas, no pyplot), like :mod:`pe_rllib.envs.render`."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pe_rllib.config.aerial import AerialConfig
from pe_rllib.envs.render import CAPTURE_COLOR, COLORS, OBSTACLE_COLOR, new_figure

TRACK_COLOR = "#2ca02c"
"""The pursuer's estimate of the evader (dashed) and its 2-sigma position discs."""


@dataclass
class AerialTrace:
    """One episode as recorded step by step: true positions, the pursuer's track of the evader and its
    position standard deviation (NaN before the first detection)."""

    positions: list[np.ndarray] = field(default_factory=list)   # [2, 3] per step
    estimate: list[np.ndarray] = field(default_factory=list)    # [3] per step
    std: list[float] = field(default_factory=list)

    def record(self, state, tracked: bool) -> None:
        """Append arena 0 of an :class:`~pe_rllib.envs.aerial.dynamics.AerialState`."""
        self.positions.append(state.position[0].copy())
        known = tracked and bool(state.has_track[0, 0])
        self.estimate.append(state.track_mean[0, 0, :3].copy() if known else np.full(3, np.nan))
        cov = state.track_cov[0, 0, :3, :3]
        self.std.append(float(np.sqrt(np.trace(cov) / 3)) if known else np.nan)

    def arrays(self, upto: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        end = len(self.positions) if upto is None else upto
        return np.array(self.positions[:end]), np.array(self.estimate[:end]), np.array(self.std[:end])


def draw_episode(cfg: AerialConfig, trace: AerialTrace, obstacles: np.ndarray, caption: str, *, upto: int | None = None,
                 capture: np.ndarray | None = None, size_px: int = 900) -> np.ndarray:
    """The episode up to step ``upto`` (all of it by default) as an ``[H, W, 3]`` uint8 picture."""
    positions, estimate, std = trace.arrays(upto)
    dpi = 100
    fig = new_figure(figsize=(size_px / dpi, size_px * 0.45 / dpi), dpi=dpi)
    view = fig.add_subplot(1, 3, 1, projection="3d")
    top, side = fig.add_subplot(1, 3, 2), fig.add_subplot(1, 3, 3)
    for i, role in enumerate(("pursuer", "evader")):
        path = positions[:, i]
        view.plot(path[:, 0], path[:, 1], path[:, 2], color=COLORS[role], lw=1.2, label=role)
        top.plot(path[:, 0], path[:, 1], color=COLORS[role], lw=1.2)
        side.plot(path[:, 0], path[:, 2], color=COLORS[role], lw=1.2)
        for axes, coords in ((top, path[-1, :2]), (side, path[-1, [0, 2]])):
            axes.plot(*coords, "o", color=COLORS[role], ms=4)
    if np.isfinite(estimate).any():
        view.plot(estimate[:, 0], estimate[:, 1], estimate[:, 2], "--", color=TRACK_COLOR, lw=1, label="track")
        known = np.flatnonzero(np.isfinite(std))
        for axes, (a, b) in ((top, (0, 1)), (side, (0, 2))):
            axes.plot(estimate[:, a], estimate[:, b], "--", color=TRACK_COLOR, lw=1)
            for k in known[:: max(1, len(known) // 12)]:            # the 2-sigma disc at a dozen points
                axes.add_patch(_circle(estimate[k, [a, b]], 2 * std[k], TRACK_COLOR, 0.2))
    for x, y, r in obstacles:
        if r > 0:
            top.add_patch(_circle((x, y), r, OBSTACLE_COLOR, 0.5))
            side.axvspan(x - r, x + r, color=OBSTACLE_COLOR, alpha=0.25, lw=0)
    if capture is not None:
        for axes, coords in ((top, capture[:2]), (side, capture[[0, 2]])):
            axes.plot(*coords, "*", color=CAPTURE_COLOR, ms=12, mec="k")
    _frame_axes(cfg, view, top, side, positions)
    view.legend(loc="upper left", fontsize=7)
    fig.suptitle(caption, fontsize=9)
    fig.tight_layout()
    fig.canvas.draw()
    picture = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    fig.clear()
    return picture


def _circle(centre, radius: float, color: str, alpha: float):
    from matplotlib.patches import Circle

    return Circle(tuple(centre), radius, color=color, alpha=alpha, lw=0)


def _frame_axes(cfg: AerialConfig, view, top, side, positions: np.ndarray) -> None:
    """Zoom on the engagement (the paths plus a margin), clipped to the airspace."""
    low, high = positions.reshape(-1, 3).min(axis=0), positions.reshape(-1, 3).max(axis=0)
    margin = max(20.0, 0.1 * float((high - low).max()))
    bounds = np.array([[-cfg.x_extent / 2, cfg.x_extent / 2], [-cfg.y_extent / 2, cfg.y_extent / 2], [0, cfg.ceiling]])
    lo, hi = np.maximum(low - margin, bounds[:, 0]), np.minimum(high + margin, bounds[:, 1])
    view.set(xlim=(lo[0], hi[0]), ylim=(lo[1], hi[1]), zlim=(0, cfg.ceiling), xlabel="x [m]", ylabel="y [m]",
             zlabel="z [m]")
    top.set(xlim=(lo[0], hi[0]), ylim=(lo[1], hi[1]), xlabel="x [m]", ylabel="y [m]", title="top")
    top.set_aspect("equal", adjustable="box")
    side.set(xlim=(lo[0], hi[0]), ylim=(0, cfg.ceiling), xlabel="x [m]", ylabel="z [m]", title="side")
    for axes in (view, top, side):
        axes.tick_params(labelsize=7)
