"""Issue 24: how a trained aerial evader flies against each pursuer (altitude, the safety filter's share).

    python benchmarks/aerial_behaviour.py RUN [--episodes 128] [--searched] [--name aerial_behaviour]

For the run's trained evader against the trained pursuer and the guidance laws (pure pursuit, PN, APN), the
first episode of each of ``--episodes`` arenas: the evader's median altitude over its steps, the share of its
steps below 20 m, and the outcome rates. Tells whether its escapes come from hugging the ground, where the
pursuer's own braking barrier keeps it from diving at speed (BENCHMARKS.md, issue 24, third session).
``--searched``: the searched evader of the run's exploit record (``pe-rllib exploit --method search``) flies
instead of the trained one.
Results: benchmarks/results/NAME.json.
"""

from __future__ import annotations

import argparse

import numpy as np
from common import save, searched_evader

from pe_rllib.config import load_experiment
from pe_rllib.envs.rollout import first_episodes
from pe_rllib.evaluation.suite import scripted_players, trained_players
from pe_rllib.policies.acting import Acting
from pe_rllib.rundir import EXPERIMENT_FILE, resolve_checkpoint
from pe_rllib.safety.wrappers import make_batched_env

LOW = 20.0
"""Metres: an evader step below this altitude counts as low."""


def behaviour(experiment, pursuer, evader, episodes: int, seed: int = 2026) -> dict:
    env = make_batched_env(episodes, experiment, autoreset=False)
    obs = env.reset(seed=seed)
    heights, outcomes = [], np.zeros(episodes, dtype=int)
    for transition, live in first_episodes(env, Acting(pursuer, evader), obs):
        heights.append(np.where(live, env.world_state().position[:, 1, 2], np.nan))
        ended = live & transition.ended
        outcomes[ended] = np.asarray(transition.infos["pursuer"]["outcome"])[ended]
    z = np.array(heights)
    return {"median_altitude_m": round(float(np.nanmedian(z)), 2),
            "low_step_share": round(float(np.nanmean(z < LOW)), 4),
            "outcomes": {int(k): int(v) for k, v in zip(*np.unique(outcomes, return_counts=True))}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--episodes", type=int, default=128)
    parser.add_argument("--searched", action="store_true", help="the exploit record's searched evader flies")
    parser.add_argument("--name", default="aerial_behaviour")
    args = parser.parse_args()
    checkpoint = resolve_checkpoint(args.run)
    experiment = load_experiment(checkpoint / EXPERIMENT_FILE)
    trained = trained_players(checkpoint)
    evader = trained["evader"].policy
    if args.searched:
        evader = searched_evader(checkpoint, experiment, args.run)
    pursuers = [trained["pursuer"], *(p for p in scripted_players(experiment, "pursuer", 2026)
                                      if p.name in ("pure_pursuit", "pn", "apn"))]
    rows = []
    for pursuer in pursuers:
        row = {"pursuer": pursuer.name, "evader": "searched" if args.searched else "trained",
               **behaviour(experiment, pursuer.policy, evader, args.episodes)}
        print(row, flush=True)
        rows.append(row)
    save(args.name, rows)


if __name__ == "__main__":
    main()
