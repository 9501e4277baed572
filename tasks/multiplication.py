"""The multiplication problem (Hochreiter & Schmidhuber 1997, experiment 5): the adding
problem with the two marked values multiplied, so the net must hold one value exactly
instead of accumulating a sum.

The layout of `adding` (values uniform in [0, 1], one marker in each half); the target is
X1 * X2, read at the last step. Worked example, T=6:

    t          0     1     2     3     4     5
    value    0.30  0.80  0.10  0.50  0.90  0.20
    marker     0     1     0     0     1     0
    target                                0.72   (= 0.80 * 0.90)

The best constant guess is E[X1 X2] = 1/4, whose MSE is Var(X1 X2) = E[X^2]^2 - 1/16
= 1/9 - 1/16 = 7/144 (about 0.0486). The dependency the diagnostics follow is adding's: the last
step back to the first marked value.
"""
import torch
import torch.nn.functional as F

from lstm_bench.errors import require
from tasks import TRAIN, Batch, Task, generator
from tasks.adding import draw_marked, marked_to_end
from tasks.adding import make_sequences as mark


def make_sequences(values: torch.Tensor, first: torch.Tensor, second: torch.Tensor) -> Batch:
    """Mark positions `first` and `second` (each (B,)) of (B, T) values; the target is their product."""
    batch = mark(values, first, second)
    rows = torch.arange(values.shape[0], device=values.device)
    batch.y = (values[rows, first] * values[rows, second]).unsqueeze(1)  # (B, 1)
    return batch


class Multiplication(Task):
    name = "multiplication"
    n_features = 2
    n_out = 1
    readout = "last"
    metric_name = "mse"
    lower_is_better = True
    baseline_loss = baseline_metric = 7 / 144  # Var(X1 X2) for X1, X2 independent and uniform on [0, 1]

    def __init__(self, length: int = 100, threshold: float = 0.0025, test_length: int | None = None):
        require(isinstance(length, int) and length >= 2, "task.length", length, "an integer >= 2 (one marker per half)")
        require(threshold > 0, "task.threshold", threshold, "a positive test MSE")
        self.length, self.threshold = length, threshold
        self.set_test_length(test_length)

    @property
    def chrono_tmax(self) -> float:
        """The horizon T_max for the LSTM's chrono init (Tallec & Ollivier 2018): T, as for adding."""
        return self.length

    def batch(self, batch_size: int, seed: int, step: int, device="cpu", split: str = TRAIN) -> Batch:
        g = generator(seed, step, split, device)
        return make_sequences(*draw_marked(batch_size, self.length, g, device))

    def loss(self, out: torch.Tensor, batch: Batch) -> torch.Tensor:
        return F.mse_loss(out, batch.y)  # out: (B, 1)

    def metric(self, out: torch.Tensor, batch: Batch) -> float:
        return self.loss(out, batch).item()

    def dependency(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        return marked_to_end(batch)
