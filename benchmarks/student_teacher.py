"""How far each distilling run's evader is from its own teacher, against the trained pursuer (issue 21, eighth session).

    python benchmarks/student_teacher.py RUN [RUN ...] --name issue21_student_teacher [--episodes 1000]

For each run's final checkpoint: the evader's teacher (its newest searched anchor) as searched, the same
controller with its turn jitter at 0 (quieted, what distillation fits since this session) and at 0.3, and the
trained evader, each against the trained pursuer on the same evaluation episodes (seed 0). Teacher minus trained
is what imitation leaves on the table. Results: ``results/NAME.json``, a line per run on stdout.
"""

from __future__ import annotations

import numpy as np
from common import final_checkpoints, runs_arguments, save
from teacher_pair import teachers

from pe_rllib.evaluation.suite import Player, play
from pe_rllib.policies.families import make_family
from pe_rllib.policies.inference import load_policy


def main() -> None:
    args = runs_arguments(__doc__.splitlines()[0])
    rows = []
    for run, checkpoint, experiment in final_checkpoints(args.runs):
        teacher = teachers(experiment, checkpoint)["evader"]
        jitter = teacher.names().index("jitter")
        louder = np.array(teacher.params, dtype=np.float64).reshape(-1)
        louder[jitter] = 0.3
        evaders = [Player("teacher", "evader", teacher)] + [
            Player(f"teacher, jitter {value:g}", "evader",
                   make_family("evader", experiment.env, teacher.family, params=params, seed=0))
            for value, params in ((0.0, teacher.quiet(teacher.params)), (0.3, louder))]
        evaders.append(Player("trained", "evader", load_policy(checkpoint, "evader")))
        pursuer = Player("trained", "pursuer", load_policy(checkpoint, "pursuer"))
        results = play(experiment, [(pursuer, evader) for evader in evaders], args.episodes, seed=0)
        escape = {e.name: round(r.escape_rate, 4) for e, r in zip(evaders, results)}
        row = {"run": str(run), "checkpoint": checkpoint.name,
               "teacher_jitter": round(float(teacher.params.ravel()[jitter]), 4), "escape": escape,
               "teacher_minus_trained": round(escape["teacher"] - escape["trained"], 4)}
        rows.append(row)
        print(f"{run}: jitter {row['teacher_jitter']:.2f}, " + ", ".join(f"{k} {v:.3f}" for k, v in escape.items()),
              flush=True)
    save(args.name, rows)


if __name__ == "__main__":
    main()
