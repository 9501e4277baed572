"""The report's figures drawn from each run's own files (diagnostics.jsonl, metrics.jsonl), at one T per task.

    grad_through_time  log10 ‖∂l/∂h‖ against the lag k (steps back from the scored step), every model: the
                       first probe (the fresh model) dashed, the last (trained) solid; from each model's lowest
                       seed that has probes (records without a lag curve: against the step t)
    learning_curves    the validation metric (top) and loss (bottom) against the training step, the median
                       over seeds with the interquartile range as a band, the memoryless baseline dotted
    forget_timescales  the forget gate's per-unit timescale τ = −1/ln(mean f) over the probe's real steps, as
                       the share of units with τ ≤ x: the first probe dashed, the last solid, the units of every
                       seed pooled; every model whose probes record `forget_unit_mean` (the LSTM family)

One T per task: the length where the most models have the files, the longest of equals. A run that stopped
early because it solved the task keeps its last value in the learning curves' later steps (it stays
solved); a run that stopped for another reason (diverged, crashed) leaves the median at its last step.
"""
from __future__ import annotations

import json
import math
import sys
from collections import defaultdict
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import LogLocator, NullFormatter

from lstm_bench.figures import BAND_ALPHA, BASELINE, LEGEND_SIZE, model_handle, model_style, panels
from lstm_bench.records import Status
from lstm_bench.report.stats import finite, quartiles
from lstm_bench.report.tables import Row

MARKS = 6  # markers per curve: enough to tell the models apart, few enough to read the line
FRESH, TRAINED = "--", "-"  # the first probe's line style and the last's


def read_rows(path: Path) -> list[dict]:
    """The JSON objects of a .jsonl file, skipping a half-written line; [] if it cannot be read."""
    rows = []
    try:
        with open(path) as f:
            for line in f:
                try:
                    row = json.loads(line)
                except ValueError:
                    continue
                if isinstance(row, dict):
                    rows.append(row)
    except OSError:
        return []
    return rows


def at_one_length(found: dict) -> dict:
    """{(task, T): {label: data}} -> {task: (T, {label: data})} at the T with the most labels, the longest of
    equals."""
    best = {}
    for (task, T), by_label in found.items():
        if by_label and (task not in best or (len(by_label), T) > (len(best[task][1]), best[task][0])):
            best[task] = (T, by_label)
    return {task: (T, dict(sorted(by_label.items()))) for task, (T, by_label) in sorted(best.items())}


def _legend(a, labels, extra=()) -> None:
    a.legend(handles=[model_handle(label, ls="-") for label in labels] + list(extra), fontsize=LEGEND_SIZE)


def _phase_handles() -> list[Line2D]:
    return [Line2D([], [], color="0.3", ls=FRESH, label="at initialisation (first probe)"),
            Line2D([], [], color="0.3", ls=TRAINED, label="after training (last probe)")]


def marks(n_points: int, i: int, n_series: int) -> tuple[int, int]:
    """markevery for the i-th of n series: MARKS markers, each series' shifted, so that curves drawn on top
    of each other still show every model's markers."""
    every = max(n_points // MARKS, 1)
    return (i * every) // max(n_series, 1), every


def _log10(v) -> float:
    # the diagnostics floor an underflowed norm at float64's smallest normal number
    v = finite(v)
    return math.nan if v is None else math.log10(max(v, sys.float_info.min))


def gradient_probes(rows: list[Row], root: Path) -> dict:
    """Per task: (T, {label: (first probe, last probe)}) from each label's lowest seed with a gradient curve."""
    found = defaultdict(dict)
    for r in rows:
        for run in sorted(r.runs, key=lambda run: run.result["seed"]):
            probes = [p for p in read_rows(root / run.path / "diagnostics.jsonl")
                      if isinstance(p.get("grad_h"), list) and p["grad_h"]]
            if probes:
                found[(r.task, r.length)][r.label] = (probes[0], probes[-1])
                break
    return at_one_length(found)


def grad_through_time(rows: list[Row], root: Path) -> Figure | None:
    curves = gradient_probes(rows, root)
    if not curves:
        return None
    fig, ax = panels(list(curves))
    for task, (T, by_label) in curves.items():
        a = ax[task]
        probes = [p for pair in by_label.values() for p in pair]
        key = "grad_h_lag" if all(isinstance(p.get("grad_h_lag"), list) and p["grad_h_lag"] for p in probes) \
            else "grad_h"
        for i, (label, pair) in enumerate(by_label.items()):
            style = model_style(label)
            for probe, ls in zip(pair, (FRESH, TRAINED)):
                ys = [_log10(v) for v in probe[key]]
                a.plot(range(len(ys)), ys, color=style.color, marker=style.marker, ms=4, ls=ls,
                       markevery=marks(len(ys), i, len(by_label)))
        spans = [p["dependency_range"] for p in probes if isinstance(p.get("dependency_range"), list)]
        if key == "grad_h_lag" and spans:  # where the dependencies start, in lags
            a.axvspan(min(s[0] for s in spans), max(s[1] for s in spans), color="0.5", alpha=0.12, lw=0,
                      label="dependency lengths")
        if key == "grad_h_lag":
            xlabel, ylabel = "lag k (steps back from the scored step)", "log10 ‖∂l/∂h_(end−k)‖"
        else:
            xlabel, ylabel = "t (no lag curve recorded)", "log10 ‖∂L/∂h_t‖"
        a.set(title=f"{task}, T={T}", xlabel=xlabel, ylabel=ylabel)
        _legend(a, by_label, _phase_handles())
    return fig


def _curve(metrics: list[dict], key: str) -> list[tuple[int, float]]:
    return [(int(m["step"]), v) for m in metrics if isinstance(m.get("step"), int)
            for v in [finite(m.get(key))] if v is not None]


def _median_band(curves: list[tuple[list[tuple[int, float]], bool]]):
    """(steps, median, q1, q3) over the runs' curves; a curve marked to carry keeps its last value to the end."""
    steps = sorted({s for c, _ in curves for s, _ in c})
    out = []
    for step in steps:
        vals = []
        for c, carry in curves:
            at = [v for s, v in c if s <= step]
            if at and (carry or c[-1][0] >= step):
                vals.append(at[-1])
        m = quartiles(vals)
        if m.n:
            out.append((step, m.median, m.q1, m.q3))
    return tuple(zip(*out)) if out else None


def learning_runs(rows: list[Row], root: Path) -> dict:
    """Per task: (T, {label: [(result, metrics rows), ...]}) over every run with a metrics.jsonl."""
    found = defaultdict(dict)
    for r in rows:
        runs = [(run.result, m) for run in r.runs for m in [read_rows(root / run.path / "metrics.jsonl")] if m]
        if runs:
            found[(r.task, r.length)][r.label] = runs
    return at_one_length(found)


def _split_key(metrics: list[dict], name: str) -> tuple[str, bool]:
    """The validation column of `name` where the run recorded one, else the test column: (key, fell back)."""
    if any(f"val_{name}" in m for m in metrics):
        return f"val_{name}", False
    return f"test_{name}", True


def _split_label(what: str, fell_back: list[bool]) -> str:
    if all(fell_back):
        return f"test {what} (no validation recorded)"
    return f"validation {what}" + (" (test where none)" if any(fell_back) else "")


def learning_curves(rows: list[Row], root: Path) -> Figure | None:
    found = learning_runs(rows, root)
    if not found:
        return None
    fig, ax = panels(list(found), nrows=2)
    for task, (T, by_label) in found.items():
        top, bottom = ax[task]
        names, fell = set(), {"metric": [], "loss": []}
        baselines = {"metric": set(), "loss": set()}
        for i, (label, runs) in enumerate(by_label.items()):
            style = model_style(label)
            carry = {"metric": [], "loss": []}
            for result, metrics in runs:
                name = result.get("metric_name") or "metric"
                names.add(name)
                stopped = result.get("status") == Status.SOLVED
                for what, column in (("metric", name), ("loss", "loss")):
                    key, fell_back = _split_key(metrics, column)
                    fell[what].append(fell_back)
                    carry[what].append((_curve(metrics, key), stopped))
                for what, key in (("metric", "baseline_metric"), ("loss", "baseline_loss")):
                    if finite(result.get(key)) is not None:
                        baselines[what].add(finite(result[key]))
            for a, what in ((top, "metric"), (bottom, "loss")):
                band = _median_band([c for c in carry[what] if c[0]])
                if band:
                    steps, med, q1, q3 = band
                    a.fill_between(steps, q1, q3, color=style.color, alpha=BAND_ALPHA, lw=0)
                    a.plot(steps, med, **style.line(), ms=4, markevery=marks(len(steps), i, len(by_label)))
        for a, what in ((top, "metric"), (bottom, "loss")):
            for b in sorted(baselines[what]):
                a.axhline(b, **BASELINE)
            if not baselines[what]:
                a.text(0.02, 0.02, "memoryless baseline not recorded", transform=a.transAxes, fontsize=7,
                       color=BASELINE["color"])
        metric = "/".join(sorted(names))
        top.set(title=f"{task}, T={T}: median and IQR over seeds", ylabel=_split_label(metric, fell["metric"]))
        bottom.set(xlabel="training step", ylabel=_split_label("loss", fell["loss"]),
                   yscale="log" if all(b > 0 for b in baselines["loss"]) else "linear")
        _legend(top, by_label, [Line2D([], [], **BASELINE, label="memoryless baseline")])
    return fig


def timescales(f_units) -> list[float]:
    """τ = −1/ln f per unit; inf where f is 1 (a unit that never forgets), 0 where f is 0."""
    out = []
    for f in f_units:
        f = finite(f)
        if f is not None:
            out.append(math.inf if f >= 1 else 0.0 if f <= 0 else -1.0 / math.log(f))
    return out


def forget_units(rows: list[Row], root: Path) -> dict:
    """Per task: (T, {label: (τ of every unit at the first probe, at the last)}), the units of every seed
    whose probes record forget_unit_mean."""
    found = defaultdict(dict)
    for r in rows:
        fresh, trained = [], []
        for run in r.runs:
            probes = [p for p in read_rows(root / run.path / "diagnostics.jsonl")
                      if isinstance(p.get("forget_unit_mean"), list) and p["forget_unit_mean"]]
            if probes:
                fresh += timescales(probes[0]["forget_unit_mean"])
                trained += timescales(probes[-1]["forget_unit_mean"])
        if fresh:
            found[(r.task, r.length)][r.label] = (fresh, trained)
    return at_one_length(found)


def forget_timescales(rows: list[Row], root: Path) -> Figure | None:
    found = forget_units(rows, root)
    if not found:
        return None
    fig, ax = panels(list(found))
    for task, (T, by_label) in found.items():
        a = ax[task]
        labels, span = [], [T]
        for i, (label, pair) in enumerate(by_label.items()):
            style = model_style(label)
            for taus, ls in zip(pair, (FRESH, TRAINED)):
                finite = sorted(t for t in taus if 0 < t < math.inf)
                if finite:  # the share of all units, so the curve stops short of 1 by the units that never forget
                    ys = [(sum(t == 0 for t in taus) + j + 1) / len(taus) for j in range(len(finite))]
                    a.step(finite, ys, where="post", color=style.color, ls=ls, marker=style.marker, ms=4,
                           markevery=marks(len(finite), i, len(by_label)))
                    span += [finite[0], finite[-1]]
            never = sum(t == math.inf for t in pair[1])
            labels.append(label + (f" ({never}/{len(pair[1])} units never forget)" if never else ""))
        a.axvline(T, **BASELINE, label=f"T = {T}")
        a.set(title=f"{task}, T={T}", xscale="log", ylim=(0, 1.02), xlim=(min(span) / 1.5, max(span) * 1.5),
              xlabel="forget timescale τ = −1/ln(mean f) (steps)", ylabel="share of units with timescale ≤ τ")
        a.xaxis.set_major_locator(LogLocator())
        a.xaxis.set_minor_formatter(NullFormatter())  # a narrow log range would label its minor ticks too
        handles = [model_handle(label, ls="-", label=text) for label, text in zip(by_label, labels)]
        a.legend(handles=handles + _phase_handles() + [Line2D([], [], **BASELINE, label=f"T = {T}")],
                 fontsize=LEGEND_SIZE)
    return fig
