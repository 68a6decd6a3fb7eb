"""pe-rllib evaluate: every matchup with Wilson intervals, the pool's cross-play matrix, another run."""

import json
import subprocess
import sys

import numpy as np
import pytest
from test_training import TINY

from pe_rllib.config import ExperimentConfig, from_dict
from pe_rllib.evaluation import wilson_interval

SCRIPTED_ROWS = 1 + 3 + 4          # trained vs trained, vs 3 scripted evaders, 4 scripted pursuers vs trained


@pytest.fixture(scope="module")
def pooled_run(tmp_path_factory, embedded_ray):
    """A tiny run whose phases filled one snapshot slot of each role."""
    from pe_rllib.training.run import train

    run_dir = tmp_path_factory.mktemp("evaluate") / "run"
    train(from_dict(ExperimentConfig, {
        **TINY, "selfplay": {"cold_start_iterations": 1, "warmup_phase_lengths": [], "phase_length": 1,
                             "opponent_slots": 2, "snapshot_probability": 0.5},
        "training": {**TINY["training"], "stop_iterations": 3}}), output=run_dir, dashboard=False)
    return run_dir


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "pe_rllib.cli", *args], capture_output=True, text=True,
                          timeout=600, cwd=cwd)


def test_wilson_interval_is_the_textbook_one():
    low, high = wilson_interval(50, 100)
    assert low == pytest.approx(0.4038, abs=1e-4) and high == pytest.approx(0.5962, abs=1e-4)
    assert wilson_interval(0, 20)[0] == 0.0 and 0.15 < wilson_interval(0, 20)[1] < 0.17
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_evaluate_against_scripted_writes_every_matchup_with_intervals(pooled_run, tmp_path):
    out = tmp_path / "eval.json"
    result = cli("evaluate", str(pooled_run), "--episodes", "40", "--json", str(out))
    assert result.returncode == 0, result.stderr
    assert "Wilson 95% intervals" in result.stdout and "pure_pursuit" in result.stdout
    payload = json.loads(out.read_text())
    assert payload["checkpoint"].endswith("iter_000003") and payload["safety"] is True
    assert payload["world"]["n_obstacles"] == 2                       # the run's own world
    rows = payload["rows"]
    assert len(rows) == SCRIPTED_ROWS
    assert {(r["pursuer"], r["evader"]) for r in rows} >= {("trained pursuer", "trained evader"),
                                                            ("trained pursuer", "straight_flee"),
                                                            ("pure_pursuit", "trained evader")}
    for row in rows:
        assert row["episodes"] == 40
        assert row["capture_rate"] + row["escape_rate"] + row["collision_rate"] == pytest.approx(1.0)
        for name, (low, high) in row["ci95"].items():
            assert 0.0 <= low <= row[name] <= high <= 1.0, (name, row)
        assert set(row["ci95"]) >= {"capture_rate", "escape_rate", "collision_rate", "pursuer_collision_rate",
                                    "evader_collision_rate", "intervention_rate", "infeasible_rate"}


def test_evaluate_against_the_pool_gives_the_cross_play_matrix(pooled_run, tmp_path):
    from pe_rllib.evaluation.suite import evaluate_run, filled_snapshots

    checkpoint = pooled_run / "checkpoints" / "iter_000003"
    filled = filled_snapshots(checkpoint)
    assert filled == {"pursuer": 1, "evader": 2}                      # phases: evader, pursuer, evader
    result = evaluate_run(pooled_run, against="pool", episodes=20)
    matrix = result.cross_play
    assert matrix["pursuers"] == ["trained pursuer", "pursuer_snapshot_0"]
    assert matrix["evaders"] == ["trained evader", "evader_snapshot_0", "evader_snapshot_1"]
    assert len(matrix["capture_rate"]) == 2 and all(len(row) == 3 for row in matrix["capture_rate"])
    assert all(0.0 <= c <= 1.0 for row in matrix["capture_rate"] for c in row)
    assert len(result.rows) == 6


def test_evaluate_against_another_run_and_bad_input(pooled_run, tmp_path):
    out = tmp_path / "self.json"
    result = cli("evaluate", str(pooled_run), "--against", str(pooled_run), "--episodes", "10", "--json", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("trained pursuer") >= 2
    verdict = json.loads(out.read_text())["head_to_head"]          # a run against itself: the same episodes twice
    assert verdict["lead"] == 0.0 and verdict["verdict"] == "level" and "head to head:" in result.stdout
    for args, message in ((["--against", "nowhere"], "--against nowhere: must be scripted or pool"),
                          (["--episodes", "0"], "--episodes: must be >= 1"),
                          (["--json", str(tmp_path / "x.txt")], "must end in .json")):
        bad = cli("evaluate", str(pooled_run), *args)
        assert bad.returncode == 2 and message in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    missing = cli("evaluate", str(tmp_path / "missing"))
    assert missing.returncode == 2 and "no such run or checkpoint directory" in missing.stderr


def test_head_to_head_calls_a_pair_ahead_only_when_the_interval_excludes_a_tie():
    from pe_rllib.evaluation.matchups import MatchupResult
    from pe_rllib.evaluation.suite import head_to_head

    def matchup(capture, episodes):
        return MatchupResult("p", "e", episodes, capture, 1 - capture, 0.0, 0.0, 0.0, None, 100.0)

    ahead = head_to_head(matchup(0.6, 1000), matchup(0.4, 1000))
    assert ahead["verdict"] == "ours ahead" and ahead["lead"] == pytest.approx(0.2)
    assert ahead["ci95"][0] > 0.1 and ahead["ci95"][1] < 0.3
    assert head_to_head(matchup(0.4, 1000), matchup(0.6, 1000))["verdict"] == "theirs ahead"
    assert head_to_head(matchup(0.6, 20), matchup(0.4, 20))["verdict"] == "level"    # too few episodes to tell


def test_training_evaluates_periodically_into_progress_and_tensorboard(tmp_path, embedded_ray):
    from test_training import tensorboard_scalars

    from pe_rllib.training.run import train

    reports = []
    train(from_dict(ExperimentConfig, {**TINY, "training": {**TINY["training"], "stop_iterations": 3},
                                       "selfplay": {**TINY["selfplay"], "opponent_slots": 1},
                                       "evaluation": {"every": 2, "episodes": 10}}),
          output=tmp_path / "run", dashboard=False, on_iteration=reports.append)
    rows = [json.loads(line) for line in (tmp_path / "run" / "progress.jsonl").read_text().splitlines()]
    evaluated = [row["iteration"] for row in rows if "eval_pursuer_vs_scripted" in row]
    assert evaluated == [2, 3]                                      # every 2 iterations, and the last one
    for row in rows[1:]:
        assert 0.0 <= row["eval_pursuer_vs_scripted"] <= 1.0 and 0.0 <= row["eval_evader_vs_scripted"] <= 1.0
        assert row["eval_pursuer_shortfall"] == pytest.approx(row["eval_best_scripted_capture"]
                                                              - row["eval_trained_capture"])
        # phases evader (1), pursuer (2): both roles have a snapshot by the first evaluation
        assert 0.0 <= row["eval_pursuer_vs_pool"] <= 1.0 and 0.0 <= row["eval_evader_vs_pool"] <= 1.0
    scalars = tensorboard_scalars(tmp_path / "run" / "tensorboard")
    assert [step for step, _ in scalars["pe/eval_pursuer_vs_scripted"]] == [2, 3]
    from pe_rllib.cli.formatting import progress_line

    assert "eval vs scripted: pursuer capture" in progress_line(reports[1])
    assert "eval vs own snapshots: pursuer capture" in progress_line(reports[1])
    assert "eval vs scripted" not in progress_line(reports[0])


def test_plot_draws_the_curves_a_person_looks_for(pooled_run, tmp_path):
    """The PNG is the expected size, not blank, and shows the pursuer's red and the evader's blue curves
    in the top panel and the phase shading behind them."""
    from PIL import Image

    out = tmp_path / "curves.png"
    result = cli("plot", str(pooled_run), "--out", str(out), "--smooth", "1")
    assert result.returncode == 0, result.stderr
    image = np.asarray(Image.open(out).convert("RGB")).astype(int)
    assert image.shape == (580, 900, 3)                                  # two panels: no evaluation in this run
    assert image.std() > 10                                              # not blank
    top = image[: image.shape[0] // 2]

    def pixels(color, tolerance=40):
        return int((np.abs(top - np.array(color)).sum(axis=2) < tolerance).sum())

    assert pixels((0xD6, 0x27, 0x28)) > 10 and pixels((0x1F, 0x77, 0xB4)) > 10   # capture and escape lines
    assert pixels((0xF9, 0xE9, 0xE9), 12) > 1000                          # pale red: a pursuer phase
    bad = cli("plot", str(pooled_run), "--out", str(tmp_path / "x.gif"))
    assert bad.returncode == 2 and "must end in .png" in bad.stderr


def test_runs_that_differ_only_in_frame_stacking_meet_in_the_longer_stack():
    """Cross-play of a frame-stacked run with one without: the world stacks the most frames and each policy
    sees its own number of newest frames; any other difference in the worlds is refused."""

    from pe_rllib.config import ConfigError, ExperimentConfig, from_dict
    from pe_rllib.envs import BatchedPursuitEvasion
    from pe_rllib.evaluation.suite import Player, shared_world
    from pe_rllib.policies.inference import policy_from_weights
    from pe_rllib.policies.rl_module import learned_module_spec

    def team(history: int, **env):
        experiment = from_dict(ExperimentConfig, {"env": {"history_length": history, **env},
                                                  "training": {"hidden_sizes": [8]}})
        weights = learned_module_spec(experiment).build().state_dict()
        return experiment, {role: Player(f"h{history} {role}", role, policy_from_weights(experiment, role, weights))
                            for role in ("pursuer", "evader")}

    plain, ours = team(1)
    stacked, theirs = team(3)
    world, (ours_there, theirs_there) = shared_world(plain, [ours, theirs], "different")
    assert world.env == stacked.env and theirs_there == theirs
    obs = BatchedPursuitEvasion(4, world.env).reset(seed=0)["pursuer"]
    frame = obs.shape[1] // 3
    np.testing.assert_array_equal(ours_there["pursuer"].policy.act(obs), ours["pursuer"].policy.act(obs[:, -frame:]))
    _, elsewhere = team(1, arena_width=14.0)
    with pytest.raises(ConfigError, match="different"):
        shared_world(plain, [ours, elsewhere], "different")
