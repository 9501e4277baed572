"""Train short, test long: the tasks' test sets at other lengths (`task.test_length`, `task.test_lengths`),
what the loop records of them, and the report's table and figure of the test metric against test length."""
import json

import pytest
import torch
from conftest import TINY, compose_cfg, read_result

import lstm_bench.train as train
from lstm_bench.errors import ConfigError
from lstm_bench.records import read_jsonl
from tasks import TEST
from tasks.copy import Copy
from tasks.mod_add import ModAdd
from tasks.parity import Parity
from tasks.reber import Reber


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
