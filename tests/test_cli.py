"""The pe-rllib rollout command as a user runs it (subprocess)."""

import json
import subprocess
import sys

import pytest


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "pe_rllib.cli", *args], capture_output=True, text=True,
                          timeout=600, cwd=cwd)


def test_rollout_prints_table_writes_json_and_gif(tmp_path):
    out, gif = tmp_path / "r.json", tmp_path / "episode.gif"
    result = cli("rollout", "--pursuer", "lead_pursuit", "--evader", "straight_flee", "--episodes", "40",
                 "--set", "env.max_steps=200", "--json", str(out), "--gif", str(gif))
    assert result.returncode == 0, result.stderr
    assert "lead_pursuit" in result.stdout and "capture" in result.stdout
    payload = json.loads(out.read_text())
    row = payload["results"][0]
    assert row["episodes"] == 40
    assert row["capture_rate"] + row["escape_rate"] + row["collision_rate"] == pytest.approx(1.0)
    assert payload["safety"] == "on" and row["intervention_rate"] is not None
    assert gif.read_bytes()[:6] in (b"GIF87a", b"GIF89a") and gif.stat().st_size > 10_000
    assert not list(tmp_path.glob("*.part"))


def test_safety_on_vs_off_for_random_drivers(tmp_path):
    rows = {}
    for mode in ("on", "off"):
        out = tmp_path / f"{mode}.json"
        result = cli("rollout", "--pursuer", "random", "--evader", "random", "--episodes", "200",
                     "--set", "env.n_obstacles=8", "--safety", mode, "--json", str(out))
        assert result.returncode == 0, result.stderr
        rows[mode] = json.loads(out.read_text())["results"][0]
    assert rows["off"]["collision_rate"] > 0.5 and rows["on"]["collision_rate"] == 0.0
    assert rows["off"]["intervention_rate"] is None and 0 < rows["on"]["intervention_rate"] < 0.2


def test_matrix_covers_every_scripted_pair(tmp_path):
    out = tmp_path / "m.json"
    result = cli("rollout", "--matrix", "--episodes", "10", "--set", "env.max_steps=100", "--json", str(out))
    assert result.returncode == 0, result.stderr
    pairs = {(r["pursuer"], r["evader"]) for r in json.loads(out.read_text())["results"]}
    assert len(pairs) == 4 * 3


@pytest.mark.parametrize("args, message", [
    (["--pursuer", "teleport"], "unknown scripted policy 'teleport'"),
    (["--set", "env.capture_radius=-1"], "env.capture_radius: must be > 0"),
    (["--set", "safety.gamma=3"], "safety.gamma: must be in (0, 1]"),
    (["--set", "nonsense"], "expected KEY=VALUE"),
    (["--episodes", "0"], "--episodes: must be >= 1"),
    (["--num-envs", "0"], "--num-envs: must be in [1, 65536]"),
    (["--seed", "-3"], "--seed: must be >= 0"),
    (["--pursuer", "straight_flee"], "policy 'straight_flee' cannot play 'pursuer'"),
    (["--gif", "out.mp4"], "must end in .gif or .png"),
    (["--config", "missing.yaml"], "missing.yaml: config file not found"),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, args, message):
    out = tmp_path / "never.json"
    result = cli("rollout", *args, "--json", str(out), cwd=tmp_path)
    assert result.returncode == 2 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_the_known_ray_line_is_dropped_from_stderr_and_everything_else_passes():
    code = ("import os, sys\n"
            "from pe_rllib.cli.terminal import KNOWN_RAY_LINES, without_known_ray_lines\n"
            "with without_known_ray_lines():\n"
            "    os.write(2, b'[E core_worker.cc:2465] Actor ... ' + KNOWN_RAY_LINES[0].encode() + b'. See 53727\\n')\n"
            "    os.write(2, b'a real error\\n')\n"
            "    print('python stderr', file=sys.stderr)\n"
            "    os.write(2, b'no newline at the end')\n"
            "print(' and after', file=sys.stderr)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert result.stderr == "a real error\npython stderr\nno newline at the end and after\n"


def test_the_first_screen_of_train_with_remote_runners_is_clean(tmp_path):
    """What a new user sees: our lines only (where it runs, one line per iteration, the summary), no Ray
    error line, although RLlib starts two remote env runners with restarts (ray-project/ray 53727)."""
    result = cli("train", "--config", "quickstart", "--output", str(tmp_path / "run"), "--no-dashboard",
                 "--stop-iters", "1", "--set", "training.num_env_runners=2",
                 "--set", "training.train_batch_size_per_learner=512", "--set", "training.minibatch_size=256",
                 "--set", "training.num_epochs=1", "--set", "evaluation.every=0")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0].startswith("embedded local Ray") and "run directory" in lines[0]
    assert lines[1].startswith("iter 1/1") and lines[2].startswith("done: 1 iterations")
