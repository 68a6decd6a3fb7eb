"""The aerial world's safety filter (issue 24): the QP's exact solution, zero crashes under adversarial pilots,
no change where nothing is near, spawns that can always brake, and the filter behind both env APIs."""

from __future__ import annotations

import numpy as np
import pytest

from pe_rllib.config import ExperimentConfig, from_dict
from pe_rllib.envs.aerial import dynamics
from pe_rllib.safety import make_batched_env, make_parallel_env
from pe_rllib.safety.aerial import barrier_rows, full_stop, project


def _experiment(safety: bool = True, **aerial) -> ExperimentConfig:
    return from_dict(ExperimentConfig, {"world": "aerial", "safety": {"enabled": safety},
                                        "aerial": {"n_obstacles": 4, "observation": "full", **aerial}})


def test_the_qp_solution_is_the_exact_minimiser_that_cvxpy_finds():
    """Random problems with up to three binding rows (plus rows too loose to bind, and parallel pairs): the
    enumerated KKT candidate is cvxpy's minimiser of |a - a0|^2 on the rows and the ball (to the interior-point
    solver's accuracy, and never with a larger objective)."""
    import cvxpy as cp

    rng = np.random.default_rng(0)
    b, a_max = 200, np.full(200, 6.0)
    normals = rng.normal(size=(b, 6, 3))
    normals /= np.linalg.norm(normals, axis=-1, keepdims=True)
    normals[::10, 1] = normals[::10, 0]                          # parallel rows
    bounds = rng.uniform(-4.0, 8.0, size=(b, 6))
    bounds[:, 3:] = rng.uniform(6.0, 50.0, size=(b, 3))          # bounds >= a_max: never binding in the ball
    a0 = rng.normal(size=(b, 3))
    a0 *= (a_max[:, None] * rng.uniform(0, 1, size=(b, 1))) / np.linalg.norm(a0, axis=-1, keepdims=True)
    safe, feasible = project(a0, normals, bounds, a_max, np.zeros((b, 3)))
    solved = 0
    for i in range(b):
        a = cp.Variable(3)
        problem = cp.Problem(cp.Minimize(cp.sum_squares(a - a0[i])),
                             [normals[i] @ a <= bounds[i], cp.norm(a) <= a_max[i]])
        problem.solve(solver=cp.CLARABEL)
        if problem.status != cp.OPTIMAL:
            continue
        solved += 1
        assert feasible[i]
        np.testing.assert_allclose(safe[i], a.value, atol=1e-4)            # the interior-point solver's accuracy
        assert np.sum((safe[i] - a0[i]) ** 2) <= problem.value + 1e-6       # and no worse than its optimum
    assert solved >= 100
    rows = np.einsum("bkj,bj->bk", normals[feasible], safe[feasible])
    assert np.all(rows <= bounds[feasible] + 1e-6)


@pytest.mark.parametrize("pilot", ["nearest_surface", "corner", "persistent"])
def test_adversarial_pilots_never_crash_with_the_filter_and_mostly_crash_without(pilot):
    """Both drones steered at full thrust into the nearest surface, into a corner of the airspace, or along
    random directions held for 10 s: with the filter, 0 crashes and the QP always solvable over 128 x 800 steps;
    without it, most episodes end in a crash."""
    crashes = {}
    for safety in (True, False):
        experiment = _experiment(safety)
        env = make_batched_env(128, experiment)
        env.reset(seed=0)
        rng = np.random.default_rng(1)
        crashes[safety], infeasible = 0, 0
        for t in range(800):
            state = env.world_state()
            if pilot == "nearest_surface":
                normals, _, distance = barrier_rows(experiment.aerial, experiment.safety, state)
                target = np.take_along_axis(normals, distance.argmin(-1)[..., None, None].repeat(3, -1), 2)[:, :, 0]
            elif pilot == "corner":
                target = np.broadcast_to(np.array([1.0, 1.0, -1.0]) / np.sqrt(3.0), (128, 2, 3))
            else:
                if t % 200 == 0:
                    direction = rng.normal(size=(128, 2, 3))
                target = direction / np.linalg.norm(direction, axis=-1, keepdims=True)
            actions = np.einsum("nrji,nrj->nri", state.frames, target)          # world direction -> action
            _, _, _, _, infos = env.step({role: actions[:, i] for i, role in enumerate(env.agents)})
            for role in env.agents:
                crashes[safety] += int(infos[role]["collision"].sum())
                infeasible += int(infos[role].get("safety_infeasible", np.zeros(1, bool)).sum())
        if safety:
            assert infeasible == 0
    assert crashes[True] == 0
    assert crashes[False] >= 100


def test_the_filter_leaves_actions_untouched_away_from_every_surface():
    """Random actions at the spawns (50 m above the ground, 100 m from the sides, clear of the cylinders): the
    filtered actions are the actions, bit for bit, and no intervention is reported."""
    env = make_batched_env(256, _experiment())
    env.reset(seed=3)
    actions = {role: np.random.default_rng(4).uniform(-1, 1, (256, 3)) for role in env.agents}
    safe, infos = env.filter.filter(env.world_state(), env.env.stack_actions(actions))
    np.testing.assert_array_equal(safe, env.env.stack_actions(actions))
    assert not any(infos[role]["safety_intervened"].any() for role in env.agents)


def test_a_drone_pressed_against_the_ground_holds_its_altitude_and_keeps_its_horizontal_command():
    """A drone commanded straight down at full thrust near the ground: the filter removes just the downward
    part it cannot afford (the horizontal part of a diagonal command stays), and the drone settles at the
    margin without touching."""
    experiment = _experiment(n_obstacles=0)
    env = make_batched_env(1, experiment)
    env.reset(seed=0)
    state = env.world_state()
    state.position[0] = [[0.0, 0.0, 20.0], [200.0, 0.0, 150.0]]
    state.velocity[0] = [[0.0, 0.0, -10.0], [0.0, 0.0, 0.0]]
    env.start_from(state)
    lowest = np.inf
    for _ in range(300):
        state = env.world_state()
        down_and_east = np.array([1.0, 0.0, -1.0]) / np.sqrt(2.0)
        action = np.einsum("ji,j->i", state.frames[0, 0], down_and_east)
        _, _, terminated, _, infos = env.step({"pursuer": action[None], "evader": np.zeros((1, 3))})
        assert not infos["pursuer"]["collision"][0]
        lowest = min(lowest, env.world_state().position[0, 0, 2])
    final = env.world_state()
    margin = experiment.aerial.robot_radius + experiment.safety.margin
    assert margin - 1e-9 <= lowest < margin + 0.5                  # settles on the margin (rounding aside)
    assert final.velocity[0, 0, 0] > 5.0                          # still accelerating east


def test_every_spawn_can_brake_short_of_the_cylinders():
    """Spawns keep each drone farther from every cylinder than the capture radius plus its stopping distance
    at full braking from the spawn speed, even in a crowded airspace."""
    cfg = _experiment(n_obstacles=12, obstacle_radius_max=30.0).aerial
    state = dynamics.initial_state(cfg, np.random.default_rng(0), 2000)
    gap = dynamics.obstacle_gap(state.position, state.obstacles).min(axis=-1) - cfg.robot_radius
    speed = cfg.init_speed_fraction * dynamics.limits(cfg)[:, 0]
    assert np.all(gap > cfg.capture_radius + speed ** 2 / (2 * dynamics.limits(cfg)[:, 1]))


def test_the_fallback_brakes_against_the_velocity_at_full_thrust():
    velocity = np.array([[3.0, 4.0, 0.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(full_stop(velocity, np.array([5.0, 5.0])), [[-3.0, -4.0, 0.0], [0.0, 0.0, 0.0]])


def test_the_pettingzoo_env_of_a_filtered_aerial_experiment_filters_and_reports():
    """``make_parallel_env`` wraps the aerial env when ``safety.enabled``: a drone dived into the ground from
    low altitude is held off it, and every step's infos carry the filter's fields."""
    env = make_parallel_env(_experiment(n_obstacles=0))
    env.reset(seed=0)
    core = env.unwrapped.core
    state = core.world_state()
    state.position[0, 0, 2] = 5.0
    core.start_from(state)
    for _ in range(200):
        frames = core.world_state().frames[0, 0]
        _, _, terminated, _, infos = env.step({"pursuer": np.einsum("ji,j->i", frames, [0.0, 0.0, -1.0]),
                                               "evader": np.zeros(3, np.float32)})
        assert "safety_intervened" in infos["pursuer"] and not infos["pursuer"]["collision"]
        if terminated["pursuer"]:
            break
    assert make_parallel_env(_experiment(safety=False)).unwrapped is not None
