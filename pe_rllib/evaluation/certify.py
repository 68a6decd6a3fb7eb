"""Hamilton-Jacobi ground truth for a trained pair in an open world (``pe-rllib certify``).

In a world without obstacles, far from the walls, the game is the 3-D relative game of
:mod:`pe_rllib.evaluation.tube`, and its reach tube of horizon ``T = max_steps * dt`` says who
wins under optimal play: from inside (value <= -margin) the pursuer can force capture within
``T``, from outside (value >= +margin) the evader can escape. ``certify`` computes the tube
(cached per world and grid under ``RUN/certify/``), samples starts on both sides at the
training world's start distances, places them into the batched world (pursuer at the arena
centre with a random heading, evader at the relative state) and plays the trained pair until
each arena's first episode ends. It reports the trained pursuer's capture rate from inside and
the trained evader's escape rate from outside (optimal: 1 for both) with Wilson 95 % intervals.

Episodes in which a robot comes within ``WALL_MARGIN`` of a wall are excluded and counted
(the open-plane game no longer applies); ``walls_reachable`` says whether the arena is large
enough that this cannot happen within ``T`` (``tune_configs/open.yaml`` is).

The margin covers the grid error (values in metres; ``GRID_ERROR`` was measured once against a
finer grid; the default margin is twice it) and the world's discrete time (explicit Euler, capture
checked at step ends), which tests/test_certify.py checks by playing the solver's own optimal
controls in the world's dynamics.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np

from pe_rllib.config import ConfigError, EnvConfig, ExperimentConfig, load_experiment
from pe_rllib.envs.core import CAPTURE, COLLISION, TIMEOUT
from pe_rllib.evaluation.certify_plot import plot_certificate
from pe_rllib.evaluation.matchups import play_first_episodes, wilson_interval
from pe_rllib.files import write_atomic
from pe_rllib.rundir import EXPERIMENT_FILE, resolve_checkpoint, run_dir_of

logger = logging.getLogger(__name__)

CERTIFY_DIR = "certify"
CERTIFY_FILE = "certify.json"
CERTIFY_PLOT = "certify.png"
INSTALL_HINT = "certify needs hj-reachability (JAX): pip install 'pe_rllib[certify]'"

DEFAULT_CELLS = 51
HEADING_CELLS = 36
GRID_PADDING = 2.0
"""The grid reaches this far [m] beyond the largest start distance (its edges are extrapolated)."""
GRID_ERROR = {41: 0.16, 51: 0.10, 61: 0.05}
"""Value error [m] by position cells (the "high" scheme, 36 headings, box max_init_distance + 2 m): the 99th
percentile of |V - V_81| over starts at the training distances in open.yaml's world, measured once
(``benchmarks/certify_grid_error.py``, BENCHMARKS.md "Ground truth"). Coarser grids' tubes are smaller
(their values higher) almost uniformly. Grids not listed use the next coarser one's figure (twice the
coarsest's below it)."""
MIN_MARGIN = 0.1
"""Smallest default margin [m] between a start's value and the tube boundary (covers the discrete time)."""
WALL_MARGIN = 0.5
"""An episode in which a robot's body comes this close [m] to a wall is excluded."""
NUM_ENVS = 1024


def grid_error(cells: int) -> float:
    """The recorded value error [m] of a grid with ``cells`` position cells (see :data:`GRID_ERROR`)."""
    coarser = [c for c in GRID_ERROR if c <= cells]
    return GRID_ERROR[max(coarser)] if coarser else 2 * GRID_ERROR[min(GRID_ERROR)]


def default_margin(cells: int) -> float:
    """Twice the grid's recorded error (the 81-cell reference is itself off by about as much again, judging
    by how the values move between 61 and 81 cells), at least :data:`MIN_MARGIN`."""
    return max(MIN_MARGIN, 2 * grid_error(cells))


def _tube():
    """:mod:`pe_rllib.evaluation.tube` (imports JAX), or a one-line :class:`ConfigError` naming the extra."""
    try:
        from pe_rllib.evaluation import tube
    except ImportError as err:
        raise ConfigError(f"{INSTALL_HINT} ({err})") from None
    return tube


def tube_world(env: EnvConfig):
    """The tube's parameters from an experiment's world; worlds the open-plane game does not describe
    are refused with a one-line :class:`ConfigError` naming the field."""
    if env.n_obstacles > 0:
        raise ConfigError(f"env.n_obstacles: certify needs an open world (no obstacles), got {env.n_obstacles}")
    if env.prep_steps > 0:
        raise ConfigError(f"env.prep_steps: certify needs both robots free from the start (0), got {env.prep_steps}")
    return _tube().TubeWorld(pursuer_v_max=env.pursuer_v_max, evader_v_max=env.evader_v_max, omega_max=env.omega_max,
                     capture_radius=env.capture_radius, horizon=env.max_steps * env.dt)


def walls_reachable(env: EnvConfig) -> bool:
    """Whether a robot can come within :data:`WALL_MARGIN` of a wall within ``T`` from a certify start
    (pursuer at the centre, evader at most ``max_init_distance`` away)."""
    horizon = env.max_steps * env.dt
    reach = max(env.pursuer_v_max * horizon, env.max_init_distance + env.evader_v_max * horizon)
    return reach + env.robot_radius + WALL_MARGIN >= min(env.arena_width, env.arena_height) / 2


@dataclass
class Tube:
    """A solved tube: ``values [*grid.shape]`` of horizon ``world.horizon``."""

    world: object
    grid: object
    values: np.ndarray
    seconds: float
    cached: bool = False

    def value(self, states: np.ndarray) -> np.ndarray:
        return _tube().interpolate(self.grid, self.values, states)


def _cache_key(world, grid) -> str:
    text = json.dumps({"world": asdict(world), "grid": asdict(grid)}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def load_or_solve(world, grid, cache_dir: Path | None) -> Tube:
    """The tube of ``world`` on ``grid``, from ``cache_dir/tube-<key>.npz`` (data only) or solved and cached."""
    path = None if cache_dir is None else cache_dir / f"tube-{_cache_key(world, grid)}.npz"
    if path is not None and path.is_file():
        try:
            with np.load(path, allow_pickle=False) as data:
                values, seconds = data["values"], float(data["seconds"])
            if values.shape == grid.shape:
                logger.info("tube from cache %s", path)
                return Tube(world, grid, values, seconds, cached=True)
        except (OSError, ValueError, KeyError) as err:
            logger.warning("ignoring unreadable tube cache %s (%s)", path, err)
    _, values, seconds = _tube().solve_tube(world, grid)
    tube = Tube(world, grid, values[-1], seconds)
    if path is not None:
        import io

        path.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        np.savez_compressed(buffer, values=tube.values, seconds=np.float64(seconds),
                            world=json.dumps(asdict(world)), grid=json.dumps(asdict(grid)))
        write_atomic(path, buffer.getvalue())
    return tube


def sample_starts(tube: Tube, rng: np.random.Generator, count: int, *, inside: bool, margin: float,
                  distances: tuple[float, float]) -> np.ndarray:
    """``count`` relative starts ``[count, 3]``, uniform over the annulus ``distances`` and all headings,
    inside (value <= -margin) or outside (value >= margin) the tube. ``ValueError`` if that side of the
    tube holds (almost) none of them."""
    low, high = distances
    found: list[np.ndarray] = []
    have, drawn = 0, 0
    while have < count:
        batch = max(4 * count, 1024)
        radius = np.sqrt(rng.uniform(low * low, high * high, batch))
        bearing = rng.uniform(-math.pi, math.pi, batch)
        states = np.stack([radius * np.cos(bearing), radius * np.sin(bearing),
                           rng.uniform(-math.pi, math.pi, batch)], axis=1)
        value = tube.value(states)
        keep = states[value <= -margin] if inside else states[value >= margin]
        found.append(keep)
        have += len(keep)
        drawn += batch
        if have < count and drawn >= 1000 * count:
            side = "inside" if inside else "outside"
            raise ValueError(f"the tube has almost no starts {side} it (margin {margin:g} m) between {low:g} and "
                             f"{high:g} m ({have} of {drawn:,} draws); certify needs another world or horizon")
    return np.concatenate(found)[:count]


def play_starts(experiment: ExperimentConfig, pursuer, evader, starts: np.ndarray, *, seed: int,
                progress: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Play the pair once from each relative start ``[n, 3]``; returns ``(outcome [n], wall_clearance [n])``."""
    from pe_rllib.safety import make_batched_env

    outcome = np.zeros(len(starts), dtype=np.int64)
    clearance = np.zeros(len(starts))
    for offset in range(0, len(starts), NUM_ENVS):
        chunk = starts[offset:offset + NUM_ENVS]
        headings = np.random.default_rng([seed, offset]).uniform(-math.pi, math.pi, len(chunk))

        def prepare(state, chunk=chunk, headings=headings):
            pursuer_pose = np.stack([np.zeros(len(chunk)), np.zeros(len(chunk)), headings], axis=1)
            state.pose[:] = _tube().world_pose(chunk, pursuer_pose)
            state.controls[:] = 0.0
            state.t[:] = 0
            state.last_seen_t[:] = -1
            return state

        record = play_first_episodes(lambda n: make_batched_env(n, experiment), pursuer, evader, len(chunk),
                                     seed=seed + offset // NUM_ENVS, prepare=prepare)
        outcome[offset:offset + len(chunk)] = record.outcome
        clearance[offset:offset + len(chunk)] = record.min_clearance
        if progress is not None:
            progress(offset + len(chunk), len(starts))
    return outcome, clearance


@dataclass
class SideResult:
    """The trained pair from the starts on one side of the tube."""

    side: str                  # "inside" (the pursuer should capture) or "outside" (the evader should escape)
    episodes: int
    excluded: int              # came within WALL_MARGIN of a wall
    captures: int
    timeouts: int
    collisions: int

    @property
    def counted(self) -> int:
        return self.episodes - self.excluded

    @property
    def rate(self) -> float:
        """Capture rate from inside, escape (timeout) rate from outside, over the counted episodes."""
        wins = self.captures if self.side == "inside" else self.timeouts
        return wins / self.counted if self.counted else math.nan

    def to_dict(self) -> dict:
        wins = self.captures if self.side == "inside" else self.timeouts
        low, high = wilson_interval(wins, self.counted)
        name = "capture_rate" if self.side == "inside" else "escape_rate"
        return {**asdict(self), "counted": self.counted, name: round(self.rate, 4),
                "ci95": [round(low, 4), round(high, 4)]}


@dataclass
class CertifyResult:
    """``pe-rllib certify``'s report (``certify.json``)."""

    checkpoint: str
    world: dict
    grid: dict
    grid_error: float
    margin: float
    distances: tuple[float, float]
    safety: bool
    seed: int
    tube_volume_fraction: float
    tube_seconds: float
    tube_cached: bool
    play_seconds: float
    walls_reachable: bool
    inside: SideResult
    outside: SideResult
    starts: dict = field(default_factory=dict, repr=False)   # {side: (states [n, 3], outcome [n], excluded [n])}

    def to_dict(self) -> dict:
        out = {k: v for k, v in asdict(self).items() if k not in ("inside", "outside", "starts")}
        out["distances"] = list(self.distances)
        return {**out, "inside": self.inside.to_dict(), "outside": self.outside.to_dict()}


def _side(name: str, outcome: np.ndarray, excluded: np.ndarray) -> SideResult:
    kept = outcome[~excluded]
    return SideResult(side=name, episodes=len(outcome), excluded=int(excluded.sum()),
                      captures=int((kept == CAPTURE).sum()), timeouts=int((kept == TIMEOUT).sum()),
                      collisions=int((kept == COLLISION).sum()))


def certify_dir(checkpoint: Path) -> Path:
    """``RUN/certify`` (or ``CHECKPOINT/certify`` for a checkpoint copied out of its run)."""
    return (run_dir_of(checkpoint) or checkpoint) / CERTIFY_DIR


def certify(path: str | Path, *, episodes: int = 500, cells: int = DEFAULT_CELLS, seed: int = 0,
            margin: float | None = None, safety: bool | None = None,
            progress: Callable[[str], Callable[[int, int], None]] | None = None) -> CertifyResult:
    """Certify the newest intact checkpoint of ``path`` against the HJ tube of its world.

    ``episodes`` starts per side; ``margin`` (default: :func:`default_margin`); ``safety`` overrides
    the filter (default: as trained); ``progress(label)``, when given, returns the ``(done, total)``
    counter of the episodes (e.g. the CLI's ``Progress``). Writes ``RUN/certify/<checkpoint>/certify.json``
    and ``certify.png``.
    """
    from pe_rllib.policies import load_policy

    if episodes < 1:
        raise ValueError(f"episodes: must be >= 1, got {episodes}")
    tube_module = _tube()
    checkpoint = resolve_checkpoint(path)
    experiment = load_experiment(checkpoint / EXPERIMENT_FILE)
    if safety is not None:
        experiment = replace(experiment, safety=replace(experiment.safety, enabled=safety))
    env = experiment.env
    world = tube_world(env)
    grid = tube_module.TubeGrid(half_width=env.max_init_distance + GRID_PADDING, cells=cells,
                                heading_cells=HEADING_CELLS)
    error = grid_error(cells)
    margin = default_margin(cells) if margin is None else margin
    pursuer, evader = load_policy(checkpoint, "pursuer"), load_policy(checkpoint, "evader")
    tube = load_or_solve(world, grid, certify_dir(checkpoint))

    rng = np.random.default_rng(seed)
    distances = (env.min_init_distance, env.max_init_distance)
    starts = {side: sample_starts(tube, rng, episodes, inside=side == "inside", margin=margin, distances=distances)
              for side in ("inside", "outside")}
    start = time.perf_counter()
    outcome, clearance = play_starts(experiment, pursuer, evader, np.concatenate([starts["inside"], starts["outside"]]),
                                     seed=seed, progress=progress("certify") if progress else None)
    play_seconds = time.perf_counter() - start
    excluded = clearance < WALL_MARGIN
    sides = {"inside": slice(0, episodes), "outside": slice(episodes, 2 * episodes)}
    result = CertifyResult(
        checkpoint=str(checkpoint), world=asdict(world), grid=tube_module.grid_dict(grid), grid_error=error,
        margin=margin, distances=distances, safety=experiment.safety.enabled, seed=seed,
        tube_volume_fraction=round(tube_module.volume_fraction(tube.values), 5), tube_seconds=round(tube.seconds, 2),
        tube_cached=tube.cached, play_seconds=round(play_seconds, 2), walls_reachable=walls_reachable(env),
        inside=_side("inside", outcome[sides["inside"]], excluded[sides["inside"]]),
        outside=_side("outside", outcome[sides["outside"]], excluded[sides["outside"]]),
        starts={side: (starts[side], outcome[sides[side]], excluded[sides[side]]) for side in sides})
    out_dir = certify_dir(checkpoint) / checkpoint.name
    out_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(out_dir / CERTIFY_FILE, json.dumps(result.to_dict(), indent=2))
    plot_certificate(result, tube, out_dir / CERTIFY_PLOT)
    logger.info("certified %s: capture from inside %.3f, escape from outside %.3f", checkpoint,
                result.inside.rate, result.outside.rate)
    return result


__all__ = ["CertifyResult", "SideResult", "Tube", "certify", "load_or_solve", "sample_starts", "tube_world",
           "walls_reachable"]
