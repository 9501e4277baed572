"""The word problem of a finite group: the running product of a stream of group elements, at every step.

The input is T elements drawn uniformly from the group G (`task.group`); the target at step t is the product
x_0 x_1 ... x_t, at every step (`task.readout=all`) or only at the last (`last`). The groups (Merrill, Petty &
Sabharwal 2024, "The Illusion of State in State-Space Models"; Grazzi et al. 2025 run S5 and Z60):
    Zm   the cyclic group of order m (Z5, Z60, ...): abelian; Z2 is parity, Zm is mod_add
    S3   the permutations of 3 things: not abelian, but solvable
    A4   the even permutations of 4: solvable
    S4   solvable
    A5   the even permutations of 5, the smallest group that is not solvable: its word problem is NC1-complete
    S5   not solvable (120 elements)
A permutation is its one-line tuple p (p[i], i = 0..n-1), the elements indexed in lexicographic order, so the
identity is element 0; the product a b is "a, then b": (a b)[i] = b[a[i]]. Z_m's elements are 0..m-1 under
addition mod m. Worked example, S3 (0 = 012, 1 = 021, 2 = 102, 3 = 120, 4 = 201, 5 = 210), T=8:

    t        0  1  2  3  4  5  6  7
    input    3  1  4  2  5  0  3  3
    target   3  5  2  0  5  5  1  2     (readout last: the last column, 2)

Each element is drawn uniformly from the whole group, so the product of the earlier elements is uniform and
independent of x_t: the memoryless baseline is mod_add's with m = |G| (tasks/mod_add.py): cross-entropy
(T-1)/T ln |G| per step and accuracy (1 + (T-1)/|G|)/T with readout all (the first target is the input itself);
ln |G| and 1/|G| with readout last. The metric, `last_acc`, `task.test_lengths` and the dependency (the first
element to the last step) are mod_add's. The run's task name carries the group: `word_S3`, `word_A5`.

The running product is computed by a doubling scan over the multiplication table (log2 T rounds of table
look-ups: the product is associative), a pure function of the drawn elements.
"""
import itertools
import re

import torch

from lstm_bench.errors import require
from tasks import TRAIN, Batch, generator
from tasks.mod_add import ModAdd

GROUPS = "Zm (m >= 2: Z2, Z5, Z60, ...), S3, S4, S5, A4, A5"


def elements(group: str) -> list[tuple]:
    """The group's elements in their index order: one-line permutation tuples, or (k,) for k in Z_m."""
    kind, n = group[0], int(group[1:])
    if kind == "Z":
        return [(k,) for k in range(n)]
    perms = list(itertools.permutations(range(n)))  # lexicographic: the identity first
    if kind == "A":
        perms = [p for p in perms if sum(p[i] > p[j] for i in range(n) for j in range(i + 1, n)) % 2 == 0]
    return perms


def multiplication_table(group: str) -> torch.Tensor:
    """(|G|, |G|) long: table[a, b] = the index of a b ("a, then b")."""
    els = elements(group)
    if group[0] == "Z":
        m = len(els)
        k = torch.arange(m)
        return (k[:, None] + k[None, :]) % m
    index = {p: i for i, p in enumerate(els)}
    return torch.tensor([[index[tuple(b[a[i]] for i in range(len(a)))] for b in els] for a in els])


def running_product(x: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """(B, T) element indices -> (B, T) the products x_0 ... x_t, by a doubling scan of table look-ups."""
    n = table.shape[0]
    flat = table.flatten().to(x.device)
    y, d, T = x, 1, x.shape[1]
    while d < T:
        y = torch.cat([y[:, :d], flat[y[:, :-d] * n + y[:, d:]]], dim=1)  # (earlier block) then (this one)
        d *= 2
    return y


def known_group(group) -> bool:
    m = re.fullmatch(r"([ZSA])(\d+)", group) if isinstance(group, str) else None
    if m is None:
        return False
    kind, n = m.group(1), int(m.group(2))
    return (kind == "Z" and n >= 2) or (kind == "S" and 3 <= n <= 5) or (kind == "A" and 4 <= n <= 5)


class WordProblem(ModAdd):
    name = "word_problem"

    def __init__(self, length: int = 100, group: str = "S3", readout: str = "all", threshold: float = 0.99,
                 test_length: int | None = None, test_lengths=()):
        require(known_group(group), "task.group", group, GROUPS)
        self.group = group
        self.table = multiplication_table(group)
        self.setup(length, self.table.shape[0], readout, threshold, test_length, test_lengths)
        self.name = f"word_{group}"

    def batch(self, batch_size: int, seed: int, step: int, device="cpu", split: str = TRAIN,
              length: int | None = None) -> Batch:
        g = generator(seed, step, split, device)
        x = torch.randint(0, self.modulus, (batch_size, length or self.length), generator=g, device=device)
        y = running_product(x, self.table)
        return Batch(x, y if self.readout == "all" else y[:, -1])
