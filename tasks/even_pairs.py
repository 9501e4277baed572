"""Even pairs (Delétang et al. 2023, "Neural Networks and the Chomsky Hierarchy", a regular task): is the number of
"ab" and "ba" pairs in a string of a's and b's even?

The input is T symbols drawn uniformly from {0 = a, 1 = b}; the target is the number of adjacent unequal pairs
so far mod 2 (0 = even), as in the authors' code: at the end only (`task.readout=last`, the paper's task) or at
every step (`all`). The count of changes is odd exactly when the last symbol differs from the first, so the
task is to hold x_0 and compare: a dependency across the whole sequence that needs one bit, no counting.
Worked example, T=8:

    t        0  1  2  3  4  5  6  7
    input    0  1  1  0  1  1  1  0
    target   0  1  1  0  1  1  1  0     (readout last: the last column, 0)

The memoryless baseline: the target at t = 0 is 0 (no pair yet), and after it x_0 is a fair coin whatever x_t
is: parity's, cross-entropy (T-1)/T ln 2 per step and accuracy (T+1)/(2T) with readout all; ln 2 and 1/2 with
readout last. The metric, `last_acc`, `task.test_lengths` and the dependency (the first symbol to the last
step, the two the answer depends on) are mod_add's (tasks/mod_add.py).
"""
import torch

from tasks import TRAIN, Batch, generator
from tasks.mod_add import ModAdd


class EvenPairs(ModAdd):
    name = "even_pairs"

    def __init__(self, length: int = 100, readout: str = "last", threshold: float = 0.99,
                 test_length: int | None = None, test_lengths=()):
        self.setup(length, 2, readout, threshold, test_length, test_lengths)

    def batch(self, batch_size: int, seed: int, step: int, device="cpu", split: str = TRAIN,
              length: int | None = None) -> Batch:
        g = generator(seed, step, split, device)
        x = torch.randint(0, 2, (batch_size, length or self.length), generator=g, device=device)
        y = (x != x[:, :1]).long()  # changes so far mod 2 = whether x_t differs from x_0
        return Batch(x, y if self.readout == "all" else y[:, -1])
