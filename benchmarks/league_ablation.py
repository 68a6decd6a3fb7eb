"""The league mechanisms of issue 21, one at a time, on the same budget, against the yardstick.

    python benchmarks/league_ablation.py --out-dir DIR [--config converge] [--seeds 0 1 2]
        [--variants base exploiters anchors both] [--methods search] [--name league_ablation]
        [--set KEY=VALUE ...]

For every variant and seed: ``pe-rllib train --config CONFIG --set training.seed=SEED`` plus the
variant's settings and every ``--set`` (``base``: the config as it is; ``exploiters``: ``league.exploiters``;
``anchors``: ``league.anchor_every`` at the evaluation cadence; ``both``), then
``benchmarks/exploit_methods.py`` on all the runs: each role's best responses (``--methods``)
against the other trained role, and the trained role, on the same 1,000 evaluation episodes.
Runs are kept in ``DIR/VARIANT-sSEED`` (an existing one is reused, not retrained). Results:
``results/NAME_exploit.json`` (exploit_methods' rows and table) and ``results/NAME.json`` (each run's
variant, seed and training wall time).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from common import save

VARIANTS = {
    "base": [],
    "exploiters": ["league.exploiters=true"],
    "anchors": ["league.anchor_every=50"],
    "both": ["league.exploiters=true", "league.anchor_every=50"],
}


def train(config: str, variant: str, seed: int, run_dir: Path, extra: list[str]) -> float | None:
    """Train one run (skipped when its directory holds a finished run); returns the wall time in seconds
    (None for a reused run)."""
    if (run_dir / "progress.jsonl").exists():
        print(f"{run_dir.name}: reusing the existing run", flush=True)
        return None
    command = [sys.executable, "-m", "pe_rllib.cli", "train", "--config", config, "--output", str(run_dir),
               "--no-dashboard", "--set", f"training.seed={seed}"]
    for setting in [*VARIANTS[variant], *extra]:
        command += ["--set", setting]
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    print(f"{run_dir.name}: trained in {wall:.0f} s", flush=True)
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument("--config", default="converge")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--methods", nargs="+", default=["search"])
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--name", default="league_ablation")
    parser.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
                        help="a config override for every run (e.g. env.evader_v_max=0.8)")
    args = parser.parse_args()
    runs, walls = [], {}
    for seed in args.seeds:
        for variant in args.variants:
            run_dir = args.out_dir / f"{variant}-s{seed}"
            walls[str(run_dir)] = {"variant": variant, "seed": seed,
                                   "train_wall_s": train(args.config, variant, seed, run_dir, args.settings)}
            runs.append(str(run_dir))
    name = f"{args.name}_exploit"
    subprocess.run([sys.executable, str(Path(__file__).with_name("exploit_methods.py")), *runs, "--name", name,
                    "--episodes", str(args.episodes), "--methods", *args.methods], check=True)
    save(args.name, [{"run": run, "config": args.config, "settings": args.settings, **walls[run]} for run in runs])


if __name__ == "__main__":
    main()
