"""PettingZoo API compliance, determinism, pickling, episode logic and invariants."""

import pickle
import warnings

import numpy as np
import pytest
from helpers import place, still_actions
from pettingzoo.test import parallel_api_test, parallel_seed_test

from pe_rllib.config import ConfigError
from pe_rllib.envs import BatchedPursuitEvasion, PursuitEvasionEnv, pursuit_evasion_v0
from pe_rllib.envs.core import AGENTS, CAPTURE, COLLISION, TIMEOUT
from pe_rllib.envs.rewards import TERMS
from pe_rllib.safety import SafetyFilterWrapper

PARAMETER_COMBINATIONS = [
    {},
    {"observation": "partial"},
    {"observation": "partial", "p_full_obs": 0.5, "history_length": 3, "n_lidar_rays": 8},
    {"n_obstacles": 0, "arena_width": 30.0, "arena_height": 12.0},
    {"n_obstacles": 8, "min_obstacles": 2, "prep_steps": 50, "evader_v_max": 1.15},
    {"reward": {"zero_sum": True, "distance": 1.0, "survival": 0.02, "visibility": 0.1}},
]


@pytest.mark.parametrize("fields", PARAMETER_COMBINATIONS)
def test_parallel_api(fields):
    with warnings.catch_warnings():
        warnings.simplefilter("error")    # the API test reports problems as warnings
        parallel_api_test(pursuit_evasion_v0.parallel_env(**fields), num_cycles=700)
    parallel_seed_test(lambda: pursuit_evasion_v0.parallel_env(**fields))


def test_parallel_api_with_safety_wrapper():
    parallel_api_test(SafetyFilterWrapper(pursuit_evasion_v0.parallel_env(n_obstacles=8)), num_cycles=700)


def _rollout(env, seed, steps=300):
    rng = np.random.default_rng(123)
    obs, _ = env.reset(seed=seed)
    trace = [env.state()]
    for _ in range(steps):
        if not env.agents:
            obs, _ = env.reset()
        obs, rewards, *_ = env.step({a: rng.uniform(-1, 1, 2) for a in env.agents})
        trace.append(np.concatenate([env.state(), [rewards["pursuer"], rewards["evader"]]]))
    return trace


def test_same_seed_same_rollout_and_different_seed_differs():
    a = _rollout(pursuit_evasion_v0.parallel_env(observation="partial"), seed=7)
    b = _rollout(pursuit_evasion_v0.parallel_env(observation="partial"), seed=7)
    c = _rollout(pursuit_evasion_v0.parallel_env(observation="partial"), seed=8)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0])


def test_batched_core_is_deterministic_per_seed():
    outs = []
    for _ in range(2):
        env = BatchedPursuitEvasion(64, n_obstacles=6, observation="partial")
        env.reset(seed=3)
        rng = np.random.default_rng(0)
        for _ in range(200):
            obs, *_ = env.step({r: rng.uniform(-1, 1, (64, 2)) for r in env.agents})
        outs.append(obs["evader"].copy())
    assert np.array_equal(outs[0], outs[1])


def test_pickled_env_continues_identically():
    env = pursuit_evasion_v0.parallel_env(n_obstacles=5)
    env.reset(seed=1)
    for _ in range(10):
        env.step({a: np.array([0.5, 0.1]) for a in env.agents})
    clone = pickle.loads(pickle.dumps(env))
    action = {a: np.array([1.0, -0.3]) for a in env.agents}
    for _ in range(5):
        o1, r1, *_ = env.step(action)
        o2, r2, *_ = clone.step(action)
    assert np.array_equal(o1["pursuer"], o2["pursuer"]) and r1 == r2


def test_non_square_arena_invariants():
    env = BatchedPursuitEvasion(512, arena_width=30.0, arena_height=8.0, n_obstacles=5,
                                obstacle_clearance=0.4, min_init_distance=1.0, max_init_distance=6.0)
    env.reset(seed=0)
    cfg, world = env.config, env.world
    xy, obstacles = world.pose[..., :2], world.obstacles
    half_w, half_h = cfg.spawn_half_extent
    assert np.all(np.abs(xy[..., 0]) <= half_w) and np.all(np.abs(xy[..., 1]) <= half_h)
    distance = np.linalg.norm(xy[:, 0] - xy[:, 1], axis=1)
    assert distance.min() >= 1.0 - 1e-9 and distance.max() <= 6.0 + 1e-9
    # Obstacles inside the walls with clearance, apart from each other with clearance.
    r = obstacles[..., 2]
    assert np.all(np.abs(obstacles[..., 0]) + r + cfg.obstacle_clearance <= 15.0 + 1e-9)
    assert np.all(np.abs(obstacles[..., 1]) + r + cfg.obstacle_clearance <= 4.0 + 1e-9)
    gaps = np.linalg.norm(obstacles[:, :, None, :2] - obstacles[:, None, :, :2], axis=-1)
    gaps -= r[:, :, None] + r[:, None, :]
    gaps[:, np.arange(5), np.arange(5)] = np.inf
    assert gaps.min() >= cfg.obstacle_clearance - 1e-9
    # Robots spawn clear of obstacles.
    body_gap = np.linalg.norm(xy[:, :, None] - obstacles[:, None, :, :2], axis=-1) - r[:, None]
    assert body_gap.min() >= cfg.robot_radius + cfg.obstacle_clearance - 1e-9
    # Wall distances in the observation match the pose; observations are finite float32.
    obs = env.reset(seed=1)
    walls = env.layout.part(obs["pursuer"], "walls") * 15.0
    x = env.world.pose[:, 0, 0]
    assert np.allclose(walls[:, 0], x + 15.0, atol=1e-4) and np.allclose(walls[:, 1], 15.0 - x, atol=1e-4)
    assert obs["pursuer"].dtype == np.float32 and np.isfinite(obs["pursuer"]).all()


def test_state_starts_with_both_poses():
    env = pursuit_evasion_v0.parallel_env()
    env.reset(seed=0)
    pose = env.world.pose[0]
    assert np.allclose(env.state()[:6], pose.reshape(6), atol=1e-6)
    assert env.state().shape == env.state_space.shape


def test_non_finite_actions_raise_naming_the_agent():
    env = pursuit_evasion_v0.parallel_env()
    env.reset(seed=0)
    with pytest.raises(ValueError, match="non-finite.*evader"):
        env.step({"pursuer": np.zeros(2), "evader": np.array([np.nan, 0.0])})


def test_bad_fields_raise_before_anything_runs():
    with pytest.raises(ConfigError, match="env.omega_max: must be > 0"):
        pursuit_evasion_v0.parallel_env(omega_max=-2)
    with pytest.raises(ConfigError, match="env.arena_wdth: unknown key"):
        pursuit_evasion_v0.parallel_env(arena_wdth=3)


def test_capture_terminates_with_reward_terms_summing_to_reward():
    env = BatchedPursuitEvasion(1, n_obstacles=0, reward={"capture": 25.0, "survival": 0.5})
    env.reset(seed=0)
    env.world.pose[:] = [[[0.0, 0.0, 0.0], [0.54, 0.0, 0.0]]]
    obs, rewards, terminated, truncated, infos = env.step(
        {"pursuer": np.array([[1.0, 0.0]]), "evader": np.array([[-1.0, 0.0]])})  # closes 0.05 m
    assert terminated["pursuer"][0] and infos["pursuer"]["captured"][0]
    assert infos["pursuer"]["outcome"][0] == CAPTURE
    for role in env.agents:
        terms = infos[role]["reward_terms"]
        assert set(terms) == set(TERMS)
        assert rewards[role][0] == pytest.approx(sum(v[0] for v in terms.values()), abs=1e-5)
    assert infos["pursuer"]["reward_terms"]["capture"][0] == 25.0
    assert infos["evader"]["reward_terms"]["capture"][0] == -25.0
    assert infos["evader"]["reward_terms"]["survival"][0] == 0.0      # no bonus on the capture step


def test_zero_sum_mode_negates_every_term():
    env = BatchedPursuitEvasion(32, reward={"zero_sum": True, "distance": 1.0, "survival": 0.1, "visibility": 0.2},
                                observation="partial")
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(50):
        _, rewards, _, _, infos = env.step({r: rng.uniform(-1, 1, (32, 2)) for r in env.agents})
        assert np.allclose(rewards["evader"], -rewards["pursuer"])
        for term in TERMS:
            assert np.allclose(infos["evader"]["reward_terms"][term], -infos["pursuer"]["reward_terms"][term])


def test_wall_collision_is_counted_and_ends_the_episode():
    env = BatchedPursuitEvasion(1, n_obstacles=0, reward={"collision": 7.0})
    env.reset(seed=0)
    half = env.config.arena_width / 2 - env.config.robot_radius
    env.world.pose[:] = [[[half - 0.01, 0.0, 0.0], [-5.0, 0.0, 0.0]]]
    _, rewards, terminated, _, infos = env.step(
        {"pursuer": np.array([[1.0, 0.0]]), "evader": np.array([[-1.0, 0.0]])})
    assert infos["pursuer"]["collision"][0] and not infos["evader"]["collision"][0]
    assert infos["pursuer"]["outcome"][0] == COLLISION and terminated["evader"][0]
    assert infos["pursuer"]["reward_terms"]["collision"][0] == -17.0    # its loss (timeout 10) + collision 7
    assert infos["pursuer"]["clearance"][0] < 0


@pytest.mark.parametrize("zero_sum", [False, True])
def test_a_crash_is_never_better_for_the_crashing_role_than_the_capture_or_timeout_of_that_step(zero_sum):
    """For random weights and states: the crashing role's reward for a crash is below its reward had the
    same step ended in a capture or a timeout instead (the evader's own crash is not a way out of a capture)."""
    from pe_rllib.config import RewardConfig
    from pe_rllib.envs.rewards import reward_terms

    rng = np.random.default_rng(0)
    n = 64
    for _ in range(200):
        weights = dict(zip(("capture", "timeout", "collision", "survival", "visibility", "obstacle_approach"),
                           rng.uniform(0, 20, 6) * (rng.random(6) < 0.8)))
        reward = RewardConfig(**weights, distance=float(rng.uniform(-2, 2)), zero_sum=zero_sum,
                              distance_discount=float(rng.uniform(0.9, 1.0)))
        state = dict(distance_before=rng.uniform(0.5, 14, n), distance_after=rng.uniform(0.5, 14, n),
                     pursuer_sees=rng.random(n) < 0.5, clearance=rng.uniform(-0.1, 2, (n, 2)))
        none, yes = np.zeros(n, bool), np.ones(n, bool)
        totals = {}
        for outcome in ("capture", "timeout", "pursuer_crash", "evader_crash"):
            crash = np.zeros((n, 2), bool)
            crash[:, 0] = outcome == "pursuer_crash"
            crash[:, 1] = outcome == "evader_crash"
            terms = reward_terms(reward, captured=yes if outcome == "capture" else none,
                                 timeout=yes if outcome == "timeout" else none, collision=crash, **state)
            totals[outcome] = [sum(role_terms.values()) for role_terms in terms]
        for index, crasher in ((0, "pursuer_crash"), (1, "evader_crash")):
            worst = np.minimum(totals["capture"][index], totals["timeout"][index])
            assert np.all(totals[crasher][index] <= worst + 1e-9), (crasher, reward)


def test_distance_shaping_at_the_learners_discount_telescopes_to_the_potential_difference():
    """With distance_discount = gamma the discounted sum of the distance term over any trajectory is
    w (d_0 - gamma^T d_T): potential-based, whatever the path in between."""
    from pe_rllib.config import RewardConfig
    from pe_rllib.envs.rewards import reward_terms

    gamma, w, steps = 0.97, 1.5, 40
    reward = RewardConfig(distance=w, distance_discount=gamma)
    distances = np.random.default_rng(3).uniform(0.5, 14, (steps + 1, 16))
    total = np.zeros(16)
    for t in range(steps):
        none = np.zeros(16, bool)
        pursuer, evader = reward_terms(reward, captured=none, timeout=none, distance_before=distances[t],
                                       distance_after=distances[t + 1], pursuer_sees=none,
                                       clearance=np.full((16, 2), 5.0), collision=np.zeros((16, 2), bool))
        total += gamma**t * pursuer["distance"]
        assert np.allclose(evader["distance"], -pursuer["distance"])
    assert np.allclose(total, w * (distances[0] - gamma**steps * distances[-1]))


def test_obstacle_collision_is_counted():
    env = BatchedPursuitEvasion(1, n_obstacles=1)
    env.reset(seed=0)
    env.world.obstacles[:] = [[[2.0, 0.0, 0.5]]]
    env.world.pose[:] = [[[-5.0, 5.0, 0.0], [2.0 - 0.5 - 0.15 - 0.02, 0.0, 0.0]]]
    _, _, terminated, _, infos = env.step(
        {"pursuer": np.array([[-1.0, 0.0]]), "evader": np.array([[1.0, 0.0]])})
    assert infos["evader"]["collision"][0] and infos["evader"]["outcome"][0] == COLLISION


def test_timeout_truncates_and_rewards_escape():
    env = BatchedPursuitEvasion(4, n_obstacles=0, max_steps=5, reward={"timeout": 3.0})
    env.reset(seed=0)
    for step in range(5):
        _, rewards, terminated, truncated, infos = env.step(still_actions(4))
    assert truncated["pursuer"].all() and not terminated["pursuer"].any()
    assert np.all(infos["pursuer"]["outcome"] == TIMEOUT)
    assert np.allclose(infos["evader"]["reward_terms"]["timeout"], 3.0)
    assert np.all(infos["pursuer"]["episode_length"] == 5)


def test_same_step_autoreset_returns_next_episode_obs_and_final_obs():
    env = BatchedPursuitEvasion(8, n_obstacles=0, max_steps=3)
    obs = env.reset(seed=0)
    for _ in range(3):
        obs, _, _, truncated, infos = env.step(still_actions(8))
    assert truncated["pursuer"].all()
    time = env.layout.slices["time"]
    assert np.allclose(obs["pursuer"][:, time], 0.0)                     # new episodes start at t = 0
    assert np.allclose(infos["pursuer"]["final_obs"][:, time], 1.0)      # t = max_steps
    assert np.all(env.world.t == 0)


def test_prep_steps_hold_the_pursuer():
    env = BatchedPursuitEvasion(16, n_obstacles=0, prep_steps=10)
    env.reset(seed=0)
    start = env.world.pose.copy()
    full = {r: np.tile([1.0, 0.3], (16, 1)) for r in env.agents}
    for _ in range(10):
        env.step(full)
    assert np.allclose(env.world.pose[:, 0], start[:, 0])
    assert not np.allclose(env.world.pose[:, 1], start[:, 1])
    env.step(full)
    assert not np.allclose(env.world.pose[:, 0], start[:, 0])


def test_history_stacks_newest_frame_last():
    env = BatchedPursuitEvasion(2, history_length=3, n_obstacles=0)
    obs = env.reset(seed=0)
    frame = env.layout.frame_dim
    first = obs["pursuer"]
    assert first.shape == (2, 3 * frame)
    assert np.array_equal(first[:, :frame], first[:, 2 * frame:])       # reset fills history
    obs, *_ = env.step({r: np.tile([1.0, 0.0], (2, 1)) for r in env.agents})
    assert np.array_equal(obs["pursuer"][:, frame:2 * frame], first[:, 2 * frame:])
    assert not np.array_equal(obs["pursuer"][:, 2 * frame:], first[:, 2 * frame:])


def test_random_obstacle_count_per_episode():
    env = BatchedPursuitEvasion(256, n_obstacles=6, min_obstacles=1)
    env.reset(seed=0)
    counts = (env.world.obstacles[..., 2] > 0).sum(axis=1)
    assert counts.min() == 1 and counts.max() == 6
    obs = place(env, env.world.pose.copy())
    assert np.isfinite(obs["pursuer"]).all()


def test_render_rgb_array():
    env = PursuitEvasionEnv(render_mode="rgb_array", observation="partial")
    env.reset(seed=0)
    env.step({a: np.array([1.0, 0.2]) for a in env.agents})
    frame = env.render()
    assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
    assert frame.std() > 5   # something was drawn
    env.close()


def test_both_batched_envs_implement_the_world_interface():
    from pe_rllib.config import ExperimentConfig
    from pe_rllib.envs.world import BatchedWorld
    from pe_rllib.safety import SafeBatchedEnv, make_batched_env

    safe = make_batched_env(4, ExperimentConfig())
    assert isinstance(safe, SafeBatchedEnv) and not hasattr(safe, "__getattr__")
    for env in (BatchedPursuitEvasion(4), safe):
        assert isinstance(env, BatchedWorld)
        obs = env.reset(seed=0)
        assert obs["pursuer"].shape == (4,) + env.observation_space("pursuer").shape


def test_transition_is_pure_and_matches_the_env_step():
    from pe_rllib.envs import core

    env = BatchedPursuitEvasion(8, n_obstacles=3, observation="partial")
    env.reset(seed=1)
    before = env.world_state()
    kept = before.copy()
    controls = env.nominal_controls({r: np.full((8, 2), 0.5) for r in AGENTS})
    after, events = core.transition(env.config, before, controls)
    for name in ("pose", "t", "last_seen", "last_seen_t", "controls"):
        assert np.array_equal(getattr(before, name), getattr(kept, name)), name    # the input is not written
    _, _, terminated, _, infos = env.step({r: np.full((8, 2), 0.5) for r in AGENTS})
    assert np.allclose(after.pose[~terminated["pursuer"]], env.world_state().pose[~terminated["pursuer"]])
    assert np.array_equal(events.outcome, infos["pursuer"]["outcome"])


def test_set_elapsed_and_start_from_are_the_ways_to_write_a_world():
    env = BatchedPursuitEvasion(4, n_obstacles=0, max_steps=10)
    env.reset(seed=0)
    obs = env.set_elapsed(np.array([0, 3, 6, 9]))
    assert list(env.world_state().t) == [0, 3, 6, 9]
    _, _, _, truncated, _ = env.step(still_actions(4))
    assert list(truncated["pursuer"]) == [False, False, False, True]
    state = env.world_state()
    state.pose[:, 0, :2] = state.pose[:, 1, :2] + 0.01               # pursuer on top of the evader
    assert not np.allclose(env.world_state().pose, state.pose)        # a copy: the world is not written
    env.start_from(state)
    _, _, terminated, _, infos = env.step(still_actions(4))
    assert terminated["pursuer"].all() and infos["pursuer"]["captured"].all()
    assert obs["pursuer"].shape == (4, env.observation_space("pursuer").shape[0])
    with pytest.raises(ValueError, match="steps"):
        env.set_elapsed(np.array([0, 0, 0, 10]))
