"""The Reber task: next-symbol prediction on the embedded Reber grammar (Cleeremans et al. 1989;
Hochreiter & Schmidhuber 1997), and its continual form (Gers, Schmidhuber & Cummins 2000), the
task that motivated the forget gate.

An embedded Reber string is B, then T or P (the "letter"), then an inner Reber string (B, a path
through Reber's grammar, E), then the same letter again, then E; the grammar, its symbols and the
reader states that fix the legal next symbols are in tasks/reber_grammar.py. The loss is the
cross-entropy on the actual next symbol. Everything is local except the second letter, which must
match the one a whole inner string earlier. Worked example, one string (T=14):

    t        0  1  2  3  4  5  6  7  8  9 10 11 12 13
    input    B  P  B  T  X  X  V  V  E  P  E  .  .  .
    target   P  B  T  X  X  V  V  E  P  E  .  .  .  .      (. = not scored)
    legal   TP  B TP SX XS TV PV  E  P  E
    mask     .  .  .  .  .  .  .  .  x  .  .  .  .  .      (the letter to remember)

`task.continual=false`: each row is one string, right-padded to `task.length` (longer strings
are redrawn); the state starts at zero for every string. `task.continual=true`: strings follow
each other in one stream that never resets (tasks/reber_stream.py). Row r of every batch is
stream r, and the batch of step k is symbols [k*T, (k+1)*T) of it (T = `task.length`), so the
training loop, which carries the state across batches for a stateful task (detached: truncated
backpropagation through time with a window of T steps), feeds each stream without a break. The
test is one stream of `task.test_length` symbols from the test seeds, fed in one piece from a
zero state.

Scores (on the test set): the metric `string_acc`, the fraction of complete strings in which
every prediction is right, and as extra metrics `tp_acc`, the fraction of strings whose
second-to-last symbol (the letter) is predicted (argmax), and `symbol_acc`, the fraction of
steps whose legal next symbols are exactly the top-k predictions (k = how many are legal).
A model that knows the inner grammar but forgets the letter scores 1/2, 1/2 and
1 - 1/(2 * 12) (continual; 1 - 1/(2 * 11) otherwise: an embedded string is 12 symbols long on
average, 6 of them the inner path, and a lone string predicts one symbol fewer). Its
cross-entropy, the baseline, is ln 2 per coin flip: (1 + 6 + 1) ln 2 per string, over 12
predicted symbols (continual) or 11 (one string per row). Its string accuracy, 1/2, is what the
solved rule must beat.

The dependency the diagnostics follow: the step where the second letter is due (the `mask` x,
whose input is the inner E) back to the first letter (above: step 8 back to step 1). In a window
of the stream, a row's longest such pair whose letter is in view; a row with none has no
dependency (-1). Gate statistics count the string's own steps only, never the padding after it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from lstm_bench.errors import require
from tasks import TEST, TRAIN, Batch, Task, first_true, generator
from tasks.reber_grammar import LEGAL, MEAN_LENGTH, MIN_LENGTH, N_SYMBOLS, ReaderState, Symbol, sample_strings
from tasks.reber_stream import BLOCK, stream


@dataclass
class ReberBatch(Batch):
    reader_state: torch.Tensor | None = None  # (B, T) long: the ReaderState after each input symbol (-1: PAD)


def make_batch(sym: torch.Tensor, reader: torch.Tensor, length: int, lens: torch.Tensor | None = None) -> ReberBatch:
    """Lay out symbols and reader states (B, W) as `length` steps of inputs, next-symbol targets
    (-100: none) and the letter's mask (where the reader state is T_DUE or P_DUE). Pure and
    deterministic.

    lens (B,): each row is one string of lens[b] <= length symbols, right-padded with PAD, and
    nothing is scored from its last E on (the module's example). lens None: each row is a window
    of a stream, W = length + 1, and every step has a target. The stream BTBTXSETE BPBTXSEPE ...
    from its fifth symbol on, length=8:

        input    X  S  E  T  E  B  P  B
        target   S  E  T  E  B  P  B  T
        mask     .  .  x  .  .  .  .  .
    """
    sym = F.pad(sym, (0, length + 1 - sym.shape[1]), value=Symbol.PAD)[:, : length + 1]
    reader = F.pad(reader, (0, length - reader.shape[1]), value=-1)[:, :length]
    y = sym[:, 1:]
    if lens is not None:
        t = torch.arange(length, device=sym.device)
        y = torch.where(t < (lens - 1).unsqueeze(1), y, -100)  # no target after the last E
    mask = (reader == ReaderState.T_DUE) | (reader == ReaderState.P_DUE)
    return ReberBatch(sym[:, :-1], y, mask, reader_state=reader)


def strings_that_fit(n: int, length: int, g: torch.Generator, device):
    """n embedded strings of at most `length` symbols: sample_strings, the longer ones redrawn."""
    sym, reader, lens = sample_strings(n, g, device)
    while True:
        long_ = (lens > length).nonzero().squeeze(1)
        if len(long_) == 0:
            return sym, reader, lens
        s2, r2, l2 = sample_strings(len(long_), g, device)
        W = max(sym.shape[1], s2.shape[1])
        sym, s2 = F.pad(sym, (0, W - sym.shape[1]), value=Symbol.PAD), F.pad(s2, (0, W - s2.shape[1]), value=Symbol.PAD)
        reader, r2 = F.pad(reader, (0, W - reader.shape[1]), value=-1), F.pad(r2, (0, W - r2.shape[1]), value=-1)
        sym[long_], reader[long_], lens[long_] = s2, r2, l2


class Reber(Task):
    name = "reber"
    vocab_size = N_SYMBOLS + 1  # the symbols and PAD
    n_out = N_SYMBOLS
    readout = "all"
    metric_name = "string_acc"
    baseline_metric = 0.5  # the string accuracy of a model that knows the grammar but forgets the letter

    def __init__(self, length: int = 50, continual: bool = False, test_length: int = 100_000,
                 threshold: float = 0.99):
        require(isinstance(continual, bool), "task.continual", continual, "true or false")
        if continual:
            require(isinstance(length, int) and length >= 1, "task.length", length,
                    "a positive integer (symbols per row per batch: the truncated-BPTT window)")
        else:
            require(isinstance(length, int) and length >= MIN_LENGTH, "task.length", length,
                    f"an integer >= {MIN_LENGTH} (one string per row; the shortest has {MIN_LENGTH} symbols)")
        require(isinstance(test_length, int) and test_length >= MIN_LENGTH, "task.test_length", test_length,
                f"an integer >= {MIN_LENGTH} (the continual test stream's symbols)")
        require(0 < threshold <= 1, "task.threshold", threshold, "a fraction of strings in (0, 1]")
        self.length, self.continual, self.test_length, self.threshold = length, continual, test_length, threshold
        self.stateful = continual
        per_string = MEAN_LENGTH if continual else MEAN_LENGTH - 1  # predicted symbols per string
        self.baseline_loss = (1 + 6 + 1) * math.log(2) / per_string
        self.baseline_symbol_acc = 1 - 0.5 / per_string  # knows the inner grammar, forgets the letter
        self.baseline_tp_acc = 0.5

    @property
    def chrono_tmax(self) -> float:
        """The horizon T_max for the LSTM's chrono init: the row, the span the gradient sees."""
        return max(self.length, 3)

    def batch(self, batch_size: int, seed: int, step: int, device="cpu", split: str = TRAIN) -> ReberBatch:
        if self.continual:
            sym, reader = stream(seed, split, batch_size, step * self.length, self.length + 1, device)
            return make_batch(sym, reader, self.length)
        sym, reader, lens = strings_that_fit(batch_size, self.length, generator(seed, step, split, device), device)
        return make_batch(sym, reader, self.length, lens)

    def test_batches(self, batch_size: int, seed: int, device="cpu", split: str = TEST) -> dict[int, ReberBatch]:
        return {self.test_length if self.continual else self.length: self.test_batch(batch_size, seed, device, split)}

    def test_batch(self, batch_size: int, seed: int, device="cpu", split: str = TEST) -> ReberBatch:
        if not self.continual:
            return self.batch(batch_size, seed, 0, device, split=split)
        sym, reader = stream(seed, split, 1, 0, self.test_length + 1, device)  # one stream, whatever batch_size says
        batch = make_batch(sym, reader, self.test_length)
        if not (batch.reader_state == ReaderState.AFTER_E).any():  # string accuracy would be 0/0
            _, head = stream(seed, split, 1, 0, BLOCK, device)  # a block holds whole strings
            need = int(first_true(head == ReaderState.AFTER_E)[0]) + 1
            require(False, "task.test_length", self.test_length,
                    f"at least {need}: the {split} stream of seed {seed} completes its first string there, and a "
                    "stream without a complete string has no string accuracy")
        return batch

    def loss(self, out: torch.Tensor, batch: Batch) -> torch.Tensor:
        return F.cross_entropy(out.flatten(0, 1), batch.y.flatten(), ignore_index=-100)  # out: (B, T, 7)

    def dependency(self, batch: ReberBatch) -> tuple[torch.Tensor, torch.Tensor]:
        reader = batch.reader_state
        t = torch.arange(reader.shape[1], device=reader.device)
        letter = torch.where(reader == ReaderState.AFTER_LETTER, t, -1).cummax(dim=1).values  # the latest letter
        span = torch.where(batch.mask & (letter >= 0), t - letter, -1)  # (B, T) at each due letter in view
        longest = span.amax(dim=1)
        end = torch.where(longest >= 0, first_true(span == longest.unsqueeze(1)), -1)
        return torch.where(longest >= 0, end - longest, -1), end

    def valid(self, batch: ReberBatch) -> torch.Tensor:
        return batch.reader_state >= 0

    def legal_ok(self, out: torch.Tensor, batch: ReberBatch) -> torch.Tensor:
        """(B, T) bool: the legal next symbols are exactly the top-k outputs (k = how many are legal)."""
        legal = LEGAL.to(out.device)[batch.reader_state.clamp(min=0)]  # (B, T, 7)
        lowest_legal = out.masked_fill(~legal, math.inf).amin(-1)
        highest_other = out.masked_fill(legal, -math.inf).amax(-1)
        return lowest_legal > highest_other

    def scores(self, out: torch.Tensor, batch: ReberBatch) -> dict[str, float]:
        valid = batch.y >= 0
        ok = self.legal_ok(out, batch)
        reader = batch.reader_state
        Bsz, L = reader.shape
        # the string each step belongs to (-1: one cut off at the window's start)
        sid = (reader == ReaderState.AFTER_B).long().cumsum(1) - 1
        inside = sid >= 0
        gid = (torch.arange(Bsz, device=reader.device).unsqueeze(1) * L + sid)[inside]
        errors = torch.zeros(Bsz * L, device=out.device).index_add_(0, gid, (valid & ~ok)[inside].float())
        ended = (reader == ReaderState.AFTER_E)[inside].float()
        complete = torch.zeros(Bsz * L, device=out.device).index_add_(0, gid, ended) > 0
        tp = out[batch.mask].argmax(-1) == batch.y[batch.mask]
        return {"string_acc": (errors[complete] == 0).float().mean().item(),
                "tp_acc": tp.float().mean().item(),
                "symbol_acc": ok[valid].float().mean().item()}

    def metric(self, out: torch.Tensor, batch: Batch) -> float:
        return self.scores(out, batch)["string_acc"]

    def extra_metrics(self, out: torch.Tensor, batch: Batch) -> dict[str, float]:
        s = self.scores(out, batch)
        return {"tp_acc": s["tp_acc"], "symbol_acc": s["symbol_acc"]}
