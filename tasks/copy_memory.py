"""The copy task (Arjovsky, Shah & Bengio 2016): remember a few symbols across a long delay.

Symbols 1..n_symbols are data, 0 is blank, n_symbols+1 is the delimiter. The input is
n_recall symbols, then T-1 blanks, the delimiter, and n_recall blanks; the target is blank
for T+n_recall steps and then the n_recall symbols. Worked example, T=3, n_recall=3:

    t        0  1  2  3  4  5  6  7  8
    input    5  2  7  0  0  9  0  0  0
    target   0  0  0  0  0  0  5  2  7
    mask     .  .  .  .  .  .  x  x  x     (the recall positions: where the dependency ends)

A memoryless model predicts blank for sure until the recall positions and a uniform guess
over the symbols there: cross-entropy n_recall*ln(n_symbols)/(T + 2*n_recall) per step.

`task.variable=true` (Henaff, Szlam & LeCun 2016): the delay d before the delimiter is drawn
per sequence, uniformly from 1..T, so a model cannot count its way to the recall; the
sequence keeps its length T + 2*n_recall and the blanks after the recall fill the rest.
Worked example, T=3, n_recall=3, d=1:

    t        0  1  2  3  4  5  6  7  8
    input    5  2  7  9  0  0  0  0  0
    target   0  0  0  0  5  2  7  0  0
    mask     .  .  .  .  x  x  x  .  .

The delimiter says where the recall is, so the memoryless baseline is the same number, and
its recall accuracy 1/n_symbols.

The dependency the diagnostics follow: the first recall (where the first `mask` x is) back to
the first symbol at step 0, n_recall + d steps (d = T, or the sequence's own delay); every
recall is as far from its symbol.
"""
import math

import torch
import torch.nn.functional as F

from lstm_bench.errors import require
from tasks import TRAIN, Batch, Task, first_true, generator


def make_sequences(symbols: torch.Tensor, length: int, n_symbols: int, delay: torch.Tensor | None = None) -> Batch:
    """Lay out (B, n_recall) symbols as copy-task inputs and targets. Pure and deterministic.
    `delay` (B,) in 1..length puts each delimiter d steps after the symbols; None: d = length."""
    B, N = symbols.shape
    L = length + 2 * N
    x = torch.zeros(B, L, dtype=torch.long, device=symbols.device)  # (B, T + 2N)
    x[:, :N] = symbols
    y = torch.zeros_like(x)
    if delay is None:
        x[:, N + length - 1] = n_symbols + 1  # the delimiter: "now recall"
        y[:, -N:] = symbols
        mask = torch.zeros(B, L, dtype=torch.bool, device=symbols.device)
        mask[:, -N:] = True
        return Batch(x, y, mask)
    rows = torch.arange(B, device=symbols.device)
    x[rows, N + delay - 1] = n_symbols + 1
    t = torch.arange(L, device=symbols.device)
    start = (N + delay).unsqueeze(1)  # (B, 1): the first recall position
    mask = (t >= start) & (t < start + N)  # (B, L), N positions per row, in time order
    y[mask] = symbols.flatten()
    return Batch(x, y, mask)


class Copy(Task):
    name = "copy"
    readout = "all"
    metric_name = "recall_acc"

    def __init__(self, length: int = 100, n_symbols: int = 8, n_recall: int = 10, threshold: float = 0.99,
                 variable: bool = False, test_length: int | None = None):
        require(isinstance(length, int) and length >= 1, "task.length", length, "a positive integer (the delay)")
        require(isinstance(n_symbols, int) and n_symbols >= 2, "task.n_symbols", n_symbols, "an integer >= 2")
        require(isinstance(n_recall, int) and n_recall >= 1, "task.n_recall", n_recall, "a positive integer")
        require(0 < threshold <= 1, "task.threshold", threshold, "a recall accuracy in (0, 1]")
        require(isinstance(variable, bool), "task.variable", variable, "true or false")
        self.length, self.n_symbols, self.n_recall, self.threshold = length, n_symbols, n_recall, threshold
        self.set_test_length(test_length)
        self.variable = variable
        self.vocab_size = n_symbols + 2  # blank, symbols, delimiter
        self.n_out = n_symbols + 1  # blank or a symbol: the delimiter is never a target

    @property
    def baseline_loss(self) -> float:
        return self.n_recall * math.log(self.n_symbols) / (self.length + 2 * self.n_recall)

    @property
    def baseline_metric(self) -> float:
        return 1 / self.n_symbols

    @property
    def chrono_tmax(self) -> float:
        """The horizon T_max for the LSTM's chrono init (Tallec & Ollivier 2018): 3T/2, as in its reproduction."""
        return 1.5 * self.length

    def batch(self, batch_size: int, seed: int, step: int, device="cpu", split: str = TRAIN) -> Batch:
        g = generator(seed, step, split, device)
        symbols = torch.randint(1, self.n_symbols + 1, (batch_size, self.n_recall), generator=g, device=device)
        delay = None
        if self.variable:
            delay = torch.randint(1, self.length + 1, (batch_size,), generator=g, device=device)
        return make_sequences(symbols, self.length, self.n_symbols, delay)

    def loss(self, out: torch.Tensor, batch: Batch) -> torch.Tensor:
        # out: (B, L, n_out) logits; cross-entropy over every position, as in Arjovsky et al.
        return F.cross_entropy(out.flatten(0, 1), batch.y.flatten())

    def dependency(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        end = first_true(batch.mask)  # the first recall, which reads the symbol at step 0
        return torch.zeros_like(end), end

    def metric(self, out: torch.Tensor, batch: Batch) -> float:
        hit = out[batch.mask].argmax(-1) == batch.y[batch.mask]
        return hit.float().mean().item()
