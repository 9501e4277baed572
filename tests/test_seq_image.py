"""task=seq_image and its idx reader, on small idx files made here (the real data is never needed): the idx
format against bytes laid out by hand, gzip and plain, one clear line for a missing folder and for a corrupt
or truncated file (nothing written), the permutation, the splits, purity, and a model learning a toy version
through the harness."""
import gzip
import math
import struct

import numpy as np
import pytest
import torch

import lstm_bench.train as train
import tasks.seq_image
from conftest import compose_cfg, run_cli, write_images
from lstm_bench.errors import ConfigError
from lstm_bench.records import read_jsonl
from tasks import TEST, TRAIN, VAL
from tasks.idx import read_idx, write_idx
from tasks.seq_image import SeqImage

NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_images(tmp_path_factory.mktemp("images"), n_train=300, n_test=50)


def ids(x: torch.Tensor) -> list[int]:
    """Which made-up images a batch holds (write_images: the index in the first two pixels)."""
    px = (x.reshape(len(x), -1)[:, :2] * 255).round().long()
    return (px[:, 0] + 256 * px[:, 1]).tolist()


# ---------------------------------------------------------------------------------------------- idx files

def test_idx_reads_bytes_laid_out_by_hand(tmp_path):
    # magic 0x00000803: uint8, 3 dimensions; sizes 2, 2, 3 big-endian; then the 12 values in C order
    (tmp_path / "a").write_bytes(bytes([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3]) + bytes(range(12)))
    got = read_idx(tmp_path / "a")
    assert got.dtype == np.uint8 and got.shape == (2, 2, 3) and got[1, 0, 2] == 8 and got[0, 1, 0] == 3
    # 0x00000C01: big-endian int32, one dimension of 2
    (tmp_path / "b").write_bytes(bytes([0, 0, 0x0C, 1, 0, 0, 0, 2]) + struct.pack(">ii", -5, 70000))
    assert read_idx(tmp_path / "b").tolist() == [-5, 70000]
    (tmp_path / "c.gz").write_bytes(gzip.compress((tmp_path / "b").read_bytes()))  # gzip is told by its bytes
    (tmp_path / "c").write_bytes((tmp_path / "c.gz").read_bytes())
    assert read_idx(tmp_path / "c.gz").tolist() == read_idx(tmp_path / "c").tolist() == [-5, 70000]


@pytest.mark.parametrize("name", ["x.gz", "x"])
@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "float32", "float64"])
def test_idx_writes_what_it_reads(tmp_path, name, dtype):
    base = np.arange(24).reshape(2, 3, 4)
    a = (base if dtype == "uint8" else (base - 7) * (1.5 if dtype.startswith("float") else 1)).astype(dtype)
    write_idx(tmp_path / name, a)
    got = read_idx(tmp_path / name)
    assert got.dtype == a.dtype and np.array_equal(got, a)
    raw = (tmp_path / name).read_bytes()
    raw = gzip.decompress(raw) if name.endswith(".gz") else raw
    assert raw[:4] == bytes([0, 0, {"uint8": 8, "int8": 9, "int16": 11, "int32": 12, "float32": 13,
                                    "float64": 14}[dtype], 3])


def test_bad_idx_files_are_one_line_naming_the_file(tmp_path):
    write_idx(tmp_path / "good", np.zeros((3, 28, 28), np.uint8))
    good = (tmp_path / "good").read_bytes()
    cases = {"short": (good[:-5], "truncated: the header announces 3x28x28 uint8 values (2352 bytes) and 2347 bytes follow"),
             "long": (good + b"xx", "2 bytes too long"),
             "text": (b"<html>404</html>", "not an idx file: magic number 0x3c68746d"),
             "tiny": (b"\0\0", "truncated: 2 bytes, fewer than an idx header's 4"),
             "header": (good[:10], "truncated: the header announces 3 dimensions (16 bytes) but the file holds 10 bytes"),
             "cut.gz": (gzip.compress(good)[:-30], "a corrupt or truncated gzip file"),
             "bad.gz": (b"\x1f\x8b" + b"\0" * 40, "a corrupt or truncated gzip file")}
    for name, (data, why) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ConfigError) as err:
            read_idx(tmp_path / name)
        msg = str(err.value)
        assert msg.startswith(f"{tmp_path / name}: ") and why in msg and "\n" not in msg, msg


# ---------------------------------------------------------------------------------------------- the task

def test_batches_are_the_files_images_in_order(folder):
    task = SeqImage(path=str(folder), val_size=60)
    raw = read_idx(folder / "train-images-idx3-ubyte.gz")
    labels = read_idx(folder / "train-labels-idx1-ubyte.gz")
    assert (task.length, task.n_features, task.n_out, task.readout) == (784, 1, 10, "last")
    b = task.batch(16, 3, 7)
    assert b.x.shape == (16, 784, 1) and b.y.shape == (16,) and b.x.dtype == torch.float32
    for row, i, y in zip(b.x, ids(b.x), b.y):
        assert torch.equal(row.flatten(), torch.from_numpy(raw[i].reshape(-1)).float() / 255) and y == labels[i]
    rows = SeqImage(path=str(folder), val_size=60, pixels_per_step=28).batch(16, 3, 7)
    assert rows.x.shape == (16, 28, 28) and torch.equal(rows.x.flatten(1), b.x.flatten(1))  # a row a step
    assert torch.equal(rows.x[0, 4], torch.from_numpy(raw[ids(b.x)[0], 4]).float() / 255)


def test_the_permutation_is_fixed_and_recorded(folder):
    plain = SeqImage(path=str(folder), val_size=60)
    perm = SeqImage(path=str(folder), val_size=60, permute=True, permute_seed=5)
    order = tasks.seq_image.permutation(5)
    assert sorted(order.tolist()) == list(range(784)) and not torch.equal(order, torch.arange(784))
    for split, step in ((TRAIN, 1), (TRAIN, 9), (VAL, 0), (TEST, 0)):  # one order for every batch and split
        a, b = plain.batch(8, 0, step, split=split), perm.batch(8, 0, step, split=split)
        assert torch.equal(b.x[:, :, 0], a.x[:, order, 0]) and torch.equal(a.y, b.y)
    other = SeqImage(path=str(folder), val_size=60, permute=True, permute_seed=6).batch(8, 0, 1)
    assert not torch.equal(other.x, perm.batch(8, 0, 1).x)  # another seed, another order
    again = SeqImage(path=str(folder), val_size=60, permute=True, permute_seed=5).batch(8, 0, 1)
    assert torch.equal(again.x, perm.batch(8, 0, 1).x)


def test_splits(folder):
    task = SeqImage(path=str(folder), val_size=60, split_seed=1)
    train_ids = set().union(*(ids(task.batch(64, s, step).x) for s in range(3) for step in range(1, 30)))
    val = ids(task.val_batch(1000, 0).x)
    assert len(val) == 60 == len(set(val)) and val == sorted(val)  # all of them, in file order
    assert train_ids.isdisjoint(val) and train_ids | set(val) == set(range(300))  # training sees every other image
    assert ids(task.test_batch(1000, 0).x) == list(range(50))  # the test files, all of them
    some = ids(task.test_batch(20, 0).x)
    assert len(set(some)) == 20 and some == ids(task.test_batch(20, 0).x) != ids(task.test_batch(20, 1).x)
    assert set(ids(task.val_batch(20, 4).x)) <= set(val)
    other = ids(SeqImage(path=str(folder), val_size=60, split_seed=2).val_batch(1000, 0).x)
    assert len(other) == 60 and other != val  # split_seed picks them


def test_batches_are_pure_and_the_splits_streams_differ(folder):
    task = SeqImage(path=str(folder), val_size=60)
    for split in (TRAIN, VAL, TEST):
        a, b = task.batch(16, 2, 5, split=split), task.batch(16, 2, 5, split=split)
        assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    assert ids(task.batch(16, 2, 5).x) != ids(task.batch(16, 2, 6).x) != ids(task.batch(16, 3, 6).x)


def test_plain_and_gzipped_files_give_the_same_task(tmp_path):
    gz = write_images(tmp_path / "gz", n_train=40, n_test=10, gz=True)
    plain = write_images(tmp_path / "plain", n_train=40, n_test=10, gz=False)
    assert {p.name for p in plain.iterdir()} == set(NAMES) and {p.name for p in gz.iterdir()} == {n + ".gz" for n in NAMES}
    a, b = SeqImage(path=str(gz), val_size=5).batch(8, 0, 1), SeqImage(path=str(plain), val_size=5).batch(8, 0, 1)
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)


def test_baseline_is_a_guess_over_ten_classes(folder):
    task = SeqImage(path=str(folder), val_size=60)
    b = task.test_batch(50, 0)  # write_images: 5 of each class
    uniform = torch.zeros(50, 10)
    assert task.loss(uniform, b).item() == pytest.approx(task.baseline_loss) == pytest.approx(math.log(10))
    assert task.metric(uniform, b) == pytest.approx(task.baseline_metric) == 0.1  # argmax of a tie: class 0
    assert task.metric(torch.nn.functional.one_hot(b.y, 10).float(), b) == 1.0
    start, end = task.dependency(b)
    assert start.tolist() == [0] * 50 and end.tolist() == [783] * 50


# ---------------------------------------------------------------------------------------------- bad input

def test_a_missing_folder_is_one_line_naming_the_apt_command_and_task_path(tmp_path, monkeypatch):
    monkeypatch.setitem(tasks.seq_image.DEBIAN, "fashion_mnist", tmp_path / "nowhere")
    with pytest.raises(ConfigError) as err:
        SeqImage()
    msg = str(err.value)
    assert msg.startswith(f"task.path=None is not allowed: no Fashion-MNIST in {tmp_path / 'nowhere'}: install it "
                          "with `apt-get install dataset-fashion-mnist` (as root), or set task.path to a folder holding "
                          "train-images-idx3-ubyte, ") and "\n" not in msg
    with pytest.raises(ConfigError) as err:
        SeqImage(path=str(tmp_path / "nope"))
    assert str(err.value).startswith(f"task.path={str(tmp_path / 'nope')!r} is not allowed: no such folder: set it to ")
    assert "apt-get install dataset-fashion-mnist" in str(err.value)
    with pytest.raises(ConfigError) as err:
        SeqImage(dataset="mnist")
    assert str(err.value).startswith("task.path=None is not allowed: MNIST has no Debian package: set task.path to ")
    part = write_images(tmp_path / "part", n_train=20, n_test=5)
    (part / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(ConfigError) as err:
        SeqImage(path=str(part))
    assert f"task.path={str(part)!r} is not allowed: it lacks t10k-labels-idx1-ubyte (or .gz)" in str(err.value)


@pytest.mark.parametrize("kw, key", [(dict(dataset="cifar"), "task.dataset"), (dict(pixels_per_step=5), "task.pixels_per_step"),
                                     (dict(permute="yes"), "task.permute"), (dict(val_size=300), "task.val_size"),
                                     (dict(val_size=0), "task.val_size"), (dict(threshold=0.05), "task.threshold")])
def test_bad_options_are_one_clear_line(folder, kw, key):
    with pytest.raises(ConfigError) as err:
        SeqImage(**{"path": str(folder), "val_size": 60, **kw})
    msg = str(err.value)
    assert msg.startswith(key + "=") and "\n" not in msg and "not allowed" in msg


def test_files_that_do_not_match_are_refused(tmp_path):
    d = write_images(tmp_path / "d", n_train=30, n_test=10)
    write_idx(d / "train-labels-idx1-ubyte.gz", np.zeros(29, np.uint8))
    with pytest.raises(ConfigError, match="train-labels-idx1-ubyte.gz: 29 labels for the 30 images of "):
        SeqImage(path=str(d), val_size=5)
    write_idx(d / "train-labels-idx1-ubyte.gz", np.full(30, 10, np.uint8))
    with pytest.raises(ConfigError, match="a label 10, outside the classes 0-9"):
        SeqImage(path=str(d), val_size=5)
    write_idx(d / "train-images-idx3-ubyte.gz", np.zeros((30, 32, 32), np.uint8))
    with pytest.raises(ConfigError, match=r"holds uint8 values of shape \(30, 32, 32\), not 28x28 uint8 images"):
        SeqImage(path=str(d), val_size=5)


def test_a_corrupt_file_stops_the_run_with_one_line_and_nothing_written(tmp_path):
    d = write_images(tmp_path / "d", n_train=30, n_test=10)
    bad = d / "t10k-images-idx3-ubyte.gz"
    bad.write_bytes(bad.read_bytes()[:-20])
    work = tmp_path / "work"
    work.mkdir()
    p = run_cli("task=seq_image", f"task.path={d}", "task.val_size=5", "logger=none", "train.steps=2", cwd=work)
    assert p.returncode == 2 and p.stderr.strip().splitlines() == [
        f"error: {bad}: a corrupt or truncated gzip file (EOFError: Compressed file ended before the end-of-stream "
        "marker was reached)"]
    assert [p for p in work.rglob("*") if p.is_file()] == []


# ---------------------------------------------------------------------------------------------- end to end

@pytest.mark.usefixtures("one_thread")
def test_an_lstm_learns_the_toy_images_through_the_harness(tmp_path, folder):
    """write_images' class is a stroke in rows 4-8; read four rows a step (T = 7) it is in steps 1 and 2, and the
    LSTM must hold it to the last step. From a guess (1/10) to every validation and test image right."""
    cfg = compose_cfg("logger=none", "task=seq_image", f"task.path={folder}", "task.val_size=60",
                      "task.pixels_per_step=112", "task.threshold=0.99", "model=lstm", "model.hidden_size=16",
                      "embed_size=16", "train.steps=300", "train.eval_every=25", "train.batch_size=32",
                      "train.eval_batch_size=1000", "train.lr=1e-2", "diag.batch_size=8", "diag.every=2")
    result = train.run(cfg, tmp_path)
    assert result["status"] == "solved" and result["length"] == 7 and result["metric_name"] == "acc"
    first = read_jsonl(tmp_path / "metrics.jsonl")[0]
    assert first["step"] == 25 and first["val_acc"] < 0.7  # it learned here, it did not start there
    assert result["test_metric"] >= 0.95 and result["baseline_metric"] == 0.1
    assert result["baseline_loss"] == pytest.approx(math.log(10)) and result["loss_vs_baseline"] < 0.1
    assert result["config"]["task"]["permute_seed"] == 0 and result["config"]["task"]["split_seed"] == 0
    assert result["dependency_length"] == 6  # the probe followed the whole sequence
