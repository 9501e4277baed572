"""The report's figures, each as PNG and PDF, in lstm_bench.figures' style (one look per model everywhere).

    solve_rate         solve rate against T (log axis), a line per model with its 95% Wilson band, a panel
                       per task; the models' points moved apart by a small factor (figures.dodge) so that
                       none hides behind another
    t50                T50 per model and task (the length solved half the time, stats.fit_t50): a dot with
                       its 95% credible interval, every run it rests on as a faint point behind it (filled:
                       solved on test); a T50 that is only a bound (every run solved, none did) drawn as the
                       bound it is, an arrow, never as a dot; from the T50 search's rows where there is one
    grad_through_time  the gradient through time against the lag, fresh (dashed) and trained (solid)  } curves.py:
    learning_curves    the validation metric and loss against the step, median and IQR over seeds    } from each
    forget_timescales  the forget gate's per-unit timescales at initialisation and after training     } run's files
    steps_to_solve     steps to solve against T: median and interquartile range over the seeds that solved
    test_length        the test metric against the test length (where runs were tested at other lengths
                       than they trained at), the training range shaded: a panel per task (three to a row), a
                       line per model, one shared legend under the panels when they hold more than eight models

Every figure is built by a function that returns the Figure (None when the records hold nothing for it), so
a test can read what was drawn; draw() saves them. The numbers are the tables' (tables.py: a solve is the
test-set verdict, the Wilson interval, steps as median and quartiles, the T50 fits), never recomputed here.
"""
from __future__ import annotations

import math
import sys
from collections import defaultdict
from functools import partial
from pathlib import Path
from typing import NamedTuple

from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import NullLocator

from lstm_bench.figures import (BAND_ALPHA, FAINT_ALPHA, LEGEND_SIZE, PANEL, dodge, model_handle, model_style, new_figure,
                                panels, save_all)
from lstm_bench.report import curves
from lstm_bench.report.stats import T50, T50_INTERVAL
from lstm_bench.report.tables import LengthTable, Row, Tables, fits, setting_text

DODGE = 0.3  # the models' points at one T spread over this share of the narrowest gap between lengths...
DODGE_MAX = 0.08  # ...and over at most this many decades (a single length has no gap)
ARROW = 1.5  # a censored bound's arrow spans this factor of T
MIN_TICK_GAP = 0.15  # decades between two length ticks of a T50 panel


def length_axis(ax, lengths) -> None:
    """A log axis of T ticked at the lengths that ran, in plain numbers."""
    ticks = sorted(set(lengths))
    ax.set_xscale("log")
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticks(ticks, [str(T) for T in ticks])


def spread(lengths) -> float:
    """Decades the dodged points of one T spread over: a share of the narrowest gap between the lengths."""
    logs = sorted({math.log10(T) for T in lengths if T > 0})
    gaps = [b - a for a, b in zip(logs, logs[1:])]
    return min(DODGE * min(gaps), DODGE_MAX) if gaps else DODGE_MAX


def _series(rows: list[Row], task: str) -> dict[str, list[Row]]:
    """label -> the task's rows of that label, by length: one line each."""
    by = defaultdict(list)
    for r in rows:
        if r.task == task:
            by[r.label].append(r)
    return {label: sorted(rs, key=lambda r: r.length) for label, rs in sorted(by.items())}


def _model_lines(rows: list[Row]):
    """A panel per task: (figure, {task: axes}, and per model of each task (axes, label, its rows by length,
    its dodge: lengths -> where to draw them))."""
    tasks = sorted({r.task for r in rows})
    fig, ax = panels(tasks)
    lines = []
    for task in tasks:
        series = _series(rows, task)
        width = spread([r.length for r in rows if r.task == task])
        lines += [(ax[task], label, rs, partial(dodge, i=i, n=len(series), spread=width))
                  for i, (label, rs) in enumerate(series.items())]
    return fig, ax, lines


def solve_rate(rows: list[Row]) -> Figure:
    fig, ax, lines = _model_lines(rows)
    for a, label, rs, shift in lines:
        rs = [r for r in rs if r.counted]  # a length whose runs were all interrupted has no rate to draw
        if not rs:
            continue
        xs = shift([r.length for r in rs])
        lo, hi = zip(*(r.solve_ci for r in rs))
        style = model_style(label)
        a.fill_between(xs, lo, hi, color=style.color, alpha=BAND_ALPHA, lw=0)
        a.plot(xs, [r.solve_rate for r in rs], **style.line(), ms=5, label=label)
    for task, a in ax.items():
        a.set(title=task, xlabel="T", ylabel="solve rate (95% Wilson band)", ylim=(-0.03, 1.03))
        length_axis(a, [r.length for r in rows if r.task == task])
        a.legend(fontsize=LEGEND_SIZE)
    return fig


def _bound(a, x: float, y: float, direction: int, color: str) -> None:
    """A censored T50: a bar at the bound x and an arrow pointing the way the true value lies."""
    a.plot([x], [y], marker="|", ms=10, mew=2, color=color, ls="none")
    a.annotate("", xy=(x * ARROW ** direction, y), xytext=(x, y),
               arrowprops=dict(arrowstyle="-|>", color=color, lw=1.5, shrinkA=0, shrinkB=0))


class T50Line(NamedTuple):
    """One line of the T50 figure: a model (and setting) on a task, its T50, and every run it rests on."""
    task: str
    label: str
    fit: T50
    runs: list  # (length, solved on test)


def t50_lines(t: Tables) -> list[T50Line]:
    """The T50 search's rows where the sweep was one (its measurement runs), else the grid's fits (every run)."""
    if t.searches:
        return [T50Line(r.task, r.model + (f" {r.setting}" if r.setting else ""), r.fit,
                        [(x.result["length"], x.solved) for x in r.measured]) for r in t.searches]
    res, fitted = t.results, fits(t.results)
    out = []
    for task in sorted({r.task for r in res.rows}):
        for label, rs in _series(res.rows, task).items():
            fit = fitted[(task, rs[0].model, setting_text(res.keys, rs[0].setting))]
            out.append(T50Line(task, label, fit, [(r.length, run.solved) for r in rs for run in r.runs]))
    return out


def t50(lines: list[T50Line]) -> Figure | None:
    if not lines:
        return None
    tasks = sorted({ln.task for ln in lines})
    n_models = max(sum(ln.task == task for ln in lines) for task in tasks)
    fig, ax = panels(tasks, panel_size=(PANEL[0], 1.2 + 0.45 * n_models))
    for task in tasks:
        a, mine = ax[task], [ln for ln in lines if ln.task == task]
        lengths = sorted({T for ln in mine for T, _ in ln.runs})
        ticks = []
        for y, ln in enumerate(reversed(mine)):
            style = model_style(ln.label)
            # every run at its length: solved (on test) filled above the line, unsolved hollow below it
            for solved, dy in ((True, 0.22), (False, -0.22)):
                xs = [T for T, ok in ln.runs if ok == solved]
                if xs:
                    a.plot(xs, [y + dy] * len(xs), marker=style.marker, ms=4, ls="none", alpha=FAINT_ALPHA,
                           color=style.color, mfc=style.color if solved else "none")
            # an open end stops at this model's own shortest or longest run: the lengths its data reach
            _draw_t50(a, ln.fit, y, style.color, style.marker, sorted({T for T, _ in ln.runs}) or lengths)
            ticks.append(f"{ln.label}\n({sum(ok for _, ok in ln.runs)}/{len(ln.runs)} runs solved)")
        a.set_yticks(range(len(ticks)), ticks, fontsize=8)
        a.set_ylim(-0.6, len(ticks) - 0.4)
        length_axis(a, _few(lengths))
        a.set_xlim(lengths[0] / ARROW ** 1.6, lengths[-1] * ARROW ** 1.6)
        a.set_title(task)
        a.set_xlabel("T")
    fig.supxlabel(f"T50 with its {T50_INTERVAL}; faint: every run, filled solved on test, hollow not", fontsize=8)
    return fig


def _few(lengths: list[int], most: int = 8) -> list[int]:
    """At most `most` of the lengths, spread over their range, for the axis ticks (a search runs many)."""
    picked = lengths if len(lengths) <= most else sorted(
        {lengths[round(i * (len(lengths) - 1) / (most - 1))] for i in range(most)})
    kept = picked[:1]
    for T in picked[1:]:  # labels closer than this many decades overprint each other
        if math.log10(T) - math.log10(kept[-1]) >= MIN_TICK_GAP:
            kept.append(T)
    return kept


def _draw_t50(a, fit, y: float, color: str, marker: str, lengths: list[int]) -> None:
    if fit.kind == "fit":
        # an interval end that runs off the lengths that ran (the prior's, not the data's) ends in an arrow
        lo = fit.lo if fit.lo else lengths[0]
        hi = fit.hi if math.isfinite(fit.hi) else lengths[-1]
        a.plot([lo, hi], [y, y], color=color, lw=2)
        if not fit.lo:
            _bound(a, lo, y, -1, color)
        if not math.isfinite(fit.hi):
            _bound(a, hi, y, +1, color)
        a.plot([fit.value], [y], marker=marker, ms=8, color=color, mec="white", ls="none")
        return
    if fit.kind == "above":
        _bound(a, fit.lo, y, +1, color)
    elif fit.kind == "below":
        _bound(a, fit.hi, y, -1, color)
    else:
        a.text(math.sqrt(lengths[0] * lengths[-1]), y, "n/a", ha="center", va="center", fontsize=8, color=color)
        return
    a.text(fit.lo if fit.kind == "above" else fit.hi, y + 0.22, fit.text(), ha="center", fontsize=7, color=color)


def steps_to_solve(rows: list[Row]) -> Figure:
    fig, ax, lines = _model_lines(rows)
    for a, label, rs, shift in lines:
        pts = [(r.length, r.steps) for r in rs if r.steps.n]
        if pts:
            med = [m.median for _, m in pts]
            err = [[m.median - m.q1 for _, m in pts], [m.q3 - m.median for _, m in pts]]
            a.errorbar(shift([T for T, _ in pts]), med, yerr=err, **model_style(label).line(), ms=5, capsize=3,
                       label=label)
    for task, a in ax.items():
        a.set(title=task, xlabel="T", ylabel="steps to solve (median, IQR; solved seeds)")
        length_axis(a, [r.length for r in rows if r.task == task])
        if a.get_legend_handles_labels()[0]:
            a.legend(fontsize=LEGEND_SIZE)
        else:
            a.text(0.5, 0.5, "nothing solved", ha="center", transform=a.transAxes)
    return fig


GRID_COLUMNS = 3  # more panels than this wrap into rows
LEGEND_EACH = 8  # more models than this share one legend, under the panels, instead of one per panel


def by_test_length(lt: LengthTable) -> Figure:
    keys = sorted({(row.task, row.length) for row, _, _ in lt.rows})
    ncols = min(GRID_COLUMNS, len(keys))
    nrows = math.ceil(len(keys) / ncols)
    fig, axes = new_figure(nrows, ncols, panel_size=PANEL)
    ax = {k: axes[i // ncols, i % ncols] for i, k in enumerate(keys)}
    for a in axes.flat[len(keys):]:
        a.set_visible(False)
    labels = sorted({row.label for row, _, _ in lt.rows})
    shared = len(labels) > LEGEND_EACH
    for row, metric, st in lt.rows:
        a = ax[row.task, row.length]
        pts = [(n, s.mean, s.std or 0.0) for n, s in sorted(st.items()) if s.n]
        if pts:
            xs, ys, es = zip(*pts)
            a.errorbar(xs, ys, yerr=es, **model_style(row.label).line(), ms=5, capsize=2, label=row.label)
        a.set_ylabel(f"test {metric} (mean ± std)")
    for (task, T), a in ax.items():
        tested = [n for row, _, st in lt.rows if (row.task, row.length) == (task, T) for n in st]
        lo, hi = min(tested + [T]) / 1.25, max(tested + [T]) * 1.25  # a log axis: a margin by a factor
        a.axvspan(lo, T, color="0.88", zorder=0, label="training lengths")
        length_axis(a, tested)
        a.set(title=f"{task}, trained at T={T}", xlabel="test T", xlim=(lo, hi))
        if not shared:
            a.legend(fontsize=LEGEND_SIZE)
    if shared:  # one legend for every panel: each model once, in one look everywhere
        handles = [model_handle(label, label=label) for label in labels]
        handles.append(Patch(color="0.88", label="training lengths"))
        fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 6), fontsize=LEGEND_SIZE)
    return fig


def figures(t: Tables) -> dict[str, Figure]:
    """Every figure the records allow, by file stem; a figure that fails costs itself and one line on stderr."""
    rows, root = t.results.rows, t.sweep.root
    if not rows:
        return {}
    makers = {"solve_rate": lambda: solve_rate(rows), "t50": lambda: t50(t50_lines(t)),
              "grad_through_time": lambda: curves.grad_through_time(rows, root),
              "learning_curves": lambda: curves.learning_curves(rows, root),
              "forget_timescales": lambda: curves.forget_timescales(rows, root),
              "steps_to_solve": lambda: steps_to_solve(rows)}
    if t.lengths is not None:
        makers["test_length"] = lambda: by_test_length(t.lengths)
    out = {}
    for name, make in makers.items():
        try:
            fig = make()
        except Exception as err:  # noqa: BLE001: one figure's problem must not cost the others
            print(f"warning: figure {name} failed: {type(err).__name__}: {err}".splitlines()[0], file=sys.stderr)
            continue
        if fig is not None:
            out[name] = fig
    return out


def draw(t: Tables, out_dir: Path) -> list[Path]:
    """The figures into out_dir, NAME.png and NAME.pdf each; the list of files written."""
    figs = figures(t)
    if not figs:
        return []
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return [p for name, fig in figs.items() for p in save_all(fig, out_dir / name)]
