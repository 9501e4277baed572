"""The tables as text, one function per format: markdown, LaTeX and CSV.

Markdown and LaTeX hold every table (unless `table` picks one) under the provenance lines: results, frontier
and, where runs were tested at other lengths than they trained at, test lengths; CSV holds one table
(results unless table="t50", "frontier" or "lengths") in plain numbers under one header row, so pandas.read_csv and
spreadsheets open it as it is, and its provenance (command, commit, versions, notes such as the tuning rule,
findings) goes to a sidecar, NAME.meta.json beside NAME.csv (csv_meta). Rows come sorted from tables.py and
nothing here depends on the clock, so the same records give the same bytes.
"""
from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from lstm_bench.records import Status, write_json, write_text
from lstm_bench.report.findings import bracket_text, results_lines, search_lines, t50_lines
from lstm_bench.report.load import ReportError, Sweep
from lstm_bench.report.stats import T50, T50_INTERVAL, T50_MODEL, MedianIQR
from lstm_bench.report.tune import RULE
from lstm_bench.report.tables import (OTHER_OUTCOMES, STATS, FrontierTable, LengthTable, Results, SearchRow, Stat,
                                      Tables, build)

DASH = "-"
NO_LENGTHS = "no test lengths to report (every run was tested at the length it trained at)"
FRONTIER_TITLE = (f"Frontier: T50, the length solved half the time, with its {T50_INTERVAL} (every run one trial; "
                  f"{T50_MODEL}), and the longest T solved within the step budget, from ")
SEARCH_TITLE = (f"T50 search: the length each model solves half the time within its step budget, from its measurement "
                f"runs' test verdicts, with its {T50_INTERVAL} ({T50_MODEL}); the tuned value chosen on validation by "
                f"the tuning runs, which stay out of T50")
NO_SEARCH = "no T50 search to report (no t50.json)"
NO_FRONTIER = "no frontier to report (no frontier.json, and one length per model and task)"
# the text tables' column name and number format of each statistic
# loss / baseline averages the runs that reached their last step (tables.AVERAGED_OVER): the heading says so
COLUMNS = {"steps_to_solve": ("steps to solve: median [q1, q3], unsolved as ∞", ".0f"),
           "loss_vs_baseline": ("loss / baseline (solved, unsolved, pruned runs)", ".3f"),
           "grad_ratio_log10": ("grad ratio log10", ".2f"), "forget_mean": ("forget mean", ".3f"),
           "forget_timescale_median": ("forget timescale", ".1f")}
CAPACITY_NAMES = {"hidden_size": "H", "n_params": "params", "n_params_recurrence": "recurrence params",
                  "state_size": "state size"}
MEAN_STATS = list(STATS)  # steps to solve is a median and IQR instead (Row.steps)
TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
       "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}", "±": r"$\pm$", "∞": r"$\infty$",
       "<": "$<$", ">": "$>$"}


# ----------------------------------------------------------------------------- cells

def _cell(stat: Stat, fmt: str) -> str:
    """`0.982 ± 0.004 (n=3)`."""
    if not stat.n:
        return DASH
    if stat.mean == math.inf:  # a forget gate that never forgets: result.json's null with its _infinite flag
        return f"∞ (n={stat.n})"
    if stat.n == 1:
        return f"{stat.mean:{fmt}} (n=1)"
    return f"{stat.mean:{fmt}} ± {stat.std:{fmt}} (n={stat.n})"


def _steps(x: float) -> str:
    return "∞" if math.isinf(x) else f"{x:.0f}"


def _median_cell(m: MedianIQR, solved: int) -> str:
    """`1100 [1050, ∞] (3/5 solved)`: every run counted, an unsolved one as infinite (censored)."""
    if not solved:
        return DASH
    return f"{_steps(m.median)} [{_steps(m.q1)}, {_steps(m.q3)}] ({solved}/{m.n} solved)"


def _values(vs: tuple[int, ...]) -> str:
    """A capacity column's cell: the value, or its range where the row's runs differ."""
    return DASH if not vs else str(vs[0]) if len(vs) == 1 else f"{vs[0]}-{vs[-1]}"


def _tuned(res: Results) -> list[str]:
    return [f"{k} (tuned)" for k in res.tuned]


def results_cells(res: Results) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of the results table as text; the diagnostics and capacity columns only where some run
    has them."""
    stats = ["loss_vs_baseline", *res.diagnostics]
    header = ["model", "task", "T", *res.keys, *_tuned(res), *[CAPACITY_NAMES[k] for k in res.capacity],
              "solved on test [95% Wilson]", COLUMNS["steps_to_solve"][0], *[COLUMNS[k][0] for k in stats], "other outcomes"]
    rows = []
    for row in res.rows:
        other = ", ".join(f"{row.outcomes[s]} {s}" for s in sorted(row.outcomes) if s not in (Status.SOLVED,
                                                                                               Status.UNSOLVED))
        rows.append([row.model, row.task, str(row.length), *row.setting, *row.chosen,
                     *[_values(row.capacity(k)) for k in res.capacity], row.solve_text, _median_cell(row.steps, row.n_solved),
                     *[_cell(row.stats[k], COLUMNS[k][1]) for k in stats], other or DASH])
    return header, rows


def _num(x) -> float | None:
    return None if x is None else round(x, 10)


def results_numbers(res: Results) -> tuple[list[str], list[list]]:
    """(header, rows) of the results table in plain numbers, mean, std and n in their own columns: the
    CSV's and the W&B table's."""
    header = ["model", "task", "length", *res.keys, *_tuned(res), *res.capacity, "runs", "solved", "solve_rate",
              "solve_rate_lo", "solve_rate_hi", "n", "steps_median", "steps_q1", "steps_q3", "steps_n"]
    header += [f"{s}_{part}" for s in MEAN_STATS for part in ("mean", "std", "n")]
    header += [f"n_{s.value}" for s in OTHER_OUTCOMES]
    rows = []
    for row in res.rows:
        steps = row.steps
        line = [row.model, row.task, row.length, *row.setting, *row.chosen,
                *[_values(row.capacity(k)) for k in res.capacity], len(row.runs), row.n_solved,
                _num(row.solve_rate), *map(_num, row.solve_ci), len(row.counted),
                *map(_num, (steps.median, steps.q1, steps.q3)), steps.n]
        for s in MEAN_STATS:
            line += [_num(row.stats[s].mean), _num(row.stats[s].std), row.stats[s].n]
        rows.append(line + [row.outcomes[s] for s in OTHER_OUTCOMES])
    return header, rows


def frontier_cells(front: FrontierTable) -> tuple[list[str], list[list[str]]]:
    header = ["model", "task", *(["setting"] if front.with_setting else []), "seeds", f"T50 [{T50_INTERVAL}]",
              "longest T solved: median [min-max]", "per seed"]
    rows = []
    for f in front.rows:
        per_seed = ", ".join(f"{s.seed}: " + ("none" if s.longest == 0 else f">={s.longest}" if s.capped
                                              else str(s.longest)) + ("" if s.done else " (search unfinished)")
                             for s in f.seeds)
        rows.append([f.model, f.task, *([f.setting or DASH] if front.with_setting else []), str(len(f.seeds)),
                     f.t50.text() if f.t50 else "n/a", f"{f.median:g} [{min(f.lengths)}-{max(f.lengths)}]", per_seed])
    return header, rows


def search_cells(rows: list[SearchRow]) -> tuple[list[str], list[list[str]]]:
    with_setting = any(r.setting for r in rows)
    keys = sorted({r.tune_key for r in rows})
    header = ["model", "task", *(["setting"] if with_setting else []), f"T50 [{T50_INTERVAL}]",
              f"{'/'.join(keys)} (chosen on validation)", "tuning bracket", "measurement runs", "solved on test",
              "lengths measured", "runs in all", "pruned", "CPU time"]
    out = []
    for r in rows:
        lengths = sorted({x.result["length"] for x in r.measured})
        out.append([r.model, r.task, *([r.setting or DASH] if with_setting else []), r.fit.text(),
                    DASH if r.chosen is None else f"{r.chosen:g}" if isinstance(r.chosen, float) else str(r.chosen),
                    bracket_text(r.bracket), str(len(r.measured)), str(sum(x.solved for x in r.measured)),
                    f"{lengths[0]}-{lengths[-1]}" if lengths else DASH,
                    str(len(r.runs)) + (f" (+{r.missing} without a record)" if r.missing else ""), str(r.pruned),
                    f"{r.wall_time_s / 60:.0f} min"])
    return header, out


def search_numbers(rows: list[SearchRow]) -> tuple[list[str], list[list]]:
    """The T50 search table in plain numbers (CSV)."""
    header = ["model", "task", "setting", "t50", "t50_lo", "t50_hi", "t50_kind", "tune_key", "chosen", "bracket_lo",
              "bracket_hi", "measurement_runs", "solved_on_test", "runs", "pruned", "missing", "cpu_time_s"]
    return header, [[r.model, r.task, r.setting, *(_num(x) for x in (r.fit.value, r.fit.lo, r.fit.hi)), r.fit.kind,
                     r.tune_key, r.chosen, *r.bracket, len(r.measured), sum(x.solved for x in r.measured),
                     len(r.runs), r.pruned, r.missing, _num(r.wall_time_s)] for r in rows]


def _t50_numbers(fit: T50 | None) -> list:
    if fit is None:
        return [None, None, None, "unmatched", 0]
    return [*(_num(x) for x in (fit.value, fit.lo, fit.hi)), fit.kind, fit.n_runs]


def frontier_numbers(front: FrontierTable) -> tuple[list[str], list[list]]:
    """The frontier table's text columns and T50 in plain numbers (CSV): t50_kind says how to read t50_lo and
    t50_hi (fit: the credible interval, 0 or inf where an end runs off the lengths; above, below: the bound;
    none: no estimate)."""
    header, rows = frontier_cells(front)
    header = header + ["t50", "t50_lo", "t50_hi", "t50_kind", "t50_runs"]
    return header, [row + _t50_numbers(f.t50) for row, f in zip(rows, front.rows)]


def length_cells(lt: LengthTable) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of the train-short/test-long table: the test metric at each test length."""
    header = ["model", "task", "trained at T", "metric", *[f"test T={n}" for n in lt.lengths]]
    rows = [[row.label, row.task, str(row.length), metric,  # the label: the model and its setting, if any
             *[_cell(st[n], ".3f") if n in st else DASH for n in lt.lengths]] for row, metric, st in lt.rows]
    return header, rows


def length_numbers(lt: LengthTable) -> tuple[list[str], list[list]]:
    """The same in plain numbers (CSV): mean, std and n per test length."""
    header = ["model", "task", "length", "metric"]
    header += [f"T{n}_{part}" for n in lt.lengths for part in ("mean", "std", "n")]
    rows = []
    for row, metric, st in lt.rows:
        line = [row.label, row.task, row.length, metric]
        for n in lt.lengths:
            line += [_num(st[n].mean), _num(st[n].std), st[n].n] if n in st else [None, None, 0]
        rows.append(line)
    return header, rows


def _notes(res: Results) -> list[str]:
    notes = []
    if res.keys:
        notes.append("runs with the same (model, task, T) differ in " + ", ".join(res.keys)
                     + ": one row per value, in the columns after T")
    if res.tuned:
        counts = sorted({row.candidates for row in res.rows})
        notes.append(f"--tune {', '.join(res.tuned)}: per (model, task, T), of {'-'.join(map(str, counts))} values, "
                     f"{RULE}; the row shows its test numbers")
        old = sum(1 for row in res.rows for r in row.runs if "val_loss" not in r.result)
        if old:
            notes.append(f"{old} chosen run(s) record no validation numbers (made before the validation split): "
                         "their status, and so the choice, came from the test set")
    return notes


def _searches(t: Tables) -> list[SearchRow]:
    if not t.searches:
        raise ReportError(f"{t.sweep.root}: {NO_SEARCH}")
    return t.searches


def _frontier(t: Tables) -> FrontierTable:
    if t.frontier is None:
        raise ReportError(f"{t.sweep.root}: {NO_FRONTIER}")
    return t.frontier


# ----------------------------------------------------------------------------- formats

def _md_table(header, rows) -> list[str]:
    esc = lambda c: str(c).replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(esc(h) for h in header) + " |",
             "|" + "|".join("---" if i < 3 else "--:" for i, _ in enumerate(header)) + "|"]
    return lines + ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]


def _tex_escape(s) -> str:
    # < and > are not text-mode characters in LaTeX's default font encoding: math mode for them
    return "".join(TEX.get(ch, ch) for ch in str(s).replace(">=", "\0")).replace("\0", r"$\geq$")


def latex_table(header, rows, columns: str | None = None) -> list[str]:
    """A booktabs tabular; `columns` its column spec (default: the first three left, the rest right)."""
    columns = columns or "l" * min(3, len(header)) + "r" * max(len(header) - 3, 0)
    lines = [r"\begin{tabular}{" + columns + "}", r"\toprule",
             " & ".join(_tex_escape(h) for h in header) + r" \\", r"\midrule"]
    lines += [" & ".join(_tex_escape(c) for c in row) + r" \\" for row in rows]
    return lines + [r"\bottomrule", r"\end{tabular}"]


def _document(t: Tables, table: str, comment: str, block) -> str:
    """Markdown's and LaTeX's common layout: a title and the provenance above each table, as `comment` lines."""
    out = []
    if table in ("all", "t50") and t.searches:
        out += [f"{comment}{SEARCH_TITLE}", "", *(comment + p for p in t.provenance), "",
                *block(*search_cells(t.searches)), "", *(comment + f for f in search_lines(t.searches, t.results)), ""]
    elif table == "t50":
        raise ReportError(f"{t.sweep.root}: {NO_SEARCH}")
    if table in ("all", "results"):
        out += [f"{comment}Results: {t.sweep.root.name}", "", *(comment + p for p in t.provenance),
                *(comment + n for n in _notes(t.results)), "", *block(*results_cells(t.results)), "",
                *(comment + f for f in results_lines(t.results))]
    if table in ("all", "frontier"):
        front = _frontier(t) if table == "frontier" else t.frontier
        if front is not None:
            again = t.provenance if table == "frontier" else []  # below the results, their lines say what ran
            out += ["", f"{comment}{FRONTIER_TITLE}{front.source}", "", *(comment + p for p in again),
                    *([""] if again else []), *block(*frontier_cells(front)), "",
                    *(comment + f for f in t50_lines(front, t.results))]
    if table in ("all", "lengths") and t.lengths is not None:
        again = t.provenance if table == "lengths" else []
        out += ["", f"{comment}Train short, test long: the test metric at each test length (the model trained at T)", "",
                *(comment + p for p in again), *([""] if again else []), *block(*length_cells(t.lengths))]
    elif table == "lengths":
        raise ReportError(f"{t.sweep.root}: {NO_LENGTHS}")
    return "\n".join(out) + "\n"


def markdown(t: Tables, table: str = "all") -> str:
    return _document(t, table, "", _md_table)


def latex(t: Tables, table: str = "all") -> str:
    return _document(t, table, "% ", latex_table)


def _csv(header, rows) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def csv_text(t: Tables, table: str = "all") -> str:
    """One table as a plain CSV: one header row, then the rows (its provenance: csv_meta)."""
    if table == "t50":
        return _csv(*search_numbers(_searches(t)))
    if table == "lengths":
        if t.lengths is None:
            raise ReportError(f"{t.sweep.root}: {NO_LENGTHS}")
        return _csv(*length_numbers(t.lengths))
    if table == "frontier":
        return _csv(*frontier_numbers(_frontier(t)))
    return _csv(*results_numbers(t.results))


def csv_meta(t: Tables, table: str = "all") -> dict:
    """What the CSV of `table` leaves out, for its sidecar NAME.meta.json: the provenance lines (runs, command,
    commit, package versions, warnings), the commands themselves, the notes on how to read the rows (a tuning
    rule, split keys) and the findings lines under the table."""
    meta = {"sweep": t.sweep.root.name, "commands": list(t.sweep.commands), "provenance": list(t.provenance)}
    if table == "t50":
        searches = _searches(t)
        return {**meta, "table": "t50", "about": SEARCH_TITLE, "notes": [], "findings": search_lines(searches, t.results)}
    if table == "lengths":
        if t.lengths is None:
            raise ReportError(f"{t.sweep.root}: {NO_LENGTHS}")
        return {**meta, "table": "lengths", "about": "the test metric per test length", "notes": [], "findings": []}
    if table == "frontier":
        front = _frontier(t)
        return {**meta, "table": "frontier", "about": f"T50 and the longest T solved, from {front.source}",
                "notes": [], "findings": t50_lines(front, t.results)}
    return {**meta, "table": "results", "about": "a row per model, task, T (and setting): solve rate, steps to solve, "
            "loss / baseline, diagnostics", "notes": _notes(t.results), "findings": results_lines(t.results)}


def sidecar(csv_path: Path) -> Path:
    """Where the provenance of a CSV goes: results.csv -> results.meta.json."""
    csv_path = Path(csv_path)
    return csv_path.with_name((csv_path.stem if csv_path.suffix == ".csv" else csv_path.name) + ".meta.json")


def write_csv(t: Tables, path: Path, table: str = "all") -> None:
    """The CSV of `table` at `path` and its provenance in the sidecar beside it, each written atomically."""
    write_text(path, csv_text(t, table))
    write_json(sidecar(path), csv_meta(t, table))


FORMATS = {"md": markdown, "csv": csv_text, "latex": latex}


def render(sweep: Sweep, fmt: str = "md", table: str = "all", tune: tuple[str, ...] = ()) -> str:
    """The report's text in `fmt` (md, latex or csv); `tune`: the keys to choose a value of on validation."""
    return FORMATS[fmt](build(sweep, tune), table)
