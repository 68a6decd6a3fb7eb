"""What memory is worth to a run's teachers in whole episodes (issue 23, seventh session).

    python benchmarks/memory_value.py RUN [RUN ...] --name NAME [--episodes 1000] [--recalls 40 200] [--blank-last-seen]

For each run's final checkpoint, each role's newest teacher (the run's newest searched anchor of the role, quiet:
what the role imitates) plays whole episodes against the trained opponent and against the scripted opponent most
often used as a yardstick (``straight_flee`` for the pursuer's teacher, ``pure_pursuit`` for the evader's): once
acting on the role's observation (``league.teacher_view: observed``), once remembering, acting on its dead-reckoned
view (:class:`~pe_rllib.policies.memory.RememberingController`, ``remembered``) for each recall of ``--recalls``,
and once forgetting: the observation's last-seen block (the memory the world gives every policy) blanked as if the
opponent had never been seen (:class:`WithoutLastSeen`). The value of memory is the remembering teacher's success
minus the observing teacher's, on the same episodes (seed 0), with a Newcombe interval (conservative: the rows
share their episodes); the forgetting row's (negative) value is what the last-seen block is worth. A value near 0
for the remembering teacher says a student with memory has nothing to gain from imitating it over the observing
one: what ``benchmarks/teacher_memory.py`` counts per step, here measured as capture or escape. With
``--blank-last-seen`` every teacher row acts with the last-seen block blanked (observing = forgetting): what
remembering is worth to a teacher in a world without the block (``env.last_seen: false``), its opponents as trained.
Results: ``benchmarks/results/NAME.json``, lines on stdout.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from common import save
from teacher_memory import newest_teachers

from pe_rllib.config import ROLES, load_experiment, other_role
from pe_rllib.envs.sensing import observation_layout
from pe_rllib.evaluation.exploitability import difference_interval
from pe_rllib.evaluation.suite import Player, play, scripted_players
from pe_rllib.policies.inference import load_policy
from pe_rllib.policies.memory import RememberingController
from pe_rllib.rundir import EXPERIMENT_FILE, resolve_checkpoint

SCRIPTED_OPPONENT = {"pursuer": "straight_flee", "evader": "pure_pursuit"}
"""The scripted opponent each role's teacher also meets (the strongest scripted one in the issue-23 tables)."""


class WithoutLastSeen:
    """``controller`` acting as if it had never seen the opponent when it does not see it now: the newest frame's
    last-seen block (relative position, age, ever seen) reads (0, 0, 1, 0), as before a first sighting."""

    def __init__(self, controller, env_config) -> None:
        self.controller = controller
        self.layout = observation_layout(env_config)

    def act(self, obs: np.ndarray) -> np.ndarray:
        blank = np.array(obs, copy=True)
        self.layout.part(blank, "last_seen")[:] = (0.0, 0.0, 1.0, 0.0)     # (part: a view of the newest frame)
        return self.controller.act(blank)


def opponents(experiment, checkpoint, role: str) -> list[Player]:
    """The trained policy of the other role and its scripted yardstick opponent."""
    other = other_role(role)
    scripted = [p for p in scripted_players(experiment, other, 0) if p.name == SCRIPTED_OPPONENT[role]]
    return [Player("trained", other, load_policy(checkpoint, other)), *scripted]


def teachers_of(experiment, teacher, role: str, recalls: list[int], blank: bool) -> list[Player]:
    """The role's teacher observing, then remembering for each recall, then forgetting (``blank``: all of them
    forgetting, so no separate forgetting row)."""
    if blank:
        teacher = WithoutLastSeen(teacher, experiment.env)
    players = [Player("observing teacher", role, teacher)]
    players += [Player(f"remembering teacher ({recall} steps)", role,
                       RememberingController(teacher, experiment.env, recall)) for recall in recalls]
    if not blank:
        players.append(Player("forgetting teacher (no last-seen)", role, WithoutLastSeen(teacher, experiment.env)))
    return players


def measure(run: Path, episodes: int, recalls: list[int], blank: bool) -> dict:
    checkpoint = resolve_checkpoint(run)
    experiment = load_experiment(checkpoint / EXPERIMENT_FILE)
    teachers = newest_teachers(checkpoint, experiment)
    row = {"run": str(run), "checkpoint": checkpoint.name, "model": experiment.training.model,
           "blank_last_seen": blank, "values": []}
    for role in ROLES:
        players = teachers_of(experiment, teachers[role], role, recalls, blank)
        for opponent in opponents(experiment, checkpoint, role):
            pairs = [(p, opponent) if role == "pursuer" else (opponent, p) for p in players]
            results = play(experiment, pairs, episodes, seed=0)
            rate = [r.capture_rate if role == "pursuer" else 1.0 - r.capture_rate for r in results]
            for player, result, success in zip(players[1:], results[1:], rate[1:]):
                low, high = difference_interval(success, result.episodes, rate[0], results[0].episodes)
                row["values"].append({"role": role, "opponent": opponent.name, "teacher": player.name,
                                      "observing": round(rate[0], 4), "remembering": round(success, 4),
                                      "value": round(success - rate[0], 4), "value_ci95": [round(low, 4),
                                                                                           round(high, 4)]})
                print(f"{run} {role} teacher vs {opponent.name}: observing {rate[0]:.3f}, {player.name} "
                      f"{success:.3f}, value {success - rate[0]:+.3f} [{low:+.3f}, {high:+.3f}]", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--name", required=True)
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--recalls", type=int, nargs="+", default=[40, 200])
    parser.add_argument("--blank-last-seen", action="store_true")
    args = parser.parse_args()
    save(args.name, [measure(run, args.episodes, args.recalls, args.blank_last_seen) for run in args.runs])


if __name__ == "__main__":
    main()
