"""The adding problem (Hochreiter & Schmidhuber 1997; in the form of Le et al. 2015).

Two channels: values uniform in [0, 1], and a marker that is 1 at exactly one step in
each half of the sequence. The target is the sum of the two marked values, read at the
last step. Worked example, T=6:

    t          0     1     2     3     4     5
    value    0.30  0.80  0.10  0.50  0.90  0.20
    marker     0     1     0     0     1     0
    target                                1.70   (= 0.80 + 0.90)

The best constant guess is E[X1 + X2] = 1, whose MSE is Var(X1 + X2) = 2 * 1/12 = 1/6.
"""
import torch
import torch.nn.functional as F

from tasks import TRAIN, Batch, Task, generator, require


def make_sequences(values: torch.Tensor, first: torch.Tensor, second: torch.Tensor) -> Batch:
    """Mark positions `first` and `second` (each (B,)) of (B, T) values. Pure and deterministic."""
    B, T = values.shape
    marker = torch.zeros_like(values)
    rows = torch.arange(B, device=values.device)
    marker[rows, first] = 1.0
    marker[rows, second] = 1.0
    x = torch.stack([values, marker], dim=-1)  # (B, T, 2)
    y = (values * marker).sum(dim=1, keepdim=True)  # (B, 1)
    return Batch(x, y, None)


class Adding(Task):
    name = "adding"
    n_features = 2
    n_out = 1
    readout = "last"
    metric_name = "mse"

    def __init__(self, length: int = 100, threshold: float = 0.01):
        require(isinstance(length, int) and length >= 2, "task.length", length, "an integer >= 2 (one marker per half)")
        require(threshold > 0, "task.threshold", threshold, "a positive test MSE")
        self.length, self.threshold = length, threshold

    @property
    def baseline_loss(self) -> float:
        return 1 / 6  # Var(X1 + X2) for X uniform on [0, 1]

    def batch(self, batch_size: int, seed: int, step: int, device="cpu", split: str = TRAIN) -> Batch:
        g = generator(seed, step, split, device)
        T, half = self.length, self.length // 2
        values = torch.rand(batch_size, T, generator=g, device=device)
        first = torch.randint(0, half, (batch_size,), generator=g, device=device)
        second = torch.randint(half, T, (batch_size,), generator=g, device=device)
        return make_sequences(values, first, second)

    def loss(self, out: torch.Tensor, batch: Batch) -> torch.Tensor:
        return F.mse_loss(out, batch.y)  # out: (B, 1)

    def metric(self, out: torch.Tensor, batch: Batch) -> float:
        return self.loss(out, batch).item()

    def solved(self, metric: float) -> bool:
        return metric < self.threshold
