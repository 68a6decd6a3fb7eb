"""How much a remembering teacher's memory changes what it does (issue 23, sixth session).

    python benchmarks/teacher_memory.py RUN_OR_CHECKPOINT [--steps 600] [--recall 40]

The trained pair plays 256 arenas of its world for ``--steps`` steps. At every step each role's newest
teacher (the run's newest searched anchor of the role, quiet) acts twice: on the role's observation
(``league.teacher_view: observed``) and on its dead-reckoned view (:class:`OpponentTrack`, ``remembered``).
Per role: the share of steps where the view differs from the observation (the opponent unseen, seen before,
within ``recall`` steps), and among those the share where the two actions differ by more than 0.1 (on the
[-1, 1] box) and their mean distance. A teacher whose memory rarely changes its action teaches no memory.
Results: benchmarks/results/<--name>.json and BENCHMARKS.md.
"""

from __future__ import annotations

import argparse

import numpy as np
from common import save

from pe_rllib.config import ROLES, load_experiment
from pe_rllib.envs.rollout import rollout
from pe_rllib.policies.acting import Acting
from pe_rllib.policies.inference import load_policy
from pe_rllib.policies.memory import OpponentTrack
from pe_rllib.rundir import EXPERIMENT_FILE, checkpoint_anchors, resolve_checkpoint
from pe_rllib.safety import make_batched_env
from pe_rllib.training.teachers import teacher_controllers

ARENAS = 256


def newest_teachers(checkpoint, experiment) -> dict:
    """Each role's newest searched anchor (teacher) in the checkpoint's league, read as data, as a quiet controller."""
    newest = {role: checkpoint_anchors(checkpoint, role, teachers_only=True)[-1] for role in ROLES}
    return teacher_controllers(experiment, {role: {"family": family, "params": params}
                                            for role, (family, params) in newest.items()})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--recall", type=int, default=40)
    parser.add_argument("--name", default="teacher_memory")
    args = parser.parse_args()
    checkpoint = resolve_checkpoint(args.run)
    experiment = load_experiment(checkpoint.parent.parent / EXPERIMENT_FILE)
    teachers = newest_teachers(checkpoint, experiment)
    world = make_batched_env(ARENAS, experiment)
    act = Acting(*(load_policy(checkpoint, role) for role in ROLES))
    tracks = {role: OpponentTrack(experiment.env, ARENAS, args.recall) for role in ROLES}
    counts = {role: {"steps": 0, "recalled": 0, "changed": 0, "distance": 0.0} for role in ROLES}
    for step in rollout(world, act, world.reset(seed=0), args.steps):
        for role in ROLES:
            obs = step.obs[role]
            view = tracks[role].view(obs)
            recalled = np.any(view != obs, axis=1)
            distance = np.linalg.norm(teachers[role].act(view[recalled]) - teachers[role].act(obs[recalled]), axis=1)
            row = counts[role]
            row["steps"] += len(obs)
            row["recalled"] += int(recalled.sum())
            row["changed"] += int((distance > 0.1).sum())
            row["distance"] += float(distance.sum())
            tracks[role].forget(step.ended)
    rows = []
    for role, row in counts.items():
        rows.append({"run": str(checkpoint), "role": role, "recall": args.recall, "steps": row["steps"],
                     "recalled_share": round(row["recalled"] / row["steps"], 4),
                     "changed_share_of_recalled": round(row["changed"] / max(row["recalled"], 1), 4),
                     "mean_distance_when_recalled": round(row["distance"] / max(row["recalled"], 1), 4)})
        print(rows[-1], flush=True)
    save(args.name, rows)


if __name__ == "__main__":
    main()
