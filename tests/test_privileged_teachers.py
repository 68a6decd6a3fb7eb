"""Privileged teachers (``league.teacher_view: full``): the world's privileged observation, the batched runner
computing the teachers' actions on it, and a recurrent role trained towards them."""

import numpy as np
import pytest
from ray.rllib.core.columns import Columns
from test_league_training import saved_state
from test_training import TINY

from pe_rllib.config import ConfigError, ExperimentConfig, from_dict
from pe_rllib.envs.batched import BatchedPursuitEvasion
from pe_rllib.policies.families import make_family
from pe_rllib.training.teachers import TEACHER_TARGETS

PARTIAL = {**TINY["env"], "observation": "partial", "n_lidar_rays": 4, "max_steps": 30, "fov_deg": 90.0,
           "sensing_range": 3.0}
LEAGUE = {"enabled": True, "anchor_every": 2, "anchor_generations": 2, "anchor_population": 4, "anchor_episodes": 4,
          "anchor_selection_episodes": 8, "distill_coeff": 10.0, "teacher_view": "full"}


def privileged(**training):
    return from_dict(ExperimentConfig, {
        **TINY, "env": PARTIAL, "selfplay": {**TINY["selfplay"], "opponent_slots": 1}, "league": LEAGUE,
        "training": {**TINY["training"], "model": "lstm", "cell_size": 8, "max_seq_len": 10, **training}})


def test_the_privileged_observation_is_what_a_robot_that_sees_the_other_observes():
    """Its newest frame is the observation of the same world in an episode where the opponent is always seen
    (``p_full_obs``); the older stacked frames are the sensed ones, and the world is left as it was."""
    config = {**PARTIAL, "history_length": 2, "n_obstacles": 3}
    world = BatchedPursuitEvasion(64, config)
    world.reset(seed=0)
    observed = world.step({role: np.tile([1.0, 0.3], (64, 1)).astype(np.float32) for role in world.agents})[0]
    before = world.world_state()
    seen = world.privileged_observation()
    frame = world.layout.frame_dim
    sees_all = BatchedPursuitEvasion(64, {**config, "p_full_obs": 1.0})
    sees_all.reset(seed=1)
    state = world.world_state()
    state.full_obs[:] = True
    expected = sees_all.start_from(state)
    hidden = observed["pursuer"][:, frame + world.layout.slices["visible"].start] == 0
    assert hidden.any() and (~hidden).any()
    for role in world.agents:
        np.testing.assert_array_equal(seen[role][:, frame:], expected[role][:, frame:])
        np.testing.assert_array_equal(seen[role][:, :frame], observed[role][:, :frame])
    np.testing.assert_array_equal(world.world_state().last_seen, before.last_seen)
    np.testing.assert_array_equal(world.world_state().full_obs, before.full_obs)


def test_the_remembering_view_dead_reckons_an_unseen_opponent_for_as_long_as_it_recalls():
    """With both robots driving straight in an open arena, dead reckoning is exact: wherever the pursuer cannot
    see the evader within ``recall`` steps of its last sighting, its view's opponent block is the privileged
    observation's; where it sees the evader the view is its observation; beyond ``recall`` steps, before a first
    sighting and after :meth:`forget`, the observation passes unchanged."""
    from pe_rllib.policies.memory import OpponentTrack

    world = BatchedPursuitEvasion(256, {**PARTIAL, "n_obstacles": 0, "arena_width": 20.0, "arena_height": 20.0,
                                        "max_steps": 200, "fov_deg": 120.0, "sensing_range": 8.0})
    layout, obs = world.layout, world.reset(seed=0)["pursuer"]
    opponent, visible = layout.slices["opponent"], layout.slices["visible"].start
    track, recall = OpponentTrack(world.config, 256, recall=12), 12
    ever, moving = np.zeros(256, bool), np.zeros(256, bool)     # seen at all; seen after the first step
    unseen, age = np.zeros(256, int), np.zeros(256, int)
    counts = {"recalled": 0, "expired": 0}
    drive = {"pursuer": np.tile([0.5, 0.0], (256, 1)).astype(np.float32),
             "evader": np.tile([0.2, 0.0], (256, 1)).astype(np.float32)}
    for _ in range(40):
        view, full = track.view(obs), world.privileged_observation()["pursuer"]
        seen = obs[:, visible] > 0.5
        ever |= seen
        moving = np.where(seen, age > 0, moving)          # at an episode's first step the robots stand still
        unseen = np.where(seen, 0, unseen + 1)
        recalled = ~seen & ever & (unseen <= recall)
        exact = recalled & moving
        np.testing.assert_allclose(view[exact][:, opponent], full[exact][:, opponent], atol=1e-5)
        assert np.all(view[recalled, visible] == 1.0)
        np.testing.assert_array_equal(view[~recalled], obs[~recalled])
        counts["recalled"] += int(exact.sum())
        counts["expired"] += int((~seen & ever & ~recalled).sum())
        obs, _, terminated, truncated, _ = world.step(drive)
        obs = obs["pursuer"]
        ended = terminated["pursuer"] | truncated["pursuer"]
        track.forget(ended)
        ever &= ~ended
        age = np.where(ended, 0, age + 1)
    assert counts["recalled"] > 100 and counts["expired"] > 100, counts


@pytest.mark.parametrize("changes, message", [
    ({"league.teacher_view": "oracle"}, "league.teacher_view: must be one of ('observed', 'full', 'remembered')"),
    ({"league.distill_coeff": 0.0}, "league.teacher_view: needs distill_coeff > 0"),
    ({"env.observation": "full"}, "league.teacher_view: 'full' needs env.observation: partial"),
    ({"training.sampler": "rllib"}, "league.teacher_view: 'full' needs training.sampler: batched"),
    ({"league.teacher_recall": 0}, "league.teacher_recall: must be an integer >= 1"),
    ({"league.teacher_unseen_weight": 0.0}, "league.teacher_unseen_weight: must be > 0"),
    ({"league.teacher_view": "observed", "league.teacher_unseen_weight": 4.0},
     "league.teacher_unseen_weight: needs teacher_view full or remembered"),
    ({"league.teacher_view": "remembered", "env.observation": "full"},
     "league.teacher_view: 'remembered' needs env.observation: partial"),
    ({"training.model": "mlp", "league.distill_steps": 10},
     "league.teacher_view: 'full' needs league.distill_steps: 0"),
])
def test_bad_teacher_view_settings_are_one_line_errors(changes, message):
    from pe_rllib.config import experiment_with

    with pytest.raises(ConfigError) as err:
        experiment_with(privileged(), changes)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_a_remembering_teacher_plays_what_its_track_sees_and_forgets_at_each_new_episode():
    """:class:`RememberingController` through :class:`Acting` (which resets a finished arena's state) acts at every
    step as the controller on a track stepped alongside and told to forget the arenas whose episode ended; on
    steps where it remembers, that differs from the controller on the observation."""
    from pe_rllib.envs.rollout import rollout
    from pe_rllib.policies.acting import Acting
    from pe_rllib.policies.memory import OpponentTrack, RememberingController

    config = {**PARTIAL, "n_obstacles": 2, "max_steps": 40, "fov_deg": 90.0, "sensing_range": 4.0}
    world = BatchedPursuitEvasion(64, config)
    pursuit, flee = make_family("pursuer", world.config), make_family("evader", world.config)
    player = RememberingController(pursuit, world.config, recall=15)
    act = Acting(player, flee)
    track, ended_seen, remembered_steps = OpponentTrack(world.config, 64, recall=15), 0, 0
    for step in rollout(world, act, world.reset(seed=2), 120):
        obs = step.obs["pursuer"]
        view = track.view(obs)
        np.testing.assert_array_equal(step.actions["pursuer"], pursuit.act(view))
        remembered = np.any(view != obs, axis=1)
        remembered_steps += int((np.abs(pursuit.act(obs) - pursuit.act(view)).max(-1)[remembered] > 1e-3).sum())
        track.forget(step.ended)
        ended_seen += int(step.ended.sum())
    assert ended_seen > 64 and remembered_steps > 20, (ended_seen, remembered_steps)


def test_the_distillation_loss_is_the_weighted_mean_over_the_unpadded_steps():
    """Equal weights and no mask: the plain mean. A mask drops padded steps; weights scale a step's share,
    and the loss stays a mean (its size does not grow with the weights)."""
    import torch

    from pe_rllib.training.teachers import distill_loss

    error = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    mask = torch.tensor([[True, True, False], [True, False, False]])
    weight = torch.tensor([[1.0, 3.0, 9.0], [1.0, 1.0, 1.0]])
    assert distill_loss(error).item() == pytest.approx(3.5)
    assert distill_loss(error, mask).item() == pytest.approx(7.0 / 3)
    assert distill_loss(error, mask, weight).item() == pytest.approx((1 + 6 + 4) / 5)
    assert distill_loss(error, None, torch.full_like(error, 7.0)).item() == pytest.approx(3.5)


def _visible(obs: np.ndarray, layout) -> np.ndarray:
    return obs[..., layout.slices["visible"].start] > 0.5


@pytest.mark.parametrize("view", ["full", "remembered"])
def test_the_runner_hands_the_learner_its_teachers_actions_on_what_the_role_would_see(view, embedded_ray):
    """With a teacher set, every evader chunk carries the teacher's action at each step: where the evader sees
    the pursuer it is the teacher's action on the observation; where it does not, a privileged teacher's often
    is not (it sees what the evader cannot), and a remembering one's are those of a fresh
    :class:`OpponentTrack` replaying the episode's observations from its start (from before the teacher
    arrived). Privileged teachers for both roles act on one privileged observation per step (each role's where
    it sees the other is its teacher on its observation); with the evader's teacher alone, pursuer chunks carry
    none. A continuing chunk's lookback holds the previous
    chunk's last teacher action (zeros where the teacher arrived after it), and PPO's learner connector pipeline
    lines the column up with the observations in the recurrent module's padded sequences."""
    import copy

    from ray.rllib.connectors.learner import AddOneTsToEpisodesAndTruncate
    from test_recurrent import _chunks_by_episode

    from pe_rllib.config import experiment_with
    from pe_rllib.envs.sensing import observation_layout
    from pe_rllib.policies.memory import OpponentTrack
    from pe_rllib.training.algorithm import build_algorithm_config

    experiment = experiment_with(privileged(), {"league.teacher_view": view, "league.teacher_recall": 30,
                                                 "league.teacher_unseen_weight": 5.0,
                                                 "env.sensing_range": 6.0, "env.fov_deg": 120.0})
    config = build_algorithm_config(experiment)
    algo = config.build_algo()
    try:
        runner = algo.env_runner_group.local_env_runner
        runner.frozen_episodes = True
        family = make_family("evader", experiment.env)
        params = family.defaults()
        params[family.names().index("heading_gain")] = 7.0
        untaught = runner.sample(num_timesteps=4 * 17)
        pursuit = make_family("pursuer", experiment.env)
        taught_roles = ("pursuer", "evader") if view == "full" else ("evader",)
        runner.set_teachers({"evader": {"family": family.family, "params": params.tolist()},
                             "pursuer": {"family": pursuit.family, "params": pursuit.defaults().tolist()}}
                            if view == "full" else {"evader": {"family": family.family, "params": params.tolist()}})
        fragments = [runner.sample(num_timesteps=4 * 17) for _ in range(8)]
    finally:
        algo.stop()
    teachers = {"evader": make_family("evader", experiment.env, params=family.quiet(params)),
                "pursuer": make_family("pursuer", experiment.env, params=pursuit.quiet(pursuit.defaults()))}
    teacher = teachers["evader"]
    layout = observation_layout(experiment.env)
    assert not any(TEACHER_TARGETS in e.extra_model_outputs for e in untaught)
    hidden_differs, seen, recalled, continued = 0, 0, 0, {"zeros": 0, "previous": 0}
    for (role, _), chunks in _chunks_by_episode([untaught, *fragments]).items():
        track = OpponentTrack(experiment.env, 1, recall=30)
        for previous, chunk in zip([None] + chunks[:-1], chunks):
            obs = chunk.get_observations()[:len(chunk)]
            remembered = np.concatenate([track.view(o[None]) for o in obs])
            if role not in taught_roles or chunk in untaught:
                assert TEACHER_TARGETS not in chunk.extra_model_outputs
                continue
            taught, weight = np.split(np.asarray(chunk.get_extra_model_outputs(TEACHER_TARGETS)), [-1], axis=1)
            visible = _visible(obs, layout)
            # weighted up where the teacher's view shows an opponent the role does not see
            np.testing.assert_array_equal(weight[:, 0], np.where(
                ~visible if view == "full" else np.any(remembered != obs, axis=1), 5.0, 1.0))
            if role == "pursuer":
                np.testing.assert_allclose(taught[visible], teachers["pursuer"].act(obs[visible]), atol=1e-5)
                continue
            if view == "remembered":
                np.testing.assert_allclose(taught, teacher.act(remembered), atol=1e-5)
                recalled += int((_visible(remembered, layout) & ~_visible(obs, layout)).sum())
            np.testing.assert_allclose(taught[visible], teacher.act(obs[visible]), atol=1e-5)
            seen += int(visible.sum())
            hidden_differs += int((np.abs(taught[~visible] - teacher.act(obs[~visible])).max(-1) > 1e-3).sum())
            if previous is not None:
                entering = chunk.get_extra_model_outputs(TEACHER_TARGETS, indices=-1, neg_index_as_lookback=True)
                if previous in untaught:
                    assert not np.any(entering)
                    continued["zeros"] += 1
                else:
                    np.testing.assert_array_equal(entering, previous.get_extra_model_outputs(TEACHER_TARGETS, -1))
                    continued["previous"] += 1
    # (a teacher that remembers the pursuer a few steps after losing it mostly does what the last-seen point says;
    # how often the evader loses the pursuer varies between runs: 9-52 steps in 5 fragments, 54-82 in 8)
    assert hidden_differs > 10 if view == "full" else recalled >= 5, (hidden_differs, recalled)
    assert seen > 10 and min(continued.values()) >= 2, (seen, continued)
    episodes = copy.deepcopy([e for f in fragments for e in f if e.agent_id == "evader"])
    connector = config.build_learner_connector(input_observation_space=None, input_action_space=None)
    connector.prepend(AddOneTsToEpisodesAndTruncate())
    batch = connector(rl_module=runner.module, batch={}, episodes=episodes, explore=False, shared_data={})["evader"]
    mask = np.asarray(batch[Columns.LOSS_MASK]).astype(bool)
    obs, taught = np.asarray(batch[Columns.OBS])[mask], np.asarray(batch[TEACHER_TARGETS])[mask]
    assert taught.shape == (int(mask.sum()), 3)
    visible = _visible(obs, layout)
    np.testing.assert_allclose(taught[visible, :2], teacher.act(obs[visible]), atol=1e-5)
    assert set(np.unique(taught[:, 2])) == {1.0, 5.0}


@pytest.mark.parametrize("view", ["full", "remembered"])
def test_runner_side_distillation_pulls_a_recurrent_role_towards_its_teacher(view, tmp_path, embedded_ray):
    """A short run with teachers acting on the runners and LSTM policies (the teachers reach the runners through
    the self-play sync): the evader (trained at iterations 3-4, teacher found at 2) ends closer to what its
    teacher does than it started, acting on its own observation from its initial state over the start states
    of 256 episodes, where the privileged teacher sees the pursuer and the remembering one has seen nothing
    before (so acts on the observation)."""
    from pe_rllib.config import experiment_with
    from pe_rllib.policies.inference import load_policy
    from pe_rllib.training.run import train

    experiment = experiment_with(privileged(stop_iterations=4, lr=3e-3, num_epochs=16), {"league.teacher_view": view})
    train(experiment, output=tmp_path / "run", dashboard=False)
    checkpoints = tmp_path / "run" / "checkpoints"
    world = BatchedPursuitEvasion(256, experiment.env)
    obs, seen = world.reset(seed=3)["evader"], world.privileged_observation()["evader"]
    state = saved_state(checkpoints / "iter_000004")
    entry = next(e for e in state["league"]["entries"]["evader"] if e["id"] == "evader@anchor2")
    teacher = make_family("evader", experiment.env, entry["anchor"])
    teacher.set_params(teacher.quiet(np.asarray(state["league_weights"][entry["id"]]["params"])))
    target = teacher.act(seen if view == "full" else obs)
    if view == "full":
        assert np.abs(target - teacher.act(obs)).max() > 0.1      # some starts hide the pursuer from the evader

    def error(iteration: int) -> float:
        policy = load_policy(checkpoints / f"iter_{iteration:06d}", "evader")
        actions, _ = policy.step(obs, policy.initial_state(len(obs)))
        return float(((actions - target) ** 2).sum(-1).mean())

    assert error(4) < 0.9 * error(2), (error(2), error(4))   # full: 0.80-0.82 measured; hidden starts stay unknown
