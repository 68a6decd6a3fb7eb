"""How much of a trained pair's play rests on memory (issue 23, fifth session): each role with its memory cut.

    python benchmarks/memory_use.py RUN [RUN ...] --name issue23_memory_use [--episodes 1000] [--windows 4 1]

For each run's final checkpoint, the trained pursuer against the trained evader on the evaluation episodes (seed 0),
then the same with one role's memory cut and the other's intact:
- a recurrent role (``training.model: lstm | gru``) remembers only its last W observations of the episode
  (:class:`~pe_rllib.policies.acting.RecentMemory`, for each W of ``--windows``): W = 4 knows what an MLP on 4
  stacked frames knows, W = 1 what a memoryless network knows;
- a frame-stacked MLP (``env.history_length`` > 1) sees its newest frame in every slot
  (:class:`~pe_rllib.policies.acting.NewestFrameOnly`).
The pursuer's loss is the capture it gives up with its memory cut; the evader's, the capture it concedes. A loss near
0 says the role does not draw on what it remembers beyond the cut. Both ablations put the network on inputs it did
not train on, so a loss is an upper bound on what the memory is worth to it. The Newcombe intervals treat the two
matchups as independent; they play the same episodes, so the intervals are conservative.
Results: ``results/NAME.json``, lines on stdout.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from common import save

from pe_rllib.config import load_experiment
from pe_rllib.envs.sensing import observation_layout
from pe_rllib.evaluation.exploitability import difference_interval
from pe_rllib.evaluation.suite import Player, play
from pe_rllib.policies.acting import NewestFrameOnly, RecentMemory
from pe_rllib.policies.inference import load_policy
from pe_rllib.rundir import EXPERIMENT_FILE, resolve_checkpoint


def cut_memories(experiment, policy, windows: list[int]) -> dict[str, object]:
    """The policy with its memory cut, by name: one per window (recurrent) or its newest frame only (stacked)."""
    if getattr(policy, "stateful", False):
        return {f"last {w}": RecentMemory(policy, w) for w in windows}
    history = experiment.env.history_length
    if history > 1:
        return {"newest frame": NewestFrameOnly(policy, observation_layout(experiment.env).frame_dim, history)}
    return {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--name", required=True)
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--windows", type=int, nargs="+", default=[4, 1])
    args = parser.parse_args()
    rows = []
    for run in args.runs:
        checkpoint = resolve_checkpoint(run)
        experiment = load_experiment(checkpoint / EXPERIMENT_FILE)
        trained = {role: load_policy(checkpoint, role) for role in ("pursuer", "evader")}
        pairs = [(Player("trained", "pursuer", trained["pursuer"]), Player("trained", "evader", trained["evader"]))]
        for role in ("pursuer", "evader"):
            for cut, policy in cut_memories(experiment, trained[role], args.windows).items():
                pair = {**trained, role: policy}
                pairs.append((Player(cut if role == "pursuer" else "trained", "pursuer", pair["pursuer"]),
                              Player(cut if role == "evader" else "trained", "evader", pair["evader"])))
        results = play(experiment, pairs, args.episodes, seed=0)
        base = results[0]
        row = {"run": str(run), "checkpoint": checkpoint.name, "model": experiment.training.model,
               "history_length": experiment.env.history_length, "capture": round(base.capture_rate, 4), "cuts": []}
        for (pursuer, evader), result in zip(pairs[1:], results[1:]):
            role, cut = ("pursuer", pursuer.name) if pursuer.name != "trained" else ("evader", evader.name)
            # The role's loss: capture given up (pursuer) or conceded (evader) with its memory cut.
            sign = 1 if role == "pursuer" else -1
            low, high = difference_interval(base.capture_rate, base.episodes, result.capture_rate, result.episodes)
            interval = [round(sign * low, 4), round(sign * high, 4)][::sign]
            loss = round(sign * (base.capture_rate - result.capture_rate), 4)
            row["cuts"].append({"role": role, "cut": cut, "capture": round(result.capture_rate, 4), "loss": loss,
                                "loss_ci95": interval})
            print(f"{run} {role} {cut}: capture {result.capture_rate:.3f} (trained pair {base.capture_rate:.3f}), "
                  f"loss {loss:+.3f} [{interval[0]:+.3f}, {interval[1]:+.3f}]", flush=True)
        rows.append(row)
    save(args.name, rows)


if __name__ == "__main__":
    main()
