"""The optional mechanisms of issue 25: the RND exploration bonus and EWC."""

from __future__ import annotations

import numpy as np
import pytest
from test_training import TINY

from pe_rllib.config import ConfigError, ExperimentConfig, from_dict
from pe_rllib.config.mechanisms import RNDConfig
from pe_rllib.training.rnd import RandomNetworkDistillation, RunningMoments


def _observations(rng: np.random.Generator, n: int, shift: float = 0.0) -> np.ndarray:
    return rng.normal(shift, 1.0, size=(n, 8))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_rnd_bonus_falls_on_repeated_observations_and_stays_on_novel_ones(seed):
    """Statistics from the whole observation space, then the predictor trains on one tight cluster of it: the
    error there collapses (measured: to under 1 %), while elsewhere it keeps most of its size (30-50 %;
    what it loses is the predictor generalising from the cluster), so novel states earn 30-60x the bonus."""
    rng = np.random.default_rng(seed)
    rnd = RandomNetworkDistillation(RNDConfig(roles=("evader",), predictor_epochs=40, predictor_minibatch=128,
                                              lr=1e-3), obs_dim=8, seed=seed)
    rnd.bonus(_observations(rng, 2048))                       # the running statistics: the whole space
    familiar = _observations(rng, 1) + rng.normal(0.0, 0.2, size=(256, 8))
    novel = _observations(rng, 256)
    familiar_before, novel_before = rnd.bonus(familiar, False).mean(), rnd.bonus(novel, False).mean()
    rnd.train_predictor(familiar, rng)
    familiar_after, novel_after = rnd.bonus(familiar, False).mean(), rnd.bonus(novel, False).mean()
    assert familiar_after < 0.05 * familiar_before
    assert novel_after > 0.2 * novel_before
    assert novel_after > 15 * familiar_after


def test_running_moments_match_the_whole_sample():
    rng = np.random.default_rng(3)
    data = rng.normal(2.0, 3.0, size=(1000, 4))
    moments = RunningMoments((4,))
    for chunk in np.array_split(data, 7):
        moments.update(chunk)
    np.testing.assert_allclose(moments.mean, data.mean(0), rtol=1e-10)
    np.testing.assert_allclose(moments.var, data.var(0), rtol=1e-10)


def test_an_rnd_state_restores_exactly_including_the_predictors_adam_moments():
    rng = np.random.default_rng(0)
    config = RNDConfig(roles=("evader",), predictor_minibatch=32)
    obs = _observations(rng, 256)
    original = RandomNetworkDistillation(config, obs_dim=8, seed=5)
    original.bonus(obs)
    original.train_predictor(obs, np.random.default_rng(1))
    restored = RandomNetworkDistillation(config, obs_dim=8, seed=99)           # different networks until loaded
    restored.set_state(original.get_state())
    np.testing.assert_array_equal(restored.errors(obs), original.errors(obs))
    # One more identical training pass moves both identically: the optimiser's moments came back too.
    original.train_predictor(obs, np.random.default_rng(2))
    restored.train_predictor(obs, np.random.default_rng(2))
    np.testing.assert_array_equal(restored.errors(obs), original.errors(obs))


def test_the_bonus_of_a_step_is_that_of_its_next_observation_even_in_read_only_episodes():
    """Episodes from remote runners arrive with read-only arrays (Ray's zero-copy object store): the bonus
    still joins their rewards, step ``t`` getting observation ``t + 1``'s, and only the named module's."""
    from ray.rllib.env.single_agent_episode import SingleAgentEpisode

    from pe_rllib.training.rnd import add_bonus

    rng = np.random.default_rng(0)

    def episode(module_id: str) -> SingleAgentEpisode:
        chunk = SingleAgentEpisode(observations=list(rng.normal(size=(6, 8))), actions=[0] * 5,
                                   rewards=[1.0] * 5, module_id=module_id, len_lookback_buffer=0)
        chunk.to_numpy()
        chunk.rewards.data.flags.writeable = False
        return chunk

    evader, pursuer = episode("evader"), episode("pursuer")
    rnd = RandomNetworkDistillation(RNDConfig(roles=("evader",)), obs_dim=8, seed=0)
    reference = RandomNetworkDistillation(RNDConfig(roles=("evader",)), obs_dim=8, seed=0)
    expected = reference.bonus(evader.get_observations()[1:])
    figures = add_bonus([evader, pursuer], {"evader": rnd}, 0.5, rng)
    np.testing.assert_allclose(evader.get_rewards(), 1.0 + 0.5 * expected)
    np.testing.assert_array_equal(pursuer.get_rewards(), np.ones(5))
    assert figures["evader"]["rnd_bonus"] == pytest.approx(expected.mean())
    assert figures["evader"]["rnd_extrinsic_reward"] == pytest.approx(1.0)


@pytest.mark.parametrize("overrides, message", [
    ({"exploration": {"rnd": {"roles": ["referee"]}}}, "exploration.rnd.roles: every entry must be one of"),
    ({"exploration": {"rnd": {"roles": ["evader"], "lr": 0}}}, "exploration.rnd.lr: must be > 0"),
    ({"exploration": {"rnd": {"roles": ["evader"]}}, "training": {"sampler": "rllib"}},
     "exploration.rnd.roles: needs training.sampler: batched"),
    ({"regularization": {"ewc": {"roles": ["evader"]}}},
     "regularization.ewc.trigger: 'level_up' needs curriculum.enabled"),
])
def test_bad_mechanism_settings_are_one_line_errors(overrides, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        from_dict(ExperimentConfig, overrides)


def _restored_learner_state(experiment: ExperimentConfig, checkpoint, getter: str) -> dict:
    """A fresh algorithm's learner state ``getter`` after restoring ``checkpoint`` (as ``--resume`` does)."""
    from pe_rllib.training.algorithm import build_algorithm_config
    from pe_rllib.training.learner import on_learners

    algo = build_algorithm_config(experiment).build_algo()
    try:
        algo.restore_from_path(str(checkpoint.resolve()))
        return on_learners(algo.learner_group, lambda learner: getattr(learner, getter)())[0]
    finally:
        algo.stop()


def _rnd_experiment(**rnd) -> ExperimentConfig:
    return from_dict(ExperimentConfig, {**TINY, "exploration": {"rnd": {"roles": ["evader"], "coeff": 0.5, **rnd}}})


def test_rnd_trains_in_the_learner_only_and_its_state_survives_a_checkpoint(embedded_ray, tmp_path):
    """An iteration that trains the evader adds the bonus there and trains its predictor; the runners'
    reported rates are the world's; a checkpoint restores the predictor, its optimiser and its statistics."""
    from pe_rllib.training.algorithm import build_algorithm_config
    from pe_rllib.training.learner import on_learners

    experiment = _rnd_experiment()
    algo = build_algorithm_config(experiment).build_algo()
    try:
        initial = on_learners(algo.learner_group, lambda learner: learner.rnd_state())[0]["evader"]
        result = algo.train()                            # the cold start: the evader trains
        stats = result["learners"]["evader"]
        assert stats["rnd_bonus"] > 0 and np.isfinite(stats["rnd_predictor_loss"])
        assert "rnd_bonus" not in result["learners"].get("pursuer", {})
        assert result["pe"]["rnd_bonus_evader"] == pytest.approx(stats["rnd_bonus"])      # the progress row
        trained = on_learners(algo.learner_group, lambda learner: learner.rnd_state())[0]["evader"]
        assert trained["obs_moments"]["count"] > 0
        assert not np.array_equal(trained["predictor"]["0.weight"], initial["predictor"]["0.weight"])
        np.testing.assert_array_equal(trained["target"]["0.weight"], initial["target"]["0.weight"])
        algo.save_checkpoint(str(tmp_path / "ckpt"))
    finally:
        algo.stop()
    restored = _restored_learner_state(experiment, tmp_path / "ckpt", "rnd_state")["evader"]
    for part in ("predictor", "target"):
        for name, value in trained[part].items():
            np.testing.assert_array_equal(restored[part][name], value)
    for i, avg in enumerate(trained["adam"]["exp_avg"]):
        np.testing.assert_array_equal(restored["adam"]["exp_avg"][i], avg)
    assert restored["error_moments"] == pytest.approx(trained["error_moments"])


def test_a_best_response_trains_without_the_exploited_runs_mechanisms():
    from pe_rllib.training.exploit import exploit_experiment

    experiment = _rnd_experiment()
    best_response = exploit_experiment(experiment, "/nonexistent/iter_000004", "pursuer", budget=800)
    assert not best_response.exploration.rnd.enabled and not best_response.regularization.ewc.enabled


def _ewc_module():
    from pe_rllib.policies.rl_module import learned_module_spec

    return learned_module_spec(from_dict(ExperimentConfig, TINY)).build()


def test_the_ewc_penalty_is_zero_at_the_anchor_and_its_gradient_is_two_lambda_f_times_the_offset():
    import torch

    from pe_rllib.training.ewc import ElasticWeightConsolidation

    torch.manual_seed(0)
    module = _ewc_module()
    obs = np.random.default_rng(0).normal(size=(64, module.observation_space.shape[0]))
    ewc = ElasticWeightConsolidation(lambda_=1000.0)
    assert ewc.penalty(module) is None
    ewc.consolidate(module, obs)
    assert ewc.penalty(module).item() == 0.0
    policy = [name for name, value in ewc.fisher.items() if value.abs().sum() > 0]
    assert policy and all(not name.startswith("vf") and "critic" not in name for name in policy)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.01 * torch.randn_like(p))
    module.zero_grad()
    penalty = ewc.penalty(module)
    penalty.backward()
    assert penalty.item() > 0
    for name, p in module.named_parameters():
        expected = 2 * 1000.0 * ewc.fisher[name] * (p.detach() - ewc.anchor[name])
        torch.testing.assert_close(p.grad, expected, rtol=1e-5, atol=1e-9)


def test_ewc_sums_the_fisher_of_successive_consolidations_and_restores_exactly():
    from pe_rllib.training.ewc import ElasticWeightConsolidation

    module = _ewc_module()
    obs = np.random.default_rng(1).normal(size=(32, module.observation_space.shape[0]))
    ewc = ElasticWeightConsolidation(lambda_=10.0)
    ewc.consolidate(module, obs)
    first = {k: v.clone() for k, v in ewc.fisher.items()}
    ewc.consolidate(module, obs)
    assert ewc.consolidations == 2
    assert all(float((ewc.fisher[k] - first[k]).min()) >= 0 for k in first)
    restored = ElasticWeightConsolidation(lambda_=10.0)
    restored.set_state(ewc.get_state())
    assert restored.consolidations == 2
    for name in ewc.fisher:
        np.testing.assert_array_equal(restored.fisher[name].numpy(), ewc.fisher[name].numpy())
        np.testing.assert_array_equal(restored.anchor[name].numpy(), ewc.anchor[name].numpy())


def test_ewc_consolidates_at_a_phase_end_penalises_later_training_and_survives_a_checkpoint(embedded_ray, tmp_path):
    """``trigger: phase_end``: the evader's cold-start phase ends after iteration 1, it consolidates, and when it
    trains again (iteration 3) its loss carries the penalty; a checkpoint brings the anchor and Fisher back."""
    from pe_rllib.training.algorithm import build_algorithm_config
    from pe_rllib.training.learner import on_learners

    experiment = from_dict(ExperimentConfig, {**TINY, "regularization": {"ewc": {
        "roles": ["evader"], "trigger": "phase_end", "fisher_samples": 32}}})
    algo = build_algorithm_config(experiment).build_algo()
    try:
        results = [algo.train() for _ in range(3)]      # evader, pursuer, evader (TINY's schedule)
        assert "ewc_penalty" not in results[0]["learners"]["evader"]
        assert results[2]["learners"]["evader"]["ewc_penalty"] > 0
        assert results[2]["pe"]["ewc_penalty_evader"] > 0
        state = on_learners(algo.learner_group, lambda learner: learner.ewc_state())[0]["evader"]
        assert state["consolidations"] == 1
        algo.save_checkpoint(str(tmp_path / "ckpt"))
    finally:
        algo.stop()
    restored = _restored_learner_state(experiment, tmp_path / "ckpt", "ewc_state")["evader"]
    assert restored["consolidations"] == 1
    for part in ("anchor", "fisher"):
        for name, value in state[part].items():
            np.testing.assert_array_equal(restored[part][name], value)
