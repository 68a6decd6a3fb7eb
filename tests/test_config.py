"""Config tree: validation errors name the field path; unknown keys rejected; YAML round trip."""

import pytest
import yaml

from pe_rllib.config import (
    ConfigError,
    EnvConfig,
    ExperimentConfig,
    SafetyConfig,
    experiment_with,
    from_dict,
    load_experiment,
    to_dict,
)


@pytest.mark.parametrize("data, message", [
    ({"env": {"capture_radius": -1}}, "env.capture_radius: must be > 0"),
    ({"env": {"bogus": 1}}, "env.bogus: unknown key"),
    ({"env": {"reward": {"capture": "lots"}}}, "env.reward.capture: must be a number"),
    ({"env": {"reward": {"nope": 1}}}, "env.reward.nope: unknown key"),
    ({"env": {"observation": "x-ray"}}, "env.observation: must be one of"),
    ({"env": {"max_steps": 2.5}}, "env.max_steps: must be an integer"),
    ({"env": {"min_init_distance": 5, "max_init_distance": 3}}, "env.min_init_distance: must be <="),
    ({"env": {"n_obstacles": 200}}, "env.n_obstacles: obstacles"),
    ({"env": {"p_full_obs": 1.5}}, "env.p_full_obs: must be in [0, 1]"),
    ({"env": {"arena_width": 1.0}}, "env.robot_radius: leaves no room"),
    ({"safety": {"gamma": 0}}, "safety.gamma: must be in (0, 1]"),
    ({"safety": {"solver": "magic"}}, "safety.solver: must be one of"),
    ({"safety": {"agents": ["pursuer", "cat"]}}, "safety.agents: entries must be"),
    ({"safety": {"control_point_distance": 0.6}}, "safety.control_point_distance: control_point_distance + margin"),
    ({"top": 1}, "top: unknown key"),
])
def test_bad_values_raise_one_line_error_naming_the_path(data, message):
    with pytest.raises(ConfigError) as err:
        from_dict(ExperimentConfig, data)
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


def test_yaml_round_trip_and_overrides(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump({"env": {"evader_v_max": 1.15, "reward": {"capture": 50}}}))
    cfg = load_experiment(path, {"env.n_obstacles": 2, "safety.enabled": False})
    assert cfg.env.evader_v_max == 1.15 and cfg.env.reward.capture == 50.0
    assert cfg.env.n_obstacles == 2 and cfg.safety.enabled is False
    assert from_dict(ExperimentConfig, to_dict(cfg)) == cfg
    assert cfg.env.speed_ratio == pytest.approx(1.15)


def test_file_errors_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="missing.yaml: config file not found"):
        load_experiment(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("env: [1, 2\n")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        load_experiment(bad)
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("env:\n  arena_widht: 3\n")
    with pytest.raises(ConfigError, match=r"unknown.yaml: env.arena_widht: unknown key"):
        load_experiment(unknown)


def test_derived_values_are_computed_not_stored():
    safety = SafetyConfig(control_point_distance=0.2)
    assert safety.qp_weights[1] == pytest.approx(0.04)
    assert "qp_weights" not in to_dict(safety)
    assert EnvConfig(arena_width=30, robot_radius=0.2, obstacle_clearance=0.3).spawn_half_extent == (14.5, 9.5)


def test_every_shipped_experiment_yaml_validates():
    from pathlib import Path

    from pe_rllib.training.sweep import load_sweep

    configs = sorted((Path(__file__).parent.parent / "tune_configs").glob("*.yaml"))
    assert {p.name for p in configs} >= {"quickstart.yaml", "ra1.yaml", "speed_ratio_sweep.yaml"}
    for path in configs:
        if path.stem.endswith("_sweep"):
            load_sweep(path)                      # a sweep file: an experiment plus its search space
        else:
            load_experiment(path)
    ra1 = load_experiment(Path(__file__).parent.parent / "tune_configs" / "ra1.yaml")
    assert ra1.env.speed_ratio == pytest.approx(1.15) and ra1.selfplay.phase_length == 1
    assert ra1.env.max_steps == 600 and ra1.env.n_obstacles == 2


def test_experiment_with_sets_dotted_fields_and_validates_the_whole():
    base = load_experiment("quickstart")
    changed = experiment_with(base, {"env.evader_v_max": 1.15, "training.lr": 3e-4})
    assert (changed.env.evader_v_max, changed.training.lr) == (1.15, 3e-4)
    assert to_dict(changed) == to_dict(load_experiment("quickstart", {"env.evader_v_max": 1.15, "training.lr": 3e-4}))
    assert base.env.evader_v_max != 1.15                      # the original is untouched
    with pytest.raises(ConfigError, match=r"^training.lrr: unknown key"):
        experiment_with(base, {"training.lrr": 1e-3})
    with pytest.raises(ConfigError, match=r"^training.lr.x: lr is not a section"):
        experiment_with(base, {"training.lr.x": 1})


def test_extends_merges_sections_key_by_key_and_lists_replace(tmp_path):
    (tmp_path / "base.yaml").write_text(yaml.safe_dump({
        "env": {"arena_width": 20.0, "arena_height": 20.0, "max_steps": 600, "reward": {"capture": 50.0}},
        "curriculum": {"enabled": True, "levels": [{"p_full_obs": 1.0}, {"p_full_obs": 0.5}]}}))
    (tmp_path / "child.yaml").write_text(yaml.safe_dump({
        "extends": "base.yaml", "env": {"max_steps": 300, "reward": {"timeout": 3.0}},
        "curriculum": {"levels": [{"p_full_obs": 0.0}]}}))
    child = load_experiment(tmp_path / "child.yaml", {"env.arena_height": 10.0})
    assert (child.env.arena_width, child.env.arena_height, child.env.max_steps) == (20.0, 10.0, 300)
    assert (child.env.reward.capture, child.env.reward.timeout) == (50.0, 3.0)
    assert child.curriculum.enabled and [dict(lv) for lv in child.curriculum.levels] == [{"p_full_obs": 0.0}]
    (tmp_path / "grandchild.yaml").write_text("extends: child.yaml\ntraining: {lr: 0.002}\n")
    grandchild = load_experiment(tmp_path / "grandchild.yaml")
    assert (grandchild.env.max_steps, grandchild.training.lr) == (300, 0.002)
    (tmp_path / "bundled.yaml").write_text("extends: quickstart\nenv: {evader_v_max: 1.15}\n")
    assert to_dict(load_experiment(tmp_path / "bundled.yaml")) == to_dict(
        load_experiment("quickstart", {"env.evader_v_max": 1.15}))


@pytest.mark.parametrize("files, message", [
    ({"a.yaml": "extends: nowhere.yaml\n"}, r"a.yaml: extends: nowhere.yaml: config file not found"),
    ({"a.yaml": "extends: b.yaml\n", "b.yaml": "extends: a.yaml\n"},
     r"b.yaml: extends: 'a.yaml' is already in the chain"),
    ({"a.yaml": "extends: a.yaml\n"}, r"a.yaml: extends: 'a.yaml' is already in the chain of extends"),
    ({"a.yaml": "extends: [quickstart]\n"}, r"a.yaml: extends: must be an experiment file or bundled name"),
    ({"a.yaml": "extends: quickstart\nenv: {max_step: 3}\n"}, r"a.yaml: env.max_step: unknown key"),
])
def test_extends_errors_are_one_line_and_name_the_file(tmp_path, files, message):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(ConfigError, match=message) as err:
        load_experiment(tmp_path / "a.yaml")
    assert "\n" not in str(err.value)


def test_a_sweep_runs_over_an_experiment_that_extends_another(tmp_path):
    from pe_rllib.training.sweep import load_sweep

    (tmp_path / "mine.yaml").write_text("extends: quickstart\nenv: {max_steps: 250}\n")
    (tmp_path / "mine_sweep.yaml").write_text(
        "experiment: mine.yaml\nsearch:\n  env.evader_v_max: {grid: [0.9, 1.1]}\n")
    sweep = load_sweep(tmp_path / "mine_sweep.yaml")
    assert sweep.experiment.env.max_steps == 250
    assert sweep.experiment.training == load_experiment("quickstart").training


def test_partial_memory_yaml_is_partial_yaml_with_four_changes():
    """partial_memory.yaml extends partial.yaml: it must resolve to it with only the last-seen block blanked and the
    teachers remembering, searched remembering, neither hiding nor patrolling."""
    memory = to_dict(load_experiment("partial_memory"))
    assert memory == to_dict(load_experiment("partial", {"env.last_seen": False, "league.teacher_view": "remembered",
                                                         "league.anchor_recall": True,
                                                         "league.anchor_pinned": ["hide_gain=0", "patrol_gain=0"]}))
    assert memory != to_dict(load_experiment("partial"))
