"""Issue 25: RND on the evader and EWC at curriculum level-ups, against the same runs without them.

    python benchmarks/mechanisms.py [--config curriculum] [--variants base rnd ewc] [--seeds 0 1 2]
                                    [--iterations 200] [--rl-budget 200000] [--episodes 1000]
                                    [--out-dir DIR] [--name mechanisms]

Each variant trains ``--config`` (default the bundled ``curriculum.yaml``) on the same seeds and budget:

* ``base``: the config as it is;
* ``rnd``: plus ``exploration.rnd`` on the evader (coefficient 0.1, the predecessor's);
* ``ewc``: plus ``regularization.ewc`` on both roles at each curriculum level-up (lambda 1000, the
  predecessor's).

Then each run's final checkpoint is judged by the yardstick: per role the searched best response and an RL
best response warm-started from the trained role (``rl-trained``, ``--rl-budget`` env steps), the strongest
gap of the two with its 95 % interval, and the role's scripted shortfall (the best scripted policy of the
role minus the trained role, against the same trained opponent), ``--episodes`` deterministic episodes each.

Results: benchmarks/results/NAME.json and BENCHMARKS.md ("RND and EWC", issue 25).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common import save

from pe_rllib.config import ROLES, ExperimentConfig, load_experiment

VARIANTS = {
    "base": {},
    "rnd": {"exploration.rnd.roles": ["evader"], "exploration.rnd.coeff": 0.1},
    "ewc": {"regularization.ewc.roles": ["pursuer", "evader"], "regularization.ewc.lambda_": 1000.0,
            "regularization.ewc.trigger": "level_up"},
}
"""The compared runs, as dotted overrides of the config."""


def variant_experiment(config: str, variant: str, iterations: int, seed: int) -> ExperimentConfig:
    return load_experiment(config, {"training.stop_iterations": iterations, "training.seed": seed,
                                    **VARIANTS[variant]})


def judge(run_dir: Path, role: str, rl_budget: int, episodes: int,
          methods: tuple[str, ...] = ("search", "rl-trained")) -> dict:
    """The role's strongest best-response gap over ``methods`` (search, warm-started RL) and its worst scripted
    shortfall."""
    from pe_rllib.training.exploit import exploit

    summary = exploit(run_dir, role, methods=methods, budget=rl_budget, episodes=episodes,
                      dashboard=False).summary()
    scripted = summary["best_scripted"]
    return {"trained": summary["trained"], "strongest": summary["method"], "gap": round(summary["gap"], 4),
            "gap_ci95": [round(x, 4) for x in summary["gap_ci95"]],
            "methods": {name: {"gap": round(m["gap"], 4), "best_response": m["best_response"]}
                        for name, m in summary["methods"].items()},
            "best_scripted": scripted["name"], "shortfall": round(scripted["gap"], 4),
            "shortfall_ci95": [round(x, 4) for x in scripted["ci95"]]}


def main() -> None:
    from pe_rllib.training.run import train

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="curriculum")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--rl-budget", type=int, default=200_000)
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--out-dir", type=Path, default=None)
    parser.add_argument("--name", default="mechanisms")
    args = parser.parse_args()
    out_dir = args.out_dir or Path(tempfile.mkdtemp(prefix="mechanisms_"))
    rows = []
    for seed in args.seeds:
        for variant in args.variants:
            run_dir = out_dir / f"{variant}_s{seed}"
            start = time.perf_counter()
            if not (run_dir / "experiment.yaml").exists():
                train(variant_experiment(args.config, variant, args.iterations, seed), output=run_dir,
                      dashboard=False)
            trained_s = time.perf_counter() - start
            row = {"variant": variant, "seed": seed, "iterations": args.iterations, "train_s": round(trained_s, 1),
                   "run_dir": str(run_dir)}
            for role in ROLES:
                row[role] = judge(run_dir, role, args.rl_budget, args.episodes)
            row["wall_s"] = round(time.perf_counter() - start, 1)
            rows.append(row)
            print(f"seed {seed} {variant:>4}: " + "  ".join(
                f"{role} gap {row[role]['gap']:+.3f} [{row[role]['gap_ci95'][0]:+.3f}, {row[role]['gap_ci95'][1]:+.3f}]"
                f" ({row[role]['strongest']}), shortfall {row[role]['shortfall']:+.3f} vs {row[role]['best_scripted']}"
                for role in ROLES) + f"  ({row['wall_s']} s)", flush=True)
            save(args.name, rows)


if __name__ == "__main__":
    main()
