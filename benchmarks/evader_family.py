"""The evasion family with and without its open heading, against the RL best responses (issue 21, seventh session).

    python benchmarks/evader_family.py RUN [RUN ...] --name issue21_evader_family [--episodes 1000]

For each run's final checkpoint: the yardstick's evader search (``pe-rllib exploit --method search``'s
default budget and seed) over the evasion family with ``open_gain`` pinned at 0 (the family as it was
before the open heading) and over the whole family, each found evader then played against the trained
pursuer on the evaluation episodes, beside the trained evader on the same episodes. Where the run
directory holds an ``exploit`` record with an RL best response for the evader (``pe-rllib exploit
--method rl-trained`` or ``rl-fresh``), its escape rate is listed too: it is what the search should
reach. Results: ``results/NAME.json``, a table on stdout.
"""

from __future__ import annotations

import json
from pathlib import Path

from common import runs_arguments, save

from pe_rllib.config import load_experiment
from pe_rllib.evaluation.exploitability import record_path
from pe_rllib.evaluation.search import SearchSettings, search_best_response, searched_policy
from pe_rllib.evaluation.suite import Player, play
from pe_rllib.policies.inference import load_policy
from pe_rllib.rundir import EXPERIMENT_FILE, resolve_checkpoint

VARIANTS = {"without open heading": (("open_gain", 0.0),), "with open heading": ()}


def rl_escapes(run: Path, checkpoint: Path) -> dict[str, float]:
    """The escape rates of the RL best responses recorded for the evader at ``checkpoint`` (may be empty)."""
    path = record_path(run, checkpoint, "evader")
    if not path.exists():
        return {}
    methods = json.loads(path.read_text())["methods"]
    return {name: method["best_response"]["escape_rate"] for name, method in methods.items()
            if name.startswith("rl")}


def measure(run: Path, episodes: int) -> dict:
    experiment = load_experiment(run / EXPERIMENT_FILE)
    checkpoint = resolve_checkpoint(run)
    pursuer = load_policy(checkpoint, "pursuer")
    found = {label: search_best_response(experiment, "evader", pursuer, SearchSettings(seed=0, pinned=pinned))
             for label, pinned in VARIANTS.items()}
    evaders = [Player("trained", "evader", load_policy(checkpoint, "evader"))]
    evaders += [Player(label, "evader", searched_policy(experiment, result, seed=0)) for label, result in found.items()]
    rows = play(experiment, [(Player("trained", "pursuer", pursuer), evader) for evader in evaders], episodes, seed=0)
    return {"run": str(run), "checkpoint": checkpoint.name, "episodes": episodes,
            "escape": {evader.name: round(row.escape_rate, 4) for evader, row in zip(evaders, rows)},
            "escape_ci95": {evader.name: row.ci95()["escape_rate"] for evader, row in zip(evaders, rows)},
            "search": {label: {"params": result.params, "wall_s": round(result.wall_s, 1)}
                       for label, result in found.items()},
            "rl": rl_escapes(run, checkpoint)}


def main() -> None:
    args = runs_arguments(__doc__.splitlines()[0])
    results = []
    for run in args.runs:
        row = measure(run, args.episodes)
        results.append(row)
        escape = row["escape"]
        rl = ", ".join(f"{name} {rate:.3f}" for name, rate in row["rl"].items()) or "not run"
        print(f"{run}: trained {escape['trained']:.3f}, searched without the open heading "
              f"{escape['without open heading']:.3f}, with it {escape['with open heading']:.3f}, RL: {rl}", flush=True)
    save(args.name, results)


if __name__ == "__main__":
    main()
