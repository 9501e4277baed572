"""Train short, test long: the tasks' test sets at other lengths (`task.test_length`, `task.test_lengths`),
what the loop records of them, and the report's table and figure of the test metric against test length."""
import math

import pytest
import torch
from conftest import TINY, compose_cfg, read_result

import lstm_bench.train as train
from lstm_bench.errors import ConfigError
from lstm_bench.records import read_jsonl
from tasks import TEST
from tasks.adding import Adding
from tasks.assoc_recall import AssocRecall
from tasks.copy_memory import Copy
from tasks.mod_add import ModAdd
from tasks.multiplication import Multiplication
from tasks.parity import Parity
from tasks.reber import Reber
from tasks.selective_copy import SelectiveCopy
from tasks.temporal_order import TemporalOrder


def test_state_tasks_test_at_every_length_primary_first():
    task = ModAdd(length=8, modulus=3, test_length=12, test_lengths=[24, 12, 40])
    sets = task.test_batches(5, 7)
    assert list(sets) == [12, 24, 40]  # the primary first; a length listed twice is tested once
    for n, b in sets.items():
        assert b.x.shape == b.y.shape == (5, n)
        assert torch.equal(b.y, b.x.cumsum(1) % 3)  # the running sum, at every length
        assert torch.equal(b.x, task.batch(5, 7, 0, split=TEST, length=n).x)  # the test seeds
    assert task.batch(5, 7, 0).x.shape == (5, 8)  # training keeps task.length
    last = Parity(length=4, readout="last", test_lengths=[9]).test_batches(3, 0)
    assert list(last) == [4, 9] and last[9].x.shape == (3, 9)
    assert torch.equal(last[9].y, last[9].x.sum(1) % 2)


def test_default_is_the_training_length():
    assert list(Parity(length=6).test_batches(2, 0)) == [6]
    copy = Copy(length=5, n_recall=2)
    (n, b), = copy.test_batches(4, 1).items()
    assert n == 5 and torch.equal(b.x, copy.test_batch(4, 1).x)
    # the continual Reber stream is tested on its own stream of task.test_length symbols
    (n, b), = Reber(length=30, continual=True, test_length=700).test_batches(8, 0).items()
    assert n == 700 and b.x.shape == (1, 700)


LONGER = {  # a task built at the training length but tested at 12 draws what the task built at 12 draws
    "copy": lambda **kw: Copy(n_recall=2, **kw),
    "copy_variable": lambda **kw: Copy(n_recall=2, variable=True, **kw),
    "adding": lambda **kw: Adding(**kw),
    "adding_hochreiter": lambda **kw: Adding(style="hochreiter", **{k: v + 20 for k, v in kw.items()}),  # T >= 20
    "multiplication": lambda **kw: Multiplication(**kw),
    "selective_copy": lambda **kw: SelectiveCopy(n_symbols=4, n_recall=3, **kw),
    "temporal_order": lambda **kw: TemporalOrder(windows=[[1, 2], [4, 5]], **kw),  # the windows stay put
}


@pytest.mark.parametrize("name", LONGER)
def test_tasks_test_at_a_longer_length(name):
    make = LONGER[name]
    short, long_ = make(length=8, test_length=12), make(length=12)
    (n, b), = short.test_batches(6, 3).items()
    ref = long_.test_batch(6, 3)
    assert n == long_.length and torch.equal(b.x, ref.x) and torch.equal(b.y, ref.y)
    assert short.batch(6, 3, 1).x.shape == make(length=8).batch(6, 3, 1).x.shape  # training keeps task.length
    assert short.at_length(n).baseline_loss == pytest.approx(long_.baseline_loss)


def test_a_shorter_test_or_assoc_recall_test_length_refused():
    with pytest.raises(ConfigError, match=r"^task\.test_length=4 is not allowed: .*>= task\.length=5"):
        Copy(length=5, test_length=4)
    with pytest.raises(ConfigError, match=r"^task\.test_length=200 is not allowed: .*buckets"):
        AssocRecall(length=100, test_length=200)


@pytest.mark.usefixtures("one_thread")
def test_run_scores_the_test_against_the_baseline_at_its_length(tmp_path):
    train.run(compose_cfg("task=copy", *TINY, "task.n_recall=2", "task.test_length=10"), tmp_path)
    r = read_result(tmp_path)
    assert (r["length"], r["test_length"], list(r["test_metric_by_length"])) == (6, 10, ["10"])
    assert r["baseline_loss"] == pytest.approx(2 * math.log(8) / 14)  # n_recall ln(n_symbols) / (T + 2 n_recall)
    assert r["loss_vs_baseline"] == pytest.approx(r["test_loss"] / r["baseline_loss"])


@pytest.mark.parametrize("kw,key", [({"test_length": 1}, "task.test_length"),
                                    ({"test_length": 4.5}, "task.test_length"),
                                    ({"test_lengths": [16, 1]}, "task.test_lengths")])
def test_bad_test_lengths_refused(kw, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        Parity(length=8, **kw)


@pytest.mark.usefixtures("one_thread")
def test_run_records_the_metric_per_length(tmp_path):
    cfg = compose_cfg("task=parity", *TINY, "task.test_length=9", "task.test_lengths=[6,12]")
    train.run(cfg, tmp_path)
    r = read_result(tmp_path)
    assert (r["length"], r["test_length"]) == (6, 9)
    by = r["test_metric_by_length"]
    assert set(by) == {"9", "6", "12"} and by["9"] == r["test_metric"]
    rows = read_jsonl(tmp_path / "metrics.jsonl")
    assert rows[-1]["test_acc"] == r["test_metric"]
    assert (rows[-1]["test_acc_T6"], rows[-1]["test_acc_T12"]) == (by["6"], by["12"])
    assert "test_acc_T9" not in rows[-1]  # the primary is test_acc itself


@pytest.mark.usefixtures("one_thread")
def test_run_without_test_length_tests_at_the_training_length(tmp_path):
    train.run(compose_cfg("task=copy", *TINY), tmp_path)
    r = read_result(tmp_path)
    assert r["test_length"] == r["length"] == 6
    assert r["test_metric_by_length"] == {"6": r["test_metric"]}


def state_sweep(root):
    """lstm: 1.0 at every length over two seeds; mingru: 0.9, 0.7 at T=8 and 0.5, 0.6 at T=32."""
    from test_report import make_run
    for name, model, seed, by in [("l0", "lstm", 0, {"8": 1.0, "32": 1.0}), ("l1", "lstm", 1, {"8": 1.0, "32": 1.0}),
                                  ("g0", "mingru", 0, {"8": 0.9, "32": 0.5}),
                                  ("g1", "mingru", 1, {"8": 0.7, "32": 0.6})]:
        make_run(root, name, model=model, task="parity", length=8, seed=seed, status="unsolved",
                 test_length=8, test_metric_by_length=by, metric_name="acc")


def test_report_table_of_the_metric_per_test_length(tmp_path):
    from lstm_bench import report
    state_sweep(tmp_path)
    t = report.build(report.load(tmp_path))
    assert t.lengths.lengths == [8, 32]
    rows = {row.model: st for row, _, st in t.lengths.rows}
    assert rows["mingru"][8].mean == pytest.approx(0.8) and rows["mingru"][8].std == pytest.approx(0.1414213562)
    assert rows["mingru"][32].mean == pytest.approx(0.55) and rows["lstm"][32].values == (1.0, 1.0)
    md = report.markdown(t)
    assert "| model | task | trained at T | metric | test T=8 | test T=32 |" in md
    assert "| mingru | parity | 8 | acc | 0.800 ± 0.141 (n=2) | 0.550 ± 0.071 (n=2) |" in md
    csv = report.csv_text(t, "lengths").splitlines()
    assert csv[-1] == "mingru,parity,8,acc,0.8,0.1414213562,2,0.55,0.0707106781,2"


def test_report_leaves_the_table_out_when_every_test_was_at_the_training_length(tmp_path):
    from test_report import make_run

    from lstm_bench import report
    make_run(tmp_path, "a", test_length=100, test_metric_by_length={"100": 0.1})
    make_run(tmp_path, "b", seed=1)  # a record from before test lengths
    t = report.build(report.load(tmp_path))
    assert t.lengths is None and "Train short, test long" not in report.markdown(t)
    with pytest.raises(report.ReportError, match="no test lengths"):
        report.csv_text(t, "lengths")


def test_report_figure_of_the_metric_against_test_length(tmp_path):
    from lstm_bench import report
    from lstm_bench.report import plots
    state_sweep(tmp_path / "sweep")
    written = plots.draw(report.build(report.load(tmp_path / "sweep")), tmp_path / "png")
    png = tmp_path / "png" / "test_length.png"
    assert png in written and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
