"""The task contract. A task is data and its scoring, nothing else: torch only.

Each task lives in its own file (`tasks/copy.py`, `tasks/adding.py`, ...) as one class
whose `batch(batch_size, seed, step, device, split)` is a pure function: the same
arguments give the same tensors, built on the fly with vectorised torch ops.

What the harness reads off a task:
    name           the name in result.json ("copy", "adding")
    length         the dependency length T the user asked for
    vocab_size     int for symbol inputs (the wrapper embeds them), None for real values
    n_features     input channels for real values (ignored for symbols)
    n_out          readout size (classes, or 1 for regression)
    readout        "all" (a prediction every step) or "last" (one at the end)
    metric_name    what `metric` returns ("recall_acc", "mse", ...)
    baseline_loss  the analytic loss of the best memoryless predictor
    loss(out, batch)            the training loss
    dependency_loss(out, batch) the loss where the dependency ends (diagnostics)
    metric(out, batch)          the test metric, a float
    solved(metric)              the task's own "solved" rule
    stateful       if True, the training loop carries the state across batches (detached)
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

TRAIN, TEST = "train", "test"


class ConfigError(ValueError):
    """Bad input (a task option, and the harness's own keys too): one line naming the key, the value and what is allowed."""


def require(ok: bool, key: str, value, allowed: str) -> None:
    """Raise a one-line ConfigError unless `ok`."""
    if not ok:
        raise ConfigError(f"{key}={value!r} is not allowed: {allowed}")


def generator(seed: int, step: int, split: str, device) -> torch.Generator:
    """The random stream of one batch.

    Train and test batches come from disjoint seed ranges by construction: the seed is
    (run seed << 32) | (split bit << 31) | step, so no (seed, step) of one split can ever
    give the generator seed of the other.
    """
    assert split in (TRAIN, TEST), split
    assert 0 <= seed < 2**31 and 0 <= step < 2**31, (seed, step)
    g = torch.Generator(device=device)
    g.manual_seed((seed << 32) | ((split == TEST) << 31) | step)
    return g


@dataclass
class Batch:
    x: torch.Tensor  # (B, T) long symbols, or (B, T, F) float values
    y: torch.Tensor  # (B, T) long targets, or (B, 1) float targets
    mask: torch.Tensor | None = None  # (B, T) bool: where the dependency ends (recall positions)


class Task:
    """Defaults shared by every task; a task file overrides what differs."""

    name: str
    vocab_size: int | None = None
    n_features: int = 0
    n_out: int = 1
    readout: str = "all"
    metric_name: str = "loss"
    stateful: bool = False  # True: training carries the recurrent state from batch to batch

    def dependency_loss(self, out: torch.Tensor, batch: Batch) -> torch.Tensor:
        return self.loss(out, batch)
