"""How the commands print: progress counters, aligned tables with intervals, the training progress line,
exploit summaries."""

from __future__ import annotations

import sys
import time
from typing import Sequence


class Progress:
    """A one-line progress counter on stderr (rewritten in place on a terminal)."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.start = time.perf_counter()
        self.tty = sys.stderr.isatty()

    def __call__(self, done: int, total: int) -> None:
        line = f"{self.label}: {done}/{total} episodes ({time.perf_counter() - self.start:.1f} s)"
        if self.tty:
            print(f"\r{line}", end="" if done < total else "\n", file=sys.stderr, flush=True)
        elif done == total:
            print(line, file=sys.stderr, flush=True)


def fmt(value, spec: str = ".2f") -> str:
    return "-" if value is None or (isinstance(value, float) and value != value) else format(value, spec)


def cell(row: dict, key: str, fmt: str) -> str:
    """A value, with its 95 % interval when the row has one (``0.540 [0.484,0.595]``)."""
    if row.get(key) is None:
        return "-"
    text = fmt.format(row[key])
    interval = row.get("ci95", {}).get(key)
    return f"{text} [{interval[0]:.3f},{interval[1]:.3f}]" if interval and "{:.3f}" == fmt else text


def aligned(rows: Sequence[Sequence[str]]) -> str:
    """Rows of strings (the first is the header) as left-aligned columns."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows)


def format_table(rows: list[dict]) -> str:
    """Matchup rows (``MatchupResult.to_dict()``) as an aligned table; rates with Wilson 95 % intervals."""
    columns = [("pursuer", "pursuer", "{}"), ("evader", "evader", "{}"), ("episodes", "episodes", "{}"),
               ("capture", "capture_rate", "{:.3f}"), ("escape", "escape_rate", "{:.3f}"),
               ("collision", "collision_rate", "{:.3f}"), ("t_capture[s]", "mean_time_to_capture", "{:.2f}"),
               ("interventions", "intervention_rate", "{:.3f}")]
    if any(row.get("miss_distance") for row in rows):       # the aerial world: closest approach and effort
        columns[-1:] = [("miss p50 [p10,p90] m", "miss_distance", "miss"), ("effort P/E", "effort", "effort")]
    cells = [[h for h, _, _ in columns]]
    for row in rows:
        cells.append([_aerial_cell(row[key], fmt) if fmt in ("miss", "effort") else cell(row, key, fmt)
                      for _, key, fmt in columns])
    return aligned(cells)


def _aerial_cell(value: dict | None, kind: str) -> str:
    if not value:
        return "-"
    if kind == "miss":
        return f"{value['p50']:.2f} [{value['p10']:.2f},{value['p90']:.2f}]"
    return f"{value['pursuer']:.0f}/{value['evader']:.0f}"


def interval(value: float, ci95, spec: str = ".3f") -> str:
    return f"{value:{spec}} [{ci95[0]:{spec}},{ci95[1]:{spec}}]"


def progress_line(report) -> str:
    f = report.figures
    width = len(str(report.stop_iterations))
    evaluation = ""
    if "eval_pursuer_vs_scripted" in f:
        evaluation = (f"\n  eval vs scripted: pursuer capture {fmt(f['eval_pursuer_vs_scripted'])}  "
                      f"evader escape {fmt(f['eval_evader_vs_scripted'])}  trained-vs-trained capture "
                      f"{fmt(f['eval_trained_capture'])} (best scripted pursuer "
                      f"{fmt(f['eval_best_scripted_capture'])})")
        if "eval_pursuer_vs_pool" in f or "eval_evader_vs_pool" in f:
            evaluation += (f"\n  eval vs own snapshots: pursuer capture {fmt(f.get('eval_pursuer_vs_pool'))}  "
                           f"evader escape {fmt(f.get('eval_evader_vs_pool'))}")
    return (f"iter {report.iteration:>{width}}/{report.stop_iterations}  phase {f.get('phase', '-'):>2} "
            f"[{f.get('training_roles', '-'):<15}]  capture {fmt(f.get('capture_rate'))}  "
            f"escape {fmt(f.get('escape_rate'))}  collision {fmt(f.get('collision_rate'))}  "
            f"gap {fmt(f.get('balance_gap'))}  episodes {f.get('episodes', 0):>3}  "
            f"{fmt(report.steps_per_second, '.0f')} steps/s  ({report.env_steps_lifetime:,} steps)" + evaluation)


def exploit_lines(summary: dict) -> list[str]:
    """A role's exploit result (``ExploitResult.summary()``): each method's best response and gap, the
    strongest, and the best fixed scripted policy."""
    role, what = summary["role"], summary["success"].split("_")[0]
    methods = summary.get("methods") or {summary.get("method", "rl-fresh"): summary}
    lines = [f"{role}: trained {role} vs {summary['opponent']}: {what} "
             f"{interval(summary['trained'], summary['trained_ci95'])}"]
    for name, m in methods.items():
        budget = f", {m['budget_env_steps']:,} env steps" if m.get("budget_env_steps") else ""
        lines.append(f"{role}: best response by {name}{budget}: {what} "
                     f"{interval(m['best_response'], m['best_response_ci95'])}, gap "
                     f"{interval(m['gap'], m['gap_ci95'], '+.3f')}")
        if m.get("params"):
            lines.append(f"{role}:   searched controller: " + ", ".join(f"{k}={v:g}" for k, v in m["params"].items()))
    line = f"{role}: gap {interval(summary['gap'], summary['gap_ci95'], '+.3f')} (strongest: {summary['method']})"
    scripted = summary.get("best_scripted")
    if scripted:
        line += f"; best fixed scripted ({scripted['name']}) gap {interval(scripted['gap'], scripted['ci95'], '+.3f')}"
    return lines + [line]


def verdict_line(summaries: dict, threshold: float) -> str:
    from pe_rllib.evaluation.exploitability import verdict

    return verdict({role: {"gap": s["gap"], "ci95": s["gap_ci95"], "method": s.get("method"),
                           "bounds": s.get("gap_bounds")} for role, s in summaries.items()}, threshold)


def ago(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit} ago"
    return f"{seconds:.0f} s ago"
