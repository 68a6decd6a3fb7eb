"""Hamilton-Jacobi ground truth (`pe-rllib certify`): the tube against closed-form facts and against the
solver's own optimal play in the world's dynamics, then the command end to end on a tiny open run."""

import json
import math
import shutil
import subprocess
import sys

import numpy as np
import pytest
import yaml

from pe_rllib.config import ConfigError, EnvConfig, ExperimentConfig, from_dict
from pe_rllib.evaluation.certify import Tube, certify, sample_starts, tube_world, walls_reachable
from pe_rllib.evaluation.tube import (
    TubeGrid,
    TubeWorld,
    interpolate,
    play_optimal,
    relative_state,
    solve_tube,
    target_values,
    volume_fraction,
    world_pose,
)

# subprocess forks and at once execs the CLI, which JAX's fork warning (jax is imported here) does not know.
pytestmark = pytest.mark.filterwarnings("ignore:os.fork\\(\\) was called:RuntimeWarning")

DT = 0.05
# A short game on a small, fine grid: a tube in a few seconds.
WORLD = TubeWorld(pursuer_v_max=1.0, evader_v_max=0.6, omega_max=2.84, capture_radius=0.5, horizon=3.0)
GRID = TubeGrid(half_width=3.0, cells=41, heading_cells=36)

OPEN_TINY = {
    "env": {"n_obstacles": 0, "arena_width": 24.0, "arena_height": 24.0, "evader_v_max": 0.6, "max_steps": 100,
            "min_init_distance": 1.0, "max_init_distance": 3.0},
    "selfplay": {"cold_start_iterations": 1, "warmup_phase_lengths": [1], "phase_length": 2},
    "training": {"train_batch_size_per_learner": 400, "minibatch_size": 200, "num_epochs": 2,
                 "hidden_sizes": [16, 16], "stop_iterations": 1, "num_envs_per_env_runner": 2},
}


@pytest.fixture(scope="module")
def tube_slices():
    """The test world's tube at horizons 0, 0.25, ..., 3 s."""
    horizons, values, _ = solve_tube(WORLD, GRID, slices=12)
    return horizons, values


def test_relative_state_and_world_pose_are_inverse():
    rng = np.random.default_rng(0)
    relative = np.column_stack([rng.uniform(-3, 3, (50, 2)), rng.uniform(-math.pi, math.pi, 50)])
    pursuer = np.column_stack([rng.uniform(-5, 5, (50, 2)), rng.uniform(-math.pi, math.pi, 50)])
    pose = world_pose(relative, pursuer)
    assert np.allclose(pose[:, 0], pursuer)
    assert np.allclose(relative_state(pose), relative)


def test_a_slower_pursuer_cannot_capture_an_evader_fleeing_straight_from_outside_the_capture_radius():
    slow = TubeWorld(pursuer_v_max=0.5, evader_v_max=1.0, omega_max=2.84, capture_radius=0.5, horizon=2.0)
    grid = TubeGrid(half_width=3.0, cells=31, heading_cells=36)
    _, values, _ = solve_tube(slow, grid)
    rng = np.random.default_rng(1)
    distance = rng.uniform(slow.capture_radius + 3 * grid.spacing[0], 2.5, 500)
    bearing = rng.uniform(-math.pi, math.pi, 500)
    # Fleeing straight: the evader heads along the line from the pursuer (psi = its bearing).
    states = np.column_stack([distance * np.cos(bearing), distance * np.sin(bearing), bearing])
    value = interpolate(grid, values[-1], states)
    assert (value > 0).all()
    # The distance never shrinks, so the value is the start's distance to the capture disc.
    assert value == pytest.approx(distance - slow.capture_radius, abs=0.1)


def test_the_tube_grows_monotonically_with_the_horizon(tube_slices):
    horizons, values = tube_slices
    assert np.all(np.diff(horizons) > 0)
    assert np.array_equal(values[0], target_values(WORLD, GRID).astype(np.float32))
    assert np.all(np.diff(values, axis=0) <= 1e-5)                    # values only fall as T grows
    volumes = [volume_fraction(v) for v in values]
    assert all(b >= a for a, b in zip(volumes, volumes[1:]))
    assert volumes[-1] > 2 * volumes[0]


def test_points_inside_the_capture_radius_are_inside_the_tube(tube_slices):
    _, values = tube_slices
    target = target_values(WORLD, GRID)
    assert (target <= 0).any()
    assert np.all(values[-1][target <= 0] <= 0)
    rng = np.random.default_rng(2)
    radius = rng.uniform(0, WORLD.capture_radius * 0.9, 200)
    bearing = rng.uniform(-math.pi, math.pi, 200)
    states = np.column_stack([radius * np.cos(bearing), radius * np.sin(bearing), rng.uniform(-math.pi, math.pi, 200)])
    assert (interpolate(GRID, values[-1], states) <= 0).all()


def test_the_solvers_optimal_play_captures_from_inside_and_not_from_outside(tube_slices):
    """Both players follow the value gradient (hj's optimal_control_and_disturbance) in the world's own Euler
    steps with capture checked at step ends: the tube's verdict holds beyond a small margin."""
    horizons, values = tube_slices
    tube = Tube(WORLD, GRID, values[-1], seconds=0.0)
    rng = np.random.default_rng(3)
    margin = 0.1
    inside = sample_starts(tube, rng, 150, inside=True, margin=margin, distances=(0.8, 2.5))
    outside = sample_starts(tube, rng, 150, inside=False, margin=margin, distances=(0.8, 2.5))
    captured_inside, step = play_optimal(WORLD, GRID, horizons, values, inside, DT)
    captured_outside, _ = play_optimal(WORLD, GRID, horizons, values, outside, DT)
    assert captured_inside.all(), inside[~captured_inside]
    assert not captured_outside.any(), outside[captured_outside]
    assert step[captured_inside].max() <= round(WORLD.horizon / DT)


def test_only_open_worlds_without_head_start_are_certified():
    assert tube_world(EnvConfig(n_obstacles=0, max_steps=200)).horizon == pytest.approx(10.0)
    with pytest.raises(ConfigError, match=r"^env.n_obstacles: certify needs an open world .* got 2$"):
        tube_world(EnvConfig(n_obstacles=2))
    with pytest.raises(ConfigError, match=r"^env.prep_steps: .* got 10$"):
        tube_world(EnvConfig(n_obstacles=0, prep_steps=10))


def test_open_yaml_keeps_walls_out_of_reach_and_the_tube_non_trivial():
    from pe_rllib.config import load_experiment

    env = load_experiment("open").env
    assert env.n_obstacles == 0 and env.speed_ratio < 1 and not walls_reachable(env)
    assert walls_reachable(EnvConfig(n_obstacles=0, arena_width=12.0, arena_height=12.0, max_steps=200))


def cli(*args):
    return subprocess.run([sys.executable, "-m", "pe_rllib.cli", *args], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def open_run(tmp_path_factory, embedded_ray):
    from pe_rllib.training.run import train

    run_dir = tmp_path_factory.mktemp("open") / "run"
    train(from_dict(ExperimentConfig, OPEN_TINY), output=run_dir, dashboard=False)
    return run_dir


def test_certify_reports_both_sides_with_intervals_writes_json_and_picture(open_run, tmp_path):
    out, report = tmp_path / "tube.png", tmp_path / "certify.json"
    result = cli("certify", str(open_run), "--grid", "41", "--episodes", "60", "--out", str(out),
                 "--json", str(report))
    assert result.returncode == 0, result.stderr
    assert "inside" in result.stdout and "outside" in result.stdout and "T 5 s" in result.stdout
    payload = json.loads(report.read_text())
    assert payload["world"]["horizon"] == pytest.approx(5.0) and payload["world"]["evader_v_max"] == 0.6
    assert payload["grid"]["cells"] == 41 and payload["margin"] >= payload["grid_error"] > 0
    assert 0 < payload["tube_volume_fraction"] < 1 and not payload["tube_cached"]
    assert payload["walls_reachable"] is False
    for side, rate in (("inside", "capture_rate"), ("outside", "escape_rate")):
        row = payload[side]
        assert row["episodes"] == 60 and row["excluded"] == 0 and row["counted"] == 60
        assert row["captures"] + row["timeouts"] + row["collisions"] == 60
        assert row["ci95"][0] <= row[rate] <= row["ci95"][1]
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 20_000
    written = open_run / "certify" / "iter_000001"
    assert json.loads((written / "certify.json").read_text()) == payload
    assert (written / "certify.png").read_bytes() == out.read_bytes()
    assert len(list((open_run / "certify").glob("tube-*.npz"))) == 1
    # A rerun reuses the cached tube.
    again = certify(open_run, episodes=10, cells=41, seed=1)
    assert again.tube_cached and again.inside.episodes == 10


def test_certify_refuses_a_world_with_obstacles_in_one_line(open_run, tmp_path):
    from pe_rllib.rundir import write_manifest

    checkpoint = tmp_path / "iter_000001"
    shutil.copytree(open_run / "checkpoints" / "iter_000001", checkpoint)
    experiment = yaml.safe_load((checkpoint / "experiment.yaml").read_text())
    experiment["env"]["n_obstacles"] = 2
    (checkpoint / "experiment.yaml").write_text(yaml.safe_dump(experiment))
    (checkpoint / "MANIFEST.json").unlink()
    write_manifest(checkpoint, 1)
    result = cli("certify", str(checkpoint), "--grid", "31")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "pe-rllib: error: env.n_obstacles: certify needs an open world (no obstacles), got 2"]
    assert not (checkpoint / "certify").exists()


@pytest.mark.parametrize("args, message", [
    (["--grid", "5"], "--grid: must be in [9, 201] cells, got 5"),
    (["--episodes", "0"], "--episodes: must be in [1, 100000], got 0"),
    (["--out", "tube.gif"], "--out: must end in .png, got tube.gif"),
])
def test_bad_certify_options_are_one_line(tmp_path, args, message):
    result = cli("certify", str(tmp_path), *args)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"pe-rllib: error: {message}"]


def test_without_the_certify_extra_the_error_is_one_line_naming_it():
    code = ("import sys; sys.modules['hj_reachability'] = None\n"
            "from pe_rllib.config import ConfigError, EnvConfig\n"
            "from pe_rllib.evaluation.certify import tube_world\n"
            "try:\n    tube_world(EnvConfig(n_obstacles=0))\n"
            "except ConfigError as err:\n    print(err)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.startswith("certify needs hj-reachability (JAX): pip install 'pe_rllib[certify]'")
    assert len(out.strip().splitlines()) == 1
