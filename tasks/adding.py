"""The adding problem (Hochreiter & Schmidhuber 1997; in the form of Le et al. 2015).

Two channels: values uniform in [0, 1], and a marker that is 1 at exactly one step in
each half of the sequence. The target is the sum of the two marked values, read at the
last step. Worked example, T=6:

    t          0     1     2     3     4     5
    value    0.30  0.80  0.10  0.50  0.90  0.20
    marker     0     1     0     0     1     0
    target                                1.70   (= 0.80 + 0.90)

The best constant guess is E[X1 + X2] = 1, whose MSE is Var(X1 + X2) = 2 * 1/12 = 1/6.

`task.style=hochreiter` is the 1997 original (experiment 4). Values are uniform in [-1, 1];
X1 is one of the first ten pairs, X2 one of the first T/2 - 1 pairs still unmarked; the
marker is -1 on the first and the last pair (a marked first pair keeps marker 1 and its
value becomes 0); each sequence's length is drawn from T..T + T/10. The target is
0.5 + (X1 + X2)/4, read at the sequence's own last step, and a sequence counts as processed
correctly when the absolute error there is below 0.04 (`task.tolerance`). Sequences of one
batch are right-padded with zero pairs: readout is "all" and `mask` marks each last step,
so padding only ever comes after the step that is scored. Worked example (positions by
hand; make_hochreiter does not check 1997's windows), one sequence of length 7 padded to 8:

    t          0     1     2     3     4     5     6     7
    value    0.50  0.60 -0.20  0.40 -0.90  0.30  0.10  0.00
    marker    -1     1     0     1     0     0    -1     0
    mask       .     .     .     .     .     .     x     .
    target                                    0.75          (= 0.5 + (0.60 + 0.40)/4)

The best constant is 0.5; its MSE is (Var X1 + Var X2)/16 with Var X = 1/3, less the rare
zeroed first pair: P(X1 = pair 0) = 1/10 and P(X2 = pair 0) = 9/10 / (T/2 - 1). It gets a
sequence right when |X1 + X2| < 4 * tolerance = a: for the triangular sum of two values with
probability a - a^2/4 (a <= 2), and min(a, 1) when one of them is the zeroed first pair.

The dependency the diagnostics follow: the step that is scored (the last) back to the first
marked value (step 1 in both examples). Gate statistics count the steps up to the scored one only.
"""
import torch
import torch.nn.functional as F

from lstm_bench.errors import require
from tasks import TRAIN, Batch, Task, first_true, generator, last_true, up_to_scored

STYLES = ("le", "hochreiter")


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


def draw_marked(batch_size: int, T: int, g: torch.Generator, device):
    """Values uniform in [0, 1] and one marked position in each half (Le et al.'s layout)."""
    values = torch.rand(batch_size, T, generator=g, device=device)
    first = torch.randint(0, T // 2, (batch_size,), generator=g, device=device)
    second = torch.randint(T // 2, T, (batch_size,), generator=g, device=device)
    return values, first, second


def make_hochreiter(values: torch.Tensor, first: torch.Tensor, second: torch.Tensor, lengths: torch.Tensor) -> Batch:
    """The 1997 layout of (B, L) values, marked at `first` and `second`, sequence b being
    lengths[b] <= L long (the rest is padding). Pure and deterministic."""
    B, L = values.shape
    rows = torch.arange(B, device=values.device)
    t = torch.arange(L, device=values.device)
    inside = t < lengths.unsqueeze(1)  # (B, L)
    marker = torch.zeros_like(values)
    marker[:, 0] = -1.0
    marker[rows, lengths - 1] = -1.0
    marker[rows, first] = 1.0
    marker[rows, second] = 1.0
    values = torch.where(inside, values, 0.0)
    values = torch.where((t == 0) & (marker == 1.0), 0.0, values)  # a marked first pair holds 0
    x = torch.stack([values, marker], dim=-1)  # (B, L, 2)
    y = 0.5 + (values * (marker == 1.0)).sum(dim=1, keepdim=True) / 4  # (B, 1)
    mask = t == (lengths - 1).unsqueeze(1)  # (B, L): each sequence's own last step
    return Batch(x, y, mask)


class Adding(Task):
    name = "adding"
    n_features = 2
    n_out = 1

    def __init__(self, length: int = 100, threshold: float | None = None, style: str = "le",
                 tolerance: float = 0.04, test_length: int | None = None):
        require(style in STYLES, "task.style", style, "one of " + ", ".join(STYLES))
        if style == "le":
            require(isinstance(length, int) and length >= 2, "task.length", length,
                    "an integer >= 2 (one marker per half)")
            threshold = 0.01 if threshold is None else threshold
            require(threshold > 0, "task.threshold", threshold, "a positive test MSE")
        else:
            require(isinstance(length, int) and length >= 20, "task.length", length,
                    "an integer >= 20 for style=hochreiter (X1 is one of the first ten pairs, X2 in the first half)")
            threshold = 0.99 if threshold is None else threshold
            require(0 < threshold <= 1, "task.threshold", threshold,
                    "a fraction of test sequences in (0, 1] for style=hochreiter")
            require(0 < tolerance, "task.tolerance", tolerance, "a positive absolute error")
        self.length, self.threshold, self.style, self.tolerance = length, threshold, style, tolerance
        self.set_test_length(test_length)
        self.readout = "last" if style == "le" else "all"
        self.metric_name = "mse" if style == "le" else "seq_acc"
        self.lower_is_better = style == "le"

    @property
    def p_zeroed(self) -> float:
        """hochreiter: the chance that a marked value is the zeroed first pair (never both are)."""
        return 1 / 10 + 9 / 10 / (self.length // 2 - 1)

    @property
    def baseline_loss(self) -> float:
        if self.style == "le":
            return 1 / 6  # Var(X1 + X2) for X uniform on [0, 1]
        return (2 - self.p_zeroed) / 3 / 16

    @property
    def baseline_metric(self) -> float:
        if self.style == "le":
            return self.baseline_loss  # the MSE of the best constant
        a = 4 * self.tolerance  # the constant 0.5 is right when |X1 + X2| < a
        both = a - a * a / 4 if a <= 2 else 1.0
        return (1 - self.p_zeroed) * both + self.p_zeroed * min(a, 1.0)

    @property
    def chrono_tmax(self) -> float:
        """The horizon T_max for the LSTM's chrono init (Tallec & Ollivier 2018): T, as in its reproduction."""
        return self.length

    def batch(self, batch_size: int, seed: int, step: int, device="cpu", split: str = TRAIN) -> Batch:
        g = generator(seed, step, split, device)
        T, half = self.length, self.length // 2
        if self.style == "le":
            return make_sequences(*draw_marked(batch_size, T, g, device))
        L = T + T // 10
        values = torch.rand(batch_size, L, generator=g, device=device) * 2 - 1
        lengths = torch.randint(T, L + 1, (batch_size,), generator=g, device=device)
        first = torch.randint(0, 10, (batch_size,), generator=g, device=device)
        r = torch.randint(0, half - 1, (batch_size,), generator=g, device=device)
        second = r + (r >= first).long()  # uniform over the first T/2 pairs other than `first`
        return make_hochreiter(values, first, second, lengths)

    def _pred(self, out: torch.Tensor, batch: Batch) -> torch.Tensor:
        return out if batch.mask is None else out[batch.mask]  # (B, 1): the last step of each sequence

    def loss(self, out: torch.Tensor, batch: Batch) -> torch.Tensor:
        return F.mse_loss(self._pred(out, batch), batch.y)  # out: (B, 1), or (B, L, 1) with a mask

    def metric(self, out: torch.Tensor, batch: Batch) -> float:
        if self.style == "le":
            return self.loss(out, batch).item()
        return self.correct(self._pred(out, batch), batch.y).float().mean().item()

    def correct(self, pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """(B,) bool: the 1997 rule, |error| < tolerance at the sequence end."""
        return ((pred - y).abs() < self.tolerance).squeeze(-1)

    def extra_metrics(self, out: torch.Tensor, batch: Batch) -> dict[str, float]:
        return {} if self.style == "le" else {"mse": self.loss(out, batch).item()}

    def dependency(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        return marked_to_end(batch)

    def valid(self, batch: Batch) -> torch.Tensor:
        return super().valid(batch) if batch.mask is None else up_to_scored(batch)


def marked_to_end(batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
    """The first marked step and the scored one: the last step, or each sequence's own (`mask`)."""
    start = first_true(batch.x[..., 1] == 1.0)
    end = torch.full_like(start, batch.x.shape[1] - 1) if batch.mask is None else last_true(batch.mask)
    return start, end
