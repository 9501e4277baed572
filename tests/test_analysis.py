"""The files a researcher's tools open, on a real sweep (run.py -m, toy images): results.csv is a plain CSV that the
csv module and pandas.read_csv read without options, its provenance is in results.meta.json, and
load_results(DIR) is one row per run; all three agree with results.md."""
import csv
import json
import math
import re

import pandas as pd
import pytest

from conftest import run_cli, run_python, write_images
from lstm_bench.report import ReportError, load_results

pytestmark = pytest.mark.xdist_group("analysis")  # one pytest-xdist worker makes the module's sweep, once
MODELS, SEEDS, PIXELS = ("rnn", "lstm"), (0, 1), (112, 56)  # T = 7 (solved within the budget) and T = 14 (not)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("analysis")
    data = write_images(tmp / "data", n_train=300, n_test=50)
    root = tmp / "sweep"
    p = run_cli("-m", "logger=none", "task=seq_image", f"task.path={data}", "task.val_size=60", "task.threshold=0.99",
                f"task.pixels_per_step={','.join(map(str, PIXELS))}", f"model={','.join(MODELS)}",
                f"seed={','.join(map(str, SEEDS))}", "model.hidden_size=16", "embed_size=16", "train.steps=150",
                "train.eval_every=25", "train.batch_size=32", "train.eval_batch_size=1000", "train.lr=1e-2",
                "train.threads=1", "diag.every=0", "hydra.launcher.n_jobs=1", f"hydra.sweep.dir={root}",
                # a job's directory by its number: its overrides, every one listed, are over a file name's 255 bytes
                "hydra.sweep.subdir=${hydra.job.num}", cwd=tmp)
    assert p.returncode == 0, p.stderr[-3000:]
    return root


def results_table(md: str) -> list[dict]:
    """The first table of results.md as dicts, header -> cell."""
    lines = [line for line in md.split("\n\n", 3)[2].splitlines() if line.startswith("| ")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    return [dict(zip(header, (c.strip() for c in line.strip("|").split("|")))) for line in lines[1:]]


def test_csv_frame_and_markdown_agree(sweep):
    out = sweep / "report"
    md = (out / "results.md").read_text()
    table = results_table(md)
    with open(out / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert not (out / "results.csv").read_text().startswith("#")  # one header row, then numbers
    csv_by = {(r["model"], int(r["length"])): r for r in rows}
    df = load_results(sweep)
    assert len(df) == len(MODELS) * len(SEEDS) * len(PIXELS) and df.path.is_unique
    assert len(table) == len(rows) == len(MODELS) * len(PIXELS)
    solved_somewhere = set()
    for row in table:
        key = (row["model"], int(row["T"]))
        c, runs = csv_by[key], df[(df.model == key[0]) & (df.length == key[1])]
        n_solved, n_runs, lo, hi = re.fullmatch(r"(\d+)/(\d+) \[([\d.]+), ([\d.]+)\]", row["solved on test [95% Wilson]"]).groups()
        assert int(n_solved) == int(c["solved"]) == runs.solved.sum()
        assert int(n_runs) == int(c["runs"]) == len(runs) == len(SEEDS)
        assert (lo, hi) == (f"{float(c['solve_rate_lo']):.2f}", f"{float(c['solve_rate_hi']):.2f}")
        solved_somewhere.add(int(n_solved) > 0)
        steps = next(v for k, v in row.items() if k.startswith("steps to solve: median [q1, q3]"))
        # as the tables count steps: where validation stopped a run the test counts solved (a run the test solved at
        # its last step but validation did not: that step), else infinitely many
        reached = runs.steps_to_solve.fillna(runs.steps)
        censored = reached.where(runs.solved, math.inf).astype(float)
        median = censored.median()
        assert float(c["steps_median"]) == median
        assert steps == "-" if not int(n_solved) else steps.startswith("∞ [" if math.isinf(median) else f"{median:.0f} [")
        finished = runs[runs.status.isin(["solved", "unsolved", "pruned"])]
        mean = float(c["loss_vs_baseline_mean"])
        assert mean == pytest.approx(finished.loss_vs_baseline.mean(), abs=1e-9)
        assert next(v for k, v in row.items() if k.startswith("loss / baseline")).startswith(f"{mean:.3f} ± ")
        assert int(c["hidden_size"]) == int(row["H"]) == runs.hidden_size.iloc[0] == 16
    assert solved_somewhere == {True, False}  # the comparisons saw both outcomes

    # the test numbers per length, the config and meta.json, flattened
    assert df.test_metric.tolist() == [r[f"test_metric_T{r['length']}"] for _, r in df.iterrows()]
    assert (df["config.task.pixels_per_step"] * df.length == 784).all()
    assert df["meta.git.commit"].notna().all() and set(df["config.model.hidden_size"]) == {16}


def test_pandas_reads_the_csv_as_it_is(sweep):
    frame = pd.read_csv(sweep / "report" / "results.csv")
    with open(sweep / "report" / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(frame.columns) == list(rows[0]) and len(frame) == len(rows)
    assert frame.solve_rate.dtype == float and frame.runs.dtype == int
    assert frame.solve_rate.tolist() == [float(r["solve_rate"]) for r in rows]


def test_the_provenance_is_in_the_sidecar(sweep):
    out = sweep / "report"
    meta = json.loads((out / "results.meta.json").read_text())
    md = (out / "results.md").read_text()
    assert meta["table"] == "results" and meta["provenance"] and all(line in md for line in meta["provenance"])
    assert meta["findings"] and all(line in md for line in meta["findings"])
    assert "commit " in meta["provenance"][0] and meta["commands"][0].startswith("python run.py -m ")
    assert "task.pixels_per_step=112,56" in meta["commands"][0]
    if (out / "frontier.csv").exists():  # every CSV has its sidecar
        assert json.loads((out / "frontier.meta.json").read_text())["table"] == "frontier"
    # the command line writes the same pair
    p = run_python("-m", "lstm_bench.report", str(sweep), "--format", "csv", "--out", str(sweep / "again.csv"))
    assert p.returncode == 0, p.stderr
    assert (sweep / "again.csv").read_bytes() == (out / "results.csv").read_bytes()
    assert json.loads((sweep / "again.meta.json").read_text()) == meta
    plain = run_python("-m", "lstm_bench.report", str(sweep), "--format", "csv")
    assert plain.stdout.encode() == (out / "results.csv").read_bytes()  # to stdout: the CSV alone


def test_load_results_bad_input(tmp_path):
    with pytest.raises(ReportError, match="no such directory"):
        load_results(tmp_path / "missing")
    with pytest.raises(ReportError, match="nothing to load"):
        load_results(tmp_path)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "result.json").write_text('{"task": "adding", "mo')
    with pytest.raises(ReportError), pytest.warns(UserWarning, match="skipped broken: .*half-written"):
        load_results(tmp_path)


def test_an_old_record_without_test_lengths_still_loads(tmp_path):
    from test_report import make_run

    make_run(tmp_path, "old", seed=0, status="solved", test_metric=0.004)  # no test_metric_by_length, no solved_test
    make_run(tmp_path, "new", seed=1, status="unsolved", test_metric=0.3, test_metric_by_length={"100": 0.3, "200": 0.5},
             solved_test=False)
    with pytest.warns(UserWarning, match="1 run.s. record no solved_test"):  # the report's note, as a warning
        df = load_results(tmp_path).set_index("path")
    assert df.loc["old", "solved"] and not df.loc["new", "solved"]
    assert df.loc["old", "test_metric_T100"] == 0.004 and math.isnan(df.loc["old", "test_metric_T200"])
    assert df.loc["new", "test_metric_T200"] == 0.5 and df.loc["new", "config.train.lr"] == 1e-3
