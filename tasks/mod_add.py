"""Modular addition, a state-tracking task: the running sum of a stream of digits mod m.

The input is T digits drawn uniformly from 0..m-1; the target at step t is (x_0 + ... + x_t) mod m,
at every step (`task.readout=all`) or only at the last (`last`: one class per sequence). The
state to track is one of m values and every digit moves it, through the cyclic group Z_m; at
m = 2 it is parity (tasks/parity.py), which a linear recurrence with decays in [0, 1] cannot
follow at every length (Grazzi et al. 2025). Worked example, m=5, T=8:

    t        0  1  2  3  4  5  6  7
    input    3  4  1  0  2  4  4  1
    target   3  2  3  3  0  4  3  4     (readout last: the last column, 4)

The memoryless baseline: a predictor that sees x_t alone knows the target at t = 0 (it is x_0)
and nothing after, since the sum of the earlier digits is uniform mod m and independent of x_t:
cross-entropy (T-1)/T ln m per step and accuracy (1 + (T-1)/m)/T with readout all; ln m and
accuracy 1/m with readout last.

The metric is the accuracy over every scored step (readout all: each step of each sequence);
readout all also logs `last_acc`, the accuracy at the last step. The dependency the diagnostics
follow runs from the first digit to the last step, which every digit feeds.

Trained at `task.length`, tested at `task.test_length` (null: the training length; the primary test,
which the solved rule reads) and at each of `task.test_lengths` besides: a model that tracks the state
rather than fitting the training length keeps its accuracy at every length.
"""
import math

import torch
import torch.nn.functional as F

from lstm_bench.errors import require
from tasks import TEST, TRAIN, Batch, Task, generator

READOUTS = ("all", "last")


def make_sequences(digits: torch.Tensor, modulus: int, readout: str) -> Batch:
    """(B, T) digits -> the batch: targets the running sum mod `modulus`, per step or the last one."""
    y = digits.cumsum(dim=1) % modulus  # an int64 sum: no overflow for any length that fits in memory
    return Batch(digits, y if readout == "all" else y[:, -1])


class ModAdd(Task):
    name = "mod_add"
    metric_name = "acc"

    def __init__(self, length: int = 100, modulus: int = 5, readout: str = "all", threshold: float = 0.99,
                 test_length: int | None = None, test_lengths=()):
        require(isinstance(modulus, int) and modulus >= 2, "task.modulus", modulus, "an integer >= 2")
        self.setup(length, modulus, readout, threshold, test_length, test_lengths)

    def setup(self, length: int, modulus: int, readout: str, threshold: float,
              test_length: int | None = None, test_lengths=()) -> None:
        require(isinstance(length, int) and length >= 2, "task.length", length,
                "an integer >= 2 (at T=1 the input is the answer)")
        require(test_length is None or (isinstance(test_length, int) and test_length >= 2), "task.test_length",
                test_length, "null (the training length) or an integer >= 2")
        lengths = list(test_lengths or ())
        require(all(isinstance(n, int) and n >= 2 for n in lengths), "task.test_lengths", test_lengths,
                "a list of integers >= 2 (more lengths to test at besides task.test_length)")
        self.test_length = length if test_length is None else test_length
        # the primary length first; a length listed twice is tested once
        self.test_lengths = list(dict.fromkeys([self.test_length, *lengths]))
        require(readout in READOUTS, "task.readout", readout, " | ".join(READOUTS))
        require(0 < threshold <= 1, "task.threshold", threshold, "an accuracy in (0, 1]")
        self.length, self.modulus, self.readout, self.threshold = length, modulus, readout, threshold
        self.vocab_size = self.n_out = modulus

    @property
    def baseline_loss(self) -> float:
        share = (self.length - 1) / self.length if self.readout == "all" else 1.0  # t = 0 is free
        return share * math.log(self.modulus)

    @property
    def baseline_metric(self) -> float:
        if self.readout == "last":
            return 1 / self.modulus
        return (1 + (self.length - 1) / self.modulus) / self.length

    @property
    def chrono_tmax(self) -> float:
        """The horizon for the LSTM's chrono init: the whole sequence, which the last target sums."""
        return float(self.length)

    def batch(self, batch_size: int, seed: int, step: int, device="cpu", split: str = TRAIN,
              length: int | None = None) -> Batch:
        g = generator(seed, step, split, device)
        digits = torch.randint(0, self.modulus, (batch_size, length or self.length), generator=g, device=device)
        return make_sequences(digits, self.modulus, self.readout)

    def test_batches(self, batch_size: int, seed: int, device="cpu", split: str = TEST) -> dict[int, Batch]:
        return {n: self.batch(batch_size, seed, 0, device, split, length=n) for n in self.test_lengths}

    def loss(self, out: torch.Tensor, batch: Batch) -> torch.Tensor:
        # out: (B, T, m) with readout all, (B, m) with last
        return F.cross_entropy(out.flatten(0, -2), batch.y.flatten())

    def metric(self, out: torch.Tensor, batch: Batch) -> float:
        return (out.argmax(-1) == batch.y).double().mean().item()

    def extra_metrics(self, out: torch.Tensor, batch: Batch) -> dict[str, float]:
        if self.readout == "last":
            return {}
        return {"last_acc": (out[:, -1].argmax(-1) == batch.y[:, -1]).double().mean().item()}

    def dependency(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        B, T = batch.x.shape
        start = torch.zeros(B, dtype=torch.long, device=batch.x.device)
        return start, start + T - 1
