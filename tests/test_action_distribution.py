"""training.action_distribution: what clipping RLlib's Gaussian costs, and the squashed Gaussian that avoids it."""

import math

import numpy as np
import pytest
import torch
from ray.rllib.core.distribution.torch.torch_distribution import TorchDiagGaussian
from test_scaling import tiny

from pe_rllib.config import ConfigError
from pe_rllib.policies.rl_module import SquashedDiagGaussian, env_actions, learned_module_spec


def clipped_probabilities(loc: float, std: float) -> tuple[float, float]:
    """P(action clipped to -1), P(action clipped to +1) of a Gaussian whose samples the env clips to [-1, 1]."""
    normal = torch.distributions.Normal(torch.tensor(loc), torch.tensor(std))
    return float(normal.cdf(torch.tensor(-1.0))), float(1 - normal.cdf(torch.tensor(1.0)))


def test_rllibs_gaussian_gains_entropy_for_free_by_scaling_mean_and_std_beyond_the_box():
    """The defect the bounded distribution removes: with the mean 13 (as converge.yaml's pursuer learned),
    scaling mean and std together keeps the clipped actions' distribution to within 2 % while the
    Gaussian's entropy (what the bonus pays) keeps rising."""
    entropies, clipped = [], []
    for scale in (1.0, 4.0, 16.0):
        logits = torch.tensor([[13.0 * scale, math.log(17.0 * scale)]])
        entropies.append(float(TorchDiagGaussian.from_logits(logits).entropy()))
        clipped.append(clipped_probabilities(13.0 * scale, 17.0 * scale))
    assert entropies[0] < entropies[1] < entropies[2]
    assert np.allclose(clipped, clipped[0], atol=0.02)


def squashed_entropy_monte_carlo(loc: float, std: float, draws: int = 200_000) -> float:
    """-E[log p(a)] of a = tanh(u), u ~ N(loc, std), by change of variables (independent of the class)."""
    generator = torch.Generator().manual_seed(0)
    u = loc + std * torch.randn(draws, generator=generator, dtype=torch.float64)
    log_p_u = torch.distributions.Normal(torch.tensor(loc, dtype=torch.float64), std).log_prob(u)
    log_sech2 = 2 * (math.log(2.0) - u.abs() - torch.log1p(torch.exp(-2 * u.abs())))    # log(1 - tanh(u)^2)
    return float(-(log_p_u - log_sech2).mean())


def test_the_squashed_gaussian_sends_tanh_of_its_samples_and_scores_them_as_rllibs_gaussian():
    logits = torch.from_numpy(np.random.default_rng(0).normal(scale=2.0, size=(4096, 4)).astype("f4"))
    dist = SquashedDiagGaussian.from_logits(logits)
    gaussian = TorchDiagGaussian.from_logits(logits)
    u = dist.sample()
    assert u.abs().max() > 1.0                                          # stored pre-squash: unbounded
    torch.testing.assert_close(env_actions(SquashedDiagGaussian, u), torch.tanh(u))
    torch.testing.assert_close(env_actions(TorchDiagGaussian, u), u.clamp(-1, 1))
    torch.testing.assert_close(dist.logp(u), gaussian.logp(u))          # PPO's ratio and KL as in u
    torch.testing.assert_close(dist.kl(gaussian), torch.zeros(4096), atol=1e-6, rtol=0)
    torch.testing.assert_close(env_actions(SquashedDiagGaussian, dist.to_deterministic().sample()),
                               torch.tanh(logits[:, :2]))


@pytest.mark.parametrize(("loc", "std"), [(0.0, 1.0), (1.5, 0.3), (4.0, 2.0)])
def test_the_squashed_entropy_estimate_is_the_entropy_of_the_squashed_action(loc, std):
    logits = torch.tensor([[loc, math.log(std)]]).repeat(100_000, 1)
    torch.manual_seed(0)
    estimate = float(SquashedDiagGaussian.from_logits(logits).entropy().mean())
    assert estimate == pytest.approx(squashed_entropy_monte_carlo(loc, std), abs=0.02)


def test_the_squashed_entropy_falls_along_the_direction_in_which_the_clipped_gaussians_rises():
    """The bonus no longer pays for pushing mean and spread outward: the squashed actions pile up at the bound."""
    entropies = [squashed_entropy_monte_carlo(13.0 * scale, 17.0 * scale) for scale in (1.0, 4.0, 16.0)]
    assert entropies[0] > entropies[1] > entropies[2]


def test_exploring_at_the_top_speed_costs_speed_when_clipped_and_almost_none_when_squashed():
    """The mean env action of a speed command with noise: clipped at mean 1 and std 0.3 (the box's edge)
    it averages 0.88 (6 % below the top speed), squashed at u-mean 3 with the same relative spread above 0.99."""
    generator = torch.Generator().manual_seed(0)
    noise = torch.randn(100_000, generator=generator)
    clipped = env_actions(TorchDiagGaussian, 1.0 + 0.3 * noise).mean()
    squashed = env_actions(SquashedDiagGaussian, 3.0 + 0.3 * noise).mean()
    assert float(clipped) == pytest.approx(1 - 0.3 / math.sqrt(2 * math.pi), abs=0.005)
    assert float(squashed) > 0.99


def test_the_module_uses_the_configured_distribution_for_exploring_training_and_inference():
    gaussian = learned_module_spec(tiny()).build()
    squashed = learned_module_spec(tiny(action_distribution="squashed")).build()
    for getter in ("get_exploration_action_dist_cls", "get_train_action_dist_cls", "get_inference_action_dist_cls"):
        assert getattr(gaussian, getter)() is TorchDiagGaussian
        assert getattr(squashed, getter)() is SquashedDiagGaussian


def test_bad_action_distribution_settings_are_refused_naming_the_field():
    with pytest.raises(ConfigError, match="action_distribution: must be one of gaussian, squashed"):
        tiny(action_distribution="beta")
    with pytest.raises(ConfigError, match="action_distribution: squashed needs sampler: batched"):
        tiny(action_distribution="squashed", sampler="rllib")


def test_the_batched_runner_stores_the_sample_and_steps_the_env_with_its_tanh(embedded_ray):
    """The learner gets the pre-squash sample (with its logp); the env gets tanh of it; a frozen
    deterministic module plays tanh of its mean."""
    from test_batched_runner import N, batched

    from pe_rllib.training.algorithm import build_algorithm_config
    from pe_rllib.training.batched_runner import BatchedSelfPlayRunner

    runner = BatchedSelfPlayRunner(config=build_algorithm_config(
        batched(action_distribution="squashed", deterministic_modules=["evader"])))
    try:
        assert len(runner.sample(num_timesteps=10 * N)) > 0        # both roles played by their learned modules
        obs = np.random.default_rng(0).normal(size=(N, runner.module["pursuer"].observation_space.shape[0]))
        actions, to_env, logp, inputs = runner._act("pursuer", obs.astype("f4"), True)
        assert np.abs(actions).max() > 1.0
        np.testing.assert_allclose(to_env, np.tanh(actions), atol=1e-6)
        expected = SquashedDiagGaussian.from_logits(torch.from_numpy(inputs)).logp(torch.from_numpy(actions))
        np.testing.assert_allclose(logp, expected.numpy(), atol=1e-5)
        actions, to_env, _, inputs = runner._act("evader", obs.astype("f4"), True)
        np.testing.assert_allclose(to_env, np.tanh(inputs[:, :2]), atol=1e-6)
    finally:
        runner.stop()


def test_a_squashed_run_trains_through_the_learner_and_its_policy_acts_with_tanh_of_its_mean(embedded_ray, tmp_path):
    """A real 3-iteration run: the learner's loss uses the squashed distribution, the evader's weights
    change between its iterations 1 and 3, and the saved policy (loaded data-only) plays tanh of the
    head's mean."""
    from pe_rllib.config import ExperimentConfig, from_dict, to_dict
    from pe_rllib.policies.inference import load_policy
    from pe_rllib.training.run import train

    experiment = tiny(action_distribution="squashed")
    experiment = from_dict(ExperimentConfig, {**to_dict(experiment),
                                              "training": {**to_dict(experiment.training), "stop_iterations": 3}})
    train(experiment, output=tmp_path / "run", dashboard=False)
    checkpoints = tmp_path / "run" / "checkpoints"
    first, last = (load_policy(checkpoints / name, "evader") for name in ("iter_000001", "iter_000003"))
    assert first.module.get_train_action_dist_cls() is SquashedDiagGaussian
    assert any(not torch.equal(a, b) for a, b in zip(first.module.parameters(), last.module.parameters()))
    obs = np.random.default_rng(0).normal(scale=3.0, size=(64, last.module.observation_space.shape[0])).astype("f4")
    with torch.no_grad():
        head = last.module.forward_inference({"obs": torch.from_numpy(obs)})["action_dist_inputs"]
    np.testing.assert_allclose(last.act(obs), torch.tanh(head[:, :2]).numpy(), atol=1e-6)
