"""Search throughput: one generation of the scripted best-response search against a learned opponent.

    python benchmarks/bench_search.py [--config converge] [--population 32] [--episodes 48]

Times ``candidate_rates`` (``population x episodes`` arenas from tiled starts, until each
arena's first episode ends) against a network of the config's size (random weights: the cost
of a forward pass does not depend on them), with the policy's forward pass on one torch
intra-op thread (``INFERENCE_THREADS``, the default) and on torch's own default (one per
core), in the same run, best of ``--repeats``. Results: ``results/search_throughput.json``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from common import save

from pe_rllib.config import load_experiment
from pe_rllib.evaluation.search import candidate_rates
from pe_rllib.policies import inference
from pe_rllib.policies.families import make_family
from pe_rllib.policies.rl_module import learned_module_spec


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", default="converge")
    parser.add_argument("--population", type=int, default=32)
    parser.add_argument("--episodes", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    experiment = load_experiment(args.config)
    torch.manual_seed(0)
    weights = learned_module_spec(experiment).build().state_dict()
    opponent = inference.policy_from_weights(experiment, "evader", weights)
    pursuer = make_family("pursuer", experiment.env)
    params = np.stack([pursuer.defaults()] * args.population)
    candidate_rates(experiment, pursuer, opponent, params[:2], 8, seed=0)          # compile the numba kernels
    default_threads = torch.get_num_threads()
    rows = []
    for threads in (1, default_threads):
        inference.INFERENCE_THREADS = threads
        best = float("inf")
        for repeat in range(args.repeats):
            start = time.perf_counter()
            candidate_rates(experiment, pursuer, opponent, params, args.episodes, seed=repeat)
            best = min(best, time.perf_counter() - start)
        rows.append({"inference_threads": threads, "seconds_per_generation": round(best, 3),
                     "episodes_per_s": round(args.population * args.episodes / best, 1)})
        print(rows[-1], flush=True)
    rows.append({"speedup_one_thread": round(rows[1]["seconds_per_generation"] / rows[0]["seconds_per_generation"], 2),
                 "config": args.config, "population": args.population, "episodes": args.episodes})
    print(rows[-1])
    save("search_throughput", rows)


if __name__ == "__main__":
    main()
