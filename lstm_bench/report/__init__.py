"""Tables and plots of a sweep, read from its run directories alone.

    python -m lstm_bench.report SWEEP_DIR [--format md|csv|latex] [--table all|results|frontier|lengths]
                                          [--out FILE] [--plots DIR] [--tune KEY ...]

The steps, a module each: load (the records of every run: result.json, meta.json, the sweep's
multirun.yaml and frontier.json; never the training code, so a sweep made by an old commit stays
reportable) -> tables (the rows, as numbers) -> render (markdown, LaTeX, CSV) and plots (PNG, PDF).

The results table has one row per (model, task, T): runs, solve rate with its 95% Wilson interval
(`3/5 [0.23, 0.88]`; a solve is the test verdict at the step validation stopped the run), steps to solve
as median [q1, q3] (n) over the runs that solved, final test loss over the task's memoryless baseline,
the capacity (H, parameters, recurrence parameters, state size) and, where the runs have them, the
diagnostics grad_ratio_log10 and forget_mean. Runs whose configs differ in more than the seed (a sweep
over train.lr, say) get a row per value, in extra columns; `--tune KEY` instead keeps, per row, the value
whose runs did best on validation (tune.py) and reports its test numbers. The frontier table has, per
(model, task), T50 (the length where a logistic fit in log T puts the solve probability at one half,
with a seed-bootstrap interval: stats.py) beside the longest T solved over the seeds, from the frontier
sweeper's frontier.json or the grid of lengths that ran; under each table one line per task states the
finding (findings.py). Where runs were tested at lengths other than the one they trained at
(`task.test_length`, `task.test_lengths`), the test-lengths table has, per results row, the test metric
at each test length (train short, test long).

A line above each table restates what ran (command, commit, package versions) and warns when the runs
come from more than one code version. A CSV is one header row and its rows, which pandas.read_csv and
spreadsheets open as they are; those lines go to its sidecar, NAME.meta.json beside NAME.csv (with --out, and
at the end of a sweep). For analysis in a notebook, one row per run (the config flattened, result.json's
fields, meta.json's, the test metric per test length) in a pandas DataFrame (`pip install -e ".[analysis]"`):

    from lstm_bench.report import load_results
    df = load_results("outputs/sweeps/<sweep>") The same inputs give byte-identical tables: rows are sorted and
nothing depends on the clock or the order of the directory listing.

Problems in the input (a corrupt or half-written result.json, a run without one, mixed tasks) get one
line each on stderr and the rest is still reported; the exit status is non-zero only when nothing can be
(1: no readable run; 2: no such directory).
"""
from __future__ import annotations

import sys
from pathlib import Path

from lstm_bench.records import write_text
from lstm_bench.report.load import ReportError, Run, Sweep, load
from lstm_bench.report.frame import load_results
from lstm_bench.report.render import FORMATS, csv_meta, csv_text, markdown, render, results_numbers, write_csv
from lstm_bench.report.tables import Tables, build

__all__ = ["FORMATS", "ReportError", "Run", "Sweep", "Tables", "build", "csv_meta", "csv_text", "load", "load_results",
           "render", "results_numbers", "write_csv", "write_sweep_report"]


def write_sweep_report(t: Tables, out_dir: Path) -> str:
    """At the end of a multirun: the markdown report, the CSV tables (each with its NAME.meta.json) and the plots
    into out_dir. Returns the markdown."""
    from lstm_bench.report import plots  # matplotlib only when pictures are drawn

    text = markdown(t)
    write_text(out_dir / "results.md", text)
    write_csv(t, out_dir / "results.csv")
    if t.frontier is not None:
        write_csv(t, out_dir / "frontier.csv", "frontier")
    if t.searches:
        write_csv(t, out_dir / "t50.csv", "t50")
    if t.lengths is not None:
        write_csv(t, out_dir / "lengths.csv", "lengths")
    try:
        plots.draw(t, out_dir)
    except Exception as err:  # noqa: BLE001: the tables stand without the pictures
        print(f"warning: plots failed: {type(err).__name__}: {err}".splitlines()[0], file=sys.stderr)
    return text
