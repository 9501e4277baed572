"""The tables as text, one function per format: markdown, LaTeX and CSV.

Markdown and LaTeX hold every table (unless `table` picks one) under the provenance lines: results, frontier
and, where runs were tested at other lengths than they trained at, test lengths; CSV holds one table
(results unless table="frontier" or "lengths") in plain numbers, its provenance in leading `#` lines
(pandas.read_csv(path, comment="#") reads it). Rows come sorted from tables.py and nothing here depends
on the clock, so the same records give the same bytes.
"""
from __future__ import annotations

import csv
import io
import math

from lstm_bench.report.load import ReportError, Sweep
from lstm_bench.report.tables import OTHER_OUTCOMES, STATS, FrontierTable, LengthTable, Results, Stat, Tables, build

DASH = "-"
NO_LENGTHS = "no test lengths to report (every run was tested at the length it trained at)"
NO_FRONTIER = "no frontier to report (no frontier.json, and one length per model and task)"
# the text tables' column name and number format of each statistic
# loss / baseline averages the runs that reached their last step (tables.AVERAGED_OVER): the heading says so
COLUMNS = {"steps_to_solve": ("steps to solve", ".0f"),
           "loss_vs_baseline": ("loss / baseline (solved, unsolved runs)", ".3f"),
           "grad_ratio_log10": ("grad ratio log10", ".2f"), "forget_mean": ("forget mean", ".3f"),
           "forget_timescale_median": ("forget timescale", ".1f")}
TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
       "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}", "±": r"$\pm$", "∞": r"$\infty$"}


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


def results_cells(res: Results) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of the results table as text; the diagnostics columns only where some run has them."""
    stats = ["steps_to_solve", "loss_vs_baseline", *res.diagnostics]
    header = ["model", "task", "T", *res.keys, "runs", "solved", *[COLUMNS[k][0] for k in stats], "other outcomes"]
    rows = []
    for row in res.rows:
        other = ", ".join(f"{row.outcomes[s]} {s}" for s in sorted(row.outcomes) if s not in ("solved", "unsolved"))
        rows.append([row.model, row.task, str(row.length), *row.setting, str(len(row.runs)),
                     f"{row.n_solved}/{len(row.runs)}", *[_cell(row.stats[k], COLUMNS[k][1]) for k in stats],
                     other or DASH])
    return header, rows


def _num(x) -> float | None:
    return None if x is None else round(x, 10)


def results_numbers(res: Results) -> tuple[list[str], list[list]]:
    """(header, rows) of the results table in plain numbers, mean, std and n in their own columns: the
    CSV's and the W&B table's."""
    header = ["model", "task", "length", *res.keys, "runs", "solved", "solve_rate"]
    header += [f"{s}_{part}" for s in STATS for part in ("mean", "std", "n")]
    header += [f"n_{s}" for s in OTHER_OUTCOMES]
    rows = []
    for row in res.rows:
        line = [row.model, row.task, row.length, *row.setting, len(row.runs), row.n_solved, _num(row.solve_rate)]
        for s in STATS:
            line += [_num(row.stats[s].mean), _num(row.stats[s].std), row.stats[s].n]
        rows.append(line + [row.outcomes[s] for s in OTHER_OUTCOMES])
    return header, rows


def frontier_cells(front: FrontierTable) -> tuple[list[str], list[list[str]]]:
    header = ["model", "task", *(["setting"] if front.with_setting else []), "seeds",
              "longest T solved: median [min-max]", "per seed"]
    rows = []
    for f in front.rows:
        per_seed = ", ".join(f"{s.seed}: " + ("none" if s.longest == 0 else f">={s.longest}" if s.capped
                                              else str(s.longest)) + ("" if s.done else " (search unfinished)")
                             for s in f.seeds)
        rows.append([f.model, f.task, *([f.setting or DASH] if front.with_setting else []), str(len(f.seeds)),
                     f"{f.median:g} [{min(f.lengths)}-{max(f.lengths)}]", per_seed])
    return header, rows


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
    if not res.keys:
        return []
    return ["runs with the same (model, task, T) differ in " + ", ".join(res.keys)
            + ": one row per value, in the columns after T"]


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
    return "".join(TEX.get(ch, ch) for ch in str(s)).replace(">=", r"$\geq$")


def _latex_table(header, rows) -> list[str]:
    lines = [r"\begin{tabular}{" + "l" * min(3, len(header)) + "r" * max(len(header) - 3, 0) + "}", r"\toprule",
             " & ".join(_tex_escape(h) for h in header) + r" \\", r"\midrule"]
    lines += [" & ".join(_tex_escape(c) for c in row) + r" \\" for row in rows]
    return lines + [r"\bottomrule", r"\end{tabular}"]


def _document(t: Tables, table: str, comment: str, block) -> str:
    """Markdown's and LaTeX's common layout: a title and the provenance above each table, as `comment` lines."""
    out = []
    if table in ("all", "results"):
        out += [f"{comment}Results: {t.sweep.root.name}", "", *(comment + p for p in t.provenance),
                *(comment + n for n in _notes(t.results)), "", *block(*results_cells(t.results))]
    if table in ("all", "frontier"):
        front = _frontier(t) if table == "frontier" else t.frontier
        if front is not None:
            again = t.provenance if table == "frontier" else []  # below the results, their lines say what ran
            out += ["", f"{comment}Frontier: the longest T solved within the step budget, from {front.source}", "",
                    *(comment + p for p in again), *([""] if again else []), *block(*frontier_cells(front))]
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
    return _document(t, table, "% ", _latex_table)


def _csv(header, rows, comments) -> str:
    buf = io.StringIO()
    for c in comments:
        buf.write(f"# {c}\n")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def csv_text(t: Tables, table: str = "all") -> str:
    if table == "lengths":
        if t.lengths is None:
            raise ReportError(f"{t.sweep.root}: {NO_LENGTHS}")
        return _csv(*length_numbers(t.lengths), [*t.provenance, "the test metric per test length"])
    if table == "frontier":
        front = _frontier(t)
        return _csv(*frontier_cells(front), [*t.provenance, f"longest T solved, from {front.source}"])
    return _csv(*results_numbers(t.results), [*t.provenance, *_notes(t.results)])


FORMATS = {"md": markdown, "csv": csv_text, "latex": latex}


def render(sweep: Sweep, fmt: str = "md", table: str = "all") -> str:
    """The report's text in `fmt` (md, latex or csv)."""
    return FORMATS[fmt](build(sweep), table)
