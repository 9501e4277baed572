"""Selective copying (Gu & Dao 2023, Mamba): the symbols to recall sit at random positions
among T noise tokens, so the model must choose what to store by content, not by time.

Symbols 1..n_symbols are data, 0 is noise, n_symbols+1 is the recall marker. The first
T + n_recall steps hold the n_recall data symbols at random positions (kept in order) and
noise everywhere else; then n_recall markers ask for the symbols back, in order. Only the
recall positions are scored. Worked example, T=5, n_recall=3, n_symbols=8 (marker 9):

    t        0  1  2  3  4  5  6  7  8  9 10
    input    0  5  0  0  2  0  7  0  9  9  9
    target   .  .  .  .  .  .  .  .  5  2  7
    mask     .  .  .  .  .  .  .  .  x  x  x

(target 0 where it is not scored.) A memoryless model guesses uniformly over the symbols:
cross-entropy ln(n_symbols) per recalled token, accuracy 1/n_symbols.

The dependency the diagnostics follow: the first recall back to the first symbol (above, steps
1 to 8); the longest of the pairs, since the symbols keep their order and are at least a step apart.
"""
import math

import torch
import torch.nn.functional as F

from lstm_bench.errors import require
from tasks import TRAIN, Batch, Task, first_true, generator


def make_sequences(symbols: torch.Tensor, positions: torch.Tensor, length: int, n_symbols: int) -> Batch:
    """Put (B, N) symbols at (B, N) increasing positions in 0..T+N-1, then N recall markers.
    Pure and deterministic."""
    B, N = symbols.shape
    L = length + 2 * N
    x = torch.zeros(B, L, dtype=torch.long, device=symbols.device)
    x.scatter_(1, positions, symbols)
    x[:, -N:] = n_symbols + 1
    y = torch.zeros_like(x)
    y[:, -N:] = symbols
    mask = torch.zeros(B, L, dtype=torch.bool, device=symbols.device)
    mask[:, -N:] = True
    return Batch(x, y, mask)


class SelectiveCopy(Task):
    name = "selective_copy"
    readout = "all"
    metric_name = "recall_acc"

    def __init__(self, length: int = 100, n_symbols: int = 16, n_recall: int = 16, threshold: float = 0.99,
                 test_length: int | None = None):
        require(isinstance(length, int) and length >= 1, "task.length", length, "a positive integer (noise tokens)")
        require(isinstance(n_symbols, int) and n_symbols >= 2, "task.n_symbols", n_symbols, "an integer >= 2")
        require(isinstance(n_recall, int) and n_recall >= 1, "task.n_recall", n_recall, "a positive integer")
        require(0 < threshold <= 1, "task.threshold", threshold, "a recall accuracy in (0, 1]")
        self.length, self.n_symbols, self.n_recall, self.threshold = length, n_symbols, n_recall, threshold
        self.set_test_length(test_length)
        self.vocab_size = n_symbols + 2  # noise, symbols, marker
        self.n_out = n_symbols + 1  # class = symbol; class 0 (noise) is never a target

    @property
    def baseline_loss(self) -> float:
        return math.log(self.n_symbols)

    @property
    def baseline_metric(self) -> float:
        return 1 / self.n_symbols

    @property
    def chrono_tmax(self) -> float:
        """The horizon T_max for the LSTM's chrono init: the longest span, first symbol to last recall."""
        return self.length + 2 * self.n_recall

    def batch(self, batch_size: int, seed: int, step: int, device="cpu", split: str = TRAIN) -> Batch:
        g = generator(seed, step, split, device)
        N, C = self.n_recall, self.length + self.n_recall
        symbols = torch.randint(1, self.n_symbols + 1, (batch_size, N), generator=g, device=device)
        # N distinct positions out of C, uniformly: the N smallest of C random keys
        keys = torch.rand(batch_size, C, generator=g, device=device)
        positions = keys.topk(N, dim=1, largest=False).indices.sort(dim=1).values
        return make_sequences(symbols, positions, self.length, self.n_symbols)

    def loss(self, out: torch.Tensor, batch: Batch) -> torch.Tensor:
        return F.cross_entropy(out[batch.mask], batch.y[batch.mask])

    def metric(self, out: torch.Tensor, batch: Batch) -> float:
        return (out[batch.mask].argmax(-1) == batch.y[batch.mask]).float().mean().item()

    def dependency(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        data = (batch.x >= 1) & (batch.x <= self.n_symbols)
        return first_true(data), first_true(batch.mask)
