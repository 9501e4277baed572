"""Cycle navigation (Delétang et al. 2023, "Neural Networks and the Chomsky Hierarchy", a regular task): where a
walk on a cycle of 5 positions stands, from its moves.

The input is T moves drawn uniformly from 3 symbols, 0 = one step left (-1), 1 = stay, 2 = one step right (+1),
as in the authors' code (move = symbol - 1); the walk starts at position 0 and the target is its position,
the sum of the moves mod 5: at the end only (`task.readout=last`, the paper's task) or at every step (`all`).
Worked example, T=8:

    t        0  1  2  3  4  5  6  7
    input    2  0  1  2  2  0  0  1
    target   1  0  0  1  2  1  0  0     (readout last: the last column, 0)

The memoryless baseline is exact, not the uniform 1/5: a predictor that sees the move x_t alone knows the target
up to the sum S of the t earlier moves, whose law p_t on Z_5 (t moves of -1, 0, +1 each with probability 1/3)
is not uniform for small t. Its best guess scores max p_t, its cross-entropy is the entropy H(p_t); at t = 0 the
target is x_0's move itself. Readout last: max p_{T-1} and H(p_{T-1}); readout all: the mean over t of
1, max p_1, ..., max p_{T-1} and of 0, H(p_1), ..., H(p_{T-1}). Both tend to 1/5 and ln 5 as T grows.

The metric, `last_acc` (readout all), `task.test_lengths` and the dependency (the first move to the last step)
are mod_add's (tasks/mod_add.py).
"""
import math

import torch

from tasks import TRAIN, Batch, generator
from tasks.mod_add import ModAdd

POSITIONS = 5
MOVES = 3  # symbols 0, 1, 2: moves -1, 0, +1


def sum_laws(n: int) -> list[list[float]]:
    """p_0, ..., p_n: the law on Z_5 of the sum of t uniform moves in {-1, 0, +1}, exactly (float64 sums)."""
    p = [1.0] + [0.0] * (POSITIONS - 1)
    laws = [p]
    for _ in range(n):
        p = [sum(p[(k - m) % POSITIONS] for m in (-1, 0, 1)) / MOVES for k in range(POSITIONS)]
        laws.append(p)
    return laws


def entropy(p: list[float]) -> float:
    return -sum(v * math.log(v) for v in p if v > 0)


class CycleNavigation(ModAdd):
    name = "cycle_navigation"

    def __init__(self, length: int = 100, readout: str = "last", threshold: float = 0.99,
                 test_length: int | None = None, test_lengths=()):
        self.setup(length, POSITIONS, readout, threshold, test_length, test_lengths)
        self.vocab_size = MOVES

    @property
    def baseline_loss(self) -> float:
        laws = sum_laws(self.length - 1)
        if self.readout == "last":
            return entropy(laws[-1])
        return sum(entropy(p) for p in laws[1:]) / self.length  # t = 0: the move is the position

    @property
    def baseline_metric(self) -> float:
        laws = sum_laws(self.length - 1)
        if self.readout == "last":
            return max(laws[-1])
        return (1 + sum(max(p) for p in laws[1:])) / self.length

    def batch(self, batch_size: int, seed: int, step: int, device="cpu", split: str = TRAIN,
              length: int | None = None) -> Batch:
        g = generator(seed, step, split, device)
        x = torch.randint(0, MOVES, (batch_size, length or self.length), generator=g, device=device)
        y = (x - 1).cumsum(dim=1) % POSITIONS
        return Batch(x, y if self.readout == "all" else y[:, -1])
