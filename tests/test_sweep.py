"""`pe-rllib tune`: Ray Tune sweeps over the self-play algorithm class, end to end.

Validation runs without Ray. The sweeps are real Tune runs on embedded Ray (subprocesses):
three speed ratios, one trial's process killed mid-sweep (Tune retries it from its last
checkpoint with the self-play state intact), an interrupted sweep continued with
``--resume``, and PBT whose mutated learning rate reaches the learner.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from pe_rllib.config import ConfigError, bundled_sweeps
from pe_rllib.rundir import verify_checkpoint
from pe_rllib.selfplay.schedule import PhaseSchedule
from pe_rllib.training.sweep import METRIC, RESULTS_FILE, SWEEP_FILE, load_sweep

STOP = 12
SET = {   # the quickstart world on a tiny budget; no remote runners: one CPU per trial, two trials at once
    "selfplay.cold_start_iterations": 1, "selfplay.warmup_phase_lengths": [1], "selfplay.phase_length": 2,
    "training.train_batch_size_per_learner": 400, "training.minibatch_size": 200, "training.num_epochs": 2,
    "training.hidden_sizes": [16, 16], "training.stop_iterations": STOP, "training.num_env_runners": 0,
    "training.num_envs_per_env_runner": 4, "evaluation.every": 2, "evaluation.episodes": 10,
}


def sweep_file(tmp_path: Path, **changes) -> Path:
    data = {"name": "speed", "experiment": "quickstart", "set": SET,
            "search": {"env.evader_v_max": {"grid": [0.8, 1.0, 1.15]}},
            "storage_path": str(tmp_path / "sweeps"), "checkpoint": {"every": 2, "keep": 1},
            "max_failures": 2, "max_concurrent_trials": 2, **changes}
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def tune_cli(*args, **popen):
    return subprocess.Popen([sys.executable, "-m", "pe_rllib.cli", "tune", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **popen)


def rows_of(trial: Path) -> list[dict]:
    path = trial / "result.json"
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            pass                                   # a line being written
    return rows


def expected_phases(path: Path, iterations: int) -> list[int]:
    """The phase of every iteration, from the pure schedule (what a trial must report, restarts or not)."""
    schedule = PhaseSchedule(load_sweep(path).experiment.selfplay)
    phases = []
    for _ in range(iterations):
        phases.append(schedule.state.phase)
        schedule.record_iteration(400)
    return phases


# --------------------------------------------------------------------------- validation (no Ray)


@pytest.mark.parametrize("name", sorted(bundled_sweeps()))
def test_bundled_sweeps_are_valid(name):
    sweep = load_sweep(name)
    assert sweep.search and sweep.experiment.evaluation.every >= 1


def test_scheduler_settings_reach_tune():
    from ray.tune.schedulers import ASHAScheduler

    from pe_rllib.training.sweep import _scheduler

    sweep = load_sweep("reward_weights_sweep")
    scheduler = _scheduler(sweep)
    assert isinstance(scheduler, ASHAScheduler)
    assert scheduler._max_t == sweep.experiment.training.stop_iterations == 200
    assert scheduler._reduction_factor == 2
    assert scheduler._brackets[0]._rungs[-1][0] == 50          # the first rung: at grace_period
    space = sweep.param_space()["pe_experiment"]
    assert type(space["env"]["reward"]["distance"]).__name__ == "Float"
    assert space["env"]["reward"]["collision"] == sweep.experiment.env.reward.collision


@pytest.mark.parametrize("change, message", [
    ({"search": {"env.warp_speed": {"grid": [1, 2]}}}, "search.env.warp_speed: not a field of the experiment"),
    ({"search": {"env.n_obstacles": {"uniform": [0, 4]}}}, "search.env.n_obstacles.uniform: samples real numbers"),
    ({"search": {"env.evader_v_max": {"grid": [1.0, -1.0]}}}, "search.env.evader_v_max: -1.0 is not a valid value"),
    ({"search": {"training.lr": {"loguniform": [0.0, 1e-3]}}}, "search.training.lr.loguniform: bounds must be > 0"),
    ({"search": {"training.lr": {"uniform": [1e-3]}}}, "search.training.lr.uniform: must be [low, high]"),
    ({"search": {"training.lr": {"normal": [0, 1]}}}, "search.training.lr: must be one of"),
    ({"search": {"training.stop_iterations": {"grid": [1, 2]}}}, "search.training.stop_iterations: cannot be searched"),
    ({"search": {}}, "search: must map dotted fields to domains"),
    ({"sweep_name": "x"}, "sweep_name: unknown key"),
    ({"scheduler": {"type": "pbt", "perturbation_interval": 2, "mutations": {"env.evader_v_max": {"grid": [1.0]}}}},
     "scheduler.mutations.env.evader_v_max: PBT mutates learner settings only"),
    ({"scheduler": {"type": "asha", "grace_period": 1}}, "scheduler.grace_period: must be an integer >= 2"),
    ({"scheduler": {"type": "asha", "patience": 3}}, "scheduler.patience: not an option of asha"),
    ({"scheduler": {"type": "hyperband"}}, "scheduler.type: must be fifo, asha or pbt"),
    ({"checkpoint": {"every": 3}}, "checkpoint.every: must be a multiple of evaluation.every (2)"),
    ({"set": {"training.lrr": 1e-3}}, "set.training.lrr: not a field of the experiment"),
    ({"set": {**SET, "evaluation.every": 0}}, "evaluation.every must be >= 1 in a sweep"),
    ({"search": {"env.min_init_distance": {"grid": [2.0, 5.0]}, "env.max_init_distance": {"grid": [3.0, 6.0]}}},
     "the combination"),
])
def test_bad_sweeps_fail_in_one_line_naming_the_key(tmp_path, change, message):
    path = sweep_file(tmp_path, **change)
    with pytest.raises(ConfigError) as err:
        load_sweep(path)
    assert message in str(err.value) and "\n" not in str(err.value)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("change, message", [
    ({"search": {"env.n_obstacles": {"loguniform": [1, 4]}}}, "search.env.n_obstacles.loguniform"),
    ({"set": {**SET, "league.anchor_pinned": ["nope=1"]}}, "league.anchor_pinned: 'nope=1' names no parameter"),
])
def test_cli_rejects_a_bad_sweep_before_ray_starts(tmp_path, change, message):
    path = sweep_file(tmp_path, **change)
    proc = tune_cli("--config", str(path))
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2
    assert err.strip().count("\n") == 0 and message in err
    assert not (tmp_path / "sweeps").exists()


# --------------------------------------------------------------------------- real sweeps


def test_speed_ratio_sweep_survives_a_killed_trial(tmp_path):
    """Three speed ratios on a tiny budget. One trial's process is SIGKILLed after a checkpoint: Tune
    retries it from that checkpoint (not from zero) and its self-play schedule carries on where it was."""
    path = sweep_file(tmp_path)
    proc = tune_cli("--config", str(path))
    directory = tmp_path / "sweeps" / "speed"
    killed = None
    deadline = time.time() + 600
    while killed is None and proc.poll() is None and time.time() < deadline:
        for trial in sorted(directory.glob("trial_*")):
            rows = rows_of(trial)
            checkpoints = list(trial.glob("checkpoint_*"))
            if rows and checkpoints and 4 <= rows[-1]["training_iteration"] < STOP - 2:
                os.kill(rows[-1]["pid"], signal.SIGKILL)
                killed = (trial, rows[-1]["training_iteration"])
                break
        time.sleep(0.1)
    out, err = proc.communicate(timeout=900)
    assert killed is not None, "no trial was caught mid-run"
    assert proc.returncode == 0, out[-3000:] + err[-3000:]

    table = json.loads((directory / RESULTS_FILE).read_text())
    assert sorted(row["params"]["env.evader_v_max"] for row in table) == [0.8, 1.0, 1.15]
    assert all(row["iterations"] == STOP and row["error"] is None for row in table)
    assert all(0.0 <= row["strength"] <= 1.0 and row["evaluated_at"] == STOP for row in table)
    assert "env.evader_v_max" in out and "strength" in out

    trial, killed_at = killed
    rows = rows_of(trial)
    restarts = [row for row in rows if row["iterations_since_restore"] == 1 and row["training_iteration"] > 1]
    assert restarts, "the killed trial was not restored from a checkpoint"
    assert 2 <= restarts[0]["training_iteration"] - 1 <= killed_at       # resumed at its last checkpoint
    assert rows[-1]["training_iteration"] == STOP
    phases = expected_phases(path, STOP)
    assert [row["pe"]["phase"] for row in rows] == [phases[row["training_iteration"] - 1] for row in rows]
    # Training changed the trained modules, in every trial.
    for row in table:
        final = rows_of(Path(row["path"]))[-1]
        assert final["learners"]["evader"]["num_module_steps_trained_lifetime"] > 0
        assert final["learners"]["pursuer"]["num_module_steps_trained_lifetime"] > 0
        # Every Tune checkpoint is a verified pe_rllib checkpoint with its own experiment.
        best = Path(row["best_checkpoint"])
        assert verify_checkpoint(best) is None
        assert yaml.safe_load((best / "experiment.yaml").read_text())["env"]["evader_v_max"] == \
            row["params"]["env.evader_v_max"]


def test_interrupted_sweep_resumes_its_trials(tmp_path):
    path = sweep_file(tmp_path, search={"env.evader_v_max": {"grid": [0.8, 1.15]}})
    directory = tmp_path / "sweeps" / "speed"
    proc = tune_cli("--config", str(path))
    deadline = time.time() + 600
    while proc.poll() is None and time.time() < deadline:
        if any(list(t.glob("checkpoint_*")) and rows_of(t) and rows_of(t)[-1]["training_iteration"] >= 4
               for t in directory.glob("trial_*")):
            break
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)                           # Ctrl-C: Tune saves the sweep's state and stops
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 130 and f"continue with: pe-rllib tune --resume {directory}" in out
    before = {t.name: rows_of(t)[-1]["training_iteration"] for t in directory.glob("trial_*") if rows_of(t)}
    assert before and min(before.values()) < STOP, before
    assert (directory / SWEEP_FILE).is_file()

    again = tune_cli("--config", str(path))
    _, err = again.communicate(timeout=120)
    assert again.returncode == 2 and "already holds a sweep; continue it with --resume" in err

    resumed = tune_cli("--resume", str(directory))
    out, err = resumed.communicate(timeout=900)
    assert resumed.returncode == 0, out[-3000:] + err[-3000:]
    table = json.loads((directory / RESULTS_FILE).read_text())
    assert len(table) == 2 and all(row["iterations"] == STOP for row in table)
    for name, iteration in before.items():
        rows = rows_of(directory / name)
        if iteration >= 2:              # it had a checkpoint: continued from it, not from zero
            assert any(row["iterations_since_restore"] == 1 and row["training_iteration"] > 1 for row in rows)
        phases = expected_phases(path, STOP)
        assert [row["pe"]["phase"] for row in rows] == [phases[row["training_iteration"] - 1] for row in rows]


def test_pbt_mutates_the_learning_rate_the_learner_uses(tmp_path):
    path = sweep_file(tmp_path, name="pbt", search={"training.seed": {"grid": [0, 1]}},
                      # Synchronous: both trials meet at every perturbation point, so the lower one is
                      # always exploited (asynchronous PBT may find only one trial reported and skip).
                      scheduler={"type": "pbt", "perturbation_interval": 4, "synchronous": True,
                                 "mutations": {"training.lr": {"choice": [3e-4, 1e-4]}}})
    proc = tune_cli("--config", str(path))
    out, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, out[-3000:] + err[-3000:]
    directory = tmp_path / "sweeps" / "pbt"
    rates = set()
    for trial in directory.glob("trial_*"):
        for row in rows_of(trial):
            lr = row["config"]["env_config"]["experiment"]["training"]["lr"]
            trained = row["pe"]["training_roles"].split(",")
            for role in trained:
                used = row["learners"][role]["default_optimizer_learning_rate"]
                assert used == pytest.approx(lr), (trial.name, row["training_iteration"], role)
            rates.add(lr)
    assert rates - {load_sweep(path).experiment.training.lr}, "PBT never changed a learning rate"
    assert METRIC == "latest_eval/strength"
