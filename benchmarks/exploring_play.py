"""What exploration noise costs each role: the trained pair playing its means and sampling (issue 21, seventh session).

    python benchmarks/exploring_play.py RUN [RUN ...] --name issue21_exploring_play [--episodes 1000]

For each run's final checkpoint, the capture rate of the four pairings of the pursuer and the evader each
either playing its mean action (deterministic, as evaluation and ``exploit`` judge it) or sampling its
Gaussian (as it explores in its own training games), on the same episodes, and each role's mean action
standard deviation over the starts, in either world (the aerial one: issue 24, sixth session). Results:
``results/NAME.json``, a line per run on stdout.
"""

from __future__ import annotations

import numpy as np
import torch
from common import runs_arguments, save

from pe_rllib.config import ROLES, load_experiment
from pe_rllib.evaluation.suite import Player, play
from pe_rllib.policies.inference import load_policy
from pe_rllib.policies.rl_module import forward_step
from pe_rllib.rundir import EXPERIMENT_FILE, resolve_checkpoint
from pe_rllib.safety.wrappers import make_batched_env


def action_std(policy, obs: np.ndarray) -> list[float]:
    """Mean standard deviation per action dimension of ``policy``'s Gaussian over ``obs``."""
    with torch.no_grad():
        inputs, _ = forward_step(policy.module, torch.from_numpy(obs.astype(np.float32)), False, None)
    return [round(float(v), 3) for v in inputs.chunk(2, dim=-1)[1].exp().mean(0)]


def main() -> None:
    args = runs_arguments(__doc__.splitlines()[0])
    rows = []
    for run in args.runs:
        experiment = load_experiment(run / EXPERIMENT_FILE)
        checkpoint = resolve_checkpoint(run)
        players = {(role, mode): Player(f"{role} {mode}", role,
                                        load_policy(checkpoint, role, deterministic=mode == "mean", seed=0))
                   for role in ROLES for mode in ("mean", "sampling")}
        pairs = [(p, e) for p in ("mean", "sampling") for e in ("mean", "sampling")]
        results = play(experiment, [(players["pursuer", p], players["evader", e]) for p, e in pairs],
                       args.episodes, seed=0)
        obs = make_batched_env(256, experiment).reset(seed=0)          # either world
        row = {"run": str(run), "checkpoint": checkpoint.name, "episodes": args.episodes,
               "capture": {f"pursuer {p} / evader {e}": round(r.capture_rate, 4) for (p, e), r in zip(pairs, results)},
               "action_std": {role: action_std(players[role, "mean"].policy, obs[role]) for role in ROLES}}
        rows.append(row)
        print(row, flush=True)
    save(args.name, rows)


if __name__ == "__main__":
    main()
