"""lstm_bench.report on sweeps written by hand: known numbers, the three formats, byte-identical output,
provenance, the frontier table, plots, and bad input (the report reads files; it never trains)."""
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from lstm_bench import report
from lstm_bench.report import plots, tables
from lstm_bench.report.stats import fit_t50

REPO = Path(__file__).resolve().parent.parent

COMMIT = "a" * 40
VERSIONS = {"python": "3.11.7", "torch": "2.13.0", "hydra-core": "1.3.8"}


def make_run(root: Path, name: str, model="lstm", task="adding", length=100, seed=0, status="solved",
             steps_to_solve=1000, loss_vs_baseline=0.02, commit=COMMIT, versions=None, lr=1e-3, **extra):
    d = root / name
    (d / ".hydra").mkdir(parents=True)
    (d / ".hydra" / "config.yaml").write_text("{}\n")
    config = {"seed": seed, "task": {"length": length, "_target_": f"tasks.{task}.X"},
              "model": {"_target_": f"m.{model}", "hidden_size": 64}, "train": {"lr": lr, "steps": 3000},
              "logger": {"_target_": "lstm_bench.wandb_logger.NullLogger"}}
    result = {"task": task, "model": model, "length": length, "seed": seed, "status": status, "error": None,
              "steps_to_solve": steps_to_solve if status == "solved" else None, "steps": 3000, "test_loss": 0.1,
              "test_metric": 0.1, "metric_name": "mse" if task == "adding" else "recall_acc", "baseline_loss": 1 / 6,
              "loss_vs_baseline": loss_vs_baseline, "wall_time_s": 1.0, "steps_per_s": 10.0, "config": config, **extra}
    (d / "result.json").write_text(json.dumps(result))
    meta = {"git": {"commit": commit, "dirty": False}, "versions": versions or VERSIONS, "torch_threads": 1}
    (d / "meta.json").write_text(json.dumps(meta))
    return d


def standard(root: Path, order=1):
    """lstm solves T=100 (1000, 1200 steps) and one seed of T=200; rnn solves nothing."""
    runs = [("l100s0", dict(seed=0, steps_to_solve=1000, grad_ratio_log10=-0.5, forget_mean=0.8)),
            ("l100s1", dict(seed=1, steps_to_solve=1200, grad_ratio_log10=-0.7, forget_mean=0.9)),
            ("l200s0", dict(length=200, seed=0, steps_to_solve=2500)),
            ("l200s1", dict(length=200, seed=1, status="unsolved", loss_vs_baseline=0.9)),
            ("r100s0", dict(model="rnn", seed=0, status="unsolved", loss_vs_baseline=1.0)),
            ("r100s1", dict(model="rnn", seed=1, status="diverged", loss_vs_baseline=None))]
    for name, kw in runs[::order]:
        make_run(root, name, **kw)


def cli(*args):
    return subprocess.run([sys.executable, "-m", "lstm_bench.report", *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)


def test_results_table_numbers(tmp_path):
    standard(tmp_path)
    text = report.render(report.load(tmp_path), "md")
    rows = {tuple(c.strip() for c in line.split("|")[1:4]): line for line in text.splitlines() if line.startswith("| ")}
    lstm100 = rows[("lstm", "adding", "100")]
    # 2/2's Wilson interval: [2 / (2 + z^2), 1]; steps to solve: median [q1, q3] of 1000 and 1200
    assert "2/2 [0.34, 1.00]" in lstm100 and "1100 [1050, 1150] (2/2 solved)" in lstm100
    assert "0.020 ± 0.000 (n=2)" in lstm100
    assert "-0.60 ± 0.14 (n=2)" in lstm100 and "0.850 ± 0.071 (n=2)" in lstm100  # the diagnostics columns
    lstm200 = rows[("lstm", "adding", "200")]
    # steps to solve over both seeds, the unsolved one censored (infinite): the median leans on it
    assert "1/2 [0.09, 0.91]" in lstm200 and "∞ [∞, ∞] (1/2 solved)" in lstm200
    rnn = rows[("rnn", "adding", "100")]
    assert "0/2 [0.00, 0.66]" in rnn and "1 diverged" in rnn and "1.000 (n=1)" in rnn and "| - |" in rnn
    assert f"commit {COMMIT[:12]} (clean)" in text and "torch 2.13.0" in text and "WARNING" not in text
    # the frontier from the grid: lstm 200 for seed 0, 100 for seed 1; rnn none. T50: lstm solves 2/2 at 100 and
    # 1/2 at 200: more likely beyond 200 than not, a lower bound (the posterior's 2.5% quantile); rnn solves nothing
    lstm = fit_t50([(100, True), (100, True), (200, True), (200, False)], [0, 1, 0, 1])
    assert lstm.kind == "above" and lstm.lo < 100
    assert f"| lstm | adding | 2 | {lstm.text()} | 150 [100-200] | 0: 200, 1: 100 |" in text
    assert "| rnn | adding | 2 | < 100 | 0 [0-0] | 0: none, 1: none |" in text
    assert f"adding: lstm T50 {lstm.text()}, rnn T50 < 100 (parameters not matched: model.param_budget unset, no tuning, " \
           "2 seeds, 5 of 6 runs without a test verdict counted by status)" in text


def test_formats_byte_identical_and_independent_of_listing_order(tmp_path):
    a, b = tmp_path / "a", tmp_path / "a_again"
    standard(a, order=1)
    standard(b, order=-1)  # the same runs, written in the opposite order
    # each call its own process (its own hash seed: no set or dict order may leak into the bytes), and the records
    # listed in the opposite order: the same bytes
    text = {}
    for fmt in ("md", "csv", "latex"):
        p1, p2 = cli(a, "--format", fmt), cli(b, "--format", fmt)
        assert p1.returncode == 0, p1.stderr
        assert p1.stdout.replace("a_again", "a") == p2.stdout.replace("a_again", "a")
        text[fmt] = p1.stdout
    assert text["csv"].startswith("model,task,length,")  # one header row: the provenance is in the sidecar
    assert "lstm,adding,100,64,2,2,1.0,0.3423802275,1.0,2,1100.0,1050.0,1150.0,2," in text["csv"]
    tex = text["latex"]
    assert r"\begin{tabular}" in tex and "1100 [1050, 1150] (2/2 solved)" in tex and "% 6 runs" in tex
    out = tmp_path / "t.md"
    assert cli(a, "--out", out).returncode == 0 and out.read_text() == text["md"]


def test_provenance_warns_when_code_or_versions_differ(tmp_path):
    make_run(tmp_path, "x", seed=0)
    make_run(tmp_path, "y", seed=1, commit="b" * 40, versions={**VERSIONS, "torch": "2.12.0"})
    text = cli(tmp_path).stdout
    assert "WARNING: the runs come from different code versions" in text and "bbbbbbbbbbbb" in text
    assert "WARNING: package versions differ between runs: torch 2.12.0 (1 runs), 2.13.0 (1 runs)" in text


def test_a_rate_counts_the_runs_that_reached_their_end(tmp_path):
    """An interrupted or crashed run, which the same command runs again, is no verdict: the outcomes column counts
    it, the rate's n does not. A diverged run ended, unsolved, and counts."""
    for name, status in (("s0", "solved"), ("s1", "interrupted"), ("s2", "crashed"), ("s3", "diverged")):
        make_run(tmp_path, name, seed=int(name[1]), status=status, solved_test=status == "solved")
    res = tables.results(report.load(tmp_path).runs)
    (row,) = res.rows
    assert (row.n_solved, len(row.counted), len(row.runs)) == (1, 2, 4) and row.solve_rate == 0.5
    text = report.render(report.load(tmp_path), "md")
    assert "| 1/2 [0.09, 0.91] |" in text and "1 crashed, 1 diverged, 1 interrupted" in text and "no tuning, 2 seeds)" in text
    csv = report.render(report.load(tmp_path), "csv").splitlines()
    line = dict(zip(csv[-2].split(","), csv[-1].split(",")))
    assert (line["runs"], line["solved"], line["n"], line["n_interrupted"]) == ("4", "1", "2", "1")


def test_rows_split_by_a_setting_that_differs(tmp_path):
    make_run(tmp_path, "lr1", lr=1e-3)
    make_run(tmp_path, "lr3", lr=3e-3, steps_to_solve=500)
    text = report.render(report.load(tmp_path), "md")
    assert "differ in train.lr" in text
    assert "| lstm | adding | 100 | 0.001 |" in text and "| lstm | adding | 100 | 0.003 |" in text
    # nothing chose between the values (no --tune): the findings line says each has its own row, not bare "no tuning"
    assert "no tuning: a row per train.lr value, 1 seed," in text


def test_frontier_table_from_frontier_json(tmp_path):
    """Each seed's longest T solved, by the test's verdict: seed 1's probe at T=50 met the rule on validation (its
    status, which steered the search: frontier 50) but not on test, so the table says 45, as its T50 and every other
    table count it (issue 23, defect 2)."""
    probes = {0: [(20, "solved", True), (40, "solved", True), (37, "solved", True), (38, "unsolved", False)],
              1: [(20, "solved", True), (45, "solved", True), (50, "solved", False), (60, "unsolved", False)],
              2: [(500, "solved", True), (1000, "solved", True)]}
    searches = []
    for seed, ps in probes.items():
        for T, status, on_test in ps:
            make_run(tmp_path, f"s{seed}T{T}", length=T, seed=seed, status=status, solved_test=on_test)
        searches.append({"overrides": ["model=lstm", f"seed={seed}"], "model": "lstm", "task": "adding", "seed": seed,
                         "frontier": max(T for T, st, _ in ps if st == "solved"), "done": True,
                         "capped": seed == 2, "probes": [{"length": T, "solved": st == "solved",
                                                          "run_dir": f"s{seed}T{T}"} for T, st, _ in ps]})
    (tmp_path / "frontier.json").write_text(json.dumps({"resolution": 1, "max_length": 1000, "searches": searches}))
    text = cli(tmp_path).stdout
    assert "frontier search, resolution 1 up to T=1000" in text
    row = next(line for line in text.splitlines() if line.startswith("| lstm | adding | 3 |"))
    assert row.endswith("| 45 [40-1000] | 0: 40, 1: 45, 2: >=1000 |")
    assert "longest T solved" in cli(tmp_path, "--format", "csv", "--table", "frontier").stdout


def test_bad_input(tmp_path):
    p = cli(tmp_path / "missing")
    assert p.returncode == 2 and "no such directory" in p.stderr
    (tmp_path / "empty").mkdir()
    p = cli(tmp_path / "empty")
    assert p.returncode == 1 and "nothing to report" in p.stderr

    root = tmp_path / "sweep"
    standard(root)
    (root / "l100s0" / "result.json").write_text('{"task": "adding", "model": "ls')  # half-written
    (root / "l100s1" / "result.json").write_text('{"task": "adding"}')  # not a result
    (root / "killed" / ".hydra").mkdir(parents=True)  # a job killed before its result
    (root / "killed" / ".hydra" / "config.yaml").write_text("{}\n")
    make_run(root, "copy", task="copy", length=20)  # another task mixed in
    p = cli(root)
    assert p.returncode == 0
    lines = p.stderr.splitlines()
    assert any("l100s0" in ln and "half-written or not JSON" in ln for ln in lines)
    assert any("l100s1" in ln and "lacks" in ln for ln in lines)
    assert any("no result.json (still running, or killed): killed" in ln for ln in lines)
    assert any("different tasks are mixed" in ln and "copy (metric recall_acc)" in ln for ln in lines)
    assert "| lstm | adding | 200 |" in p.stdout and "| lstm | copy | 20 |" in p.stdout  # the rest is reported

    only_bad = tmp_path / "only_bad"
    (only_bad / "r").mkdir(parents=True)
    (only_bad / "r" / "result.json").write_text("")
    p = cli(only_bad)
    assert p.returncode == 1 and "nothing to report" in p.stderr and "only_bad/r" in p.stderr


def test_plots_with_and_without_diagnostics(tmp_path):
    standard(tmp_path)
    for name, scale in (("l100s0", 1.0), ("r100s0", 1e-30)):
        rows = [{"step": step, "grad_h": [scale ** ((100 - t) / 100) for t in range(100)]} for step in (0, 100)]
        (tmp_path / name / "diagnostics.jsonl").write_text("\n".join(map(json.dumps, rows)) + "\n{broken")
    written = plots.draw(report.build(report.load(tmp_path)), tmp_path / "png")
    # every figure as PNG and PDF; no metrics.jsonl nor forget_unit_mean here: no learning curves, no timescales
    assert sorted(p.name for p in written) == sorted(f"{n}.{ext}" for n in ("grad_through_time", "solve_rate",
                                                                           "steps_to_solve", "t50")
                                                     for ext in ("png", "pdf"))
    assert all(p.stat().st_size > 1000 for p in written)
    for name in ("l100s0", "r100s0"):
        (tmp_path / name / "diagnostics.jsonl").unlink()
    written = plots.draw(report.build(report.load(tmp_path)), tmp_path / "png2")
    assert sorted(p.name for p in written) == sorted(f"{n}.{ext}" for n in ("solve_rate", "steps_to_solve", "t50")
                                                     for ext in ("png", "pdf"))


def test_report_imports_no_training_code():
    code = ("import sys, lstm_bench.report, lstm_bench.report.plots, lstm_bench.report.__main__, lstm_bench.callbacks; "
            "bad = [m for m in ('torch', 'lstm_bench.train', 'lstm_bench.models', 'tasks') if m in sys.modules]; "
            "assert not bad, bad")
    p = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr


def test_wandb_summary_table_goes_through_the_logger(tmp_path, monkeypatch):
    from lstm_bench import wandb_logger

    calls = {}

    class FakeRun:
        def log(self, row):
            calls["log"] = row

        def finish(self, exit_code=0):
            calls["finished"] = True

    class FakeWandb:
        Settings = staticmethod(lambda **kw: kw)
        Table = staticmethod(lambda columns, data: ("table", columns, data))

        @staticmethod
        def init(**kw):
            calls["init"] = kw
            return FakeRun()

    monkeypatch.setitem(sys.modules, "wandb", FakeWandb)
    wandb_logger.log_sweep_table(wandb_logger.NullLogger(), "g", "results", ["a"], [[1]], tmp_path)
    assert not calls  # logger=none: nothing
    wandb_logger.log_sweep_table(wandb_logger.WandbLogger(mode="offline"), "sweep-7", "results", ["a", "b"], [[1, 2]],
                                 tmp_path)
    assert calls["init"]["group"] == "sweep-7" and calls["init"]["job_type"] == "summary"
    assert calls["log"] == {"results": ("table", ["a", "b"], [[1, 2]])} and calls["finished"]


@pytest.mark.parametrize("launcher,cores,expected", [
    ({"n_jobs": -1}, 2, 1), ({"n_jobs": 1}, 2, 2), ({"n_jobs": 2}, 8, 4), ({"n_jobs": 16}, 2, 1),
    ({"cpus_per_task": 3}, 64, 3), ({}, 2, None)])
def test_threads_per_job(launcher, cores, expected):
    from lstm_bench.callbacks import threads_per_job

    assert threads_per_job(launcher, cores) == expected


def test_an_infinite_forget_timescale_is_infinity_not_a_number(tmp_path):
    """A forget gate that never forgets: result.json holds null and the flag; the tables say ∞, and a
    finite row keeps its mean."""
    for seed in (0, 1):  # two infinite values: a spread of them is undefined (statistics.stdev would raise)
        make_run(tmp_path, f"nfg{seed}", model="lstm_cell-nfg", seed=seed, forget_timescale_median=None,
                 forget_timescale_median_infinite=True)
    make_run(tmp_path, "l0", seed=0, forget_timescale_median=10.0, forget_timescale_median_infinite=False)
    make_run(tmp_path, "l1", seed=1, forget_timescale_median=20.0, forget_timescale_median_infinite=False)
    sweep = report.load(tmp_path)
    md = report.render(sweep, "md")
    rows = {line.split("|")[1].strip(): line for line in md.splitlines() if line.startswith("| ")}
    assert "forget timescale" in rows["model"]
    assert "∞ (n=2)" in rows["lstm_cell-nfg"] and "15.0 ± 7.1 (n=2)" in rows["lstm"]
    assert r"$\infty$ (n=2)" in report.render(sweep, "latex")
    header, numbers = report.results_numbers(report.build(sweep).results)  # the CSV's and W&B's table
    cells = {line[0]: dict(zip(header, line)) for line in numbers}
    nfg, lstm = cells["lstm_cell-nfg"], cells["lstm"]
    assert (nfg["forget_timescale_median_mean"], nfg["forget_timescale_median_std"]) == (math.inf, None)
    assert (lstm["forget_timescale_median_mean"], lstm["forget_timescale_median_n"]) == (15.0, 2)
    assert lstm["forget_timescale_median_std"] == pytest.approx(math.sqrt(50))


def test_uncommitted_code_versions_are_told_apart_by_their_source_hash(tmp_path):
    """Two runs on the same dirty commit but different source files: the provenance warns; a clean commit
    needs no hash."""
    for seed, source in ((0, "1" * 64), (1, "2" * 64)):
        d = make_run(tmp_path, f"s{seed}", seed=seed)
        meta = json.loads((d / "meta.json").read_text())
        (d / "meta.json").write_text(json.dumps({**meta, "git": {"commit": COMMIT, "dirty": True},
                                                 "source_sha256": source}))
    lines = report.render(report.load(tmp_path), "md").splitlines()
    warning = next(line for line in lines if line.startswith("WARNING: the runs come from different code"))
    assert "source 111111111111" in warning and "source 222222222222" in warning
    clean = tmp_path / "clean"
    make_run(clean, "c0")
    assert f"commit {COMMIT[:12]} (clean)" in report.render(report.load(clean), "md")


def test_capacity_columns_and_matched_parameters(tmp_path):
    """The capacity the records hold gets its columns; the findings line says the budget was matched only
    when every run's config set the same model.param_budget."""
    for model, H, total, rec, state in (("rnn", 140, 20060, 19880, 140), ("lstm", 64, 19970, 19200, 128)):
        for seed in (0, 1):
            d = make_run(tmp_path, f"{model}{seed}", model=model, seed=seed, hidden_size=H, n_params=total,
                         n_params_recurrence=rec, state_size=state, solved_test=model == "lstm")
            result = json.loads((d / "result.json").read_text())
            result["config"]["model"]["param_budget"] = 20000
            (d / "result.json").write_text(json.dumps(result))
    text = report.render(report.load(tmp_path), "md")
    header = next(ln for ln in text.splitlines() if ln.startswith("| model"))
    assert "| T | H | params | recurrence params | state size | solved on test [95% Wilson] |" in header
    assert "| rnn | adding | 100 | 140 | 20060 | 19880 | 140 | 0/2 [0.00, 0.66] |" in text
    assert "| lstm | adding | 100 | 64 | 19970 | 19200 | 128 | 2/2 [0.34, 1.00] |" in text
    assert "(matched parameters: model.param_budget=20000, no tuning, 2 seeds)" in text
    assert "2/2 [0.34, 1.00]" in report.render(report.load(tmp_path), "latex")
    csv_header = next(ln for ln in report.render(report.load(tmp_path), "csv").splitlines() if ln.startswith("model"))
    assert csv_header.startswith("model,task,length,hidden_size,n_params,n_params_recurrence,state_size,runs,")
