"""The HJ tube's grid error for open.yaml's world (the figures behind certify.GRID_ERROR, BENCHMARKS.md).

    python benchmarks/certify_grid_error.py [--config open] [--cells 31 41 51 61] [--reference 81] \\
        [--accuracy medium high]

Solves the tube of the world's speeds, turn rate, capture radius and horizon on each grid and scheme
(36 headings, |x|, |y| <= max_init_distance + 2 m) and on the finer reference grid (the last scheme), and
compares the values at 20,000 random relative states at the training start distances: max, 99th and
95th percentile of |V - V_ref| [m], the share of states whose side of the tube differs, the same against a
first-order extrapolation to zero spacing from the two finest grids, and the wall time of each solve
(2-core CPU). Results: ``results/certify_grid_error.json``.
"""

from __future__ import annotations

import argparse
import math

import numpy as np
from common import save

from pe_rllib.config import load_experiment
from pe_rllib.evaluation.certify import GRID_PADDING, HEADING_CELLS, tube_world
from pe_rllib.evaluation.tube import TubeGrid, interpolate, solve_tube, volume_fraction


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", default="open")
    parser.add_argument("--cells", type=int, nargs="+", default=[31, 41, 51, 61])
    parser.add_argument("--reference", type=int, default=81)
    parser.add_argument("--headings", type=int, default=HEADING_CELLS)
    parser.add_argument("--accuracy", nargs="+", default=["medium", "high"], help="schemes compared (the reference "
                        "grid uses the last)")
    args = parser.parse_args()
    env = load_experiment(args.config).env
    world = tube_world(env)
    rng = np.random.default_rng(0)
    n = 20_000
    radius = np.sqrt(rng.uniform(env.min_init_distance ** 2, env.max_init_distance ** 2, n))
    bearing = rng.uniform(-math.pi, math.pi, n)
    states = np.stack([radius * np.cos(bearing), radius * np.sin(bearing), rng.uniform(-math.pi, math.pi, n)], 1)
    solved = {}
    grids = [(cells, accuracy) for accuracy in args.accuracy for cells in args.cells]
    for cells, accuracy in [*grids, (args.reference, args.accuracy[-1])]:
        grid = TubeGrid(env.max_init_distance + GRID_PADDING, cells, args.headings, accuracy)
        _, values, seconds = solve_tube(world, grid)
        solved[cells, accuracy] = (interpolate(grid, values[-1], states), seconds, volume_fraction(values[-1]))
        print(f"{cells} cells, {accuracy}: {seconds:.1f} s, volume {solved[cells, accuracy][2]:.4f}", flush=True)
    reference = solved[args.reference, args.accuracy[-1]][0]
    # The reference has its own error. The scheme converges about linearly in the spacing here (the tube's
    # volume grows by a near-constant amount per cell size), so extrapolate from the two finest grids of the
    # reference's scheme (Richardson, first order) and state each grid's error against that too.
    finest = max(c for c, a in solved if a == args.accuracy[-1] and c != args.reference)
    h_ref, h_fine = 1 / (args.reference - 1), 1 / (finest - 1)
    limit = reference + (reference - solved[finest, args.accuracy[-1]][0]) * h_ref / (h_fine - h_ref)
    rows = []
    for (cells, accuracy), (value, seconds, volume) in solved.items():
        error = np.abs(value - reference)
        extrapolated = value - limit
        spacing = 2 * (env.max_init_distance + GRID_PADDING) / (cells - 1)
        rows.append({"cells": cells, "accuracy": accuracy, "headings": args.headings, "spacing_m": round(spacing, 4),
                     "seconds": round(seconds, 1), "volume_fraction": round(volume, 4),
                     "max_error_m": round(float(error.max()), 4),
                     "p99_error_m": round(float(np.quantile(error, 0.99)), 4),
                     "p95_error_m": round(float(np.quantile(error, 0.95)), 4),
                     "side_differs": round(float(np.mean((value <= 0) != (reference <= 0))), 4),
                     "p99_error_vs_extrapolated_m": round(float(np.quantile(np.abs(extrapolated), 0.99)), 4),
                     "mean_bias_vs_extrapolated_m": round(float(extrapolated.mean()), 4),
                     "side_differs_vs_extrapolated": round(float(np.mean((value <= 0) != (limit <= 0))), 4),
                     "inside_share": round(float(np.mean(value <= 0)), 4)})
        print(rows[-1], flush=True)
    save("certify_grid_error", [{"config": args.config, "world": world.__dict__, "reference_cells": args.reference,
                                 "states": n, **row} for row in rows])


if __name__ == "__main__":
    main()
