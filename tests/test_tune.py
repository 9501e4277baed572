"""--tune KEY: the value is chosen on validation and its test numbers shown (even where the test set would have
chosen another), the rule's tie-breaks in order, T50 over the chosen runs, and an unswept key refused."""
import math

import pytest

from lstm_bench import report
from lstm_bench.report.load import Run
from lstm_bench.report.stats import fit_t50
from lstm_bench.report.tune import choose
from test_report import cli, make_run

Z = 1.959963984540054


def wilson_text(k, n):
    centre, half = (k + Z * Z / 2) / (n + Z * Z), Z / (n + Z * Z) * math.sqrt(k * (n - k) / n + Z * Z / 4)
    return f"{k}/{n} [{max(centre - half, 0):.2f}, {min(centre + half, 1):.2f}]"


def tuned_sweep(root, order=1):
    """At T=100, lr 0.001 solves validation 3/3 but test 1/3; lr 0.003 solves validation 1/3 but test 3/3."""
    runs = []
    for seed in range(3):
        runs.append((f"a{seed}", dict(lr=1e-3, seed=seed, status="solved", steps_to_solve=1000, val_loss=0.005,
                                      solved_test=seed == 0)))
        runs.append((f"b{seed}", dict(lr=3e-3, seed=seed, status="solved" if seed == 0 else "unsolved",
                                      steps_to_solve=800, val_loss=0.02, solved_test=True)))
    for name, kw in runs[::order]:
        make_run(root, name, **kw)


def rows_of(text):
    return [line for line in text.splitlines() if line.startswith("| lstm |")]


def test_tune_picks_validation_and_shows_its_test_numbers(tmp_path):
    tuned_sweep(tmp_path)
    sweep = report.load(tmp_path)
    plain = rows_of(report.render(sweep, "md"))
    assert len(plain) == 2  # without --tune each value keeps its row
    (row,) = rows_of(report.render(sweep, "md", tune=("train.lr",)))
    cells = [c.strip() for c in row.split("|")[1:-1]]
    assert cells[:4] == ["lstm", "adding", "100", "0.001"]  # validation's choice, not the test set's 0.003
    assert wilson_text(1, 3) in row and wilson_text(3, 3) not in row  # ...and its test numbers
    # steps to solve over every run, the two the test set does not confirm censored: the median run did not solve
    assert "∞ [∞, ∞] (1/3 solved)" in row
    md = report.render(sweep, "md", tune=("train.lr",))
    header = next(ln for ln in md.splitlines() if ln.startswith("| model"))
    assert "| T | train.lr (tuned) |" in header
    assert "train.lr tuned per model and T on validation" in md
    csv = report.render(sweep, "csv", tune=("train.lr",))
    assert next(ln for ln in csv.splitlines() if ln.startswith("model")).startswith("model,task,length,train.lr (tuned),")


def _runs(value, statuses, steps=None, val_loss=None):
    return [Run(f"{value}{i}", {"status": s, "steps_to_solve": steps if s == "solved" else None, "val_loss": val_loss,
                                "test_metric": 0.0}, {}) for i, s in enumerate(statuses)]


def test_the_rule_in_order():
    # 1. the validation solve rate outranks everything after it
    assert choose({("0.001",): _runs("a", ["solved", "unsolved"], 100, 0.01),
                   ("0.003",): _runs("b", ["solved", "solved"], 2000, 0.5)}) == ("0.003",)
    # 2. equal rates: fewer median steps to solve
    assert choose({("0.001",): _runs("a", ["solved", "unsolved"], 2000, 0.01),
                   ("0.003",): _runs("b", ["solved", "unsolved"], 1000, 0.5)}) == ("0.003",)
    # 3. equal rates and steps: the lower mean validation loss (a run without one sorts last)
    assert choose({("0.001",): _runs("a", ["unsolved"], None, 0.3),
                   ("0.003",): _runs("b", ["unsolved"], None, 0.2),
                   ("0.01",): _runs("c", ["unsolved"], None, None)}) == ("0.003",)
    # issue 23, defect 5: a value one of whose runs diverged (no final validation loss) ranks below any value whose
    # runs all have one; the mean over the finite ones alone (0.01 here) made the diverging rate win
    diverging = _runs("a", ["unsolved", "diverged"], None, 0.01)
    diverging[1].result["val_loss"] = None
    assert choose({("0.1",): diverging, ("0.003",): _runs("b", ["unsolved", "unsolved"], None, 0.3)}) == ("0.003",)
    # 4. a tie on all three: the smaller value, by number, not by text ("1e-4" < "0.001")
    assert choose({("0.001",): _runs("a", ["unsolved"], None, 0.3),
                   ("0.0001",): _runs("b", ["unsolved"], None, 0.3)}) == ("0.0001",)
    assert choose({("10",): _runs("a", ["solved"], 5, 0.1), ("9",): _runs("b", ["solved"], 5, 0.1)}) == ("9",)


def test_t50_uses_the_chosen_runs_at_each_length(tmp_path):
    # 15 seeds at T=10 and T=40, lr 0.001 and 0.003. Validation picks 0.001 at T=10 (every run solved there)
    # and 0.003 at T=40; T50 is that of their test verdicts, 12/15 and 5/15, alone (between 10 and 40);
    # the runs not chosen solve every test set and would put T50 above 40
    for seed in range(15):
        for length, lr, val_ok, test_ok in ((10, 1e-3, True, seed < 12), (10, 3e-3, False, True),
                                            (40, 1e-3, False, True), (40, 3e-3, True, seed < 5)):
            make_run(tmp_path, f"T{length}lr{lr}s{seed}", length=length, lr=lr, seed=seed, val_loss=0.1,
                     status="solved" if val_ok else "unsolved", solved_test=test_ok)
    t = report.build(report.load(tmp_path), tune=("train.lr",))
    (front,) = t.frontier.rows
    chosen = fit_t50([(10, s < 12) for s in range(15)] + [(40, s < 5) for s in range(15)], list(range(30)))
    assert front.t50.kind == "fit" and (front.t50.value, front.t50.lo, front.t50.hi) == (chosen.value, chosen.lo,
                                                                                         chosen.hi)
    assert 10 < front.t50.value < 40
    assert [row.chosen for row in t.results.rows] == [("0.001",), ("0.003",)]
    md = report.markdown(t)
    assert f"adding: lstm T50 = {front.t50.text()} (" in md
    assert "T50 fitted to the chosen value's runs at each T" in md and "15 seeds" in md


def test_tuned_tables_are_byte_identical(tmp_path):
    tuned_sweep(tmp_path / "a")
    tuned_sweep(tmp_path / "b", order=-1)
    for fmt in ("md", "csv", "latex"):
        a = report.render(report.load(tmp_path / "a"), fmt, tune=("train.lr",))
        assert a == report.render(report.load(tmp_path / "a"), fmt, tune=("train.lr",))
        assert a.replace("Results: a", "Results: b") == report.render(report.load(tmp_path / "b"), fmt,
                                                                      tune=("train.lr",))


def test_tune_with_a_key_no_run_sweeps(tmp_path):
    tuned_sweep(tmp_path)
    p = cli(tmp_path, "--tune", "train.lr", "--tune", "train.clip")
    assert p.returncode == 2 and p.stdout == ""
    errors = [ln for ln in p.stderr.splitlines() if ln.startswith("error:")]
    assert errors == ["error: --tune train.clip: no run sweeps it (the keys whose values differ between runs of the "
                      "same model, task and T: train.lr)"]
