"""Sequential and permuted images (Le, Jaitly & Hinton 2015): classify a 28x28 image read pixel by pixel.

The image (values in [0, 1]) is flattened row by row into 784 pixels and fed `task.pixels_per_step` at a
time: T = 784 / pixels_per_step steps (1: pixel by pixel, T = 784; 28: a row a step, T = 28). The model
names the class (0-9) after the last step (readout "last"). `task.permute=true` shuffles the 784 pixels
with one fixed permutation, drawn from `task.permute_seed` (which the record keeps): the same for every
image, batch and split, so neighbouring pixels land far apart in time. Worked example, a 2x2 image and
pixels_per_step=1 (the module works on 28x28 only):

    image       a b        sequential   t:  0  1  2  3        permuted,    t:  0  1  2  3
                c d                     x:  a  b  c  d        perm 2 0 3 1 x:  c  a  d  b
    target      the image's class, read at t = 3

Data: the four standard idx files (tasks/idx.py) in one folder, gzipped or not: train-images-idx3-ubyte,
train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte. `task.path` names the folder;
null takes Debian's package for Fashion-MNIST (`apt-get install dataset-fashion-mnist`, into
/usr/share/datasets/fashion-mnist); MNIST has no Debian package, so `task.dataset=mnist` needs a path.
Nothing is downloaded.

Splits: validation is `task.val_size` images of the training files, picked by `task.split_seed`; training
draws from the rest; test is the test files. A training batch is `batch_size` images drawn uniformly
(with replacement) from the training part by the batch's (seed, step) stream: no epochs, a pure function
like every task's. A held-out batch (validation, test) is `batch_size` distinct images of its part drawn
by the held-out stream, or the whole part, in file order, where batch_size covers it
(`train.eval_batch_size=10000`: every test image).

Fashion-MNIST has 10 classes of equal size, so a memoryless model (one that has forgotten the image)
can only guess: cross-entropy ln 10, accuracy 1/10. MNIST's classes are close to equal in size, and
the same guess is taken as its baseline.

The dependency the diagnostics follow: the scored last step back to the first, the whole sequence
(the class can hang on any pixel).
"""
from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from lstm_bench.errors import ConfigError, require
from tasks import TEST, TRAIN, VAL, Batch, Task, generator
from tasks.idx import read_idx

SIDE = 28
PIXELS = SIDE * SIDE
N_CLASSES = 10
DATASETS = {"fashion_mnist": "Fashion-MNIST", "mnist": "MNIST"}
# where Debian's packages put a dataset (tests point it elsewhere); MNIST has none
DEBIAN = {"fashion_mnist": Path("/usr/share/datasets/fashion-mnist")}
APT = "apt-get install dataset-fashion-mnist"
FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def _file(folder: Path, name: str) -> Path | None:
    for p in (folder / name, folder / f"{name}.gz"):
        if p.is_file():
            return p
    return None


def _read(images_path: Path, labels_path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """One part's images (N, 784) uint8 and labels (N,) long, checked against each other."""
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (SIDE, SIDE):
        raise ConfigError(f"{images_path}: holds {images.dtype} values of shape {images.shape}, not 28x28 uint8 images")
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise ConfigError(f"{labels_path}: holds {labels.dtype} values of shape {labels.shape}, not uint8 labels")
    if len(labels) != len(images):
        raise ConfigError(f"{labels_path}: {len(labels)} labels for the {len(images)} images of {images_path.name}")
    if labels.size and labels.max() >= N_CLASSES:
        raise ConfigError(f"{labels_path}: a label {int(labels.max())}, outside the classes 0-9")
    return torch.from_numpy(images.reshape(len(images), PIXELS)), torch.from_numpy(labels.astype(np.int64))


@lru_cache(maxsize=1)
def _load(paths: tuple[Path, ...], stamp: tuple) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """The train and test parts as the files hold them; `stamp` (the files' sizes and times) reads them again
    where they changed."""
    return {"train": _read(*paths[:2]), "test": _read(*paths[2:])}


@lru_cache(maxsize=2)
def _parts(paths: tuple[Path, ...], stamp: tuple, val_size: int, split_seed: int) -> dict:
    """The train, validation and test parts, built once per process (a sweep's checks build the task once per
    job): validation is `val_size` training images picked by `split_seed`, train the rest, each in file order."""
    data = _load(paths, stamp)
    images, labels = data["train"]
    n_train = len(labels)
    require(isinstance(val_size, int) and 1 <= val_size < n_train, "task.val_size", val_size,
            f"an integer from 1 to {n_train - 1} (the training files hold {n_train} images)")
    require(len(data["test"][1]) > 0, "task.path", str(paths[2].parent), f"test files with at least one image ({paths[2]})")
    split = torch.randperm(n_train, generator=torch.Generator().manual_seed(split_seed))
    val, train = split[:val_size].sort().values, split[val_size:].sort().values
    return {TRAIN: (images[train], labels[train]), VAL: (images[val], labels[val]), TEST: data["test"]}


def data_files(dataset: str, path) -> tuple[Path, ...]:
    """The four files of `dataset` under `path` (None: Debian's folder), or one line saying what is missing."""
    name = DATASETS[dataset]
    names = [n for part in FILES.values() for n in part]
    holding = "a folder holding " + ", ".join(names) + " (each may be gzipped: NAME.gz)"
    if path is None:
        folder = DEBIAN.get(dataset)
        if folder is None:
            raise ConfigError(f"task.path=None is not allowed: {name} has no Debian package: set task.path to {holding}")
        if not folder.is_dir():
            raise ConfigError(f"task.path=None is not allowed: no {name} in {folder}: install it with `{APT}` "
                              f"(as root), or set task.path to {holding}")
        key = "task.path=None (Debian's folder, " + str(folder) + ")"
    else:
        folder = Path(str(path)).expanduser()
        hint = f" (`{APT}` puts Fashion-MNIST in {DEBIAN['fashion_mnist']})" if dataset == "fashion_mnist" else ""
        require(folder.is_dir(), "task.path", str(path), f"no such folder: set it to {holding}{hint}")
        key = f"task.path={str(path)!r}"
    found = [_file(folder, n) for n in names]
    missing = [n for n, p in zip(names, found) if p is None]
    if missing:
        raise ConfigError(f"{key} is not allowed: it lacks {', '.join(missing)} (or .gz): {name} needs {holding}")
    return tuple(found)


def permutation(seed: int) -> torch.Tensor:
    """The fixed pixel order of `task.permute=true`: (784,) long, from its own CPU generator."""
    return torch.randperm(PIXELS, generator=torch.Generator().manual_seed(seed))


class SeqImage(Task):
    name = "seq_image"
    readout = "last"
    metric_name = "acc"
    n_out = N_CLASSES

    def __init__(self, dataset: str = "fashion_mnist", path: str | None = None, permute: bool = False,
                 permute_seed: int = 0, pixels_per_step: int = 1, val_size: int = 5000, split_seed: int = 0,
                 threshold: float = 0.85):
        require(dataset in DATASETS, "task.dataset", dataset, "one of " + ", ".join(DATASETS))
        require(isinstance(permute, bool), "task.permute", permute, "true or false")
        require(isinstance(permute_seed, int) and 0 <= permute_seed < 2**63, "task.permute_seed", permute_seed,
                "an integer >= 0")
        divisors = [d for d in range(1, PIXELS + 1) if PIXELS % d == 0]
        require(pixels_per_step in divisors, "task.pixels_per_step", pixels_per_step,
                "a divisor of 784: " + ", ".join(map(str, divisors)) + " (1: T=784, 28: a row a step)")
        require(isinstance(split_seed, int) and 0 <= split_seed < 2**63, "task.split_seed", split_seed,
                "an integer >= 0")
        require(0 < threshold <= 1, "task.threshold", threshold, "an accuracy in (0, 1]")
        files = data_files(dataset, path)
        self.parts = _parts(files, tuple((p.stat().st_size, p.stat().st_mtime_ns) for p in files), val_size, split_seed)
        self.dataset, self.path, self.permute, self.permute_seed = dataset, path, permute, permute_seed
        self.pixels_per_step, self.val_size, self.split_seed, self.threshold = pixels_per_step, val_size, split_seed, threshold
        self.length = PIXELS // pixels_per_step
        self.n_features = pixels_per_step
        self.order = permutation(permute_seed) if permute else None
        self.on_device = {}  # device -> parts: moved once, then every batch is indexed where it runs

    @property
    def baseline_loss(self) -> float:
        return math.log(N_CLASSES)

    @property
    def baseline_metric(self) -> float:
        return 1 / N_CLASSES

    @property
    def chrono_tmax(self) -> float:
        """The horizon T_max for the LSTM's chrono init: the sequence length."""
        return self.length

    def on(self, device) -> dict:
        """The parts (images (N, 784) uint8, labels (N,)) and the pixel order, moved to `device` once."""
        key = str(device)
        if key not in self.on_device:
            self.on_device[key] = {s: (x.to(device), y.to(device)) for s, (x, y) in self.parts.items()}
            self.on_device[key]["order"] = None if self.order is None else self.order.to(device)
        return self.on_device[key]

    def batch(self, batch_size: int, seed: int, step: int, device="cpu", split: str = TRAIN) -> Batch:
        g = generator(seed, step, split, device)
        data = self.on(device)
        images, labels = data[split]
        n = len(labels)
        if split == TRAIN:
            idx = torch.randint(0, n, (batch_size,), generator=g, device=device)
        elif batch_size >= n:
            idx = torch.arange(n, device=device)
        else:
            idx = torch.randperm(n, generator=g, device=device)[:batch_size]
        x = images[idx].float() / 255  # (B, 784)
        if data["order"] is not None:
            x = x[:, data["order"]]  # the same fixed order for every image
        B = x.shape[0]
        return Batch(x.view(B, self.length, self.pixels_per_step), labels[idx])  # (B, T, pixels_per_step)

    def loss(self, out: torch.Tensor, batch: Batch) -> torch.Tensor:
        return F.cross_entropy(out, batch.y)  # out: (B, 10), read after the last step

    def metric(self, out: torch.Tensor, batch: Batch) -> float:
        return (out.argmax(-1) == batch.y).float().mean().item()

    def dependency(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        B = batch.x.shape[0]
        start = torch.zeros(B, dtype=torch.long, device=batch.x.device)
        return start, torch.full_like(start, self.length - 1)
