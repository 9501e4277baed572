"""The state-tracking tasks (parity, mod_add): the docstrings' worked examples, the analytic baselines
against the best memoryless predictor, the threshold refusal, bad options, purity and train/test
disjointness, and runs through the harness with either readout."""
import math

import pytest
import torch
from conftest import TINY, compose_cfg, read_result
from test_tasks import assert_pure_and_disjoint, table

import lstm_bench.train as train
from lstm_bench.errors import ConfigError
from lstm_bench.records import read_jsonl
from tasks import mod_add, parity
from tasks.mod_add import ModAdd
from tasks.parity import Parity

INSTANCES = {
    "parity": lambda **kw: Parity(length=8, **kw),
    "mod_add": lambda **kw: ModAdd(length=8, modulus=5, **kw),
}


@pytest.mark.parametrize("module,m", [(parity, 2), (mod_add, 5)], ids=["parity", "mod_add"])
def test_worked_examples(module, m):
    x = torch.tensor([[int(v) for v in table(module, "input")]])
    target = [int(v) for v in table(module, "target")]
    assert mod_add.make_sequences(x, m, "all").y[0].tolist() == target
    last = mod_add.make_sequences(x, m, "last")
    assert last.y.tolist() == [target[-1]] and f"the last column, {target[-1]})" in module.__doc__


@pytest.mark.parametrize("name", INSTANCES)
@pytest.mark.parametrize("readout", ["all", "last"])
def test_shapes_dependency_and_targets(name, readout):
    task = INSTANCES[name](readout=readout)
    b = task.batch(16, 0, 1)
    assert b.x.shape == (16, 8) and b.x.dtype == torch.long and 0 <= b.x.min() and b.x.max() < task.vocab_size
    running = b.x.cumsum(1) % task.modulus
    assert torch.equal(b.y, running if readout == "all" else running[:, -1])
    start, end = task.dependency(b)
    assert start.tolist() == [0] * 16 and end.tolist() == [7] * 16
    out = torch.randn((16, 8, task.n_out) if readout == "all" else (16, task.n_out))
    per_seq = task.dependency_loss(out, b)
    y_end = b.y[:, -1] if readout == "all" else b.y
    torch.testing.assert_close(per_seq, torch.nn.functional.cross_entropy(out[:, -1] if readout == "all" else out,
                                                                           y_end, reduction="none"))
    assert task.valid(b).all() and set(task.extra_metrics(out, b)) == ({"last_acc"} if readout == "all" else set())


@pytest.mark.parametrize("name", INSTANCES)
@pytest.mark.parametrize("readout", ["all", "last"])
def test_baseline_is_the_best_memoryless_predictor(name, readout):
    """Knowing x_0 at t = 0 and a uniform guess after it scores the analytic loss; its accuracy, the baseline metric."""
    task = INSTANCES[name](readout=readout)
    m, T = task.modulus, 8
    b = task.batch(20000, 0, 1)  # the accuracy of a guess: sd below 0.004
    if readout == "all":
        out = torch.zeros(20000, T, m)
        out[:, 0] = torch.where(torch.arange(m) == b.x[:, :1], 0.0, -math.inf)  # y_0 = x_0: certain
        out[:, 1:, 0] = 1e-6  # a uniform guess, its ties broken towards 0
    else:
        out = torch.zeros(20000, m)
        out[:, 0] = 1e-6
    assert task.loss(out, b).item() == pytest.approx(task.baseline_loss, rel=1e-5)
    want = ((1 + (T - 1) / m) / T) if readout == "all" else 1 / m
    assert task.baseline_metric == pytest.approx(want, rel=1e-12)
    assert task.metric(out, b) == pytest.approx(want, abs=0.015)
    if readout == "all":
        assert task.baseline_loss == pytest.approx((T - 1) / T * math.log(m))
    else:
        assert task.baseline_loss == pytest.approx(math.log(m))


def test_threshold_the_memoryless_baseline_meets_is_refused():
    with pytest.raises(ConfigError, match=r"^task.threshold=0.7 is not allowed: acc above 0.75"):
        Parity(length=2, threshold=0.7)  # (T+1)/(2T) = 3/4 at T = 2
    with pytest.raises(ConfigError, match=r"^task.threshold=0.2 is not allowed"):
        ModAdd(length=10, modulus=5, readout="last", threshold=0.2)
    assert ModAdd(length=10, modulus=5, readout="last", threshold=0.21).threshold == 0.21


@pytest.mark.parametrize("make,key", [
    (lambda: ModAdd(modulus=1), "task.modulus=1"),
    (lambda: Parity(length=1), "task.length=1"),
    (lambda: Parity(readout="first"), "task.readout='first'"),
    (lambda: ModAdd(threshold=1.5), "task.threshold=1.5"),
])
def test_bad_options(make, key):
    with pytest.raises(ConfigError, match=rf"^{key} is not allowed"):
        make()


@pytest.mark.parametrize("name", INSTANCES)
def test_batches_are_pure_and_train_test_disjoint(name):
    assert_pure_and_disjoint(INSTANCES[name]())


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("overrides", [["task=parity"], ["task=parity", "task.readout=last"],
                                       ["task=mod_add", "task.modulus=3"]], ids=["parity", "parity_last", "mod_add"])
def test_runs_through_the_harness(tmp_path, overrides):
    cfg = compose_cfg(*TINY, *overrides, "train.steps=3", "train.eval_every=2", "train.batch_size=4",
                      "train.eval_batch_size=8", "diag.batch_size=2")
    train.run(cfg, tmp_path)
    result = read_result(tmp_path)
    assert result["task"] == overrides[0].split("=")[1] and result["status"] in ("solved", "unsolved")
    assert result["dependency_length"] == 5  # TINY's T = 6: the first digit to the last step
    rows = read_jsonl(tmp_path / "metrics.jsonl")
    assert ("test_last_acc" in rows[-1]) == ("task.readout=last" not in overrides)
    assert math.isfinite(rows[-1]["test_loss"])
