"""How far the policies a run trained with (exploring) are from the ones it is judged by (deterministic).

    python benchmarks/policy_noise.py RUN [RUN ...] --name policy_noise [--episodes 1000]

For every run (newest checkpoint): the trained pursuer against the trained evader in all four
combinations of deterministic (the distribution's mode, as evaluation and ``exploit`` play) and
exploring (sampled, as training plays), on the same evaluation episodes; and the spread of each
role's action distribution over the states of deterministic play (percentiles of the log-std per
action dimension, and the mean |mean| of the head, which beyond 1 means the clipped action is
saturated whatever the noise). Results: ``results/NAME.json`` and a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from common import save

from pe_rllib.evaluation.matchups import evaluate
from pe_rllib.policies.inference import load_policy
from pe_rllib.safety.wrappers import make_batched_env

STATE_ARENAS = 256


def spread(run: Path) -> dict:
    """Per role: log-std percentiles (10/50/90) per action dimension and mean |head mean| over visited states."""
    players = {role: load_policy(run, role) for role in ("pursuer", "evader")}
    env = make_batched_env(STATE_ARENAS, players["pursuer"].experiment)
    obs = env.reset(seed=0)
    heads = {role: [] for role in players}
    for _ in range(players["pursuer"].env_config.max_steps):
        for role, player in players.items():
            with torch.no_grad():
                out = player.module.forward_inference({"obs": torch.from_numpy(np.asarray(obs[role], np.float32))})
            heads[role].append(out["action_dist_inputs"].numpy())
        obs, *_ = env.step({role: player.act(obs[role]) for role, player in players.items()})
    summary = {}
    for role, rows in heads.items():
        head = np.concatenate(rows)
        summary[role] = {"log_std_p10_p50_p90": np.percentile(head[:, 2:], [10, 50, 90], axis=0).T.round(3).tolist(),
                         "mean_abs_mean": np.abs(head[:, :2]).mean(0).round(3).tolist(),
                         "distribution": players[role].experiment.training.action_distribution}
    return summary


def capture_matrix(run: Path, episodes: int) -> dict:
    rates = {}
    for pursuer_mode in ("deterministic", "exploring"):
        for evader_mode in ("deterministic", "exploring"):
            pursuer = load_policy(run, "pursuer", deterministic=pursuer_mode == "deterministic", seed=1)
            evader = load_policy(run, "evader", deterministic=evader_mode == "deterministic", seed=2)
            result = evaluate(pursuer.env_config, pursuer, evader, episodes,
                              make_env=lambda n, e=pursuer.experiment: make_batched_env(n, e))
            rates[f"{pursuer_mode} pursuer vs {evader_mode} evader"] = result.capture_rate
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--name", default="policy_noise")
    parser.add_argument("--episodes", type=int, default=1000)
    args = parser.parse_args()
    rows = []
    for run in args.runs:
        rows.append({"run": str(run), "capture": capture_matrix(run, args.episodes), "spread": spread(run)})
        print(f"{run}: done", flush=True)
    save(args.name, rows)
    print("| run | det P vs det E | det P vs exploring E | exploring P vs det E | exploring both "
          "| pursuer median std (v, omega) | evader median std (v, omega) |")
    print("|---|---:|---:|---:|---:|---|---|")
    for row in rows:
        rates = list(row["capture"].values())
        stds = {role: ", ".join(f"{np.exp(p[1]):.2f}" for p in row["spread"][role]["log_std_p10_p50_p90"])
                for role in ("pursuer", "evader")}
        print(f"| {Path(row['run']).name} | " + " | ".join(f"{r:.3f}" for r in rates)
              + f" | {stds['pursuer']} | {stds['evader']} |")


if __name__ == "__main__":
    main()
