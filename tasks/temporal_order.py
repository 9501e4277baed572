"""The temporal order problem (Hochreiter & Schmidhuber 1997, experiments 6a and 6b).

A sequence of distractor symbols a, b, c, d starts with E and ends with B; at one random
position inside each of n_relevant windows sits a relevant symbol, X or Y. At the last step
(B, "now answer") the net names the order of the relevant symbols: with two, one of
XX, XY, YX, YY (4 classes); with three (`task.n_relevant=3`, experiment 6b), 8 classes.
The class is the binary number the relevant symbols spell, X = 0, Y = 1, first one first.

1997 used lengths 100..110 with windows [10, 20] and [50, 60] (6b: [10, 20], [33, 43],
[66, 76]). Here the windows scale with T = `task.length`: window k starts at T/10 for k = 0
and at k*T/n_relevant after that, and spans T/10 steps (both ends included), so T=100 gives
1997's. Each sequence's length is drawn from T..T + T/10; a batch is right-padded and
`mask` marks each sequence's last step, where it is scored (readout "all"). Symbols:
0 pad, 1-4 a-d, 5 X, 6 Y, 7 E, 8 B. Worked example, T=20 (windows [2, 4] and [10, 12]),
one sequence of length 21 padded to 22:

    t         0  1  2  3  4  5  6  7  8  9 10 11 12 13 14 15 16 17 18 19 20 21
    input     E  b  d  Y  a  a  c  b  d  a  c  X  b  b  d  c  a  a  d  c  B  .
    mask      .  .  .  .  .  .  .  .  .  .  .  .  .  .  .  .  .  .  .  .  x  .
    target    YX = class 2

A memoryless model can only guess: cross-entropy ln(2^n_relevant), accuracy 1/2^n_relevant.

The dependency the diagnostics follow: the scored last step back to the first relevant symbol
(above, step 20 back to step 3). Gate statistics count the steps up to the scored one only.
"""
import math

import torch
import torch.nn.functional as F

from lstm_bench.errors import require
from tasks import TRAIN, Batch, Task, first_true, generator, last_true, up_to_scored

PAD, A, X, Y, E, B = 0, 1, 5, 6, 7, 8  # distractors a-d are 1..4
N_DISTRACTORS = 4


def default_windows(length: int, n_relevant: int) -> list[list[int]]:
    """1997's windows, scaled with the length: [[lo, hi], ...], both ends included. Below T=10 the
    windows shrink to single steps, pushed apart where they would overlap."""
    w = length // 10
    windows = [[max(1, w), max(1, w) + w]]
    for k in range(1, n_relevant):
        lo = max(k * length // n_relevant, windows[-1][1] + 1)
        windows.append([lo, lo + w])
    return windows


def make_sequences(distractors: torch.Tensor, positions: torch.Tensor, relevant: torch.Tensor,
                   lengths: torch.Tensor) -> Batch:
    """Lay out one batch. distractors (B, L) in 1..4 fill the sequence, relevant (B, n) in {0, 1}
    (X, Y) go to positions (B, n), sequence b is lengths[b] <= L long. Pure and deterministic."""
    Bsz, L = distractors.shape
    n = relevant.shape[1]
    rows = torch.arange(Bsz, device=distractors.device)
    t = torch.arange(L, device=distractors.device)
    x = torch.where(t < lengths.unsqueeze(1), distractors, PAD)
    x = x.scatter(1, positions, X + relevant)
    x[:, 0] = E
    x[rows, lengths - 1] = B
    weights = 2 ** torch.arange(n - 1, -1, -1, device=relevant.device)  # the first symbol is the top bit
    y = (relevant * weights).sum(dim=1)  # (B,) classes
    mask = t == (lengths - 1).unsqueeze(1)
    return Batch(x, y, mask)


class TemporalOrder(Task):
    name = "temporal_order"
    vocab_size = 9
    readout = "all"
    metric_name = "acc"

    def __init__(self, length: int = 100, n_relevant: int = 2, windows: list | None = None, threshold: float = 0.99,
                 test_length: int | None = None):
        require(isinstance(length, int) and length >= 3, "task.length", length, "an integer >= 3")
        require(isinstance(n_relevant, int) and n_relevant >= 1, "task.n_relevant", n_relevant,
                "a positive integer (2: experiment 6a, 3: 6b)")
        require(0 < threshold <= 1, "task.threshold", threshold, "an accuracy in (0, 1]")
        if windows is None:
            windows = default_windows(length, n_relevant)
        windows = [list(w) for w in windows]
        require(len(windows) == n_relevant and all(len(w) == 2 for w in windows), "task.windows", windows,
                f"null or task.n_relevant={n_relevant} pairs [first, last]")
        for k, (lo, hi) in enumerate(windows):
            require(1 <= lo <= hi <= length - 2, "task.windows", windows,
                    f"windows inside 1..{length - 2} (E is step 0, B the last step of task.length={length})")
            require(k == 0 or windows[k - 1][1] < lo, "task.windows", windows, "disjoint windows in increasing order")
        self.length, self.n_relevant, self.windows, self.threshold = length, n_relevant, windows, threshold
        self.set_test_length(test_length)  # longer tests keep the training windows
        self.n_out = 2**n_relevant

    @property
    def baseline_loss(self) -> float:
        return math.log(self.n_out)

    @property
    def baseline_metric(self) -> float:
        return 1 / self.n_out

    @property
    def chrono_tmax(self) -> float:
        """The horizon T_max for the LSTM's chrono init: the longest sequence, T + T/10."""
        return self.length + self.length // 10

    def batch(self, batch_size: int, seed: int, step: int, device="cpu", split: str = TRAIN) -> Batch:
        g = generator(seed, step, split, device)
        T, n = self.length, self.n_relevant
        L = T + T // 10
        distractors = torch.randint(A, A + N_DISTRACTORS, (batch_size, L), generator=g, device=device)
        lo = torch.tensor([w[0] for w in self.windows], device=device)
        span = torch.tensor([w[1] - w[0] + 1 for w in self.windows], device=device)
        positions = lo + (torch.rand(batch_size, n, generator=g, device=device) * span).long()
        relevant = torch.randint(0, 2, (batch_size, n), generator=g, device=device)
        lengths = torch.randint(T, L + 1, (batch_size,), generator=g, device=device)
        return make_sequences(distractors, positions, relevant, lengths)

    def loss(self, out: torch.Tensor, batch: Batch) -> torch.Tensor:
        return F.cross_entropy(out[batch.mask], batch.y)  # out: (B, L, n_out), one scored step per row

    def metric(self, out: torch.Tensor, batch: Batch) -> float:
        return (out[batch.mask].argmax(-1) == batch.y).float().mean().item()

    def dependency(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        return first_true((batch.x == X) | (batch.x == Y)), last_true(batch.mask)

    def valid(self, batch: Batch) -> torch.Tensor:
        return up_to_scored(batch)
