"""The batched sampler: episodes exactly right across autoresets, PPO-ready columns, self-play intact."""

from collections import defaultdict

import numpy as np
import pytest
from test_training import TINY, module_weights

from pe_rllib.config import ExperimentConfig, from_dict

N = 8


def batched(**training):
    return from_dict(ExperimentConfig, {
        **TINY, "env": {**TINY["env"], "max_steps": 30},
        "training": {**TINY["training"], "sampler": "batched", "num_envs_per_env_runner": N, **training}})


@pytest.fixture(scope="module")
def runner(embedded_ray):
    from pe_rllib.training.algorithm import build_algorithm_config

    algo = build_algorithm_config(batched()).build_algo()
    runner = algo.env_runner_group.local_env_runner
    runner.frozen_episodes = True             # these tests look at both roles' episodes
    yield runner
    algo.stop()


def test_fragments_hold_every_step_once_with_episode_boundaries_and_flags_right(runner):
    """Three fragments of 25 steps x 8 arenas with 30-step episodes: chunks continue across fragments,
    episodes end at captures, collisions (terminated) or the time limit (truncated), and each
    role's chunk of a step carries the same length and flags."""
    from ray.rllib.core.columns import Columns

    chunks = [runner.sample(num_timesteps=25 * N) for _ in range(3)]
    by_episode = defaultdict(list)
    for fragment, episodes in enumerate(chunks):
        assert sum(len(e) for e in episodes) == 2 * 25 * N          # every agent step exactly once
        pairs = defaultdict(list)
        for episode in episodes:
            episode.validate()
            assert episode.agent_id in ("pursuer", "evader") and episode.module_id == episode.agent_id
            pairs[episode.multi_agent_episode_id].append(episode)
            by_episode[episode.id_].append((fragment, episode))
            logp = episode.get_extra_model_outputs(Columns.ACTION_LOGP)
            inputs = episode.get_extra_model_outputs(Columns.ACTION_DIST_INPUTS)
            assert logp.shape == (len(episode),) and inputs.shape == (len(episode), 4)
            assert np.all(np.isfinite(logp))
        for pair in pairs.values():
            assert sorted(e.agent_id for e in pair) == ["evader", "pursuer"]
            a, b = pair
            assert len(a) == len(b) and a.t_started == b.t_started
            assert (a.is_terminated, a.is_truncated) == (b.is_terminated, b.is_truncated)
    finished, full_timeouts = 0, 0
    for parts in by_episode.values():
        parts.sort(key=lambda item: item[0])
        starts = [episode.t_started for _, episode in parts]
        lengths = [len(episode) for _, episode in parts]
        assert starts == list(np.cumsum([0] + lengths[:-1]))          # chunks continue where they stopped
        for (_, earlier), (_, later) in zip(parts, parts[1:]):
            assert np.array_equal(earlier.get_observations(-1), later.get_observations(0))
            assert not (earlier.is_terminated or earlier.is_truncated)
        last = parts[-1][1]
        total = sum(lengths)
        if last.is_truncated:                # timeouts are truncations (first episodes start staggered)
            assert total <= 30 and not last.is_terminated
            finished += 1
            full_timeouts += total == 30
        elif last.is_terminated:
            assert total < 30
            finished += 1
    assert finished >= N and full_timeouts >= 1                          # every arena finished at least once


def test_first_episodes_are_staggered_so_timeouts_do_not_end_together(runner):
    """All arenas start together; without staggering, episodes that run to the time limit would all
    end in the same step, and iterations in between would report no episode at all."""
    from pe_rllib.training.batched_runner import BatchedSelfPlayRunner

    fresh = BatchedSelfPlayRunner(config=runner.config)
    fresh.frozen_episodes = True
    try:
        episodes = fresh.sample(num_timesteps=30 * N)
        first = [e for e in episodes if e.agent_id == "pursuer" and e.t_started == 0]
        # a first episode's chunk starts at fragment step 0, so its length is the step it ended at
        timeout_steps = {len(e) for e in first if e.is_truncated}
        assert len({len(e) for e in first}) >= N // 2
        assert len(timeout_steps) >= 2                       # the first timeouts end at different steps
    finally:
        fresh.stop()


def test_logged_log_probabilities_are_those_of_the_sampled_actions(runner):
    """ACTION_DIST_INPUTS are the module's own forward pass on the stored observations, and ACTION_LOGP the
    log-probability of the stored actions under that distribution."""
    import torch
    from ray.rllib.core.columns import Columns

    episode = next(e for e in runner.sample(num_timesteps=5 * N) if e.agent_id == "evader")
    module = runner.module["evader"]
    obs = torch.from_numpy(np.asarray(episode.get_observations()[:-1], np.float32))
    with torch.no_grad():
        inputs = module.forward_exploration({Columns.OBS: obs})[Columns.ACTION_DIST_INPUTS]
    assert np.allclose(episode.get_extra_model_outputs(Columns.ACTION_DIST_INPUTS), inputs.numpy(), atol=1e-5)
    dist = module.get_exploration_action_dist_cls().from_logits(inputs)
    expected = dist.logp(torch.from_numpy(np.asarray(episode.get_actions()))).numpy()
    assert np.allclose(episode.get_extra_model_outputs(Columns.ACTION_LOGP), expected, atol=1e-5)


def test_runner_reports_the_same_episode_metrics_as_the_stock_path(runner):
    runner.get_metrics()
    runner.sample(num_timesteps=40 * N)
    metrics = runner.metrics

    def peek(*key):
        return metrics.peek(("pe", *key), default=0.0)

    assert peek("episodes") >= N
    assert peek("captures") + peek("escapes") + peek("collisions") == peek("episodes")
    assert peek("agent_steps") >= 2 * N
    assert 0.0 <= peek("min_distance") and 1 <= peek("episode_steps") <= 30
    assert isinstance(peek("reward_terms", "pursuer", "capture"), float)
    assert metrics.peek("num_env_steps_sampled") == 40 * N
    runner.get_metrics()


def test_self_play_trains_with_the_batched_sampler(tmp_path, embedded_ray):
    """Freezing, snapshot slots and the scripted cold start work unchanged with the batched sampler."""
    from pe_rllib.training.run import train

    config = from_dict(ExperimentConfig, {
        **TINY,
        "selfplay": {"cold_start_iterations": 1, "cold_start_opponent": "pure_pursuit", "warmup_phase_lengths": [],
                     "phase_length": 1, "opponent_slots": 1, "snapshot_probability": 1.0},
        "training": {**TINY["training"], "sampler": "batched", "num_envs_per_env_runner": 4,
                     "num_env_runners": 1, "stop_iterations": 4}})
    reports = []
    train(config, output=tmp_path / "run", dashboard=False, on_iteration=reports.append)
    assert [r.figures["training_roles"] for r in reports] == ["evader", "pursuer", "evader", "pursuer"]
    checkpoints = [tmp_path / "run" / "checkpoints" / f"iter_{i:06d}" for i in range(1, 5)]
    for i in range(1, 4):
        trained = reports[i].figures["training_roles"]
        idle = "pursuer" if trained == "evader" else "evader"
        assert np.array_equal(module_weights(checkpoints[i], idle), module_weights(checkpoints[i - 1], idle))
        assert not np.array_equal(module_weights(checkpoints[i], trained), module_weights(checkpoints[i - 1], trained))
    assert reports[0].figures["substitute_episode_share"] == 1.0          # the scripted pursuer in phase 0
    assert all(r.figures["episodes"] >= 1 for r in reports[1:])


def test_one_arena_replays_the_stock_runner_step_for_step(embedded_ray):
    """N = 1, same seed, same weights, deterministic actions: the batched runner and RLlib's stock
    MultiAgentEnvRunner (the scripted cold-start pursuer against the evader's module) produce the same
    observations, actions, rewards and episode boundaries
    across autoresets. The one intended difference: at a timeout the stock episode says
    terminated, the batched one truncated."""
    from pe_rllib.training.algorithm import build_algorithm_config

    def runner(sampler):
        experiment = from_dict(ExperimentConfig, {
            **TINY, "env": {**TINY["env"], "max_steps": 60, "max_init_distance": 3.5},
            "selfplay": {**TINY["selfplay"], "cold_start_opponent": "pure_pursuit"},   # captures happen
            "training": {**TINY["training"], "sampler": sampler, "num_envs_per_env_runner": 1, "seed": 7}})
        algo = build_algorithm_config(experiment).build_algo()
        return algo, algo.env_runner_group.local_env_runner

    stock_algo, stock = runner("rllib")
    batched_algo, ours = runner("batched")
    ours.frozen_episodes = True                       # the stock runner hands over the frozen pursuer's too
    try:
        ours.module.set_state(stock.module.get_state())
        stock_episodes = stock.sample(num_timesteps=300, explore=False)
        our_episodes = ours.sample(num_timesteps=300, explore=False)
        for role in ("pursuer", "evader"):
            theirs = [e.agent_episodes[role] for e in stock_episodes]
            mine = [e for e in our_episodes if e.agent_id == role]
            assert [len(e) for e in mine] == [len(e) for e in theirs]          # same episode boundaries
            for a, b in zip(mine, theirs):
                assert np.allclose(a.get_observations(), b.get_observations(), atol=1e-6)
                assert np.allclose(a.get_actions(), b.get_actions(), atol=1e-6)
                assert np.allclose(a.get_rewards(), b.get_rewards(), atol=1e-5)
                if b.is_done:
                    timeout = a.t_started + len(a) == 60
                    assert (a.is_terminated, a.is_truncated) == ((False, True) if timeout else (True, False))
                    assert b.is_terminated                                      # stock: always terminated
                else:
                    assert not (a.is_terminated or a.is_truncated)
        assert sum(e.is_done for e in our_episodes) >= 4
        assert any(e.is_terminated for e in our_episodes) and any(e.is_truncated for e in our_episodes)
    finally:
        stock_algo.stop()
        batched_algo.stop()


def test_the_frozen_roles_episodes_are_not_built_but_their_steps_are_counted(embedded_ray):
    from pe_rllib.training.algorithm import build_algorithm_config
    from pe_rllib.training.batched_runner import BatchedSelfPlayRunner

    runner = BatchedSelfPlayRunner(config=build_algorithm_config(batched()))
    try:
        runner.config.policy_mapping_fn.configure(["evader"], {"evader": []}, seed=0)
        runner.get_metrics()
        episodes = runner.sample(num_timesteps=10 * N)
        assert {e.agent_id for e in episodes} == {"pursuer"}
        assert sum(len(e) for e in episodes) == 10 * N
        assert runner.metrics.peek(("num_module_steps_sampled", "evader")) == 10 * N
        runner.frozen_episodes = True
        assert {e.agent_id for e in runner.sample(num_timesteps=10 * N)} == {"pursuer", "evader"}
    finally:
        runner.stop()


def test_an_iteration_in_which_no_episode_ended_reports_zero_episodes():
    """Short fragments over many arenas can end no episode in an iteration; the runners' summed
    counts then reduce to NaN, which means zero, not an error."""
    from pe_rllib.callbacks.selfplay import iteration_figures

    figures = iteration_figures({"pe": {"episodes": float("nan"), "captures": float("nan")}})
    assert figures["episodes"] == 0 and np.isnan(figures["capture_rate"])


def test_simultaneous_mode_trains_both_roles_with_the_batched_sampler(tmp_path, embedded_ray):
    from pe_rllib.training.run import train

    config = from_dict(ExperimentConfig, {
        **TINY, "selfplay": {"mode": "simultaneous", "cold_start_iterations": 0},
        "training": {**TINY["training"], "sampler": "batched", "stop_iterations": 2}})
    reports = []
    train(config, output=tmp_path / "run", dashboard=False, on_iteration=reports.append)
    assert {r.figures["training_roles"] for r in reports} == {"pursuer,evader"}
    first, second = (tmp_path / "run" / "checkpoints" / f"iter_{i:06d}" for i in (1, 2))
    for role in ("pursuer", "evader"):
        assert not np.array_equal(module_weights(first, role), module_weights(second, role))


def test_checkpoints_are_interchangeable_between_the_samplers(tmp_path):
    """A run trained with the batched sampler resumes with RLlib's stock one (and continues)."""
    import subprocess
    import sys

    import yaml

    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({**TINY, "training": {**TINY["training"], "stop_iterations": 2}}))
    run_dir = tmp_path / "run"

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "pe_rllib.cli", "train", *args, "--no-dashboard"],
                              capture_output=True, text=True, timeout=600)

    first = cli("--config", str(config), "--output", str(run_dir))
    assert first.returncode == 0, first.stderr
    resumed = cli("--resume", str(run_dir), "--stop-iters", "3", "--set", "training.sampler=rllib",
                  "--set", "training.num_envs_per_env_runner=1")
    assert resumed.returncode == 0, resumed.stderr
    assert "iter 3/3" in resumed.stdout
    before, after = (run_dir / "checkpoints" / f"iter_{i:06d}" for i in (2, 3))
    trained = [role for role in ("pursuer", "evader")
               if not np.array_equal(module_weights(before, role), module_weights(after, role))]
    assert len(trained) == 1                               # the schedule went on: one role trained


def test_a_stand_in_keeps_its_weights_until_its_episode_ends(embedded_ray):
    """The league loads another pool entry into a snapshot slot between iterations. Episodes that
    were playing the slot finish against the weights they started with (and are counted under the
    entry they started with); new episodes play the new weights; the old copy is then dropped."""
    import copy

    import torch
    from ray.rllib.core.columns import Columns

    from pe_rllib.training.algorithm import build_algorithm_config
    from pe_rllib.training.batched_runner import BatchedSelfPlayRunner

    config = build_algorithm_config(from_dict(ExperimentConfig, {
        **TINY, "env": {**TINY["env"], "max_steps": 30},
        "selfplay": {**TINY["selfplay"], "opponent_slots": 1},
        "training": {**TINY["training"], "sampler": "batched", "num_envs_per_env_runner": N}}))
    slot = "evader_snapshot_0"
    runner = BatchedSelfPlayRunner(config=config)
    runner.frozen_episodes = True                     # what the frozen evader's slot played
    try:
        mapping = runner.config.policy_mapping_fn
        mapping.configure(["evader"], {"evader": [slot]}, seed=0, probability=1.0, labels={slot: "evader@1"})
        first = [e for e in runner.sample(num_timesteps=10 * N) if e.agent_id == "evader"]
        assert {e.module_id for e in first} == {slot}
        ongoing = {e.id_ for e in first if not (e.is_terminated or e.is_truncated)}
        assert ongoing

        old = copy.deepcopy(runner.module[slot])
        same = runner.module[slot].get_state(inference_only=True)
        runner.set_state({"rl_module": {slot: same}})
        assert runner.kept_stand_ins() == 0                     # the same weights again: nothing to keep
        new_weights = {name: value + 0.5 for name, value in same.items()}
        runner.set_state({"rl_module": {slot: new_weights}})
        assert runner.kept_stand_ins() == 1
        mapping.configure(["evader"], {"evader": [slot]}, seed=1, probability=1.0, labels={slot: "evader@2"})
        runner.get_metrics()

        def dist_inputs(module, episode):
            obs = torch.from_numpy(np.asarray(episode.get_observations()[:-1], np.float32))
            with torch.no_grad():
                return module.forward_exploration({Columns.OBS: obs})[Columns.ACTION_DIST_INPUTS].numpy()

        second = [e for e in runner.sample(num_timesteps=30 * N) if e.agent_id == "evader"]
        continued = [e for e in second if e.id_ in ongoing]
        started = [e for e in second if e.id_ not in ongoing]
        assert continued and started
        for episode in continued:
            assert np.allclose(episode.get_extra_model_outputs(Columns.ACTION_DIST_INPUTS),
                               dist_inputs(old, episode), atol=1e-5)
        for episode in started:
            assert np.allclose(episode.get_extra_model_outputs(Columns.ACTION_DIST_INPUTS),
                               dist_inputs(runner.module[slot], episode), atol=1e-5)
        kept_steps = sum(len(e) for e in continued)
        assert runner.metrics.peek(("pe", "kept_stand_in_steps")) == kept_steps
        matchups = runner.metrics.peek(("pe", "matchups"))
        ended_old = sum(e.is_terminated or e.is_truncated for e in continued)
        assert matchups["pursuer|evader@1"]["episodes"] == ended_old
        runner.sample(num_timesteps=30 * N)              # every old episode has ended (30-step limit)
        assert runner.kept_stand_ins() == 0
        matchups = runner.metrics.peek(("pe", "matchups"))
        assert matchups["pursuer|evader@1"]["episodes"] == len(ongoing)
        assert matchups["pursuer|evader@2"]["episodes"] >= N
    finally:
        runner.stop()


def test_an_exploiter_plays_its_newest_weights_at_once_like_the_main_roles(embedded_ray):
    """A main exploiter trains on-policy: new weights (an update or a reset) replace it mid-episode, with no kept
    copy, so its learner never gets steps of older weights (a kept copy used to play it for up to an episode)."""
    import torch
    from ray.rllib.core.columns import Columns

    from pe_rllib.training.algorithm import build_algorithm_config
    from pe_rllib.training.batched_runner import BatchedSelfPlayRunner

    config = build_algorithm_config(from_dict(ExperimentConfig, {
        **TINY, "env": {**TINY["env"], "max_steps": 30},
        "selfplay": {**TINY["selfplay"], "opponent_slots": 1},
        "league": {"enabled": True, "exploiters": True}, "evaluation": {"every": 1},
        "training": {**TINY["training"], "sampler": "batched", "num_envs_per_env_runner": N}}))
    exploiter = "evader_exploiter"
    runner = BatchedSelfPlayRunner(config=config)
    try:
        runner.config.policy_mapping_fn.configure(["pursuer"], {}, seed=0, exploiters={"evader": exploiter},
                                                  exploiter_share=0.999)
        first = [e for e in runner.sample(num_timesteps=10 * N) if e.agent_id == "evader"]
        assert {e.module_id for e in first} == {exploiter}
        ongoing = {e.id_ for e in first if not (e.is_terminated or e.is_truncated)}
        assert ongoing
        weights = runner.module[exploiter].get_state(inference_only=True)
        runner.set_state({"rl_module": {exploiter: {name: value + 0.5 for name, value in weights.items()}}})
        assert runner.kept_stand_ins() == 0
        continued = [e for e in runner.sample(num_timesteps=10 * N) if e.agent_id == "evader" and e.id_ in ongoing]
        assert continued
        for episode in continued:
            obs = torch.from_numpy(np.asarray(episode.get_observations()[:-1], np.float32))
            with torch.no_grad():
                expected = runner.module[exploiter].forward_exploration({Columns.OBS: obs})
            assert np.allclose(episode.get_extra_model_outputs(Columns.ACTION_DIST_INPUTS),
                               expected[Columns.ACTION_DIST_INPUTS].numpy(), atol=1e-5)
        counts = runner.metrics.peek(("pe", "matchups"))[f"pursuer|{exploiter}"]      # what exploiter_games reads
        assert counts["escapes"] > 0                                              # 30-step episodes time out
        assert counts["captures"] + counts["escapes"] + counts["collisions"] == counts["episodes"]
    finally:
        runner.stop()


def test_a_deterministic_module_plays_its_mode_while_the_others_explore(embedded_ray):
    """``training.deterministic_modules``: the frozen opponent of a best response acts as evaluation plays
    it (its distribution's mean), the learning role still samples around its mean."""
    from ray.rllib.core.columns import Columns

    from pe_rllib.training.algorithm import build_algorithm_config
    from pe_rllib.training.batched_runner import BatchedSelfPlayRunner

    runner = BatchedSelfPlayRunner(config=build_algorithm_config(batched(deterministic_modules=["evader"])))
    episodes = runner.sample(num_timesteps=10 * N)
    offsets = {}
    for episode in episodes:
        mean = episode.get_extra_model_outputs(Columns.ACTION_DIST_INPUTS)[:, :2]
        offsets.setdefault(episode.agent_id, []).append(np.abs(np.asarray(episode.get_actions()) - mean).max())
    assert max(offsets["evader"]) < 1e-6
    assert min(offsets["pursuer"]) > 1e-3
    runner.stop()
    from pe_rllib.config import ConfigError

    with pytest.raises(ConfigError, match="training.deterministic_modules: needs sampler: batched"):
        batched(deterministic_modules=["evader"], sampler="rllib")


def test_the_frozen_role_plays_its_mode_when_frozen_deterministic_and_explores_otherwise(embedded_ray):
    """``selfplay.frozen_deterministic``: in the evader's first phase the frozen pursuer plays its
    distribution's mean (as evaluation plays it) while the training evader samples; without the setting
    both sample."""
    from ray.rllib.core.columns import Columns

    from pe_rllib.training.algorithm import build_algorithm_config

    def offsets(frozen_deterministic: bool) -> dict[str, float]:
        experiment = from_dict(ExperimentConfig, {
            **TINY, "env": {**TINY["env"], "max_steps": 30},
            "selfplay": {**TINY["selfplay"], "first_role": "evader", "frozen_deterministic": frozen_deterministic},
            "training": {**TINY["training"], "sampler": "batched", "num_envs_per_env_runner": N}})
        algo = build_algorithm_config(experiment).build_algo()
        try:
            runner = algo.env_runner_group.local_env_runner
            assert runner.config.policy_mapping_fn.frozen_roles == ("pursuer",)
            runner.frozen_episodes = True             # what the frozen pursuer played
            largest = defaultdict(float)
            for episode in runner.sample(num_timesteps=10 * N):
                mean = episode.get_extra_model_outputs(Columns.ACTION_DIST_INPUTS)[:, :2]
                offset = np.abs(np.asarray(episode.get_actions()) - mean).max()
                largest[episode.agent_id] = max(largest[episode.agent_id], offset)
            return largest
        finally:
            algo.stop()

    deterministic, exploring = offsets(True), offsets(False)
    assert deterministic["pursuer"] < 1e-6 and deterministic["evader"] > 1e-3
    assert exploring["pursuer"] > 1e-3 and exploring["evader"] > 1e-3


def test_frozen_deterministic_needs_the_batched_sampler():
    from pe_rllib.config import ConfigError

    with pytest.raises(ConfigError, match="selfplay.frozen_deterministic: needs training.sampler: batched"):
        from_dict(ExperimentConfig, {**TINY, "selfplay": {**TINY["selfplay"], "frozen_deterministic": True},
                                     "training": {**TINY["training"], "sampler": "rllib"}})
