"""A sweep as a pandas DataFrame, one row per run, for analysis in a notebook:

    from lstm_bench.report import load_results
    df = load_results("outputs/sweeps/<sweep>")
    df.groupby(["model", "length"]).test_metric.mean()

The columns:
    path                  the run directory, relative to the sweep directory
    task, model, length, seed, status, ...   every field of result.json but its config, as recorded (null: NaN/None)
    solved                the verdict the tables count: the test set's at the step validation stopped the run
                          (solved_test; a record from before the validation split: its status)
    test_metric_T{n}      the test metric at each test length n the run was scored at (train short, test long)
    config.KEY            the run's config, flattened with dots (config.task.length, config.train.lr); a list
                          value as JSON text
    meta.KEY              meta.json, flattened the same way (meta.git.commit, meta.device, meta.versions.torch)

Rows come in the report's order (task, model, length, seed, path). The files are read as the report reads them
(load.py), never the training code; a file that cannot be read costs its run and one warning. pandas is an
extra: `pip install -e ".[analysis]"`. `df.attrs` holds the report's provenance lines and notes.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

from lstm_bench.report.load import ReportError, Run, load, provenance
from lstm_bench.report.tables import by_length

FIRST = ("path", "task", "model", "length", "seed", "status", "solved")


def _flat(obj, prefix: str) -> dict:
    """{"a": {"b": 1}} -> {"prefix.a.b": 1}; a list becomes JSON text, so every cell is a scalar."""
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            out.update(_flat(v, f"{prefix}.{k}"))
        return out
    return {prefix: json.dumps(obj) if isinstance(obj, (list, tuple)) else obj}


def run_row(run: Run) -> dict:
    """One run as a flat dict: the frame's row."""
    r = run.result
    row = {"path": run.path, **{k: r.get(k) for k in FIRST[1:6]}, "solved": run.solved}
    row.update({k: v for k, v in r.items() if k not in row and k not in ("config", "test_metric_by_length")})
    row.update({k: json.dumps(v) for k, v in row.items() if isinstance(v, (dict, list))})
    row.update({f"test_metric_T{n}": v for n, v in sorted(by_length(run).items())})
    row.update(_flat(r.get("config") or {}, "config"))
    row.update(_flat(run.meta, "meta"))
    return row


def load_results(sweep_dir):
    """Every run under `sweep_dir` (a sweep directory, or a folder of them) as a pandas DataFrame, a row per run.
    Raises ReportError where there is no such directory or no readable run under it."""
    try:
        import pandas as pd
    except ImportError:
        raise ImportError('load_results needs pandas: pip install -e ".[analysis]"') from None
    sweep = load(Path(sweep_dir))
    for note in sweep.notes:
        warnings.warn(note, stacklevel=2)
    if not sweep.runs:
        raise ReportError(f"{sweep_dir}: no readable result.json under it: nothing to load")
    df = pd.DataFrame.from_records([run_row(r) for r in sweep.runs])
    lengths = sorted((c for c in df.columns if c.startswith("test_metric_T")), key=lambda c: int(c[len("test_metric_T"):]))
    rest = [c for c in df.columns if c not in FIRST and c not in lengths]
    record = [c for c in rest if not c.startswith(("config.", "meta."))]
    df = df[[*FIRST, *record, *lengths, *[c for c in rest if c.startswith("config.")],
             *[c for c in rest if c.startswith("meta.")]]]
    df.attrs["provenance"] = provenance(sweep)
    df.attrs["notes"] = list(sweep.notes)
    return df
