"""Every sensor against hand-computed values at known poses (the predecessor's LiDAR saw phantom walls)."""

import math

import numpy as np
import pytest
from helpers import place

from pe_rllib.envs import BatchedPursuitEvasion

NO_OBSTACLES = np.zeros((1, 0, 3))


def partial_env(**fields):
    defaults = dict(observation="partial", n_obstacles=1, n_lidar_rays=8, lidar_range=20.0)
    env = BatchedPursuitEvasion(1, **{**defaults, **fields})
    env.reset(seed=0)
    return env


def lidar_of(env, obs, role="pursuer"):
    return env.layout.part(obs[role], "lidar")[0] * env.config.lidar_range


def test_lidar_walls_in_origin_centred_arena():
    env = partial_env(n_obstacles=0)
    obs = place(env, [[[0.0, 0.0, 0.0], [-9.0, -9.0, 0.0]]], NO_OBSTACLES)
    rays = lidar_of(env, obs)
    diagonal = 10.0 * math.sqrt(2)
    assert rays == pytest.approx([10, diagonal, 10, diagonal, 10, diagonal, 10, diagonal], abs=1e-4)


def test_lidar_walls_non_square_arena_off_centre_and_rotated():
    env = partial_env(n_obstacles=0, arena_width=30.0, arena_height=10.0)
    obs = place(env, [[[5.0, 2.0, math.pi / 2], [-9.0, -3.0, 0.0]]], NO_OBSTACLES)
    rays = lidar_of(env, obs)
    # heading north: ray 0 north (5 - 2), ray 2 west (15 + 5), ray 4 south (5 + 2), ray 6 east (15 - 5)
    assert rays[[0, 2, 4, 6]] == pytest.approx([3.0, 20.0, 7.0, 10.0], abs=1e-4)
    # ray 1 points north-west: hits the top wall at distance 3 / cos(45 deg)
    assert rays[1] == pytest.approx(3.0 * math.sqrt(2), abs=1e-4)


def test_lidar_hits_obstacles_and_clips_to_range():
    env = partial_env()
    obstacle = np.array([[[4.0, 0.5, 1.0]]])
    obs = place(env, [[[0.0, 0.0, 0.0], [-9.0, -9.0, 0.0]]], obstacle)
    rays = lidar_of(env, obs)
    assert rays[0] == pytest.approx(4.0 - math.sqrt(1.0 - 0.25), abs=1e-4)
    assert rays[4] == pytest.approx(10.0, abs=1e-4)          # west wall, obstacle is behind
    short = partial_env(lidar_range=2.0)
    obs = place(short, [[[0.0, 0.0, 0.0], [-9.0, -9.0, 0.0]]], obstacle)
    assert lidar_of(short, obs) == pytest.approx(np.full(8, 2.0), abs=1e-5)


def visible(env, obs, role="pursuer"):
    return bool(env.layout.part(obs[role], "visible")[0, 0] > 0.5)


@pytest.mark.parametrize("bearing_deg, expected", [(0, True), (59.5, True), (60.5, False), (-59.5, True), (180, False)])
def test_field_of_view(bearing_deg, expected):
    env = partial_env(n_obstacles=0, fov_deg=120.0, sensing_range=8.0)
    b = math.radians(bearing_deg)
    obs = place(env, [[[0.0, 0.0, 0.0], [5 * math.cos(b), 5 * math.sin(b), 0.0]]], NO_OBSTACLES)
    assert visible(env, obs) is expected


def test_sensing_range():
    env = partial_env(n_obstacles=0, sensing_range=8.0)
    assert visible(env, place(env, [[[0.0, 0.0, 0.0], [7.9, 0.0, 0.0]]], NO_OBSTACLES))
    assert not visible(env, place(env, [[[0.0, 0.0, 0.0], [8.1, 0.0, 0.0]]], NO_OBSTACLES))


def test_occlusion_by_obstacle():
    env = partial_env()
    between = np.array([[[3.0, 0.5, 0.6]]])      # segment passes 0.5 m from its centre < 0.6
    beside = np.array([[[3.0, 0.7, 0.6]]])       # 0.7 m > 0.6: line of sight clear
    assert not visible(env, place(env, [[[0.0, 0.0, 0.0], [6.0, 0.0, math.pi]]], between))
    assert visible(env, place(env, [[[0.0, 0.0, 0.0], [6.0, 0.0, math.pi]]], beside))


def test_hidden_opponent_is_masked_and_last_seen_is_remembered():
    env = partial_env(n_obstacles=0)
    obs = place(env, [[[0.0, 0.0, 0.0], [4.0, 0.0, 0.0]]], NO_OBSTACLES)   # seen, straight ahead
    assert visible(env, obs)
    env.world.pose[0, 0, 2] = math.pi                                     # turn away: now behind
    obs, *_ = env.step({"pursuer": np.array([[-1.0, 0.0]]), "evader": np.array([[-1.0, 0.0]])})
    assert not visible(env, obs)
    assert np.all(env.layout.part(obs["pursuer"], "opponent") == 0)
    last = env.layout.part(obs["pursuer"], "last_seen")[0]
    scale = 10.0
    # last seen at (4, 0) world; pursuer at the origin facing -x: ego position (-4, 0)
    assert last[:2] * scale == pytest.approx([-4.0, 0.0], abs=1e-4)
    assert last[2] == pytest.approx(1 / env.config.max_steps) and last[3] == 1.0


def test_without_last_seen_a_hidden_opponent_leaves_nothing_in_the_observation():
    """``last_seen: false``: the same scene as above, but the last-seen block reads as never seen, while the
    opponent block still shows an opponent in view."""
    env = partial_env(n_obstacles=0, last_seen=False)
    obs = place(env, [[[0.0, 0.0, 0.0], [4.0, 0.0, 0.0]]], NO_OBSTACLES)
    assert visible(env, obs) and np.any(env.layout.part(obs["pursuer"], "opponent") != 0)
    env.world.pose[0, 0, 2] = math.pi
    obs, *_ = env.step({"pursuer": np.array([[-1.0, 0.0]]), "evader": np.array([[-1.0, 0.0]])})
    assert not visible(env, obs)
    assert env.world.last_seen_t[0, 0] >= 0                                # the world still knows
    for role in ("pursuer", "evader"):
        np.testing.assert_array_equal(env.layout.part(obs[role], "last_seen")[0], [0.0, 0.0, 1.0, 0.0])


def test_p_full_obs_reaches_the_observation():
    always = BatchedPursuitEvasion(256, observation="partial", p_full_obs=1.0)
    obs = always.reset(seed=0)
    assert np.all(always.layout.part(obs["pursuer"], "visible") == 1.0)
    never = BatchedPursuitEvasion(256, observation="partial", p_full_obs=0.0)
    obs = never.reset(seed=0)
    raw = never._visibility(never.world)
    assert np.array_equal(never.layout.part(obs["pursuer"], "visible")[:, 0] > 0.5, raw[:, 0])
    assert 0 < raw[:, 0].mean() < 1
    mixed = BatchedPursuitEvasion(2000, observation="partial", p_full_obs=0.3)
    mixed.reset(seed=0)
    assert mixed.world.full_obs.mean() == pytest.approx(0.3, abs=0.04)


def test_full_observation_opponent_and_nearest_obstacles():
    env = BatchedPursuitEvasion(1, n_obstacles=2, n_obstacle_obs=3)
    env.reset(seed=0)
    obstacles = np.array([[[0.0, 5.0, 0.5], [3.0, 0.0, 1.0]]])
    obs = place(env, [[[0.0, 0.0, math.pi / 2], [0.0, -4.0, 0.0]]], obstacles)
    scale = 10.0
    opponent = env.layout.part(obs["pursuer"], "opponent")[0]
    assert opponent[:3] * scale == pytest.approx([-4.0, 0.0, 4.0], abs=1e-4)   # behind, in ego frame
    block = env.layout.part(obs["pursuer"], "obstacles")[0].reshape(3, 4)
    # nearest by surface: (3,0,r=1) at 2 m, then (0,5,r=0.5) at 4.5 m; third slot zero-padded
    assert block[0, :2] * scale == pytest.approx([0.0, -3.0], abs=1e-4)
    assert block[1, :2] * scale == pytest.approx([5.0, 0.0], abs=1e-4)
    assert block[0, 2] == pytest.approx(1.0) and block[0, 3] == 1.0
    assert np.all(block[2] == 0)


@pytest.mark.parametrize("fields", [
    {"n_obstacles": 8, "min_obstacles": 2},
    {"n_obstacles": 3, "n_obstacle_obs": 5, "arena_width": 30.0, "arena_height": 9.0, "lidar_range": 3.0},
])
def test_numba_kernels_match_the_numpy_reference(fields):
    from pe_rllib.envs import kernels
    from pe_rllib.envs.sensing import lidar, lidar_numpy, nearest_obstacles, nearest_obstacles_numpy

    assert kernels.AVAILABLE
    env = BatchedPursuitEvasion(1024, observation="partial", **fields)
    env.reset(seed=4)
    rng = np.random.default_rng(0)
    for _ in range(3):                                    # a few different poses per layout
        env.step({r: rng.uniform(-1, 1, (1024, 2)) for r in env.agents})
        world, cfg = env.world, env.config
        assert np.allclose(lidar(cfg, world.pose, world.obstacles),
                           lidar_numpy(cfg, world.pose, world.obstacles), atol=1e-4)
        assert np.allclose(nearest_obstacles(cfg, world.pose, world.obstacles),
                           nearest_obstacles_numpy(cfg, world.pose, world.obstacles), atol=1e-5)


def test_full_obs_lidar_adds_the_partial_worlds_lidar_and_leaves_every_other_block_and_controller_unchanged():
    from pe_rllib.config import ConfigError
    from pe_rllib.policies import SCRIPTED, make_scripted
    from pe_rllib.policies.families import FAMILIES, make_family

    fields = dict(n_obstacles=3, n_obstacle_obs=3, n_lidar_rays=16, lidar_range=8.0)
    plain, lidar = BatchedPursuitEvasion(64, **fields), BatchedPursuitEvasion(64, full_obs_lidar=True, **fields)
    partial = BatchedPursuitEvasion(64, observation="partial", **fields)
    assert lidar.layout.frame_dim == plain.layout.frame_dim + 16
    rng = np.random.default_rng(0)
    obs = {}
    for env in (plain, lidar, partial):
        env.reset(seed=3)
        for step in range(5):                                 # the same seeded poses in the three worlds
            obs[env] = env.step({r: np.random.default_rng(step).uniform(-1, 1, (64, 2)) for r in env.agents})[0]
    for role in ("pursuer", "evader"):
        for block in plain.layout.slices:
            assert np.array_equal(lidar.layout.part(obs[lidar][role], block),
                                  plain.layout.part(obs[plain][role], block))
        rays = lidar.layout.part(obs[lidar][role], "lidar")
        assert np.array_equal(rays, partial.layout.part(obs[partial][role], "lidar"))
        assert 0 < rays.min() and rays.max() <= 1 and (rays < 1).mean() > 0.2       # walls and obstacles hit
        # the scripted policies and the searched families (the distillation teachers) act exactly as without it
        controllers = [(lambda cfg, n=name: make_scripted(n, role, cfg, seed=0)) for name in SCRIPTED
                       if role in SCRIPTED[name].roles and name != "random"]
        for family in FAMILIES[role].values():
            params = family.defaults() + rng.uniform(0, 1, len(family.defaults())) * (
                family.bounds()[1] - family.defaults())                           # every term switched on
            controllers.append(lambda cfg, f=family.family, p=params: make_family(role, cfg, f, params=p, seed=0))
        for make in controllers:
            assert np.array_equal(make(lidar.config).act(obs[lidar][role]), make(plain.config).act(obs[plain][role]))
    with pytest.raises(ConfigError, match="full_obs_lidar: needs observation: full"):
        BatchedPursuitEvasion(1, observation="partial", full_obs_lidar=True)
    with pytest.raises(ConfigError, match="full_obs_lidar: needs n_lidar_rays > 0"):
        BatchedPursuitEvasion(1, full_obs_lidar=True, n_lidar_rays=0)
