"""Learning curves of a run, from its ``progress.jsonl``, in one PNG (``pe-rllib plot``). Headless (no pyplot).

Top: the iteration's capture / escape / collision rates (smoothed) over iterations, the
background shaded by which role trained (pursuer red, evader blue, both grey). Middle:
the balance gap |capture - escape|. Bottom, when the run evaluated periodically: the
current roles against the scripted set (pursuer capture, evader escape) and trained vs
trained capture next to the best scripted pursuer's capture against the same evader.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from pe_rllib.envs.render import COLORS, new_figure, save_figure
from pe_rllib.rundir import read_progress

ROLE_SHADE = {"pursuer": COLORS["pursuer"], "evader": COLORS["evader"]}
BOTH_SHADE = "0.6"


def _series(rows: list[dict], key: str) -> np.ndarray:
    return np.array([math.nan if row.get(key) is None else float(row[key]) for row in rows])


def _smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing mean over ``window`` iterations, ignoring NaN (iterations in which no episode ended)."""
    out = np.full_like(values, math.nan)
    for i in range(len(values)):
        chunk = values[max(0, i - window + 1): i + 1]
        if np.isfinite(chunk).any():
            out[i] = np.nanmean(chunk)
    return out


def _shade_phases(ax, iterations: np.ndarray, roles: list[str]) -> None:
    start = 0
    for i in range(1, len(roles) + 1):
        if i == len(roles) or roles[i] != roles[start]:
            trained = roles[start].split(",")
            color = ROLE_SHADE.get(trained[0], BOTH_SHADE) if len(trained) == 1 else BOTH_SHADE
            ax.axvspan(iterations[start] - 0.5, iterations[i - 1] + 0.5, color=color, alpha=0.10, lw=0)
            start = i


def event_marks(rows: list[dict]) -> dict[str, list[int]]:
    """The iterations the curves mark: ``health`` (an intervention: a rollback, or with ``rollback: none``
    only the weaker side handed the next phase) and ``level_up`` (the curriculum level changed)."""
    levels = [(row["iteration"], row["curriculum_level"]) for row in rows if row.get("curriculum_level") is not None]
    return {"health": [row["iteration"] for row in rows if row.get("health_events")],
            "level_up": [iteration for (_, before), (iteration, after) in zip(levels, levels[1:]) if after != before]}


def plot_run(run_dir: str | Path, out: str | Path, *, smooth: int = 5) -> Path:
    """Write the run's learning curves to ``out`` (.png); returns the path."""
    rows = read_progress(Path(run_dir), required=True)
    iterations = _series(rows, "iteration")
    roles = [str(row.get("training_roles", "")) for row in rows]
    evaluated = [row for row in rows if "eval_pursuer_vs_scripted" in row]
    panels = 3 if evaluated else 2
    fig = new_figure(figsize=(9, 2.6 * panels + 0.6), dpi=100)
    axes = fig.subplots(panels, 1, sharex=True)
    rates, gap = axes[0], axes[1]
    for ax in axes:
        _shade_phases(ax, iterations, roles)
    rates.plot(iterations, _smooth(_series(rows, "capture_rate"), smooth), color=COLORS["pursuer"], lw=2,
               label="capture")
    rates.plot(iterations, _smooth(_series(rows, "escape_rate"), smooth), color=COLORS["evader"], lw=2,
               label="escape (timeout)")
    rates.plot(iterations, _smooth(_series(rows, "collision_rate"), smooth), color="black", lw=1.5,
               label="collision")
    marks = event_marks(rows)
    for i, iteration in enumerate(marks["health"]):
        rates.axvline(iteration, color="black", ls=":", lw=1, label="health intervention" if i == 0 else None)
    for i, iteration in enumerate(marks["level_up"]):
        rates.axvline(iteration - 0.5, color="green", ls="--", lw=1.2, label="curriculum level up" if i == 0 else None)
    rates.set_ylim(-0.02, 1.02)
    rates.set_ylabel(f"rate ({smooth}-iteration mean)")
    rates.legend(loc="upper left", fontsize=8, ncol=3)
    rates.set_title(f"{Path(run_dir).name}: self-play (background: red = pursuer trains, blue = evader trains)",
                    fontsize=10)
    gap.plot(iterations, _smooth(_series(rows, "balance_gap"), smooth), color="purple", lw=2)
    gap.set_ylim(-0.02, 1.02)
    gap.set_ylabel("balance gap")
    if evaluated:
        ev = axes[2]
        x = _series(evaluated, "iteration")
        for key, label, color, style in (
                ("eval_pursuer_vs_scripted", "trained pursuer vs scripted evaders (capture)", COLORS["pursuer"], "-o"),
                ("eval_evader_vs_scripted", "trained evader vs scripted pursuers (escape)", COLORS["evader"], "-o"),
                ("eval_trained_capture", "trained vs trained (capture)", "black", "-s"),
                ("eval_best_scripted_capture", "best scripted pursuer vs trained evader", "0.5", "--^"),
                ("eval_pursuer_vs_pool", "trained pursuer vs own evader snapshots (capture)", COLORS["pursuer"], ":x"),
                ("eval_evader_vs_pool", "trained evader vs own pursuer snapshots (escape)", COLORS["evader"], ":x")):
            values = _series(evaluated, key)
            if np.isfinite(values).any():             # (pool figures exist only with snapshot slots)
                ev.plot(x, values, style, color=color, lw=1.5, ms=4, label=label)
        ev.set_ylim(-0.02, 1.02)
        ev.set_ylabel("evaluation")
        ev.legend(loc="upper left", fontsize=7, ncol=2)
    axes[-1].set_xlabel("iteration")
    fig.tight_layout()
    return save_figure(fig, out)
