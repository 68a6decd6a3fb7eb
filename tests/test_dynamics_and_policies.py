"""Analytic pursuit-evasion checks and the scripted opponents' interface."""

import math

import numpy as np
import pytest

from pe_rllib.envs import BatchedPursuitEvasion, pursuit_evasion_v0
from pe_rllib.envs.core import CAPTURE, opponent_distance
from pe_rllib.policies import SCRIPTED, make_scripted, scripted_names

BIG_EMPTY = dict(arena_width=200.0, arena_height=200.0, n_obstacles=0, max_steps=20_000)


def _chase(v_p, v_e, d0, pursuer_heading, evader_heading, bearing, steps=2000):
    """Pure pursuit vs straight flee from distance d0; returns capture times [s] (inf if none)."""
    n = len(bearing)
    env = BatchedPursuitEvasion(n, **BIG_EMPTY, pursuer_v_max=v_p, evader_v_max=v_e)
    env.reset(seed=0)
    env.world.pose[:, 0] = np.stack([np.zeros(n), np.zeros(n), pursuer_heading], 1)
    env.world.pose[:, 1] = np.stack([d0 * np.cos(bearing), d0 * np.sin(bearing), evader_heading], 1)
    obs = env.refresh_observation()
    pursuer = make_scripted("pure_pursuit", "pursuer", env.config)
    evader = make_scripted("straight_flee", "evader", env.config)
    caught_at = np.full(n, np.inf)
    for step in range(1, steps):
        obs, _, terminated, _, infos = env.step({"pursuer": pursuer.act(obs["pursuer"]),
                                                 "evader": evader.act(obs["evader"])})
        new = terminated["pursuer"] & ~np.isfinite(caught_at)
        assert np.all(infos["pursuer"]["outcome"][new] == CAPTURE)
        caught_at[new] = step * env.config.dt
        if np.isfinite(caught_at).all():
            break
    return caught_at, env.config


def test_faster_pure_pursuer_catches_straight_fleeing_evader_in_time():
    v_p, v_e, d0 = 1.0, 0.5, 10.0
    straight_line = (d0 - 0.5) / (v_p - v_e)                      # 19 s
    bearing = np.linspace(-np.pi, np.pi, 16, endpoint=False)
    # Aligned start: the closing speed is exactly v_p - v_e.
    aligned, cfg = _chase(v_p, v_e, d0, bearing, bearing, bearing)
    assert aligned == pytest.approx(np.full(16, straight_line), abs=2 * cfg.dt)
    # Random headings: each robot may first turn up to half a circle.
    rng = np.random.default_rng(1)
    caught, cfg = _chase(v_p, v_e, d0, rng.uniform(-np.pi, np.pi, 64), rng.uniform(-np.pi, np.pi, 64),
                         rng.uniform(-np.pi, np.pi, 64))
    turning = 2 * math.pi / cfg.omega_max
    assert np.isfinite(caught).all()
    assert caught.max() <= straight_line + turning + 1.0


def test_slower_pure_pursuer_never_catches_circling_evader():
    k, radius = 0.8, 3.0
    env = BatchedPursuitEvasion(1, **BIG_EMPTY, pursuer_v_max=k, evader_v_max=1.0)
    obs = env.reset(seed=0)
    env.world.pose[0] = [[-6.0, 0.0, 0.0], [0.0, -radius, 0.0]]     # evader circles the origin
    obs = env.refresh_observation()
    # A stiff heading loop approximates ideal pure pursuit (gain 4 lags and settles ~13 % wider).
    pursuer = make_scripted("pure_pursuit", "pursuer", env.config, heading_gain=20.0)
    evader = make_scripted("circling", "evader", env.config, radius=radius)
    distances = []
    for _ in range(4000):                                           # 200 s, ~10 laps
        obs, _, terminated, truncated, _ = env.step({"pursuer": pursuer.act(obs["pursuer"]),
                                                     "evader": evader.act(obs["evader"])})
        assert not terminated["pursuer"][0]
        distances.append(opponent_distance(env.world.pose)[0])
    settled = np.array(distances[-600:])
    expected = radius * math.sqrt(1 - k ** 2)                       # 1.8 m
    assert settled.min() > env.config.capture_radius
    assert settled.mean() == pytest.approx(expected, rel=0.05)


@pytest.mark.parametrize("observation", ["full", "partial"])
@pytest.mark.parametrize("name", sorted(SCRIPTED))
def test_every_scripted_policy_acts_on_batches_and_single_observations(name, observation):
    env = pursuit_evasion_v0.parallel_env(observation=observation, n_obstacles=4)
    obs, _ = env.reset(seed=0)
    for role in SCRIPTED[name].roles:
        policy = make_scripted(name, role, env.config, seed=0)
        single = policy.act(obs[role])
        batch = policy.act(np.stack([obs[role]] * 5))
        assert single.shape == (2,) and batch.shape == (5, 2)
        assert single.dtype == np.float32 and np.all(np.abs(batch) <= 1.0)
        if name != "random":
            assert np.allclose(batch, single)


def test_scripted_registry_errors():
    env = pursuit_evasion_v0.parallel_env()
    with pytest.raises(ValueError, match="cannot play 'evader'"):
        make_scripted("pure_pursuit", "evader", env.config)
    with pytest.raises(ValueError, match="unknown scripted policy 'chase'"):
        make_scripted("chase", "pursuer", env.config)
    assert {"pure_pursuit", "proportional_navigation", "lead_pursuit", "random"} == set(scripted_names("pursuer"))


def test_pursuers_beat_random_evader_and_evaders_beat_random_pursuer():
    from pe_rllib.evaluation import evaluate
    env_config = BatchedPursuitEvasion(1, n_obstacles=4).config
    random_e = make_scripted("random", "evader", env_config, seed=1)
    random_p = make_scripted("random", "pursuer", env_config, seed=2)
    for name in ("pure_pursuit", "proportional_navigation", "lead_pursuit"):
        result = evaluate(env_config, make_scripted(name, "pursuer", env_config), random_e, 200, seed=0)
        assert result.capture_rate > 0.6, name
    for name in ("straight_flee", "circling"):
        result = evaluate(env_config, random_p, make_scripted(name, "evader", env_config), 200, seed=0)
        assert result.capture_rate < 0.15, name
