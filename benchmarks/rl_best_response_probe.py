"""How well PPO alone learns a best response: a fresh pursuer against a run's frozen, deterministic evader,
under training-setting variants.

    python benchmarks/rl_best_response_probe.py RUN --out-dir DIR --iterations 100
        [--variant NAME KEY=VALUE ... ] [--name rl_best_response_probe]

Each ``--variant NAME [KEY=VALUE ...]`` (values in YAML/JSON, e.g. ``training.entropy_coeff=0``) changes the
run's experiment, then trains ``pe-rllib exploit``'s fresh RL best response (the pursuer role) for
``--iterations`` iterations against the run's evader acting deterministically, and evaluates the result on
1,000 episodes, deterministic and exploring, against that evader. The search's pursuer is the yardstick
to compare with (``pe-rllib exploit RUN --method search``). Results: ``results/NAME.json``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import yaml
from common import save

from pe_rllib.config import ExperimentConfig, from_dict, load_experiment, to_dict
from pe_rllib.evaluation.matchups import evaluate
from pe_rllib.policies.inference import load_policy
from pe_rllib.rundir import EXPERIMENT_FILE, resolve_checkpoint
from pe_rllib.safety.wrappers import make_batched_env
from pe_rllib.training.exploit import exploit_experiment
from pe_rllib.training.run import train
from pe_rllib.training.session import init_ray


def with_settings(experiment: ExperimentConfig, settings: list[str]) -> ExperimentConfig:
    data = to_dict(experiment)
    for setting in settings:
        key, value = setting.split("=", 1)
        section, field = key.split(".")
        data[section][field] = yaml.safe_load(value)
    return from_dict(ExperimentConfig, data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--variant", nargs="+", action="append", required=True, metavar="NAME [KEY=VALUE]")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--name", default="rl_best_response_probe")
    args = parser.parse_args()
    checkpoint = resolve_checkpoint(args.run)
    base = load_experiment(checkpoint / EXPERIMENT_FILE)
    variants = [(variant[0], variant[1:]) for variant in args.variant]
    for _, settings in variants:                      # every variant is a valid experiment before any training
        with_settings(base, settings)
    init_ray(dashboard=False)
    evader = load_policy(args.run, "evader")
    rows = []
    for name, settings in variants:
        experiment = exploit_experiment(with_settings(base, settings), checkpoint, "pursuer",
                                        args.iterations * base.training.total_batch_size, seed=args.seed)
        out = args.out_dir / name
        started = time.perf_counter()
        train(experiment, output=out, dashboard=False)
        wall = time.perf_counter() - started
        row = {"variant": name, "settings": settings, "iterations": args.iterations, "train_wall_s": round(wall, 1)}
        for mode in ("deterministic", "exploring"):
            pursuer = load_policy(out, "pursuer", deterministic=mode == "deterministic")
            result = evaluate(pursuer.env_config, pursuer, evader, 1000,
                              make_env=lambda n, e=evader.experiment: make_batched_env(n, e))
            row[f"capture_{mode}"] = result.capture_rate
        rows.append(row)
        print(f"{name}: capture {row['capture_deterministic']:.3f} (exploring {row['capture_exploring']:.3f}), "
              f"{wall:.0f} s", flush=True)
    save(args.name, rows)


if __name__ == "__main__":
    main()
