"""Parity, the smallest state-tracking task: the parity of the bits seen so far.

The input is T bits drawn uniformly; the target at step t is x_0 xor ... xor x_t, at every step
(`task.readout=all`) or only at the last (`last`). It is modular addition with m = 2
(tasks/mod_add.py), kept as a task of its own because it is the one the state-tracking papers
name: a linear recurrence whose decays lie in [0, 1] cannot follow it at every length, one with
decays in [-1, 1] can (Grazzi et al. 2025), and a nonlinear one such as the LSTM can represent it. Worked example, T=8:

    t        0  1  2  3  4  5  6  7
    input    1  0  1  1  0  0  1  0
    target   1  1  0  1  1  1  0  0     (readout last: the last column, 0)

The memoryless baseline: the target at t = 0 is x_0 itself, and after it the parity of the earlier
bits is a fair coin whatever x_t is: cross-entropy (T-1)/T ln 2 per step and accuracy (T+1)/(2T)
with readout all; ln 2 and accuracy 1/2 with readout last. The metric, `last_acc` and the
dependency (the first bit to the last step) are modular addition's.
"""
from tasks.mod_add import ModAdd


class Parity(ModAdd):
    name = "parity"

    def __init__(self, length: int = 100, readout: str = "all", threshold: float = 0.99,
                 test_length: int | None = None, test_lengths=()):
        self.setup(length, 2, readout, threshold, test_length, test_lengths)
