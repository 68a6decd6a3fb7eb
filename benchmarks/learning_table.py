"""The issue 11 learning-quality table from ``exploit_quickstart.py`` results, with the verdict per seed.

    python benchmarks/learning_table.py results/exploit_converge_anchors.json [more.json ...] [--label NAME ...]

Per seed: both best-response gaps (budget: the run's own env steps), both shortfalls (best
scripted policy of the role minus the trained role, against the same trained opponent),
trained-vs-trained capture, the trained roles against the scripted sets, and whether the
seed meets the target:

* both gaps at most ``--max-gap`` (0.10), on the point estimate;
* both shortfalls' upper 95 % bounds at most ``--tolerance`` (0.05): the trained role's
  success is at least every scripted policy's, within the tolerance, at the 95 % level
  (the strict reading: the whole interval, not just the point, must clear it);
* not degenerate: self-play capture and escape both in [0.1, 0.9].

Prints a Markdown table (one row per seed, then the mean) and a one-line summary per file.
The shortfalls here are the exploit runs' (1,000 episodes, intervals of about +-0.04); the
verdict BENCHMARKS.md reports uses ``shortfall.py`` (4,000 episodes), which is tighter.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path


def _interval(pair: list[float]) -> str:
    return f"[{pair[0]:+.3f}, {pair[1]:+.3f}]"


def verdict(row: dict, max_gap: float, tolerance: float) -> tuple[bool, list[str]]:
    """Whether a seed meets the target, and what it misses (empty when it meets it)."""
    misses = []
    for role in ("pursuer", "evader"):
        if row[role]["gap"] > max_gap:
            misses.append(f"{role} gap {row[role]['gap']:+.3f}")
        scripted = row[role]["best_scripted"]
        if scripted["ci95"][1] > tolerance:
            misses.append(f"{role} trails {scripted['name']} by {scripted['gap']:+.3f} {_interval(scripted['ci95'])}")
    capture = row["strength"]["trained_capture"]
    escape = row["evader"]["trained"]
    if not (0.1 <= capture <= 0.9 and 0.1 <= escape <= 0.9):
        misses.append(f"degenerate (capture {capture:.2f}, escape {escape:.2f})")
    return not misses, misses


def table(rows: list[dict], label: str, max_gap: float, tolerance: float) -> list[str]:
    lines = []
    for row in rows:
        ok, misses = verdict(row, max_gap, tolerance)
        p, e, s = row["pursuer"], row["evader"], row["strength"]
        lines.append(
            f"| {label} | {row['seed']} | {p['gap']:+.3f} {_interval(p['gap_ci95'])} | "
            f"{e['gap']:+.3f} {_interval(e['gap_ci95'])} | "
            f"{p['best_scripted']['gap']:+.3f} {_interval(p['best_scripted']['ci95'])} | "
            f"{e['best_scripted']['gap']:+.3f} {_interval(e['best_scripted']['ci95'])} "
            f"({e['best_scripted']['name']}) | "
            f"{s['trained_capture']:.3f} | {s['pursuer_vs_scripted']:.3f} | {s['evader_vs_scripted']:.3f} | "
            f"{'yes' if ok else 'no: ' + '; '.join(misses)} |")
    mean = {key: statistics.fmean(value(row) for row in rows) for key, value in {
        "pg": lambda r: r["pursuer"]["gap"], "eg": lambda r: r["evader"]["gap"],
        "ps": lambda r: r["pursuer"]["best_scripted"]["gap"], "es": lambda r: r["evader"]["best_scripted"]["gap"],
        "c": lambda r: r["strength"]["trained_capture"], "pv": lambda r: r["strength"]["pursuer_vs_scripted"],
        "ev": lambda r: r["strength"]["evader_vs_scripted"]}.items()}
    met = sum(verdict(row, max_gap, tolerance)[0] for row in rows)
    lines.append(f"| {label} | mean | {mean['pg']:+.3f} | {mean['eg']:+.3f} | {mean['ps']:+.3f} | {mean['es']:+.3f} | "
                 f"{mean['c']:.3f} | {mean['pv']:.3f} | {mean['ev']:.3f} | {met} of {len(rows)} |")
    return lines


HEADER = ("| config | seed | pursuer gap [95% CI] | evader gap [95% CI] | pursuer shortfall [95% CI] | "
          "evader shortfall [95% CI] | trained capture | pursuer vs scripted | evader vs scripted | target met |\n"
          "|---|---|---|---|---|---|---:|---:|---:|---|")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", type=Path, help="exploit_quickstart.py result files")
    parser.add_argument("--label", action="append", default=[], help="a label per file (default: its name)")
    parser.add_argument("--max-gap", type=float, default=0.10)
    parser.add_argument("--tolerance", type=float, default=0.05)
    args = parser.parse_args()
    if args.label and len(args.label) != len(args.results):
        parser.error(f"--label: give one per file ({len(args.results)}), got {len(args.label)}")
    print(HEADER)
    summaries = []
    for i, path in enumerate(args.results):
        rows = json.loads(path.read_text())["rows"]
        label = args.label[i] if args.label else path.stem.removeprefix("exploit_")
        print("\n".join(table(rows, label, args.max_gap, args.tolerance)))
        met = sum(verdict(row, args.max_gap, args.tolerance)[0] for row in rows)
        summaries.append(f"{label}: target met on {met} of {len(rows)} seeds")
    print()
    print("\n".join(summaries))


if __name__ == "__main__":
    main()
