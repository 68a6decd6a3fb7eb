"""How training throughput scales with env runners, arenas per runner and the learner's device.

    python benchmarks/bench_scaling.py [--runners 1 2 4] [--iterations 6] [--repeats 2]
        [--baseline-tree DIR [--baseline-only]] [--name scaling_2core]

Every configuration is the quickstart (its world, self-play and PPO settings: 4,000-step
batches, 10 epochs, minibatch 500) with the runners and arenas changed, measured in a fresh
process with embedded Ray over all of this machine's cores: env steps per second of wall
time over ``--iterations`` iterations after two warm-up iterations, and where each
iteration's time goes, timed around the calls PPO's ``training_step`` makes (driver wall
time): ``sample`` (the runners sampling, and their episodes reaching the driver), ``learn``
(the learner update: connector pipeline, GAE, SGD), ``weights`` (syncing the updated
weights to the runners), ``selfplay`` (pe_rllib's per-iteration mapping/world sync) and
``rest`` (callbacks, metrics, checkpoint-free bookkeeping). Also the episode chunks the
learner received per iteration.

The grid: runner counts (``--runners``; more runners than cores get fractional CPUs), each
with 128 arenas in total (1 x 128, 2 x 64, 4 x 32 ...) and with 256 arenas per runner, the
latter both as configured (``training.min_fragment_length: 0``) and with the arenas derived
from the batch (the default, at least 30 steps per arena per iteration). With CUDA, the
quickstart and ``scale.yaml`` also run with the learner on the GPU; ``scale.yaml`` always runs
with its runner count capped to the cores (``--scale-runners``).

``--baseline-tree DIR``: a checkout of an earlier commit; its quickstart is measured in the same
run, alternating with this tree's, as the "as fast as before" baseline.

Results: ``results/NAME.json`` and ``results/NAME.png``; the tables in BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import save

QUICKSTART_BATCH = 4000


# --------------------------------------------------------------------------- one configuration (child process)


def learner_facts(learner) -> tuple[str, int]:
    """(device of the learner's first learned module, its process's torch threads); any tree's learner."""
    import torch

    for module_id in learner.module.keys():
        for parameter in learner.module[module_id].parameters():
            return str(parameter.device), torch.get_num_threads()
    return "cpu", torch.get_num_threads()


def measure(config: str, overrides: dict, iterations: int) -> dict:
    """Train ``config`` with ``overrides`` for 2 + ``iterations`` iterations; throughput and breakdown."""
    import ray.rllib.algorithms.ppo.ppo as ppo_module

    import pe_rllib.training.algorithm as algorithm_module
    from pe_rllib.config import load_experiment
    from pe_rllib.training.session import init_ray

    init_ray(dashboard=False)
    experiment = load_experiment(config, overrides)
    algo = algorithm_module.build_algorithm_config(experiment).build_algo()
    spent: dict[str, float] = {}
    chunks: list[int] = []

    def timed(name, function, count=False):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            out = function(*args, **kwargs)
            spent[name] = spent.get(name, 0.0) + time.perf_counter() - start
            if count:
                chunks.append(len(out[0]) if isinstance(out, tuple) else len(out))
            return out
        return wrapper

    # Benchmark-only instrumentation: time the calls PPO.training_step makes (module globals and bound methods).
    ppo_module.synchronous_parallel_sample = timed("sample", ppo_module.synchronous_parallel_sample, count=True)
    algorithm_module.sync_env_runners = timed("selfplay", algorithm_module.sync_env_runners)
    algo.learner_group.update = timed("learn", algo.learner_group.update)
    algo.env_runner_group.sync_weights = timed("weights", algo.env_runner_group.sync_weights)
    try:
        for _ in range(2):
            algo.train()
        spent.clear()
        chunks.clear()
        steps, start = 0, time.perf_counter()
        for _ in range(iterations):
            result = algo.train()
            steps += int(result["env_runners"]["num_env_steps_sampled"])
        wall = time.perf_counter() - start
        devices, threads = zip(*[result.get() for result in algo.learner_group.foreach_learner(learner_facts)])
        shape = algo.env_runner_group.foreach_env_runner(lambda runner: runner.num_envs, local_env_runner=False)
    finally:
        algo.stop()
    per_iteration = {name: round(value / iterations, 4) for name, value in spent.items()}
    per_iteration["rest"] = round(wall / iterations - sum(per_iteration.values()), 4)
    training = experiment.training
    return {
        "steps_per_s": round(steps / wall), "s_per_iteration": round(wall / iterations, 4),
        "env_steps_per_iteration": steps // iterations, "breakdown_s": per_iteration,
        "chunks_per_iteration": round(statistics.mean(chunks)) if chunks else None,
        "runners": training.num_env_runners, "arenas_configured": training.num_envs_per_env_runner,
        "arenas_used": sorted(set(shape)) if shape else None,
        "learner_device": str(devices[0]), "learner_threads": threads[0],
    }


# --------------------------------------------------------------------------- the grid (parent process)


def run_child(config: str, overrides: dict, iterations: int, tree: Path | None = None, label: str = "",
              kind: str = "") -> dict:
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = f"{tree}{os.pathsep}{env.get('PYTHONPATH', '')}"
    script = tree / "benchmarks" / Path(__file__).name if tree is not None else Path(__file__)   # its own measure()
    command = [sys.executable, str(script), "--child", json.dumps({"config": config, "overrides": overrides,
                                                                   "iterations": iterations})]
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=tree or Path.cwd(), timeout=1800)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        raise RuntimeError(f"{label}: child failed ({done.returncode}):\n{done.stderr[-3000:]}")
    row = {"label": label, "kind": kind, "config": config, "overrides": overrides,
           "tree": str(tree) if tree else "this", **json.loads(lines[-1])}
    b = row["breakdown_s"]
    print(f"{label:<34} {row['steps_per_s']:>8,} steps/s  {row['s_per_iteration']:.3f} s/it  "
          + "  ".join(f"{k} {v:.3f}" for k, v in b.items()) + f"  chunks {row['chunks_per_iteration']}", flush=True)
    return row


def grid(cores: int, runners: list[int], cuda: bool, scale_runners: int) -> list[tuple[str, str, str, dict]]:
    """(label, kind, config, overrides) of every configuration."""
    rows = []
    for count in runners:
        cpus = min(1.0, cores / count)
        base = {"training.num_env_runners": count, "training.num_cpus_per_env_runner": cpus}
        total = max(1, 128 // count)
        rows.append((f"{count} x {total}", "128 arenas in total", "quickstart",
                     {**base, "training.num_envs_per_env_runner": total}))
        for derived in (False, True):
            tag = "derived" if derived else "as configured"
            extra = {} if derived else {"training.min_fragment_length": 0}
            rows.append((f"{count} x 256 ({tag})", f"256 arenas per runner, {tag}", "quickstart",
                         {**base, "training.num_envs_per_env_runner": 256, **extra}))
    devices = ["cpu", "gpu"] if cuda else ["cpu"]
    for device in devices:
        gpu = {"training.num_gpus_per_learner": 1 if device == "gpu" else 0}
        if device == "gpu":
            rows.append(("quickstart, GPU learner", "gpu", "quickstart", gpu))
        count = min(scale_runners, max(1, cores - 2))
        rows.append((f"scale.yaml, {count} runners, {device} learner", "scale", "scale",
                     {**gpu, "training.num_env_runners": count,
                      "training.num_cpus_per_env_runner": min(1.0, cores / count)}))
    return rows


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pe_rllib.envs.render import save_figure

    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.8))
    series: dict[str, list[tuple[int, int]]] = {}
    for row in rows:
        if "arenas" in row["kind"]:
            series.setdefault(row["kind"], []).append((row["runners"], row["steps_per_s"]))
    for kind, points in series.items():
        points.sort()
        left.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=kind)
    left.set_xlabel("env runners")
    left.set_ylabel("env steps / s (wall)")
    left.set_title("quickstart PPO settings (batch 4,000 x 10 epochs)")
    left.legend()
    parts = ["sample", "learn", "weights", "selfplay", "rest"]
    labels = [row["label"] for row in rows]
    bottom = [0.0] * len(rows)
    for part in parts:
        values = [row["breakdown_s"].get(part, 0.0) for row in rows]
        right.barh(labels, values, left=bottom, label=part)
        bottom = [b + v for b, v in zip(bottom, values)]
    right.set_xlabel("seconds per iteration")
    right.invert_yaxis()
    right.legend(loc="lower right")
    fig.tight_layout()
    save_figure(fig, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    cores = os.cpu_count() or 1
    default_runners = [n for n in (1, 2, 4, 8, 16, 32) if n <= max(4, cores)]
    parser.add_argument("--runners", type=int, nargs="+", default=default_runners)
    parser.add_argument("--scale-runners", type=int, default=14)
    parser.add_argument("--iterations", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=1, help="measure each configuration this many times (median)")
    parser.add_argument("--baseline-tree", type=Path, help="an earlier checkout whose quickstart is the baseline")
    parser.add_argument("--name", default="scaling")
    parser.add_argument("--baseline-only", action="store_true",
                        help="measure only the quickstart of this tree against --baseline-tree's (no grid)")
    parser.add_argument("--resummarize", action="store_true", help="summarize and plot results/NAME.json again")
    args = parser.parse_args()
    if args.resummarize:
        saved = json.loads((Path(__file__).with_name("results") / f"{args.name}.json").read_text())
        raw = [row for row in saved["rows"] if not row.get("summary")]
        summary = summarize(raw)
        save(args.name, [*summary, *raw])
        plot(summary, Path(__file__).with_name("results") / f"{args.name}.png")
        return
    if args.child:
        spec = json.loads(args.child)
        print(json.dumps(measure(spec["config"], spec["overrides"], spec["iterations"])))
        return
    import torch

    cuda = torch.cuda.is_available()
    print(f"{cores} cores, CUDA: {cuda}; {args.iterations} iterations per measurement after 2 warm-up", flush=True)
    rows = []
    plan = [] if args.baseline_only else grid(cores, args.runners, cuda, args.scale_runners)
    for repeat in range(args.repeats):
        if args.baseline_tree is not None:
            rows.append(run_child("quickstart", {}, args.iterations, args.baseline_tree.resolve(),
                                  label=f"quickstart, baseline tree (#{repeat})", kind="baseline"))
            rows.append(run_child("quickstart", {}, args.iterations, label=f"quickstart, this tree (#{repeat})",
                                  kind="quickstart"))
        for label, kind, config, overrides in plan:
            rows.append(run_child(config, overrides, args.iterations, label=label, kind=kind))
    summary = summarize(rows)
    save(args.name, [*summary, *rows])
    plot(summary, Path(__file__).with_name("results") / f"{args.name}.png")
    for row in summary:
        print(f"{row['label']:<40} median {row['steps_per_s']:>8,} steps/s over {row['repeats']} run(s)")


def summarize(rows: list[dict]) -> list[dict]:
    """One row per label: the repeats' median throughput, the breakdown of the run nearest to it."""
    by_label: dict[str, list[dict]] = {}
    for row in rows:
        if row.get("summary"):
            continue
        label = row["label"].split(" (#")[0]
        by_label.setdefault(label, []).append(row)
    out = []
    for label, group in by_label.items():
        median = statistics.median(r["steps_per_s"] for r in group)
        nearest = min(group, key=lambda r: abs(r["steps_per_s"] - median))
        out.append({**nearest, "label": label, "summary": True, "repeats": len(group), "steps_per_s": round(median),
                    "steps_per_s_all": [r["steps_per_s"] for r in group]})
    return out


if __name__ == "__main__":
    main()
