"""Why a robust teacher falls short of the yardstick's searched evader (issue 21, tenth session).

    python benchmarks/teacher_tradeoff.py RUN [RUN ...] --name issue21_teacher_tradeoff [--episodes 1000]

For each run's final checkpoint with an exploit record (``pe-rllib exploit --method search``): the searched evader
of that record (the best response to the trained pursuer), the evader's teacher (its newest searched anchor, found
by the league's smaller robust search against the trained pursuer and the pursuer's anchors) and the trained evader,
each against the trained pursuer and against each of the pursuer's searched anchors, on the same evaluation episodes
(seed 0). A searched evader whose worst escape over the anchors is below the teacher's says the teacher gave up
escape against the trained pursuer to stay robust; one whose worst is above says the teacher's search was too small.
Results: ``results/NAME.json``, lines on stdout.
"""

from __future__ import annotations

import numpy as np
from common import final_checkpoints, runs_arguments, save, searched_evader
from teacher_pair import teachers

from pe_rllib.evaluation.suite import Player, play
from pe_rllib.policies.families import make_family
from pe_rllib.policies.inference import load_policy
from pe_rllib.rundir import checkpoint_anchors


def main() -> None:
    args = runs_arguments(__doc__.splitlines()[0])
    rows = []
    for run, checkpoint, experiment in final_checkpoints(args.runs):
        evaders = [Player("searched", "evader", searched_evader(checkpoint, experiment, run)),
                   Player("teacher", "evader", teachers(experiment, checkpoint)["evader"]),
                   Player("trained", "evader", load_policy(checkpoint, "evader"))]
        pursuers = [Player("trained", "pursuer", load_policy(checkpoint, "pursuer"))] + [
            Player(f"anchor {k}", "pursuer", make_family("pursuer", experiment.env, family, seed=0,
                                                          params=np.asarray(params)))
            for k, (family, params) in enumerate(checkpoint_anchors(checkpoint, "pursuer", teachers_only=True))]
        pairs = [(p, e) for e in evaders for p in pursuers]
        results = play(experiment, pairs, args.episodes, seed=0)
        escape = {e.name: {} for e in evaders}
        for (p, e), result in zip(pairs, results):
            escape[e.name][p.name] = round(result.escape_rate, 4)
        rows.append({"run": str(run), "checkpoint": checkpoint.name, "escape": escape})
        print(run, "; ".join(f"{e}: " + ", ".join(f"vs {p} {r:.3f}" for p, r in rates.items())
                             for e, rates in escape.items()))
    save(args.name, rows)


if __name__ == "__main__":
    main()
