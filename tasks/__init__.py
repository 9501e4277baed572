"""The task contract. A task is data and its scoring, nothing else: torch only.

Each task lives in its own file (`tasks/copy_memory.py`, `tasks/adding.py`, ...) as one class
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
    baseline_metric  the metric that predictor scores (what the solved rule must not accept)
    lower_is_better  True when a smaller metric is better (an MSE); the solved rule reads it
    threshold      the solved rule's bound
    loss(out, batch)            the training loss
    metric(out, batch)          the test metric, a float
    dependency(batch)           per sequence, where the dependency the diagnostics follow starts
                                (the input it depends on) and ends (the step that is scored),
                                (start, end) long (B,); -1 for a sequence with none in view
    stateful       if True, the training loop carries the state across batches (detached)
and, with defaults in `Task` that most tasks keep:
    solved(metric)              metric < threshold when lower_is_better, else metric >= threshold
    dependency_loss(out, batch) (B,) each sequence's loss at its own dependency end (0 where it
                                has none): cross-entropy for class targets, squared error for values
    valid(batch)                (B, T) bool: the real positions, False on padding; all True by default
    extra_metrics(out, batch)   more test scores, {name: float}, logged beside the metric as
                                test_NAME (per-gap accuracy, a second score); {} by default
    test_batch(batch_size, seed, device, split=TEST)  the fixed test set: the TEST batch of step 0
                                by default; a task whose test differs in shape overrides it
                                (the continual Reber stream: one stream of 10^5 symbols)
    test_batches(batch_size, seed, device, split=TEST)  {length: Batch}, every test set the loop
                                evaluates; the first is the primary one (the metric result.json
                                reports); by default one, at `task.test_length` (set_test_length;
                                null: the training length) from `at_length`, a copy of the task at
                                that length. Parity and mod_add add `task.test_lengths`, an entry each
    val_batch(batch_size, seed, device)  the validation set, which the solved rule reads (early
                                stopping is model selection): the primary test set drawn from the
                                VAL seeds (`generator`), the first entry of test_batches(split=VAL).
                                An override of test_batch(es) passes `split` through to `batch`

A task is checked once it is built (`Task.check_threshold`, run at the end of its __init__ by the hook in
`Task.__init_subclass__`): a threshold
that the memoryless predictor's metric already meets is refused with one line, since a run would
be "solved" by a model that remembers nothing.

Sequences of different lengths in one batch are right-padded, with readout "all" and the
task reading each sequence's own last step through `mask` (adding style=hochreiter,
temporal_order): the model sees no padding before the step that is scored.
"""
from __future__ import annotations

import functools
from copy import copy as shallow_copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from lstm_bench.errors import require

TRAIN, VAL, TEST = "train", "val", "test"
HELD_OUT_STEPS = 2**30  # test and validation each take this many steps of the held-out half


def generator(seed: int, step: int, split: str, device) -> torch.Generator:
    """The random stream of one batch.

    Train batches come from the lower half of the 32-bit generator seeds, held-out ones (test and
    validation) from the upper half: the generator's seed is (held-out bit << 31) | h, h a 31-bit
    mix (splitmix64) of (run seed, step), so no (seed, step) of the training split can ever give
    the generator seed of a held-out one. 32 bits only: the CPU generator (mt19937) keeps just the
    low 32 bits of its seed, so a run seed in the high bits would give every run seed the same batches.

    The held-out half is shared by two splits, which the step tells apart: test takes steps in
    [0, 2^30) (step 0, and the continual Reber stream's blocks from 0), validation the same steps
    shifted by 2^30, which test never takes. A validation (seed, step) is thus never a test
    (seed, step), but two distinct (seed, step) pairs of one half share a generator seed with
    probability 2^-31 (the mix keeps 31 bits): the guarantee train steps already have among
    themselves, not one by construction. Train and test seeds are what they were before
    validation existed.
    """
    assert split in (TRAIN, VAL, TEST), split
    assert 0 <= seed < 2**31 and 0 <= step < (2**31 if split == TRAIN else HELD_OUT_STEPS), (seed, step, split)
    if split == VAL:
        step += HELD_OUT_STEPS
    m = 2**64 - 1
    z = (((seed << 31) | step) + 0x9E3779B97F4A7C15) & m
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & m
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & m
    z ^= z >> 31
    g = torch.Generator(device=device)
    g.manual_seed(((split != TRAIN) << 31) | (z & 0x7FFFFFFF))
    return g


@dataclass
class Batch:
    x: torch.Tensor  # (B, T) long symbols, or (B, T, F) float values
    y: torch.Tensor  # (B, T) long targets, (B,) long classes or (B, 1) float targets
    mask: torch.Tensor | None = None  # (B, T) bool: where the dependency ends (recall positions)
    # a task may subclass Batch to carry what only its own scoring reads (tasks/reber.py)


def first_true(m: torch.Tensor) -> torch.Tensor:
    """(B,) the first column where each row of a (B, T) bool is True; -1 for a row with none."""
    t = torch.arange(m.shape[1], device=m.device)
    return torch.where(m, t, m.shape[1]).amin(dim=1).masked_fill(~m.any(dim=1), -1)


def last_true(m: torch.Tensor) -> torch.Tensor:
    """(B,) the last column where each row of a (B, T) bool is True; -1 for a row with none."""
    t = torch.arange(m.shape[1], device=m.device)
    return torch.where(m, t, -1).amax(dim=1)


def up_to_scored(batch: Batch) -> torch.Tensor:
    """(B, T) bool: the steps up to each row's last scored step, the real part of a batch padded after it."""
    t = torch.arange(batch.mask.shape[1], device=batch.mask.device)
    return t <= last_true(batch.mask).unsqueeze(1)


class Task:
    """Defaults shared by every task; a task file overrides what differs."""

    def __init_subclass__(cls, **kwargs):
        """The contract's rule on thresholds, held when a task is built: every task class's __init__ ends with
        check_threshold, run once, by the __init__ of the class that was built (a subclass's super().__init__
        does not run it early)."""
        super().__init_subclass__(**kwargs)
        if "__init__" not in cls.__dict__:
            return
        init = cls.__init__

        @functools.wraps(init)
        def checked_init(self, *args, **kw):
            init(self, *args, **kw)
            if type(self).__init__ is checked_init:  # the outermost __init__: the task is whole
                self.check_threshold()

        cls.__init__ = checked_init

    name: str
    vocab_size: int | None = None
    n_features: int = 0
    n_out: int = 1
    readout: str = "all"
    metric_name: str = "loss"
    lower_is_better: bool = False
    stateful: bool = False  # True: training carries the recurrent state from batch to batch
    test_length: int | None = None  # the primary test's length (set_test_length); None: the training length

    def solved(self, metric: float) -> bool:
        return metric < self.threshold if self.lower_is_better else metric >= self.threshold

    def check_threshold(self) -> None:
        """Refuse a solved rule that the memoryless predictor already meets."""
        b = self.baseline_metric
        side = f"below {b:.4g}" if self.lower_is_better else f"above {b:.4g}"
        require(not self.solved(b), "task.threshold", self.threshold,
                f"{self.metric_name} {side} (the memoryless baseline scores {b:.4g} and would count as solved)")

    def dependency_loss(self, out: torch.Tensor, batch: Batch) -> torch.Tensor:
        _, end = self.dependency(batch)
        rows = torch.arange(len(end), device=end.device)
        at = end.clamp(min=0)
        pred = out[rows, at] if out.dim() == 3 else out  # (B, n_out): readout "last" is the end already
        if batch.y.is_floating_point():
            per_seq = ((pred - batch.y) ** 2).sum(dim=-1)  # (B, 1) targets, one per sequence
        else:
            y = batch.y[rows, at] if batch.y.dim() == 2 else batch.y  # per-step targets, or one class per row
            per_seq = F.cross_entropy(pred, y.clamp(min=0), reduction="none")
        return torch.where(end >= 0, per_seq, 0.0)

    def valid(self, batch: Batch) -> torch.Tensor:
        return torch.ones(batch.x.shape[:2], dtype=torch.bool, device=batch.x.device)

    def extra_metrics(self, out: torch.Tensor, batch: Batch) -> dict[str, float]:
        return {}

    def test_batch(self, batch_size: int, seed: int, device="cpu", split: str = TEST) -> Batch:
        return self.batch(batch_size, seed, 0, device, split=split)

    def set_test_length(self, test_length: int | None) -> None:
        """`task.test_length` for a task whose longer sequences keep everything its training ones hold (the
        markers, windows and symbols stay where they were; only the stretch to cross grows)."""
        require(test_length is None or (isinstance(test_length, int) and test_length >= self.length),
                "task.test_length", test_length,
                f"null (the training length) or an integer >= task.length={self.length}")
        self.test_length = test_length

    def at_length(self, length: int) -> Task:
        """This task with sequences of another length: what the tests at that length are drawn from and scored
        against (its baseline). A task whose other settings follow from the length overrides it."""
        other = shallow_copy(self)
        other.length = length
        return other

    def test_batches(self, batch_size: int, seed: int, device="cpu", split: str = TEST) -> dict[int, Batch]:
        n = self.test_length or self.length
        return {n: (self if n == self.length else self.at_length(n)).test_batch(batch_size, seed, device, split)}

    def val_batch(self, batch_size: int, seed: int, device="cpu") -> Batch:
        """The primary test set drawn again from the validation seeds: the same length and shape, so the
        solved rule means the same on it; derived from test_batches, so a task that overrides the test set
        gets its validation twin for free."""
        return next(iter(self.test_batches(batch_size, seed, device, split=VAL).values()))
