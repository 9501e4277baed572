"""The report's pictures (PNG), from the rows of the results table, in lstm_bench.figures' style.

    solve_rate.png         solve rate against T, a line per model, a panel per task
    steps_to_solve.png     steps to solve against T (mean ± std over the seeds that solved)
    grad_through_time.png  log10 ‖∂L/∂h‖ against the lag k (steps back from the scored step) at one T per
                           task, every model: the fresh model dashed, the trained one solid (from
                           diagnostics.jsonl, where the runs have it; records without a lag curve: against t)
    test_length.png        the test metric against the test length, a line per model (mean ± std over seeds), a
                           panel per task and training length, the training range shaded (where runs were
                           tested at other lengths than they trained at)
"""
from __future__ import annotations

import json
import math
import sys
from collections import defaultdict
from pathlib import Path

from matplotlib.ticker import NullLocator

from lstm_bench.figures import new_figure, save
from lstm_bench.report.tables import LengthTable, Row, Tables

PANEL = (4.5, 3.6)  # inches per task


def _panels(tasks: list[str]):
    fig, axes = new_figure(1, len(tasks), panel_size=PANEL)
    return fig, dict(zip(tasks, axes[0]))


def _length_axis(ax, lengths) -> None:
    """A log axis of T ticked at the lengths that ran, in plain numbers."""
    ticks = sorted(set(lengths))
    ax.set_xscale("log")
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticks(ticks, [str(T) for T in ticks])


def solve_rate(rows: list[Row], path: Path) -> Path:
    by = defaultdict(list)
    for r in rows:
        by[(r.task, r.label)].append((r.length, r.solve_rate))
    fig, ax = _panels(sorted({r.task for r in rows}))
    for (task, label), pts in sorted(by.items()):
        xs, ys = zip(*sorted(pts))
        ax[task].plot(xs, ys, marker="o", label=label)
    for task, a in ax.items():
        a.set(title=task, xlabel="T", ylabel="solve rate", ylim=(-0.05, 1.05))
        _length_axis(a, [r.length for r in rows if r.task == task])
        a.legend(fontsize=8)
    return save(fig, path)


def steps_to_solve(rows: list[Row], path: Path) -> Path:
    by = defaultdict(list)
    for r in rows:
        st = r.stats["steps_to_solve"]
        if st.n:
            by[(r.task, r.label)].append((r.length, st.mean, st.std or 0.0))
    fig, ax = _panels(sorted({r.task for r in rows}))
    for (task, label), pts in sorted(by.items()):
        xs, ys, es = zip(*sorted(pts))
        ax[task].errorbar(xs, ys, yerr=es, marker="o", capsize=3, label=label)
    for task, a in ax.items():
        a.set(title=task, xlabel="T", ylabel="steps to solve (solved seeds)")
        _length_axis(a, [r.length for r in rows if r.task == task])
        if a.get_legend_handles_labels()[0]:
            a.legend(fontsize=8)
        else:
            a.text(0.5, 0.5, "nothing solved", ha="center", transform=a.transAxes)
    return save(fig, path)


def _probes(run_dir: Path) -> list[dict]:
    """The diagnostics probes of a run that carry a gradient curve; [] if there are none or the file is bad."""
    rows = []
    try:
        with open(run_dir / "diagnostics.jsonl") as f:
            for line in f:
                try:
                    row = json.loads(line)
                except ValueError:
                    continue  # a half-written last line
                if isinstance(row, dict) and isinstance(row.get("grad_h"), list) and row["grad_h"]:
                    rows.append(row)
    except OSError:
        return []
    return rows


def _log10(v) -> float:
    # the diagnostics floor an underflowed norm at float64's smallest normal number
    return math.log10(max(v, sys.float_info.min)) if isinstance(v, (int, float)) and math.isfinite(v) else math.nan


def gradient_curves(rows: list[Row], root: Path) -> dict:
    """Per task: (T, {label: (first probe, last probe)}) at the T where the most models have
    diagnostics (the longest such T), from each model's lowest seed that has them."""
    found = defaultdict(dict)  # (task, T) -> label -> probes
    for r in rows:
        for run in sorted(r.runs, key=lambda run: run.result["seed"]):
            probes = _probes(root / run.path)
            if probes:
                found[(r.task, r.length)][r.label] = probes
                break
    best = {}
    for (task, T), curves in found.items():
        score = (len(curves), T)
        if task not in best or score > best[task][0]:
            best[task] = (score, T, curves)
    return {task: (T, {lab: (p[0], p[-1]) for lab, p in sorted(curves.items())})
            for task, (_, T, curves) in best.items()}


def grad_through_time(rows: list[Row], root: Path, path: Path) -> Path | None:
    curves = gradient_curves(rows, root)
    if not curves:
        return None
    fig, ax = _panels(sorted(curves))
    for task, (T, by_label) in sorted(curves.items()):
        a = ax[task]
        probes = [p for pair in by_label.values() for p in pair]
        key = "grad_h_lag" if all(isinstance(p.get("grad_h_lag"), list) for p in probes) else "grad_h"
        for i, (label, (first, last)) in enumerate(by_label.items()):
            for probe, style in ((first, "--"), (last, "-")):
                ys = [_log10(v) for v in probe[key]]
                a.plot(range(len(ys)), ys, style, color=f"C{i}", label=f"{label}, step {probe.get('step', '?')}")
        xlabel, ylabel = ("lag k", "log10 ‖∂L/∂h_(end-k)‖") if key == "grad_h_lag" else ("t", "log10 ‖∂L/∂h_t‖")
        a.set(title=f"{task}, T={T}", xlabel=xlabel, ylabel=ylabel)
        a.legend(fontsize=7)
    return save(fig, path)


def by_test_length(lt: LengthTable, path: Path) -> Path:
    panels = sorted({(row.task, row.length) for row, _, _ in lt.rows})
    fig, axes = new_figure(1, len(panels), panel_size=PANEL)
    ax = dict(zip(panels, axes[0]))
    for row, metric, st in lt.rows:
        a = ax[row.task, row.length]
        pts = [(n, s.mean, s.std or 0.0) for n, s in sorted(st.items()) if s.n]
        if pts:
            xs, ys, es = zip(*pts)
            a.errorbar(xs, ys, yerr=es, marker="o", capsize=2, label=row.label)
        a.set_ylabel(f"test {metric}")
    for (task, T), a in ax.items():
        tested = [n for row, _, st in lt.rows if (row.task, row.length) == (task, T) for n in st]
        lo, hi = min(tested + [T]) / 1.25, max(tested + [T]) * 1.25  # a log axis: a margin by a factor
        a.axvspan(lo, T, color="0.88", zorder=0, label="training lengths")
        _length_axis(a, tested)
        a.set(title=f"{task}, trained at T={T}", xlabel="test T", xlim=(lo, hi))
        a.legend(fontsize=7)
    return save(fig, path)


def draw(t: Tables, out_dir: Path) -> list[Path]:
    """The PNGs into out_dir; the list of files written."""
    rows = t.results.rows
    if not rows:
        return []
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [solve_rate(rows, out_dir / "solve_rate.png"), steps_to_solve(rows, out_dir / "steps_to_solve.png")]
    g = grad_through_time(rows, t.sweep.root, out_dir / "grad_through_time.png")
    if t.lengths is not None:
        written.append(by_test_length(t.lengths, out_dir / "test_length.png"))
    return written + ([g] if g else [])
