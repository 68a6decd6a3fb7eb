"""The capture tube of two unicycles in the open plane: a Hamilton-Jacobi-Isaacs reach tube.

Far from walls and obstacles the game reduces to three relative coordinates, the evader's
position and heading in the pursuer's frame, ``(x, y, psi)``::

    x'   = -v_p + v_e cos(psi) + w_p y
    y'   =        v_e sin(psi) - w_p x
    psi' =  w_e - w_p

with the pursuer's ``(v_p, w_p)`` in ``[0, v_max_p] x [-w_max, w_max]`` (the control, which
minimises) and the evader's ``(v_e, w_e)`` in ``[0, v_max_e] x [-w_max, w_max]`` (the
disturbance, which maximises). The target is the capture disc, ``l = sqrt(x^2 + y^2) - r``; the
backward reachable tube of horizon ``T`` is the set where the value ``V_T <= 0``: the states from
which the pursuer forces capture within ``T`` whatever the evader does. Values are in metres
(the target is a distance), so grid errors are stated in metres too.

The solver is ``hj-reachability`` (StanfordASL, JAX): ``pip install pe_rllib[certify]``. This
module imports it at the top; :mod:`pe_rllib.evaluation.certify` imports this module only when
it solves, with a one-line hint when the extra is missing.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from dataclasses import asdict, dataclass

import hj_reachability as hj
import jax
import jax.numpy as jnp
import numpy as np

from pe_rllib.envs.core import integrate

logger = logging.getLogger(__name__)

ACCURACIES = ("medium", "high")
"""hj-reachability's schemes used here: "medium" (ENO2, second-order TVD Runge-Kutta) and "high" (WENO3,
third-order TVD Runge-Kutta). On open.yaml's world "high" at 51 cells is as close to a fine grid as
"medium" at 61 for about the cost of "medium" at 51 (BENCHMARKS.md, "Ground truth")."""


@dataclass(frozen=True)
class TubeWorld:
    """The physical parameters the tube depends on (read from an experiment's ``env``)."""

    pursuer_v_max: float
    evader_v_max: float
    omega_max: float
    capture_radius: float
    horizon: float
    """T [s]: capture must happen within it."""


@dataclass(frozen=True)
class TubeGrid:
    """The state grid: ``cells x cells`` over ``|x|, |y| <= half_width`` and ``heading_cells`` over psi."""

    half_width: float = 8.0
    cells: int = 51
    heading_cells: int = 36
    accuracy: str = "high"
    """The solver's scheme (:data:`ACCURACIES`)."""

    def __post_init__(self) -> None:
        if self.accuracy not in ACCURACIES:
            raise ValueError(f"accuracy: must be one of {ACCURACIES}, got {self.accuracy!r}")
        if not (self.half_width > 0 and math.isfinite(self.half_width)):
            raise ValueError(f"half_width: must be > 0, got {self.half_width!r}")
        if self.cells < 9 or self.heading_cells < 8:
            raise ValueError(f"grid: needs >= 9 position and >= 8 heading cells, got {self.cells}x{self.heading_cells}")

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.cells, self.cells, self.heading_cells)

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Cell size along x, y [m] and psi [rad]."""
        step = 2 * self.half_width / (self.cells - 1)
        return (step, step, 2 * math.pi / self.heading_cells)

    def hj_grid(self) -> hj.Grid:
        domain = hj.sets.Box(np.array([-self.half_width, -self.half_width, -math.pi]),
                             np.array([self.half_width, self.half_width, math.pi]))
        return hj.Grid.from_lattice_parameters_and_boundary_conditions(domain, self.shape, periodic_dims=2)

    def axes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The node coordinates along x, y, psi (psi periodic: -pi included, pi not)."""
        position = np.linspace(-self.half_width, self.half_width, self.cells)
        return position, position, np.linspace(-math.pi, math.pi, self.heading_cells, endpoint=False)


class RelativeUnicycles(hj.ControlAndDisturbanceAffineDynamics):
    """The relative game in the pursuer's frame (module docstring): pursuer minimises, evader maximises.

    Control ``u = (v_p, w_p)``, disturbance ``d = (v_e, w_e)``; both enter affinely, so the
    Hamiltonian separates and Isaacs' condition holds (upper and lower values agree).
    """

    def __init__(self, world: TubeWorld) -> None:
        self.world = world
        w = world.omega_max
        super().__init__("min", "max",
                         hj.sets.Box(jnp.array([0.0, -w]), jnp.array([world.pursuer_v_max, w])),
                         hj.sets.Box(jnp.array([0.0, -w]), jnp.array([world.evader_v_max, w])))

    # jit treats the dynamics as a static argument: equal worlds share one compiled solver.
    def __hash__(self) -> int:
        return hash(self.world)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RelativeUnicycles) and other.world == self.world

    def open_loop_dynamics(self, state, time):
        return jnp.zeros(3)

    def control_jacobian(self, state, time):
        x, y, _ = state
        return jnp.array([[-1.0, y],
                          [0.0, -x],
                          [0.0, -1.0]])

    def disturbance_jacobian(self, state, time):
        _, _, psi = state
        return jnp.array([[jnp.cos(psi), 0.0],
                          [jnp.sin(psi), 0.0],
                          [0.0, 1.0]])


def target_values(world: TubeWorld, grid: TubeGrid) -> np.ndarray:
    """``l(x) = |(x, y)| - capture_radius`` on the grid: <= 0 inside the capture disc."""
    x, y, _ = np.meshgrid(*grid.axes(), indexing="ij")
    return np.hypot(x, y) - world.capture_radius


def solve_tube(world: TubeWorld, grid: TubeGrid, slices: int = 1) -> tuple[np.ndarray, np.ndarray, float]:
    """Values of the reach tube at ``slices + 1`` horizons ``0, T/slices, ..., T``.

    Returns ``(horizons [K], values [K, *grid.shape] float32, seconds)``; ``values[-1]`` is
    the tube of horizon ``T``, ``values[0]`` the target. Each slice is itself a tube (of a
    shorter horizon), which is what a controller with ``tau`` seconds left needs.
    """
    settings = hj.SolverSettings.with_accuracy(grid.accuracy,
                                               hamiltonian_postprocessor=hj.solver.backwards_reachable_tube)
    horizons = np.linspace(0.0, world.horizon, slices + 1)
    start = time.perf_counter()
    values = hj.solve(settings, RelativeUnicycles(world), grid.hj_grid(), -horizons,
                      jnp.asarray(target_values(world, grid)), progress_bar=False)
    values = np.asarray(jax.block_until_ready(values), dtype=np.float32)
    seconds = time.perf_counter() - start
    logger.info("HJ tube %s on %s: %.1f s", world, grid, seconds)
    return horizons, values, seconds


def interpolate(grid: TubeGrid, values: np.ndarray, states: np.ndarray) -> np.ndarray:
    """Trilinear interpolation of ``values [*grid.shape, ...]`` at ``states [B, 3]`` (psi periodic).

    States outside the position box get NaN (the tube says nothing there).
    """
    states = np.asarray(states, dtype=np.float64)
    spacing = np.array(grid.spacing)
    position = (states - np.array([-grid.half_width, -grid.half_width, -math.pi])) / spacing
    position[:, 2] %= grid.heading_cells
    low = np.floor(position).astype(np.int64)
    low[:, :2] = np.clip(low[:, :2], 0, grid.cells - 2)
    weight = np.clip(position - low, 0.0, 1.0)
    result = 0.0
    for corner in range(8):
        offset = np.array([(corner >> k) & 1 for k in range(3)])
        index = low + offset
        index[:, 2] %= grid.heading_cells
        w = np.prod(np.where(offset == 1, weight, 1 - weight), axis=1)
        result = result + w.reshape((-1,) + (1,) * (values.ndim - 3)) * values[index[:, 0], index[:, 1], index[:, 2]]
    outside = np.any(np.abs(states[:, :2]) > grid.half_width, axis=1)
    return np.where(outside.reshape((-1,) + (1,) * (values.ndim - 3)), np.nan, result)


def relative_state(pose: np.ndarray) -> np.ndarray:
    """World poses ``[N, 2, 3]`` (pursuer first) -> the evader's ``(x, y, psi)`` in the pursuer's frame ``[N, 3]``."""
    px, py, ptheta = pose[:, 0, 0], pose[:, 0, 1], pose[:, 0, 2]
    dx, dy = pose[:, 1, 0] - px, pose[:, 1, 1] - py
    c, s = np.cos(ptheta), np.sin(ptheta)
    psi = np.mod(pose[:, 1, 2] - ptheta + math.pi, 2 * math.pi) - math.pi
    return np.stack([c * dx + s * dy, -s * dx + c * dy, psi], axis=1)


def world_pose(relative: np.ndarray, pursuer: np.ndarray) -> np.ndarray:
    """Inverse of :func:`relative_state`: the pursuer at ``pursuer [N, 3]`` and the evader at ``relative [N, 3]``."""
    c, s = np.cos(pursuer[:, 2]), np.sin(pursuer[:, 2])
    evader = np.stack([pursuer[:, 0] + c * relative[:, 0] - s * relative[:, 1],
                       pursuer[:, 1] + s * relative[:, 0] + c * relative[:, 1],
                       np.mod(pursuer[:, 2] + relative[:, 2] + math.pi, 2 * math.pi) - math.pi], axis=1)
    return np.stack([pursuer, evader], axis=1)


def optimal_controls(world: TubeWorld, grid: TubeGrid, gradients: np.ndarray, states: np.ndarray) -> np.ndarray:
    """Both players' optimal ``(v, w)`` ``[B, 2, 2]`` (pursuer first) from the value gradient, as the solver's
    own Hamiltonian picks them (``optimal_control_and_disturbance``). ``gradients [*grid.shape, 3]``."""
    grad = np.nan_to_num(interpolate(grid, gradients, states))
    control, disturbance = _optimal(RelativeUnicycles(world), jnp.asarray(states, dtype=jnp.float32),
                                    jnp.asarray(grad, dtype=jnp.float32))
    return np.stack([np.asarray(control), np.asarray(disturbance)], axis=1).astype(np.float64)


@functools.partial(jax.jit, static_argnames="dynamics")
def _optimal(dynamics: RelativeUnicycles, states, grad):
    return jax.vmap(lambda s, g: dynamics.optimal_control_and_disturbance(s, 0.0, g))(states, grad)


def value_gradients(grid: TubeGrid, values: np.ndarray) -> np.ndarray:
    """Central-difference gradients ``[K, *grid.shape, 3]`` of value slices ``[K, *grid.shape]``."""
    hj_grid = grid.hj_grid()
    return np.stack([np.asarray(hj_grid.grad_values(jnp.asarray(v))) for v in values])


def play_optimal(world: TubeWorld, grid: TubeGrid, horizons: np.ndarray, values: np.ndarray, starts: np.ndarray,
                 dt: float) -> tuple[np.ndarray, np.ndarray]:
    """Both players follow the solver's optimal controls from relative ``starts [B, 3]`` in the world's own
    discrete dynamics (explicit Euler with ``dt``, capture checked at each step's end).

    With ``tau`` seconds left a player reads the gradient of the tube of the smallest stored
    horizon ``>= tau``. Returns ``(captured [B] bool, capture_step [B], -1 when not captured)``.
    """
    gradients = value_gradients(grid, values)
    n = len(starts)
    pose = world_pose(np.asarray(starts, dtype=np.float64), np.zeros((n, 3)))
    captured = np.zeros(n, dtype=bool)
    capture_step = np.full(n, -1, dtype=np.int64)
    steps = int(round(world.horizon / dt))
    for step in range(steps):
        tau = world.horizon - step * dt
        k = min(int(np.searchsorted(horizons, tau - 1e-9)), len(horizons) - 1)
        controls = optimal_controls(world, grid, gradients[k], relative_state(pose))
        pose = integrate(pose, controls, dt)
        new = (np.hypot(*(pose[:, 1, :2] - pose[:, 0, :2]).T) <= world.capture_radius) & ~captured
        capture_step[new] = step + 1
        captured |= new
        if captured.all():
            break
    return captured, capture_step


def volume_fraction(values: np.ndarray) -> float:
    """Share of grid nodes inside the tube (value <= 0)."""
    return float((values <= 0).mean())


def grid_dict(grid: TubeGrid) -> dict:
    return {**asdict(grid), "spacing": [round(s, 6) for s in grid.spacing]}
