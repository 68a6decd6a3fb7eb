"""Training changes behaviour: a short quickstart-world run beats random play (weaker bar than BENCHMARKS.md).

The full quickstart figures (200 iterations, 300 evaluation episodes) are in
BENCHMARKS.md; this test trains 52 iterations (about 20 s with the batched sampler): the
pursuer for 40 (against the untrained, random evader), then the evader for 12 against
that frozen pursuer, and compares each trained role with the untrained one in the same
evaluation. RLlib training is not bit-reproducible across runs (observed with the batched
sampler: the pursuer's capture rate after 16 iterations ranged 0.12-0.30 against a 0.05
random baseline; 40 iterations leave a wider margin), so the bars sit well inside that
spread and still many standard errors (~0.02 at 300 episodes) above the baselines.
"""

import pytest

from pe_rllib.config import load_experiment
from pe_rllib.evaluation import evaluate
from pe_rllib.policies import load_policy, make_scripted
from pe_rllib.safety import make_batched_env

QUICKSTART = "quickstart"
EPISODES = 300


@pytest.fixture(scope="module")
def run(tmp_path_factory, embedded_ray):
    from pe_rllib.training.run import train

    experiment = load_experiment(QUICKSTART, {
        "selfplay.first_role": "pursuer", "selfplay.cold_start_iterations": 40,
        "selfplay.warmup_phase_lengths": [], "selfplay.phase_length": 12,
        "training.stop_iterations": 52, "training.keep_checkpoints": 60, "evaluation.every": 0})
    run_dir = tmp_path_factory.mktemp("learning") / "run"
    train(experiment, output=run_dir, dashboard=False)
    return run_dir, experiment


def _play(experiment, pursuer, evader):
    return evaluate(experiment.env, pursuer, evader, EPISODES, seed=123,
                    make_env=lambda n: make_batched_env(n, experiment))


def test_trained_pursuer_beats_random_pursuer(run):
    run_dir, experiment = run
    trained = load_policy(run_dir / "checkpoints" / "iter_000040", "pursuer")
    random_evader = make_scripted("random", "evader", experiment.env, seed=7)
    random_pursuer = make_scripted("random", "pursuer", experiment.env, seed=8)
    learned = _play(experiment, trained, random_evader).capture_rate
    baseline = _play(experiment, random_pursuer, random_evader).capture_rate
    print(f"capture vs random evader: trained {learned:.3f}, random pursuer {baseline:.3f}")
    assert learned >= max(baseline + 0.08, 2 * baseline), (learned, baseline)


def test_evader_training_raises_its_escape_rate(run):
    run_dir, experiment = run
    pursuer = load_policy(run_dir / "checkpoints" / "iter_000052", "pursuer")
    untrained = load_policy(run_dir / "checkpoints" / "iter_000040", "evader")   # frozen since init
    trained = load_policy(run_dir / "checkpoints" / "iter_000052", "evader")
    before = _play(experiment, pursuer, untrained).escape_rate
    after = _play(experiment, pursuer, trained).escape_rate
    print(f"escape vs trained pursuer: trained evader {after:.3f}, untrained {before:.3f}")
    assert after >= before + 0.1, (before, after)
