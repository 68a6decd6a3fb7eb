"""Memory of a long league run: driver and env-runner RSS over many snapshot cycles (BENCHMARKS.md).

    python benchmarks/league_memory.py --out-dir /tmp/pe-league-mem [--iterations 120]

A small world with the league on (pool of 4 per role, 2 slots), one-iteration phases (a
snapshot, an eviction and a slot reload every iteration once the pools are full) and
one remote env runner. RSS of the driver and of the runner process is sampled every 10
iterations; flat means the pool's weights, the slot swaps, the stand-in copies the runner
keeps for episodes in progress (``kept_stand_in_share``: the share of agent steps they
played in the sampled iteration) and the matchup metrics do not accumulate. Results: ``results/league_memory.json``.
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

from common import save

from pe_rllib.config import load_experiment
from pe_rllib.training.run import train
from pe_rllib.training.session import init_ray


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as handle:
        kb = next(int(line.split()[1]) for line in handle if line.startswith("VmRSS:"))
    return kb / 1024


def descendants(pid: int) -> list[int]:
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    parents[int(entry)] = int(handle.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                pass
    found, frontier = [], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out-dir", required=True)
    parser.add_argument("--iterations", type=int, default=120)
    args = parser.parse_args()
    run_dir = Path(args.out_dir) / "run"
    shutil.rmtree(run_dir, ignore_errors=True)
    experiment = load_experiment("quickstart", {
        "env.max_steps": 100, "selfplay.cold_start_iterations": 1, "selfplay.warmup_phase_lengths": [],
        "selfplay.phase_length": 1, "selfplay.opponent_slots": 2, "league.enabled": True, "league.pool_size": 4,
        "training.train_batch_size_per_learner": 1000, "training.minibatch_size": 250, "training.num_epochs": 1,
        "training.num_env_runners": 1, "training.num_envs_per_env_runner": 16, "training.stop_iterations":
        args.iterations, "training.keep_checkpoints": 2, "training.checkpoint_every": 10, "evaluation.every": 0})
    init_ray(dashboard=False)
    rows, runner_pid = [], []

    def sample(report) -> None:
        if report.iteration % 10:
            return
        if not runner_pid:                     # the runner actor: a descendant of this driver's embedded Ray
            runner_pid.extend(pid for pid in descendants(os.getpid()) if "BatchedSelfPlayRunner" in cmdline(pid))
        row = {"iteration": report.iteration, "driver_rss_mb": round(rss_mb(os.getpid()), 1),
               "runner_rss_mb": round(sum(rss_mb(pid) for pid in runner_pid), 1),
               "pool": report.figures.get("league_pool"), "snapshots_taken": report.iteration,
               "kept_stand_in_share": round(report.figures.get("kept_stand_in_share", 0.0), 3)}
        rows.append(row)
        print(row, flush=True)

    train(experiment, output=run_dir, dashboard=False, on_iteration=sample)
    first, last = rows[1], rows[-1]            # after warm-up (the pools fill in the first iterations)
    summary = {"driver_growth_mb": round(last["driver_rss_mb"] - first["driver_rss_mb"], 1),
               "runner_growth_mb": round(last["runner_rss_mb"] - first["runner_rss_mb"], 1),
               "from_iteration": first["iteration"], "to_iteration": last["iteration"]}
    print(summary)
    save("league_memory", rows + [summary])


if __name__ == "__main__":
    main()
