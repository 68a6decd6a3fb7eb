"""The 3-D aerial world: its Kalman filter, radar, dynamics, guidance laws and PettingZoo API."""

import dataclasses
import math

import numpy as np
import pytest

from pe_rllib.config import ConfigError
from pe_rllib.config.aerial import AerialConfig, RadarConfig, TrackerConfig
from pe_rllib.envs import aerial_v0
from pe_rllib.envs.aerial import BatchedAerialPursuitEvasion, make_aerial_config, tracking
from pe_rllib.envs.aerial.dynamics import initial_state
from pe_rllib.envs.aerial.sensing import sense
from pe_rllib.envs.core import CAPTURE, COLLISION
from pe_rllib.policies.guidance import make_guidance

Z_CHECK = 3.0
"""Each of several chi-square checks of one test at about 99.7 %."""


def chi_square_interval(dof: int, z: float = Z_CHECK) -> tuple[float, float]:
    """The central interval (``z`` standard deviations, 99.7 %) of a chi-square variable with ``dof`` degrees of
    freedom (Wilson-Hilferty)."""
    def quantile(zz: float) -> float:
        return dof * (1 - 2 / (9 * dof) + zz * math.sqrt(2 / (9 * dof))) ** 3
    return quantile(-z), quantile(z)


@pytest.mark.parametrize("model", ["cv", "ca"])
def test_kalman_filter_is_consistent_on_tracks_drawn_from_its_own_model(model):
    """NEES averaged over 300 Monte Carlo tracks stays inside the chi-square interval at several times,
    and so does the innovations' NIS: the filter's covariance matches its actual errors."""
    tracker = TrackerConfig(model=model, process_noise=4.0 if model == "cv" else 2.0)
    radar = RadarConfig(range_std=2.0, azimuth_std=0.004, elevation_std=0.004)
    rng = np.random.default_rng(0)
    runs, dt, steps, period = 300, 0.05, 200, 2
    f, q = tracking.model_matrices(model, tracker.process_noise, dt)
    s = tracker.dim
    truth = np.zeros((runs, s))
    truth[:, 0:3] = rng.uniform(-300, 300, (runs, 3)) + np.array([0.0, 0.0, 400.0])
    truth[:, 3:6] = rng.normal(0.0, 10.0, (runs, 3))
    if s == 9:
        truth[:, 6:9] = rng.normal(0.0, 3.0, (runs, 3))
    z, r = tracking.convert(radar, tracking.measure_spherical(radar, rng, truth[:, 0:3]))
    track = tracking.start_track(tracker, z, r)
    track = tracking.Track(track.mean, track.cov)
    track.mean[:, 3:] = truth[:, 3:]          # start at the true velocity (a draw from the start's prior would do)
    chol = np.linalg.cholesky(q + 1e-12 * np.eye(s))
    checked, nis_sum, nis_count = [], 0.0, 0
    for step in range(1, steps + 1):
        truth = truth @ f.T + rng.standard_normal((runs, s)) @ chol.T
        track = tracking.predict(tracker, track, dt)
        if step % period == 0:
            z, r = tracking.convert(radar, tracking.measure_spherical(radar, rng, truth[:, 0:3]))
            track, nis = tracking.update(track, z, r)
            if step > 50:                     # past the start, whose prior is wider than the error it starts with
                nis_sum, nis_count = nis_sum + nis.sum(), nis_count + runs
        if step in (50, 100, 150, 200):
            checked.append(tracking.nees(track, truth).mean())
    low, high = chi_square_interval(s * runs)
    assert all(low / runs <= value <= high / runs for value in checked), (checked, low / runs, high / runs)
    nis_low, nis_high = chi_square_interval(3 * nis_count)
    assert nis_low / nis_count <= nis_sum / nis_count <= nis_high / nis_count


def _detections(cfg: AerialConfig, distance: float, t: int, arenas: int = 4000) -> float:
    state = initial_state(cfg, np.random.default_rng(1), arenas)
    state.position[:, 0] = [0.0, 0.0, 150.0]
    state.position[:, 1] = [distance, 0.0, 150.0]
    state.t[:] = t
    _, detected = sense(cfg, state, np.random.default_rng(2), predict=False)
    return float(detected[:, 0].mean())


def test_detections_follow_the_configured_probability_range_and_rate():
    radar = RadarConfig(p_detect=0.7, half_range=300.0, max_range=500.0, period_steps=3)
    cfg = AerialConfig(radar=radar)
    for distance, expected in ((50.0, radar.detection_probability(50.0)), (300.0, 0.35)):
        rate = _detections(cfg, distance, t=0)
        assert abs(rate - expected) < 3 * math.sqrt(expected * (1 - expected) / 4000), (distance, rate, expected)
    assert _detections(cfg, 600.0, t=0) == 0.0                   # beyond max_range
    assert _detections(cfg, 50.0, t=1) == 0.0                    # not a measurement step (every 3rd)
    assert _detections(cfg, 50.0, t=3) > 0.6


def test_dropouts_blank_the_radar_for_their_length():
    cfg = AerialConfig(radar=RadarConfig(dropout_rate=0.5, dropout_steps=4, period_steps=1, p_detect=1.0,
                                         half_range=1e6))
    state = initial_state(cfg, np.random.default_rng(0), 2000)
    rng, seen = np.random.default_rng(1), []
    for t in range(6):
        state.t[:] = t
        state, detected = sense(cfg, state, rng, predict=t > 0)
        seen.append(detected[:, 0])
    seen = np.array(seen)
    assert abs(seen[0].mean() - 0.5) < 0.05                       # half the first attempts drop out
    blanked = ~seen[0]
    assert not seen[1:4, blanked].any()                           # ... and stay blind for the next 3 steps


@pytest.mark.parametrize("heading", ["collision course", "away"])
def test_true_state_pn_intercepts_a_constant_velocity_evader_near_the_collision_course_time(heading):
    """Zero noise, the truth observed: PN (N = 4) captures a straight-flying evader (at top speed, so at
    constant velocity), no sooner than the fastest straight-line intercept of the engagement geometry allows
    (``|r0 + ve t| = vp t``), and close to it when the pursuer starts on that collision course."""
    p0, e0, ve = np.array([0.0, 0.0, 150.0]), np.array([120.0, 160.0, 170.0]), np.array([-12.0, 0.0, 0.0])
    cfg = make_aerial_config(observation="full", max_steps=1200)
    r0, vp = e0 - p0, cfg.pursuer_v_max
    a, b, c = ve @ ve - vp ** 2, 2 * r0 @ ve, r0 @ r0
    t_star = (-b - math.sqrt(b * b - 4 * a * c)) / (2 * a)
    course = (r0 + ve * t_star) / t_star                          # speed vp towards the intercept point
    env = BatchedAerialPursuitEvasion(1, cfg, autoreset=False)
    env.reset(seed=0)
    state = env.world_state()
    state.position[0] = [p0, e0]
    state.velocity[0] = [course if heading == "collision course" else -course, ve]
    obs = env.start_from(state)
    pn, straight = make_guidance("pn", "pursuer", env.config), make_guidance("straight", "evader", env.config)
    for step in range(1, env.config.max_steps + 1):
        obs, _, terminated, truncated, infos = env.step({"pursuer": pn.act(obs["pursuer"]),
                                                         "evader": straight.act(obs["evader"])})
        if terminated["pursuer"][0] or truncated["pursuer"][0]:
            break
    assert infos["pursuer"]["outcome"][0] == CAPTURE
    assert infos["pursuer"]["miss_distance"][0] <= env.config.capture_radius
    elapsed = step * env.config.dt
    assert t_star - 2 * env.config.capture_radius / vp <= elapsed, (elapsed, t_star)
    if heading == "collision course":
        assert elapsed <= 1.2 * t_star, (elapsed, t_star)


def test_pn_beats_pure_pursuit_against_a_break_turn_on_the_tracked_estimate():
    def capture_rate(name):
        env = BatchedAerialPursuitEvasion(200, max_steps=600)
        obs = env.reset(seed=3)
        pursuer, evader = make_guidance(name, "pursuer", env.config), make_guidance("break_turn", "evader", env.config)
        ended, captured = np.zeros(200, bool), np.zeros(200, bool)
        for _ in range(600):
            obs, _, terminated, truncated, infos = env.step({"pursuer": pursuer.act(obs["pursuer"]),
                                                             "evader": evader.act(obs["evader"])})
            new = (terminated["pursuer"] | truncated["pursuer"]) & ~ended
            captured |= new & (infos["pursuer"]["outcome"] == CAPTURE)
            ended |= new
        return captured.mean()
    assert capture_rate("pn") > capture_rate("pure_pursuit") + 0.3


def test_the_observation_carries_pns_command_computed_from_the_true_state_in_a_full_world():
    """The two PN-command entries (the opponent block's last two) are closing speed x crossing velocity /
    range / a_max, in the line-of-sight frame: their norm is the PN acceleration per unit gain."""
    from pe_rllib.envs.aerial.sensing import PN_CLIP, layout

    env = BatchedAerialPursuitEvasion(64, observation="full")
    obs = env.reset(seed=5)
    for _ in range(20):
        obs, *_ = env.step({role: np.tile([1.0, 0.2, -0.1], (64, 1)).astype(np.float32)
                            for role in ("pursuer", "evader")})
    state = env.state()
    relative, rel_velocity = state[:, 1, :3] - state[:, 0, :3], state[:, 1, 3:] - state[:, 0, 3:]
    distance = np.linalg.norm(relative, axis=1)
    closing = -(relative * rel_velocity).sum(1) / distance
    across = np.linalg.norm(rel_velocity - ((rel_velocity * relative).sum(1) / distance ** 2)[:, None] * relative,
                            axis=1)
    expected = np.minimum(np.abs(closing) * across / np.maximum(distance, env.config.capture_radius)
                          / env.config.pursuer_a_max, PN_CLIP * np.sqrt(2))
    command = obs["pursuer"][:, layout(env.config)["opponent"]][:, -2:]
    going = np.linalg.norm(command, axis=1) < PN_CLIP                            # unclipped rows
    assert going.sum() > 40
    np.testing.assert_allclose(np.linalg.norm(command, axis=1)[going], expected[going], rtol=2e-3, atol=1e-5)


def test_same_seed_same_episodes_and_autoreset_starts_fresh():
    def run(seed):
        env = BatchedAerialPursuitEvasion(16, max_steps=40, radar=RadarConfig(dropout_rate=0.1))
        obs, rng, out, at_timeout = env.reset(seed=seed), np.random.default_rng(7), [], None
        for step in range(1, 61):
            actions = {role: rng.uniform(-1, 1, (16, 3)).astype(np.float32) for role in env.agents}
            obs, rewards, terminated, truncated, infos = env.step(actions)
            out.append(np.concatenate([obs["pursuer"].ravel(), rewards["evader"]]))
            if step == 40:
                at_timeout = truncated["pursuer"], infos["pursuer"]["final_obs"], obs["pursuer"]
        return np.array(out), env, at_timeout
    first, env, (truncated, final, fresh) = run(5)
    np.testing.assert_array_equal(first, run(5)[0])
    assert not np.array_equal(first, run(6)[0])
    time = env.observation_space("pursuer").shape[0] - 1
    assert truncated.all() and np.allclose(final[:, time], 1.0)       # the finished episodes' last frames ...
    assert np.allclose(fresh[:, time], 0.0)                           # ... and, same step, the new episodes' first
    assert (env.world_state().t == 20).all()


def test_leaving_the_airspace_is_a_crash_that_costs_the_crashing_role():
    env = BatchedAerialPursuitEvasion(1, observation="full", autoreset=False)
    env.reset(seed=0)
    state = env.world_state()
    state.position[0, 1, 2] = 0.5                                 # the evader just above the ground ...
    state.velocity[0, 1] = [0.0, 0.0, -10.0]                      # ... diving
    env.start_from(state)
    _, rewards, terminated, _, infos = env.step({role: np.zeros((1, 3), np.float32) for role in env.agents})
    assert terminated["evader"][0] and infos["evader"]["outcome"][0] == COLLISION and infos["evader"]["collision"][0]
    assert infos["evader"]["reward_terms"]["crash"][0] == -(env.config.reward.crash + env.config.reward.capture)
    assert not infos["pursuer"]["collision"][0]


def test_pettingzoo_api_and_seed_tests_pass():
    from pettingzoo.test import parallel_api_test, parallel_seed_test

    parallel_api_test(aerial_v0.parallel_env(max_steps=60, n_obstacles=2), num_cycles=200)
    parallel_seed_test(lambda: aerial_v0.parallel_env(max_steps=60))
    env = aerial_v0.parallel_env()
    env.reset(seed=0)
    assert env.state().shape == (2, 6) and env.state()[0, 2] > 0      # true altitude, pursuer first


@pytest.mark.parametrize("fields, message", [
    ({"radar": {"p_detect": 1.5}}, "aerial.radar.p_detect: must be in (0, 1]"),
    ({"tracker": {"model": "imm"}}, "aerial.tracker.model: must be one of cv, ca"),
    ({"max_init_distance": 500.0}, "aerial.max_init_distance: must be < half the airspace's smaller side"),
    ({"drag": "cubic"}, "aerial.drag: must be one of linear, quadratic"),
])
def test_bad_aerial_config_is_a_one_line_error_naming_the_field(fields, message):
    with pytest.raises(ConfigError) as err:
        make_aerial_config(fields)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_the_aerial_families_start_at_the_guidance_laws_and_the_search_beats_them():
    """The searchable families' defaults are PN and the break-turn (the same actions on the same observations),
    and a short search finds an evader that escapes PN more often than the break-turn does."""
    from pe_rllib.config import ExperimentConfig, from_dict
    from pe_rllib.evaluation.search import SearchSettings, candidate_rates, search_best_response
    from pe_rllib.policies.families import make_family

    experiment = from_dict(ExperimentConfig, {"world": "aerial", "safety": {"enabled": False},
                                              "aerial": {"max_steps": 400, "max_init_distance": 150.0}})
    env = BatchedAerialPursuitEvasion(64, experiment.aerial)
    obs = env.reset(seed=0)
    for role, law in (("pursuer", "pn"), ("evader", "break_turn")):
        np.testing.assert_allclose(make_family(role, experiment.aerial).act(obs[role]),
                                   make_guidance(law, role, experiment.aerial).act(obs[role]), atol=1e-6)
    pn = make_guidance("pn", "pursuer", experiment.aerial)
    family = make_family("evader", experiment.aerial)
    scripted = candidate_rates(experiment, family, pn, family.defaults()[None], 200, seed=5)[0]
    found = search_best_response(experiment, "evader", pn, SearchSettings(generations=3, population=12, episodes=30,
                                                                           selection_episodes=200))
    assert found.family == "aerial_evasion" and found.selection_rate > scripted + 0.05, (found.selection_rate, scripted)


def test_bad_actions_are_one_line_errors_naming_the_agent():
    env = BatchedAerialPursuitEvasion(2)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"actions\['evader'\]: expected real numbers of shape \(2, 3\)"):
        env.step({"pursuer": np.zeros((2, 3)), "evader": np.zeros((2, 2))})
    with pytest.raises(ValueError, match="non-finite"):
        env.step({"pursuer": np.full((2, 3), np.nan), "evader": np.zeros((2, 3))})
    assert dataclasses.is_dataclass(env.world_state())


def cli(*args):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "pe_rllib.cli", *args], capture_output=True, text=True, timeout=600)


def test_the_aerial_world_trains_resumes_and_plays_through_the_cli(tmp_path):
    """``world: aerial`` end to end: a recurrent pair trains with the league (scripted guidance laws as pool
    entries, searched anchors with distillation, periodic evaluation) and resumes; evaluate plays it against
    every guidance law (with the miss distance); exploit finds a searched (aerial controller family) and a
    warm-started RL best response; rollout plays scripted aerial pairs; render draws the recurrent pair's
    episode; certify (2-D only) refuses."""
    import json

    import yaml

    config = tmp_path / "aerial.yaml"
    experiment = {"world": "aerial",                                  # the safety filter on (the default)
                  "aerial": {"max_steps": 100, "max_init_distance": 60.0, "n_obstacles": 2},
                  "selfplay": {"cold_start_iterations": 1, "warmup_phase_lengths": [1], "phase_length": 1,
                               "opponent_slots": 1},
                  "league": {"enabled": True, "pool_size": 2, "scripted_opponents": ["pn", "weave"],
                             "anchor_every": 2, "anchor_slots": 1, "anchor_generations": 1, "anchor_population": 4,
                             "anchor_episodes": 8, "anchor_selection_episodes": 20, "distill_coeff": 0.1,
                             "anchor_against": ["apn"]},                  # the evader's teacher: searched vs APN
                  "evaluation": {"every": 2, "episodes": 10},
                  "training": {"train_batch_size_per_learner": 400, "minibatch_size": 200, "num_epochs": 2,
                               "hidden_sizes": [16, 16], "model": "lstm", "shared_encoder": True, "cell_size": 8,
                               "max_seq_len": 10, "stop_iterations": 2, "num_envs_per_env_runner": 4}}
    config.write_text(yaml.safe_dump(experiment))
    run = tmp_path / "run"
    trained = cli("train", "--config", str(config), "--output", str(run), "--no-dashboard")
    assert trained.returncode == 0, trained.stderr
    resumed = cli("train", "--resume", str(run), "--stop-iters", "3", "--no-dashboard")
    assert resumed.returncode == 0, resumed.stderr
    rows = [json.loads(line) for line in (run / "progress.jsonl").read_text().splitlines()]
    assert any(set(row.get("anchor_success", {})) == {"pursuer", "evader"} for row in rows)   # anchors searched
    shown = cli("evaluate", str(run), "--episodes", "20")
    assert shown.returncode == 0, shown.stderr
    assert all(name in shown.stdout for name in ("pn", "apn", "pure_pursuit", "break_turn", "weave", "miss p50"))
    exploited = cli("exploit", str(run), "--role", "evader", "--init", "trained", "--budget", "400",
                    "--episodes", "20", "--generations", "1", "--population", "2", "--no-dashboard")
    assert exploited.returncode == 0, exploited.stderr
    for method in ("search", "rl-trained"):
        assert f"evader: best response by {method}" in exploited.stdout
    rollout = cli("rollout", "--config", str(config), "--pursuer", "apn", "--evader", "break_turn", "--episodes", "10")
    assert rollout.returncode == 0 and "apn" in rollout.stdout, rollout.stderr
    picture = tmp_path / "episode.gif"
    drawn = cli("render", str(run), "--out", str(picture), "--max-frames", "5")
    assert drawn.returncode == 0 and picture.stat().st_size > 1000, drawn.stderr
    refused = cli("certify", str(run))
    assert refused.returncode == 2 and "certify computes the 2-D world's" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    wrong = cli("rollout", "--config", str(config), "--pursuer", "lead_pursuit", "--evader", "weave")
    assert wrong.returncode == 2 and "not a scripted policy of the aerial world" in wrong.stderr


@pytest.mark.parametrize("data, message", [
    ({"world": "aerial", "aerial": {"actuator_tau": 0.1}}, "aerial.actuator_tau: must be 0 with safety.enabled"),
    ({"world": "aerial", "safety": {"agent_avoidance": True}},
     "safety.agent_avoidance: not available with world: aerial"),
    ({"world": "aerial", "safety": {"mode": "layer"}}, "safety.mode: 'layer' needs world: planar"),
    ({"world": "aerial", "safety": {"enabled": False}, "selfplay": {"first_role": "evader",
                                                                    "cold_start_opponent": "pure_pursuit"},
      "league": {"enabled": True, "scripted_opponents": ["circling"]}},
     "league.scripted_opponents: 'circling' is not a scripted policy of the aerial world"),
    ({"selfplay": {"first_role": "evader", "cold_start_opponent": "pn"}},
     "selfplay.cold_start_opponent: must be 'untrained' or a scripted pursuer of the planar world"),
    ({"world": "mars"}, "world: must be one of planar, aerial"),
])
def test_an_experiment_in_the_wrong_world_is_a_one_line_error(data, message):
    from pe_rllib.config import ExperimentConfig, from_dict

    with pytest.raises(ConfigError) as err:
        from_dict(ExperimentConfig, data)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)
