"""The picture of a certificate: tube slices with the sampled starts coloured by outcome. Headless (no pyplot).

Four panels, one per relative heading psi in {0, pi/2, pi, -pi/2} (the evader's heading in the
pursuer's frame; the pursuer sits at the origin facing +x). Each shades the tube's slice at that
heading (value <= 0: the pursuer forces capture within T), draws its boundary and the capture
disc, and marks the starts whose heading lies within pi/4 of the slice: circles started inside
the tube, triangles outside; red = captured, blue = escaped (timeout), black = collision, grey
crosses = excluded (near a wall).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Circle

from pe_rllib.envs.core import CAPTURE, TIMEOUT
from pe_rllib.envs.render import COLORS, new_figure, save_figure

SLICES = (0.0, math.pi / 2, math.pi, -math.pi / 2)
SLICE_NAMES = ("psi = 0 (same heading)", "psi = pi/2", "psi = pi (head-on)", "psi = -pi/2")


def _outcome_colors(outcome: np.ndarray) -> list:
    return [COLORS["pursuer"] if o == CAPTURE else COLORS["evader"] if o == TIMEOUT else "black" for o in outcome]


def plot_certificate(result, tube, out: str | Path) -> Path:
    """Write ``result``'s tube slices and starts (``CertifyResult``, its ``Tube``) to ``out`` (.png)."""
    grid = tube.grid
    x_axis, y_axis, psi_axis = grid.axes()
    fig = new_figure(figsize=(10, 9.6), dpi=100)
    axes = fig.subplots(2, 2, sharex=True, sharey=True)
    for ax, psi, name in zip(axes.ravel(), SLICES, SLICE_NAMES):
        k = int(np.argmin(np.abs(np.angle(np.exp(1j * (psi_axis - psi))))))
        values = tube.values[:, :, k].T
        ax.contourf(x_axis, y_axis, values, levels=[values.min() - 1, 0.0], colors=[COLORS["pursuer"]], alpha=0.15)
        ax.contour(x_axis, y_axis, values, levels=[0.0], colors=[COLORS["pursuer"]], linewidths=1.5)
        ax.add_patch(Circle((0, 0), result.world["capture_radius"], color="0.3", fill=False, ls="--"))
        ax.annotate("", xy=(0.8, 0), xytext=(0, 0), arrowprops={"arrowstyle": "->", "color": "black", "lw": 1.5})
        for side, marker in (("inside", "o"), ("outside", "^")):
            states, outcome, excluded = result.starts[side]
            near = np.abs(np.angle(np.exp(1j * (states[:, 2] - psi)))) <= math.pi / 4
            kept, dropped = near & ~excluded, near & excluded
            if kept.any():
                ax.scatter(states[kept, 0], states[kept, 1], s=14, marker=marker, c=_outcome_colors(outcome[kept]),
                           edgecolors="none", alpha=0.8)
            if dropped.any():
                ax.scatter(states[dropped, 0], states[dropped, 1], s=14, marker="x", c="0.6")
        for radius in result.distances:
            ax.add_patch(Circle((0, 0), radius, color="0.6", fill=False, lw=0.8, ls=":"))
        ax.set_title(f"{name}; starts within pi/4", fontsize=9)
        ax.set_aspect("equal")
        ax.set_xlim(x_axis[0], x_axis[-1])
        ax.set_ylim(y_axis[0], y_axis[-1])
    for ax in axes[-1]:
        ax.set_xlabel("x: evader ahead of the pursuer [m]")
    for ax in axes[:, 0]:
        ax.set_ylabel("y: evader to the pursuer's left [m]")
    boundary = f"tube boundary (T = {result.world['horizon']:g} s)"
    handles = [Line2D([], [], color=COLORS["pursuer"], lw=1.5, label=boundary),
               Line2D([], [], ls="", marker="o", color="0.3", label="start inside the tube"),
               Line2D([], [], ls="", marker="^", color="0.3", label="start outside the tube"),
               Line2D([], [], ls="", marker="s", color=COLORS["pursuer"], label="captured"),
               Line2D([], [], ls="", marker="s", color=COLORS["evader"], label="escaped"),
               Line2D([], [], ls="", marker="x", color="0.6", label="excluded (wall)")]
    fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=8)
    inside, outside = result.inside, result.outside
    fig.suptitle(f"{Path(result.checkpoint).parent.parent.name}/{Path(result.checkpoint).name}: capture from inside "
                 f"{inside.rate:.3f} ({inside.counted}), escape from outside {outside.rate:.3f} ({outside.counted}); "
                 f"speed ratio {result.world['evader_v_max'] / result.world['pursuer_v_max']:.2f}", fontsize=10)
    fig.tight_layout(rect=(0, 0.06, 1, 0.97))
    return save_figure(fig, out)
