"""How far a distilling run's students are from their teachers (issue 21, fifth session).

    python benchmarks/teacher_pair.py RUN [RUN ...] --name issue21_teacher_pair [--episodes 1000]

For each run's final checkpoint (``league.distill_coeff`` with searched anchors): the two newest
searched anchors (the teachers each role imitates) as a pair, and the trained pair, each judged
by the yardstick's scripted search (``pe-rllib exploit --method search``'s default budget): the
pair's own capture rate, the best searched pursuer's capture rate against the pair's evader and
the best searched evader's against the pair's pursuer (as a capture rate), all on the same
evaluation episodes. A teacher pair inside its own search bracket while the trained pair is far
outside says the students did not learn what they were taught. Also the cross pairs (teacher
pursuer against trained evader and the reverse). Results: ``results/NAME.json``, a table on stdout.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from common import runs_arguments, save

from pe_rllib.config import ROLES, load_experiment
from pe_rllib.evaluation.search import SearchSettings, search_best_response, searched_policy
from pe_rllib.evaluation.suite import Player, play
from pe_rllib.policies.families import make_family
from pe_rllib.policies.inference import load_policy
from pe_rllib.rundir import EXPERIMENT_FILE, checkpoint_anchors, resolve_checkpoint


def teachers(experiment, checkpoint: Path) -> dict:
    """Each role's newest searched anchor in ``checkpoint``, ready to play."""
    found = {}
    for role in ROLES:
        anchors = checkpoint_anchors(checkpoint, role, teachers_only=True)
        if not anchors:
            raise SystemExit(f"{checkpoint}: no searched anchor for the {role} (league.anchor_every is off)")
        family, params = anchors[-1]
        found[role] = make_family(role, experiment.env, family, seed=0, params=np.asarray(params))
    return found


def bracket(experiment, pair: dict, episodes: int) -> dict:
    """The pair's capture rate and the searched best responses' (as capture rates), on the same episodes."""
    best = {role: search_best_response(experiment, role, pair["evader" if role == "pursuer" else "pursuer"],
                                       SearchSettings(seed=0)) for role in ROLES}
    rows = play(experiment, [
        (Player("p", "pursuer", pair["pursuer"]), Player("e", "evader", pair["evader"])),
        (Player("bp", "pursuer", searched_policy(experiment, best["pursuer"])), Player("e", "evader", pair["evader"])),
        (Player("p", "pursuer", pair["pursuer"]), Player("be", "evader", searched_policy(experiment, best["evader"]))),
    ], episodes, seed=0)
    capture, best_pursuer, best_evader = (round(r.capture_rate, 4) for r in rows)
    return {"capture": capture, "best_pursuer_capture": best_pursuer, "best_evader_capture": best_evader,
            "pursuer_gap": round(best_pursuer - capture, 4), "evader_gap": round(capture - best_evader, 4)}


def main() -> None:
    args = runs_arguments(__doc__.splitlines()[0])
    results = []
    for run in args.runs:
        experiment = load_experiment(run / EXPERIMENT_FILE)
        checkpoint = resolve_checkpoint(run)
        taught = teachers(experiment, checkpoint)
        trained = {role: load_policy(checkpoint, role) for role in ROLES}
        cross = play(experiment, [
            (Player("teacher", "pursuer", taught["pursuer"]), Player("trained", "evader", trained["evader"])),
            (Player("trained", "pursuer", trained["pursuer"]), Player("teacher", "evader", taught["evader"]))],
            args.episodes, seed=0)
        row = {"run": str(run), "checkpoint": checkpoint.name, "teachers": bracket(experiment, taught, args.episodes),
               "trained": bracket(experiment, trained, args.episodes),
               "teacher_pursuer_vs_trained_evader": round(cross[0].capture_rate, 4),
               "trained_pursuer_vs_teacher_evader": round(cross[1].capture_rate, 4)}
        results.append(row)
        for pair in ("teachers", "trained"):
            b = row[pair]
            print(f"| {run.name} | {pair} | {b['capture']:.3f} | {b['best_pursuer_capture']:.3f} "
                  f"| {b['best_evader_capture']:.3f} | {b['pursuer_gap']:+.3f} | {b['evader_gap']:+.3f} |", flush=True)
    save(args.name, results)


if __name__ == "__main__":
    main()
