"""The safety QP as a differentiable layer (issue 25): exact forward value, every constraint row satisfied,
and the gradient of the piecewise-affine solution map against finite differences away from switches."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from pe_rllib.config import SafetyConfig
from pe_rllib.safety.layer import active_rows, safe_action_layer
from pe_rllib.safety.qp import solve_qp

LOW, HIGH = np.array([0.0, -2.0]), np.array([1.0, 2.0])
WEIGHTS = (1.0, 0.2)


def _problems(n: int, k: int = 3, seed: int = 0):
    """Random hazard half-planes that the box's centre satisfies (so most problems are feasible) and nominal
    actions spread beyond the box."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, k, 2))
    centre = (LOW + HIGH) / 2
    b = np.einsum("nki,i->nk", a, centre) - rng.uniform(0.0, 1.0, size=(n, k))
    u0 = rng.uniform(LOW - 0.5, HIGH + 0.5, size=(n, 2))
    return a, b, u0


def test_the_layer_returns_the_exact_solution_and_every_row_holds():
    a, b, u0 = _problems(4000)
    out, feasible = safe_action_layer(torch.as_tensor(u0), a, b, LOW, HIGH, WEIGHTS)
    exact, _ = solve_qp(a, b, u0, LOW, HIGH, WEIGHTS)
    u = out.detach().numpy()
    assert feasible.mean() > 0.99
    np.testing.assert_allclose(u[feasible], exact[feasible], atol=1e-9)
    assert np.all(np.einsum("nki,ni->nk", a, u)[feasible] >= b[feasible] - 1e-7)
    assert np.all(u[feasible] >= LOW - 1e-9) and np.all(u[feasible] <= HIGH + 1e-9)
    counts = active_rows(a, b, exact, LOW, HIGH)[feasible].sum(axis=1)
    assert min((counts == c).sum() for c in (0, 1, 2)) > 200      # every branch of the map is exercised


def test_the_layers_gradient_matches_finite_differences_away_from_active_set_switches():
    a, b, u0 = _problems(1500, seed=1)
    x = torch.tensor(u0, requires_grad=True)
    out, feasible = safe_action_layer(x, a, b, LOW, HIGH, WEIGHTS)
    jacobian = np.stack([torch.autograd.grad(out[:, i].sum(), x, retain_graph=True)[0].numpy() for i in range(2)],
                        axis=1)                                            # [N, out, in]
    eps = 1e-6
    base = active_rows(a, b, solve_qp(a, b, u0, LOW, HIGH, WEIGHTS)[0], LOW, HIGH)
    numeric = np.zeros_like(jacobian)
    stable = feasible.copy()
    for j in range(2):
        step = np.zeros(2)
        step[j] = eps
        plus, _ = solve_qp(a, b, u0 + step, LOW, HIGH, WEIGHTS)
        minus, _ = solve_qp(a, b, u0 - step, LOW, HIGH, WEIGHTS)
        numeric[:, :, j] = (plus - minus) / (2 * eps)
        stable &= np.all(active_rows(a, b, plus, LOW, HIGH) == base, axis=1)
        stable &= np.all(active_rows(a, b, minus, LOW, HIGH) == base, axis=1)
    assert stable.mean() > 0.95
    np.testing.assert_allclose(jacobian[stable], numeric[stable], atol=1e-5)
    counts = base[stable].sum(axis=1)
    assert np.allclose(jacobian[stable][counts == 0], np.eye(2))            # untouched: the identity
    assert np.allclose(jacobian[stable][counts == 2], 0.0)                  # a vertex does not move


def _layer_experiment(**env):
    from test_training import TINY

    from pe_rllib.config import ExperimentConfig, from_dict

    return from_dict(ExperimentConfig, {**TINY, "env": {**TINY["env"], **env}, "safety": {"mode": "layer"}})


def _world_states(experiment, n: int = 256, steps: int = 30, seed: int = 0):
    """Observations and world states of ``n`` arenas after random play (robots near walls and obstacles)."""
    from pe_rllib.safety import make_batched_env

    env = make_batched_env(n, experiment)
    rng = np.random.default_rng(seed)
    obs = env.reset(seed=seed)
    for _ in range(steps):
        obs, *_ = env.step({role: rng.uniform(-1, 1, size=(n, 2)).astype(np.float32) for role in ("pursuer", "evader")})
    return env, obs


def test_the_layer_rebuilds_the_filters_constraints_from_the_observation():
    from pe_rllib.safety.filter import SafetyFilter
    from pe_rllib.safety.layer import constraints_from_observation

    experiment = _layer_experiment(n_obstacles=4)
    env, obs = _world_states(experiment)
    world = env.world_state()
    for i, role in enumerate(("pursuer", "evader")):
        a_true, b_true = SafetyFilter(experiment, role).constraints(world.pose[:, i], world.obstacles)
        a, b = constraints_from_observation(experiment.env, experiment.safety, obs[role])
        mine, theirs = np.argsort(b, axis=1), np.argsort(b_true, axis=1)      # obstacles come nearest-first
        rows = np.arange(len(b))[:, None]
        np.testing.assert_allclose(b[rows, mine], b_true[rows, theirs], rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(a[rows, mine], a_true[rows, theirs], rtol=1e-4, atol=1e-5)


def test_a_layer_policys_mean_action_passes_the_env_filter_untouched():
    """A layer-mode module whose network asks for full speed ahead everywhere (so its nominal mean often heads
    into walls and obstacles): its deterministic actions need no correction from the env-side filter."""
    import torch

    from pe_rllib.policies.rl_module import learned_module_spec
    from pe_rllib.safety.filter import SafetyFilter

    experiment = _layer_experiment(n_obstacles=4)
    env, obs = _world_states(experiment, n=2048, seed=3)
    world = env.world_state()
    torch.manual_seed(0)
    plain = learned_module_spec(dataclasses.replace(experiment, safety=SafetyConfig()), "pursuer").build()
    with torch.no_grad():
        plain.pi.net.mlp[-1].bias[0] += 3.0                         # the mean speed action saturates at 1
    layered = learned_module_spec(experiment, "pursuer").build()
    layered.load_state_dict(plain.state_dict())
    x = torch.as_tensor(obs["pursuer"])
    with torch.no_grad():
        nominal = plain.forward_inference({"obs": x})["action_dist_inputs"][:, :2].clamp(-1, 1).numpy()
        safe = layered.forward_inference({"obs": x})["action_dist_inputs"][:, :2].numpy()
    flt = SafetyFilter(experiment, "pursuer")

    def physical(actions):
        return flt.low + (actions.astype(np.float64) + 1) / 2 * (flt.high - flt.low)

    _, before = flt.filter(world.pose[:, 0], physical(nominal), world.obstacles)
    _, after = flt.filter(world.pose[:, 0], physical(safe), world.obstacles)
    assert before["intervened"].sum() >= 20                         # the unconstrained policy needed the filter
    assert np.max(after["correction"]) <= 1e-6 and not after["intervened"].any()


def test_a_layer_run_trains_through_the_qp_and_its_saved_policies_keep_the_layer(embedded_ray, tmp_path):
    """Two iterations train in ``safety.mode: layer`` (the env filter's intervention rate reported each
    iteration), and the run's saved policies are rebuilt with the layer: their mean actions pass the env filter
    untouched."""
    from pe_rllib.policies import load_policy
    from pe_rllib.safety.filter import SafetyFilter
    from pe_rllib.training.run import train

    experiment = dataclasses.replace(_layer_experiment(n_obstacles=4), training=dataclasses.replace(
        _layer_experiment().training, stop_iterations=2))
    reports = []
    train(experiment, output=tmp_path / "run", dashboard=False, on_iteration=reports.append)
    assert len(reports) == 2 and all(np.isfinite(r.figures["intervention_rate"]) for r in reports)
    policy = load_policy(tmp_path / "run", "evader")
    assert policy.module.safety_layer is not None
    env, obs = _world_states(experiment, n=512, seed=4)
    world = env.world_state()
    flt = SafetyFilter(experiment, "evader")
    actions = policy.act(obs["evader"]).astype(np.float64)
    _, info = flt.filter(world.pose[:, 1], flt.low + (actions + 1) / 2 * (flt.high - flt.low), world.obstacles)
    assert not info["intervened"].any()


def test_a_layer_run_plays_with_the_env_filter_off_and_the_layer_alone_keeps_it_off_the_obstacles():
    """``--safety off`` on a layer run (``safety.enabled: false``) is accepted, its modules keep the layer, and
    on the unfiltered world their full-speed-ahead mean actions collide a small fraction as often as the same
    network without the layer (the layer sees only the observed obstacles, so not never)."""
    import torch

    from pe_rllib.config import experiment_with
    from pe_rllib.policies.rl_module import learned_module_spec
    from pe_rllib.safety import make_batched_env

    off = experiment_with(_layer_experiment(n_obstacles=4), {"safety.enabled": False})
    assert off.safety.mode == "layer" and not off.safety.enabled
    torch.manual_seed(0)
    plain = learned_module_spec(dataclasses.replace(off, safety=SafetyConfig(enabled=False)), "pursuer").build()
    with torch.no_grad():
        plain.pi.net.mlp[-1].bias[0] += 3.0                         # the mean speed action saturates at 1
    layered = learned_module_spec(off, "pursuer").build()
    layered.load_state_dict(plain.state_dict())
    collisions = {}
    for name, module in (("plain", plain), ("layer", layered)):
        env = make_batched_env(512, off)
        assert not hasattr(env, "filters")                          # no env-side filter
        obs, collisions[name] = env.reset(seed=1), 0
        for _ in range(100):
            with torch.no_grad():
                out = module.forward_inference({"obs": torch.as_tensor(obs["pursuer"])})["action_dist_inputs"]
            action = out[:, :2].clamp(-1, 1).numpy()
            obs, _, _, _, infos = env.step({"pursuer": action, "evader": np.zeros_like(action)})
            collisions[name] += int(infos["pursuer"]["collision"].sum())
    assert collisions["plain"] >= 50
    assert collisions["layer"] <= collisions["plain"] / 20
