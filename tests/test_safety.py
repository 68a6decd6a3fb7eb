"""Safety filter: exact solver == cvxpy, constraints hold, zero collisions under adversarial driving."""

import numpy as np
import pytest
from helpers import run_first_episodes

from pe_rllib.config import ConfigError, EnvConfig, ExperimentConfig, SafetyConfig
from pe_rllib.envs import BatchedPursuitEvasion, pursuit_evasion_v0
from pe_rllib.envs.core import AGENTS, COLLISION, controls_to_actions, sample_obstacles, sample_spawns
from pe_rllib.safety import SafeBatchedEnv, SafetyFilter, SafetyFilterWrapper
from pe_rllib.safety.filter import FALLBACK, OPTIMAL, RELAXED
from pe_rllib.safety.qp import solve_qp
from pe_rllib.safety.reference import CvxpyQP

ENV8 = EnvConfig(n_obstacles=8)


def _instances(n, rng):
    """Half env-derived (robots near obstacles/walls), half random half-plane sets (some infeasible)."""
    filt = SafetyFilter(ENV8)
    obstacles = sample_obstacles(ENV8, rng, n)
    pose = sample_spawns(ENV8, rng, obstacles)[:, 0]
    # Push robots towards their nearest obstacle so constraints are active.
    nearest = obstacles[np.arange(n), np.argmin(np.linalg.norm(obstacles[..., :2] - pose[:, None, :2], axis=-1), 1)]
    to = nearest[:, :2] - pose[:, :2]
    gap = np.linalg.norm(to, axis=1) - nearest[:, 2] - ENV8.robot_radius - 0.16
    pose[:, :2] += to / np.linalg.norm(to, axis=1, keepdims=True) * rng.uniform(0, 1, (n, 1)) * gap[:, None]
    a_env, b_env = filt.constraints(pose, obstacles)
    a_rand = rng.normal(size=a_env.shape) * rng.uniform(0.01, 1, (n, 1, 1))
    b_rand = rng.normal(size=b_env.shape) * 0.3 - 0.5
    half = n // 2
    a = np.concatenate([a_env[:half], a_rand[half:]])
    b = np.concatenate([b_env[:half], b_rand[half:]])
    u0 = np.stack([rng.uniform(-0.5, 1.5, n), rng.uniform(-4, 4, n)], 1)
    return filt, a, b, u0


@pytest.mark.parametrize("solver", ["numpy", "compiled"])
def test_exact_solver_matches_cvxpy_on_10000_random_instances(solver):
    from pe_rllib.safety import kernels

    rng = np.random.default_rng(0)
    filt, a, b, u0 = _instances(10_000, rng)
    solve = solve_qp if solver == "numpy" else kernels.solve_qp
    u, feasible = solve(a, b, u0, filt.low, filt.high, filt.weights)
    reference = CvxpyQP(a.shape[1], filt.low, filt.high, filt.weights)
    w = np.array(filt.weights)
    worst, n_infeasible, n_active = 0.0, 0, 0
    for i in range(len(u0)):
        u_ref, status = reference.solve(a[i], b[i], u0[i])
        assert (u_ref is not None) == feasible[i], f"feasibility disagrees on instance {i}: cvxpy {status}"
        if u_ref is None:
            n_infeasible += 1
            continue
        objective = (w * (u[i] - u0[i]) ** 2).sum()
        worst = max(worst, abs(objective - (w * (u_ref - u0[i]) ** 2).sum()))
        n_active += bool(np.any(a[i] @ u[i] <= b[i] + 1e-7))
    assert worst <= 1e-5
    assert n_infeasible > 100 and n_active > 1000          # both regimes were really exercised
    ok = feasible
    assert np.all(np.einsum("nki,ni->nk", a[ok], u[ok]) >= b[ok] - 1e-8)
    assert np.all((u[ok] >= filt.low - 1e-9) & (u[ok] <= filt.high + 1e-9))


@pytest.mark.parametrize("agent_avoidance", [False, True])
def test_compiled_constraints_equal_the_numpy_reference(agent_avoidance):
    from pe_rllib.config import SafetyConfig
    from pe_rllib.safety import kernels
    from pe_rllib.safety.cbf import barrier_constraints

    env = EnvConfig(n_obstacles=8, min_obstacles=3, arena_width=30.0, arena_height=10.0)
    safety = SafetyConfig(agent_avoidance=agent_avoidance)
    rng = np.random.default_rng(3)
    obstacles = sample_obstacles(env, rng, 500)
    pose = sample_spawns(env, rng, obstacles)
    pose[..., 2] = rng.uniform(-np.pi, np.pi, (500, 2))
    reference = barrier_constraints(env, safety, pose[:, 0], obstacles, pose[:, 1])
    compiled = kernels.barrier_constraints(env, safety, pose[:, 0], obstacles, pose[:, 1])
    for ref, out in zip(reference, compiled):
        assert ref.shape == out.shape and np.allclose(ref, out, rtol=1e-12, atol=1e-12)


def test_filter_output_satisfies_its_constraints_and_leaves_safe_actions_alone():
    rng = np.random.default_rng(1)
    filt, a, b, u0 = _instances(2000, rng)
    obstacles = sample_obstacles(ENV8, rng, 2000)
    pose = sample_spawns(ENV8, rng, obstacles)[:, 0]
    safe, info = filt.filter(pose, u0, obstacles)
    a, b = filt.constraints(pose, obstacles)
    assert np.all(np.einsum("nki,ni->nk", a, safe) >= b - 1e-8)
    untouched = ~info["intervened"]
    assert np.allclose(safe[untouched], np.clip(u0[untouched], filt.low, filt.high))
    assert np.all(info["status"] == OPTIMAL)


def test_cvxpy_solver_option_gives_the_same_filtered_actions():
    rng = np.random.default_rng(2)
    obstacles = sample_obstacles(ENV8, rng, 300)
    pose = sample_spawns(ENV8, rng, obstacles)[:, 0]
    u0 = np.stack([np.full(300, 1.0), rng.uniform(-3, 3, 300)], 1)
    exact, _ = SafetyFilter(ENV8).filter(pose, u0, obstacles)
    reference, info = SafetyFilter(ENV8, solver="cvxpy").filter(pose, u0, obstacles)
    assert np.allclose(exact, reference, atol=1e-4)


def test_inside_the_barrier_the_filter_relaxes_and_reports_it():
    filt = SafetyFilter(ENV8)
    obstacles = np.array([[[0.0, 0.0, 1.0]]])
    # Centre 1.2 m from the obstacle: inside the inflated radius 1 + 0.15 + 0.1 + 0.05 = 1.3.
    pose = np.array([[-1.2, 0.0, 0.0]])        # facing the obstacle
    safe, info = filt.filter(pose, np.array([[1.0, 0.0]]), obstacles)
    assert info["status"][0] in (RELAXED, FALLBACK) and info["infeasible"][0]
    assert info["slack"][0] > 0 and info["min_barrier"][0] < 0
    assert safe[0, 0] < 1.0 and filt.low[0] <= safe[0, 0] <= filt.high[0]


def _aim_at_nearest_hazard(env):
    """Nominal policy: full speed straight at the nearest obstacle or wall (privileged, test-only)."""
    def act(obs, _env):
        world, cfg = env.world_state(), env.config
        xy, theta = world.pose[:, :, :2], world.pose[:, :, 2]
        obstacles = world.obstacles[:, None]
        gaps = np.linalg.norm(xy[:, :, None] - obstacles[..., :2], axis=-1) - obstacles[..., 2]
        idx = gaps.argmin(axis=2)
        target = np.take_along_axis(world.obstacles[:, None, :, :2], idx[..., None, None], axis=2)[:, :, 0]
        wall_gap = np.stack([cfg.arena_width / 2 - np.abs(xy[..., 0]), cfg.arena_height / 2 - np.abs(xy[..., 1])], -1)
        wall_target = xy.copy()
        axis = wall_gap.argmin(-1)
        for ax in (0, 1):
            sel = axis == ax
            half = (cfg.arena_width if ax == 0 else cfg.arena_height) / 2
            wall_target[..., ax][sel] = np.sign(xy[..., ax][sel]) * (half + 1)
        use_wall = wall_gap.min(-1) < gaps.min(-1)
        target = np.where(use_wall[..., None], wall_target, target)
        heading = np.arctan2(target[..., 1] - xy[..., 1], target[..., 0] - xy[..., 0])
        error = (heading - theta + np.pi) % (2 * np.pi) - np.pi
        controls = np.stack([np.ones_like(error), np.clip(4 * error, -cfg.omega_max, cfg.omega_max)], -1)
        return controls_to_actions(cfg, controls)
    return act


def _random_policy(seed):
    rng = np.random.default_rng(seed)
    return lambda obs, env: rng.uniform(-1, 1, (len(obs), 2))


@pytest.mark.parametrize("driver", ["aim_at_hazard", "random"])
def test_zero_collisions_over_1000_adversarial_episodes_with_8_obstacles(driver):
    results = {}
    for filtered in (False, True):
        env = BatchedPursuitEvasion(1000, n_obstacles=8, max_steps=300)
        if filtered:
            env = SafeBatchedEnv(env)
        if driver == "random":
            policies = {"pursuer": _random_policy(1), "evader": _random_policy(2)}
        else:
            aim = _aim_at_nearest_hazard(env)
            policies = {"pursuer": lambda o, e: aim(o, e)[:, 0], "evader": lambda o, e: aim(o, e)[:, 1]}
        results[filtered] = run_first_episodes(env, policies, seed=5)
    outcome_off, _, collided_off = results[False]
    outcome_on, length_on, collided_on = results[True]
    assert collided_off.any(axis=1).mean() > 0.3                  # unfiltered drivers do crash
    assert not collided_on.any() and not np.any(outcome_on == COLLISION)
    assert np.all(length_on >= 1)


def test_filter_is_not_a_brake():
    """Random driving through 8 obstacles: few interventions and the robots keep moving."""
    env = SafeBatchedEnv(BatchedPursuitEvasion(500, n_obstacles=8))
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    interventions, speed, nominal = [], [], []
    for _ in range(200):
        actions = {r: rng.uniform(-1, 1, (500, 2)) for r in AGENTS}
        nominal.append(env.nominal_controls(actions)[..., 0].mean())
        _, _, _, _, infos = env.step(actions)
        interventions.append(np.mean([infos[r]["safety_intervened"].mean() for r in AGENTS]))
        speed.append(env.world_state().controls[..., 0].mean())
    assert np.mean(interventions) < 0.15
    assert np.mean(speed) > 0.8 * np.mean(nominal)


def test_wrapper_adds_infos_and_config_errors_are_clear():
    env = SafetyFilterWrapper(pursuit_evasion_v0.parallel_env(n_obstacles=8), agents=["evader"])
    env.reset(seed=0)
    _, _, _, _, infos = env.step({a: np.array([1.0, 0.0]) for a in env.agents})
    assert isinstance(infos["evader"]["safety_intervened"], bool)
    assert infos["pursuer"]["safety_intervened"] is False          # not filtered
    assert "safety_min_barrier" in infos["evader"]
    with pytest.raises(ConfigError, match="safety.gamma"):
        SafetyFilterWrapper(pursuit_evasion_v0.parallel_env(), gamma=2.0)
    with pytest.raises(ConfigError, match="env.obstacle_clearance"):
        ExperimentConfig(env=EnvConfig(obstacle_clearance=0.1), safety=SafetyConfig())


@pytest.mark.parametrize("agent_avoidance", [True, False])
def test_agent_avoidance_keeps_a_robot_off_the_other(agent_avoidance):
    """Full speed straight at a stationary robot: with the agent barrier it stops short."""
    from pe_rllib.envs.core import integrate

    env = EnvConfig(n_obstacles=0, arena_width=40.0, arena_height=40.0)
    filt = SafetyFilter(env, agent_avoidance=agent_avoidance)
    pose = np.array([[0.0, 0.0, 0.0]])
    other = np.array([[3.0, 0.05, 0.0]])
    closest = np.inf
    for _ in range(200):
        safe, _ = filt.filter(pose, np.array([[1.0, 0.0]]), np.zeros((1, 0, 3)), other)
        pose = integrate(pose, safe, env.dt)
        closest = min(closest, float(np.linalg.norm(pose[0, :2] - other[0, :2])))
    body_contact = 2 * env.robot_radius
    if agent_avoidance:
        assert closest >= body_contact + filt.safety.margin - 0.01
    else:
        assert closest < body_contact


def test_the_unchecked_step_of_the_rollout_loop_filters_exactly_like_the_checked_one():
    envs = [SafeBatchedEnv(BatchedPursuitEvasion(64, n_obstacles=8)) for _ in range(2)]
    for env in envs:
        env.reset(seed=3)
    rng = np.random.default_rng(0)
    for _ in range(30):
        actions = {r: rng.uniform(-1, 1, (64, 2)).astype(np.float32) for r in AGENTS}
        checked = envs[0].step(actions)
        unchecked = envs[1].step(actions, validate=False)
        for role in AGENTS:
            assert np.array_equal(checked[0][role], unchecked[0][role])
            assert np.array_equal(checked[4][role]["safety_intervened"], unchecked[4][role]["safety_intervened"])
    with pytest.raises(ValueError, match="actions"):
        envs[0].step({"pursuer": np.zeros((64, 3)), "evader": np.zeros((64, 2))})
