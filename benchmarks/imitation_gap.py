"""How much of a distilling run's gap is imitation (issue 21, eighth session).

    python benchmarks/imitation_gap.py RUN [RUN ...] --name issue21_imitation_gap [--roles evader]
        [--sizes 64,64 256,256] [--targets teacher quiet] [--epochs 40] [--free-run] [--arenas 1024] [--episodes 1000]

For each run's final checkpoint (``league.distill_coeff`` with searched anchors) and role: the
trained pair plays ``--arenas`` episodes (evaluation seed 0); on every state the role saw, its
mean action is compared with its teacher's (the role's newest searched anchor, which it
imitates), as searched and quieted (its random terms off, what distillation now fits). Then,
offline, a fresh tanh MLP of each ``--sizes`` is fitted by plain regression to either
teacher's actions (``--targets``) on those states (80 % of them; the rest measure the fit),
``--epochs`` passes of Adam (lr 1e-3, minibatch 500). The teachers, the trained role and every
fitted network then play the trained opponent on the same ``--episodes`` evaluation episodes. A fitted network
of the run's own size that plays near the teacher where the trained role does not says the
shortfall is the imitation during training, not what the network can represent. ``--free-run``:
the networks also get the free run along the open heading's 16 directions as inputs.
Results: ``results/NAME.json``, lines on stdout.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from common import save
from teacher_pair import teachers

from pe_rllib.config import SUCCESS_RATE, load_experiment, other_role
from pe_rllib.evaluation.matchups import play_first_episodes
from pe_rllib.evaluation.suite import Player, play
from pe_rllib.policies.families import OPEN_HEADINGS, make_family
from pe_rllib.policies.inference import load_policy
from pe_rllib.rundir import EXPERIMENT_FILE, resolve_checkpoint
from pe_rllib.safety import make_batched_env


class Watched:
    """A policy that keeps every observation it acts on."""

    def __init__(self, inner):
        self.inner, self.seen = inner, []

    def act(self, obs: np.ndarray) -> np.ndarray:
        self.seen.append(np.array(obs, dtype=np.float64))
        return self.inner.act(obs)


class Fitted:
    """A regression network as a deterministic policy (actions clipped to the box), on ``features(obs)``."""

    def __init__(self, net: torch.nn.Module, features=None):
        self.net, self.features = net, features or (lambda obs: obs)

    def act(self, obs: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            inputs = torch.as_tensor(self.features(obs), dtype=torch.float32)
            return self.net(inputs).clamp(-1, 1).numpy().astype(np.float64)


def free_run_features(controller):
    """Observations plus the free run along the open heading's 16 directions (capped at 8 m, over 8 m): what the
    evasion family's open heading computes, handed to the network."""
    return lambda obs: np.concatenate([obs, np.minimum(controller.free_distance(obs, OPEN_HEADINGS), 8.0) / 8.0],
                                      axis=1)


def disagreement(actions: np.ndarray, target: np.ndarray) -> dict:
    """Mean absolute difference per action (speed, turn rate) and the share of steps where one differs by > 0.5."""
    diff = np.abs(np.clip(actions, -1, 1) - np.clip(target, -1, 1))
    return {"mean_abs_v": round(float(diff[:, 0].mean()), 4), "mean_abs_omega": round(float(diff[:, 1].mean()), 4),
            "share_above_0.5": round(float((diff.max(axis=1) > 0.5).mean()), 4)}


def fit(states: np.ndarray, target: np.ndarray, sizes: list[int], epochs: int, features=None, seed: int = 0) -> tuple:
    """A tanh MLP regressed onto ``target`` from ``features(states)``; returns it as a policy and its disagreement
    on the held-out fifth."""
    torch.manual_seed(seed)
    features = features or (lambda obs: obs)
    states = features(states)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(states))
    train, test = order[:int(0.8 * len(states))], order[int(0.8 * len(states)):]
    layers, width = [], states.shape[1]
    for size in sizes:
        layers += [torch.nn.Linear(width, size), torch.nn.Tanh()]
        width = size
    net = torch.nn.Sequential(*layers, torch.nn.Linear(width, target.shape[1]))
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-3)
    x, y = torch.as_tensor(states, dtype=torch.float32), torch.as_tensor(target, dtype=torch.float32)
    for _ in range(epochs):
        for batch in np.array_split(rng.permutation(train), max(1, len(train) // 500)):
            loss = ((net(x[batch]) - y[batch]) ** 2).sum(-1).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    with torch.no_grad():
        held_out = net(x[test]).clamp(-1, 1).numpy()
    return Fitted(net, features), disagreement(held_out, target[test])


def measure(run: Path, role: str, args: argparse.Namespace) -> dict:
    checkpoint = resolve_checkpoint(run)
    experiment = load_experiment(checkpoint / EXPERIMENT_FILE)
    teacher = teachers(experiment, checkpoint)[role]
    trained = {r: load_policy(checkpoint, r) for r in ("pursuer", "evader")}
    watched = Watched(trained[role])
    pair = {**trained, role: watched}
    play_first_episodes(lambda n: make_batched_env(n, experiment), pair["pursuer"], pair["evader"], args.arenas,
                        seed=0)
    states = np.concatenate(watched.seen)
    quiet = make_family(role, experiment.env, teacher.family, params=teacher.quiet(teacher.params), seed=0)
    targets = {"teacher": np.clip(teacher.act(states), -1, 1), "quiet": np.clip(quiet.act(states), -1, 1)}
    row = {"run": str(run), "role": role, "states": len(states), "fitted": {},
           "trained_vs": {kind: disagreement(trained[role].act(states), targets[kind]) for kind in targets}}
    players = [Player("teacher", role, teacher), Player("quiet teacher", role, quiet),
               Player("trained", role, trained[role])]
    features = free_run_features(quiet) if args.free_run else None
    for sizes in args.sizes:
        for kind in args.targets:
            name = f"{'x'.join(map(str, sizes))} on {kind}" + (" + free run" if args.free_run else "")
            policy, held_out = fit(states, targets[kind], sizes, args.epochs, features)
            row["fitted"][name] = {"held_out": held_out}
            players.append(Player(f"fitted {name}", role, policy))
    opponent = Player("trained", other_role(role), trained[other_role(role)])
    results = play(experiment, [(p, opponent) if role == "pursuer" else (opponent, p) for p in players],
                   args.episodes, seed=0)
    rates = {p.name: round(getattr(r, SUCCESS_RATE[role]), 4) for p, r in zip(players, results)}
    row["success"] = rates
    for name in row["fitted"]:
        row["fitted"][name]["success"] = rates[f"fitted {name}"]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--name", required=True)
    parser.add_argument("--roles", nargs="+", default=["evader"], choices=("pursuer", "evader"))
    parser.add_argument("--sizes", nargs="+", default=[[64, 64], [256, 256]],
                        type=lambda text: [int(v) for v in text.split(",")])
    parser.add_argument("--targets", nargs="+", default=["teacher", "quiet"], choices=("teacher", "quiet"))
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--free-run", action="store_true",
                        help="the fitted networks also see the free run along 16 directions (evader)")
    parser.add_argument("--arenas", type=int, default=1024)
    parser.add_argument("--episodes", type=int, default=1000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    for run in args.runs:
        for role in args.roles:
            row = measure(run, role, args)
            rows.append(row)
            rates = ", ".join(f"{k} {v:.3f}" for k, v in row["success"].items())
            fits = ", ".join(f"{k} {v['held_out']}" for k, v in row["fitted"].items())
            print(f"{run.name} {role}: {SUCCESS_RATE[role]} {rates}; trained vs teachers "
                  f"{row['trained_vs']}; held out {fits}", flush=True)
    save(args.name, rows)


if __name__ == "__main__":
    main()
