"""Scaling: rollout shape from batch and runners, thread counts from the config, the acting module, the GPU learner."""

import itertools

import numpy as np
import pytest
import torch
from test_training import TINY

from pe_rllib.config import (
    ConfigError,
    ExperimentConfig,
    from_dict,
    load_experiment,
    rollout_shape,
    runner_threads,
    to_dict,
)


def tiny(**training):
    return from_dict(ExperimentConfig, {**TINY, "training": {**TINY["training"], **training}})


@pytest.mark.parametrize("minimum", [1, 30, 128])
def test_derived_fragment_is_at_least_the_minimum_for_any_runner_count(minimum):
    """Every runner count, arena count and batch the config accepts: each arena steps at least
    ``min_fragment_length`` times per iteration, the iteration holds at least the batch, arenas only
    ever shrink, and the overshoot is under one step per arena."""
    checked = 0
    for runners, arenas, batch in itertools.product(range(0, 70), (1, 7, 64, 256, 4096), (400, 4000, 32_768)):
        if max(1, runners) * minimum > batch:
            continue
        training = tiny(num_env_runners=runners, num_envs_per_env_runner=arenas, train_batch_size_per_learner=batch,
                        minibatch_size=200, min_fragment_length=minimum).training
        used, fragment = rollout_shape(training)
        total = max(1, runners) * used
        assert 1 <= used <= arenas
        assert fragment >= minimum, (runners, arenas, batch)
        assert total * fragment >= batch
        assert total * fragment - batch < total
        checked += 1
    assert checked > 500


def test_arenas_are_taken_as_configured_when_the_minimum_is_zero_and_the_bundled_configs_keep_theirs():
    assert rollout_shape(tiny(num_env_runners=8, num_envs_per_env_runner=256, train_batch_size_per_learner=4000,
                              min_fragment_length=0).training) == (256, 2)
    assert rollout_shape(load_experiment("quickstart").training) == (64, 32)          # as tuned: 2 x 64, 32 steps
    assert rollout_shape(load_experiment("quickstart", {"training.num_envs_per_env_runner": 256}).training) == (66, 31)
    assert rollout_shape(load_experiment("scale").training) == (19, 31)


def test_the_train_header_names_the_shape_in_use_and_a_capped_arena_count():
    from pe_rllib.config import sampling_summary

    assert sampling_summary(load_experiment("quickstart").training).startswith(
        "2 env runner(s) x 64 arenas x 32 steps = 4,096 env steps per iteration; the driver's learner on CPU, 1 torch")
    capped = sampling_summary(load_experiment("quickstart", {"training.num_envs_per_env_runner": 256}).training)
    assert "66 arenas (of 256) x 31 steps" in capped


def test_a_batch_too_small_for_the_runners_minimum_is_refused_in_one_line():
    with pytest.raises(ConfigError) as err:
        tiny(num_env_runners=20, min_fragment_length=30)           # 20 x 30 = 600 > 400
    message = str(err.value)
    assert "min_fragment_length" in message and "600" in message and "\n" not in message


@pytest.mark.parametrize(("field", "value"), [("num_cpus_per_learner", 0), ("num_cpus_per_learner", 1.5),
                                              ("min_fragment_length", -1)])
def test_bad_thread_and_fragment_settings_are_refused(field, value):
    with pytest.raises(ConfigError, match=f"training.{field}|{field}"):
        tiny(**{field: value})


def test_runner_threads_follow_the_cpu_reservation():
    assert runner_threads(tiny(num_cpus_per_env_runner=0.25).training) == 1
    assert runner_threads(tiny(num_cpus_per_env_runner=1).training) == 1
    assert runner_threads(tiny(num_cpus_per_env_runner=3).training) == 3


def test_learner_and_runner_threads_and_arenas_come_from_the_config(embedded_ray):
    """A remote runner with 1 CPU acts with 1 torch thread; the driver's learner with
    num_cpus_per_learner's threads (not torch's one-per-core default); the runner steps the derived
    arenas (256 configured, 400 / 30 = 13 used) and one iteration samples the batch."""
    from pe_rllib.training.algorithm import build_algorithm_config
    from pe_rllib.training.learner import on_learners

    before = torch.get_num_threads()
    experiment = tiny(num_env_runners=1, num_envs_per_env_runner=256, min_fragment_length=30, num_cpus_per_learner=2)
    algo = build_algorithm_config(experiment).build_algo()
    try:
        assert on_learners(algo.learner_group, lambda learner: learner.torch_threads()) == [2]
        assert algo.env_runner_group.foreach_env_runner(lambda runner: runner.torch_threads(),
                                                        local_env_runner=False) == [1]
        assert algo.env_runner_group.foreach_env_runner(lambda runner: runner.num_envs,
                                                        local_env_runner=False) == [13]
        result = algo.train()
        assert result["env_runners"]["num_env_steps_sampled"] == 13 * 31       # 31 steps per arena >= 30
    finally:
        algo.stop()
        torch.set_num_threads(before)


def test_an_acting_module_in_eval_mode_skips_rllibs_toggling_and_acts_the_same():
    """LearnedPPOModule: in eval mode (runners, inference) forward_* run without the per-call
    ``eval()`` walk and give RLlib's outputs; in training mode (the learner) RLlib's path runs and
    leaves the module in training mode."""
    from ray.rllib.algorithms.ppo.torch.default_ppo_torch_rl_module import DefaultPPOTorchRLModule
    from ray.rllib.core.columns import Columns

    from pe_rllib.policies.rl_module import LearnedPPOModule, learned_module_spec

    spec = learned_module_spec(load_experiment("quickstart"))
    ours = spec.build()
    assert isinstance(ours, LearnedPPOModule)
    reference = DefaultPPOTorchRLModule(observation_space=spec.observation_space, action_space=spec.action_space,
                                        model_config=spec.model_config)
    reference.load_state_dict(ours.state_dict())
    obs = torch.from_numpy(np.random.default_rng(0).normal(size=(5, spec.observation_space.shape[0])).astype("f4"))
    calls = []
    ours.eval()
    ours.train = lambda mode=True: calls.append(mode)               # would record RLlib's toggling
    for forward in ("forward_exploration", "forward_inference"):
        got = getattr(ours, forward)({Columns.OBS: obs})[Columns.ACTION_DIST_INPUTS]
        want = getattr(reference, forward)({Columns.OBS: obs})[Columns.ACTION_DIST_INPUTS]
        assert torch.equal(got, want)
    assert calls == []
    del ours.train
    ours.train()
    ours.forward_exploration({Columns.OBS: obs})
    assert ours.training


@pytest.mark.parametrize("distribution", ["gaussian", "squashed"])
@pytest.mark.parametrize("explore", [True, False])
def test_acting_through_the_flattened_actor_draws_the_same_actions_and_logp_as_rllibs_path(explore, distribution):
    """LearnedPPOModule.act (the batched sampler's per-step call) runs the actor's layers directly and
    samples the Gaussian itself: same dist inputs, same random draws, same log-probabilities as the
    module's forward plus RLlib's TorchDiagGaussian (or the squashed one), for weights changed after
    the first call too."""
    from pe_rllib.policies.rl_module import act_through_rllib, learned_module_spec

    experiment = load_experiment("quickstart")
    experiment = from_dict(ExperimentConfig, {**to_dict(experiment),
                                              "training": {**to_dict(experiment.training),
                                                           "action_distribution": distribution}})
    module = learned_module_spec(experiment).build()
    module.eval()
    obs = torch.from_numpy(np.random.default_rng(1).normal(size=(32, module.observation_space.shape[0])).astype("f4"))
    for _ in range(2):
        torch.manual_seed(7)
        fast = module.act(obs, explore)
        torch.manual_seed(7)
        slow = act_through_rllib(module, obs, explore)
        assert module.__dict__["_actor_path"], "the fast path was not taken"
        assert torch.equal(fast[0], slow[0]) and torch.equal(fast[2], slow[2])
        if explore:
            torch.testing.assert_close(fast[1], slow[1], rtol=0, atol=1e-6)
        else:
            assert fast[1] is None and slow[1] is None
        assert fast[3] is None and slow[3] is None                # a memoryless module has no state
        with torch.no_grad():                                   # a weight sync: copied in place
            for parameter in module.parameters():
                parameter.add_(0.05)


def test_a_module_in_training_mode_acts_through_rllibs_path():
    """The flattened actor is for acting in eval mode only; the learner's module (training mode) and any
    module whose shape it does not know take RLlib's path."""
    from pe_rllib.policies.rl_module import learned_module_spec

    module = learned_module_spec(load_experiment("quickstart")).build()
    module.train()
    obs = torch.zeros(3, module.observation_space.shape[0])
    actions, logp, inputs, state = module.act(obs, True)
    assert actions.shape == (3, 2) and logp.shape == (3,) and inputs.shape == (3, 4) and state is None
    assert "_actor_path" not in module.__dict__ and module.training


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (a GPU node); CI machines have none")
def test_the_gpu_learner_keeps_its_modules_on_cuda_and_trains(embedded_ray):
    """num_gpus_per_learner: 1 puts the driver's learner on the GPU (the device comes from the config)
    and an iteration there changes the training role's weights."""
    from pe_rllib.training.algorithm import build_algorithm_config
    from pe_rllib.training.learner import on_learners

    algo = build_algorithm_config(tiny(num_gpus_per_learner=1)).build_algo()
    try:
        assert on_learners(algo.learner_group, lambda learner: learner.device())[0].startswith("cuda")
        before = {k: np.array(v) for k, v in algo.learner_group.get_weights(module_ids=["evader"])["evader"].items()}
        algo.train()
        after = algo.learner_group.get_weights(module_ids=["evader"])["evader"]
        assert any(not np.array_equal(before[k], np.asarray(after[k])) for k in before)
    finally:
        algo.stop()
