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
and, with defaults in `Task` that most tasks keep:
    extra_metrics(out, batch)   more test scores, {name: float}, logged beside the metric as
                                test_NAME (per-gap accuracy, a second score); {} by default
    test_batch(batch_size, seed, device)  the fixed test set: the TEST batch of step 0 by
                                default; a task whose test differs in shape overrides it
                                (the continual Reber stream: one stream of 10^5 symbols)

Sequences of different lengths in one batch are right-padded, with readout "all" and the
task reading each sequence's own last step through `mask` (adding style=hochreiter,
temporal_order): the model sees no padding before the step that is scored.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

TRAIN, TEST = "train", "test"


def generator(seed: int, step: int, split: str, device) -> torch.Generator:
    """The random stream of one batch.

    Train and test batches come from disjoint seed ranges by construction: the generator's
    seed is (split bit << 31) | h, h a 31-bit mix (splitmix64) of (run seed, step), so no
    (seed, step) of one split can ever give the generator seed of the other. 32 bits only:
    the CPU generator (mt19937) keeps just the low 32 bits of its seed, so a run seed in the
    high bits would give every run seed the same batches. Two (seed, step) pairs of one split
    share a batch with probability 2^-31.
    """
    assert split in (TRAIN, TEST), split
    assert 0 <= seed < 2**31 and 0 <= step < 2**31, (seed, step)
    m = 2**64 - 1
    z = (((seed << 31) | step) + 0x9E3779B97F4A7C15) & m
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & m
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & m
    z ^= z >> 31
    g = torch.Generator(device=device)
    g.manual_seed(((split == TEST) << 31) | (z & 0x7FFFFFFF))
    return g


@dataclass
class Batch:
    x: torch.Tensor  # (B, T) long symbols, or (B, T, F) float values
    y: torch.Tensor  # (B, T) long targets, (B,) long classes or (B, 1) float targets
    mask: torch.Tensor | None = None  # (B, T) bool: where the dependency ends (recall positions)
    # a task may subclass Batch to carry what only its own scoring reads (tasks/reber.py)


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

    def extra_metrics(self, out: torch.Tensor, batch: Batch) -> dict[str, float]:
        return {}

    def test_batch(self, batch_size: int, seed: int, device="cpu") -> Batch:
        return self.batch(batch_size, seed, 0, device, split=TEST)
