"""Multi-query associative recall (MQAR; Arora et al. 2023, zoology): key-value pairs, then
queries of earlier keys, each to be answered with its value at the query step.

Symbols: 0 blank, keys 1..n_keys, values n_keys+1..n_keys+n_values. The sequence holds
n_pairs pairs (distinct keys, values drawn with replacement), then T steps of blanks with
n_queries of the keys (distinct) at random steps; each query's target is the class of its
key's value (value symbol - n_keys - 1). Gaps (query step - key step) run up to 2*n_pairs + T - 1;
accuracy is reported overall (the metric) and per gap bucket (extra metrics acc_gap_LO-HI, the
buckets splitting 1..max gap evenly). Worked example, n_keys=4, n_pairs=2, T=4, n_queries=2:

    t        0  1  2  3  4  5  6  7
    input    3  6  1  8  0  1  0  3
    target   .  .  .  .  .  3  .  1     (8 -> class 3, 6 -> class 1)
    mask     .  .  .  .  .  x  .  x
    gap                     3     7

A memoryless model guesses a value uniformly: cross-entropy ln(n_values) per query, accuracy
1/n_values.

The dependency the diagnostics follow: of a sequence's queries, the one with the longest gap
(the first of equals), back to its key (above: step 7 back to step 0, gap 7).
"""
import math

import torch
import torch.nn.functional as F

from lstm_bench.errors import require
from tasks import TRAIN, Batch, Task, first_true, generator


def make_sequences(keys: torch.Tensor, values: torch.Tensor, query_pairs: torch.Tensor, query_steps: torch.Tensor,
                   length: int, n_keys: int) -> Batch:
    """keys (B, P) distinct in 1..n_keys, values (B, P) classes in 0..n_values-1; the queries ask
    for pairs query_pairs (B, Q) at distinct steps query_steps (B, Q) in 0..T-1 after the pairs.
    Pure and deterministic."""
    Bsz, P = keys.shape
    L = 2 * P + length
    x = torch.zeros(Bsz, L, dtype=torch.long, device=keys.device)
    x[:, 0 : 2 * P : 2] = keys
    x[:, 1 : 2 * P : 2] = values + n_keys + 1
    where = 2 * P + query_steps  # (B, Q)
    x.scatter_(1, where, keys.gather(1, query_pairs))
    y = torch.zeros_like(x).scatter_(1, where, values.gather(1, query_pairs))
    mask = torch.zeros_like(x, dtype=torch.bool).scatter_(1, where, True)
    return Batch(x, y, mask)


class AssocRecall(Task):
    name = "assoc_recall"
    readout = "all"
    metric_name = "recall_acc"

    def __init__(self, length: int = 100, n_keys: int = 16, n_values: int = 16, n_pairs: int = 8,
                 n_queries: int = 8, n_buckets: int = 4, threshold: float = 0.99, test_length: int | None = None):
        require(isinstance(length, int) and length >= 1, "task.length", length, "a positive integer (the query span)")
        require(isinstance(n_pairs, int) and n_pairs >= 1, "task.n_pairs", n_pairs, "a positive integer")
        require(isinstance(n_keys, int) and n_keys >= n_pairs, "task.n_keys", n_keys,
                f"at least task.n_pairs={n_pairs} keys (each pair needs its own key)")
        require(isinstance(n_values, int) and n_values >= 2, "task.n_values", n_values, "an integer >= 2")
        require(isinstance(n_queries, int) and 1 <= n_queries <= min(n_pairs, length), "task.n_queries", n_queries,
                f"an integer in 1..{min(n_pairs, length)} (each query asks a different pair, at its own step)")
        self.max_gap = 2 * n_pairs + length - 1
        require(isinstance(n_buckets, int) and 1 <= n_buckets <= self.max_gap, "task.n_buckets", n_buckets,
                f"an integer in 1..{self.max_gap}")
        require(0 < threshold <= 1, "task.threshold", threshold, "a recall accuracy in (0, 1]")
        require(test_length in (None, length), "task.test_length", test_length,
                f"null or {length}: assoc_recall tests at its training length (its per-gap accuracy buckets "
                "split the training length's gaps)")
        self.length, self.n_keys, self.n_values, self.n_pairs = length, n_keys, n_values, n_pairs
        self.n_queries, self.n_buckets, self.threshold = n_queries, n_buckets, threshold
        self.vocab_size = 1 + n_keys + n_values
        self.n_out = n_values
        gaps = torch.arange(1, self.max_gap + 1)
        b = self.bucket(gaps)
        self.bucket_names = [f"acc_gap_{gaps[b == k].min().item()}-{gaps[b == k].max().item()}"
                             for k in range(n_buckets)]

    @property
    def baseline_loss(self) -> float:
        return math.log(self.n_values)

    @property
    def baseline_metric(self) -> float:
        return 1 / self.n_values

    @property
    def chrono_tmax(self) -> float:
        """The horizon T_max for the LSTM's chrono init: the longest gap."""
        return self.max_gap

    def bucket(self, gap: torch.Tensor) -> torch.Tensor:
        return (gap - 1) * self.n_buckets // self.max_gap

    def batch(self, batch_size: int, seed: int, step: int, device="cpu", split: str = TRAIN) -> Batch:
        g = generator(seed, step, split, device)
        P, Q = self.n_pairs, self.n_queries

        def distinct(n: int, k: int) -> torch.Tensor:  # (B, k) distinct draws from 0..n-1, in random order
            return torch.rand(batch_size, n, generator=g, device=device).topk(k, dim=1).indices

        keys = distinct(self.n_keys, P) + 1
        values = torch.randint(0, self.n_values, (batch_size, P), generator=g, device=device)
        return make_sequences(keys, values, distinct(P, Q), distinct(self.length, Q), self.length, self.n_keys)

    def gaps(self, batch: Batch) -> torch.Tensor:
        """(n_queries_total,) the gap of each query, in the order of batch.mask's True entries."""
        return self._queries(batch)[2]

    def _queries(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Every query's row, step and gap (each (n_queries_total,)), in the order of batch.mask's True entries."""
        P = self.n_pairs
        rows, steps = batch.mask.nonzero(as_tuple=True)
        asked = batch.x[rows, steps]  # (N,)
        pair = (batch.x[rows, 0 : 2 * P : 2] == asked.unsqueeze(1)).long().argmax(dim=1)
        return rows, steps, steps - 2 * pair

    def dependency(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        rows, steps, gap = self._queries(batch)
        at = torch.full(batch.mask.shape, -1, dtype=torch.long, device=gap.device)
        at[rows, steps] = gap  # (B, L): each query's gap where it is asked
        longest = at.amax(dim=1)
        end = first_true(at == longest.unsqueeze(1))  # the first of equals
        return end - longest, end

    def loss(self, out: torch.Tensor, batch: Batch) -> torch.Tensor:
        return F.cross_entropy(out[batch.mask], batch.y[batch.mask])

    def _hits(self, out: torch.Tensor, batch: Batch) -> torch.Tensor:
        return out[batch.mask].argmax(-1) == batch.y[batch.mask]

    def metric(self, out: torch.Tensor, batch: Batch) -> float:
        return self._hits(out, batch).float().mean().item()

    def extra_metrics(self, out: torch.Tensor, batch: Batch) -> dict[str, float]:
        hits, b = self._hits(out, batch).float(), self.bucket(self.gaps(batch))
        n = torch.zeros(self.n_buckets, device=hits.device).index_add_(0, b, torch.ones_like(hits))
        s = torch.zeros(self.n_buckets, device=hits.device).index_add_(0, b, hits)
        acc = (s / n).tolist()  # nan for a bucket without queries
        return dict(zip(self.bucket_names, acc))
