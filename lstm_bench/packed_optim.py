"""The optimizer side of a pack (lstm_bench/models/packed.py): each member's own gradient clipping, optimizer
state and learning rate, over the stacked (K, ...) weights. Torch only, so that benchmarks/packed.py runs it
where Hydra is not installed.

    clip_per_member(packed, max_norm)   clip_grad_norm_ of each member's own gradient: a norm per member
    PackedOptimizer(packed, makers, keys)

An elementwise optimizer (Adam, RMSprop, SGD, ...: each weight's update reads only that weight's gradient and
state) gives a slice of rows the update it gives each row alone. So the members that share optimizer settings
(`keys`, made contiguous by the caller) share one torch optimizer over row slices of the stacked weights:
one optimizer per distinct setting, not per member, and each member's numbers are its solo run's. The per-tensor
step count all members of a slice share is the same for each, since a pack's members step together.
"""
from __future__ import annotations

import math
from typing import Callable, Hashable, Sequence

import torch

# each weight's update reads only its own gradient and state, so a slice of members updates as each alone
ELEMENTWISE = (torch.optim.SGD, torch.optim.Adam, torch.optim.AdamW, torch.optim.RMSprop, torch.optim.Adagrad,
               torch.optim.Adamax, torch.optim.NAdam, torch.optim.RAdam, torch.optim.Adadelta, torch.optim.Rprop)


def elementwise(optimizer_class) -> str | None:
    """None if a pack can batch this optimizer's members, else why not."""
    if optimizer_class in ELEMENTWISE:
        return None
    return (f"{optimizer_class.__name__} is not an elementwise optimizer (packable: "
            f"{', '.join(c.__name__ for c in ELEMENTWISE)})")


@torch.no_grad()
def clip_per_member(grads: Sequence[torch.Tensor], max_norm: torch.Tensor) -> torch.Tensor:
    """torch.nn.utils.clip_grad_norm_ for each member at once: grads, each (K, ...), scaled in place so that
    member k's whole gradient has norm at most max_norm[k] (inf: no clipping). Returns the norms before (K,)."""
    K = max_norm.shape[0]
    norms = torch.stack([torch.linalg.vector_norm(g.reshape(K, -1), 2, dim=1) for g in grads], dim=1)  # (K, P)
    total = torch.linalg.vector_norm(norms, 2, dim=1)  # (K,)
    coef = torch.clamp(max_norm / (total + 1e-6), max=1.0)  # clip_grad_norm_'s own rule
    for g in grads:
        g.mul_(coef.view(K, *(1,) * (g.dim() - 1)))
    return total


class PackedOptimizer:
    """The members' optimizers: `makers[k]` builds member k's (as its solo run does, from a list of parameters);
    members with equal `keys[k]` (contiguous) share one over their rows. `keep` follows PackedModel.keep."""

    def __init__(self, packed, makers: Sequence[Callable], keys: Sequence[Hashable]):
        if len(makers) != packed.K or len(keys) != packed.K:
            raise ValueError(f"{len(makers)} optimizers and {len(keys)} keys for {packed.K} members")
        seen = []
        for key in keys:
            if seen and key != seen[-1] and key in seen:
                raise ValueError("members with the same optimizer settings must be next to each other")
            seen.append(key)
        self.packed, self.makers, self.keys = packed, list(makers), list(keys)
        self.runs = self._build()

    def _build(self) -> list:
        """(first member, end, the optimizer, its row-slice views of every stacked tensor) per run of equal keys."""
        stacked = list(self.packed.stacked().values())
        runs, k0 = [], 0
        for k in range(1, len(self.keys) + 1):
            if k == len(self.keys) or self.keys[k] != self.keys[k0]:
                views = [p.detach()[k0:k] for p in stacked]  # leaves that share the stacked storage
                optimizer = self.makers[k0](views)
                if (why := elementwise(type(optimizer))) is not None:
                    raise ValueError(f"cannot pack: {why}")
                runs.append((k0, k, optimizer, views))
                k0 = k
        return runs

    def zero_grad(self) -> None:
        for p in self.packed.stacked().values():
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        stacked = list(self.packed.stacked().values())
        for k0, k1, optimizer, views in self.runs:
            for v, p in zip(views, stacked):
                v.grad = None if p.grad is None else p.grad[k0:k1]
            optimizer.step()

    def _member_state(self, k: int) -> list[dict]:
        """Member k's optimizer state, per stacked tensor: {name: (True, its own row of a per-weight tensor) or
        (False, a value the slice shares, such as Adam's step count)}."""
        for k0, k1, optimizer, views in self.runs:
            if k0 <= k < k1:
                return [{n: (True, s[k - k0]) if torch.is_tensor(s) and s.shape == v.shape else (False, s)
                         for n, s in optimizer.state.get(v, {}).items()} for v in views]
        raise IndexError(k)

    @torch.no_grad()
    def keep(self, members: list[int]) -> None:
        """After PackedModel.keep(members): the same members' optimizers and state, on the new stacked tensors."""
        states = [self._member_state(k) for k in members]
        self.makers = [self.makers[k] for k in members]
        self.keys = [self.keys[k] for k in members]
        self.runs = self._build()
        for k0, k1, optimizer, views in self.runs:
            for j, v in enumerate(views):
                rows = [states[k][j] for k in range(k0, k1)]
                if rows[0]:  # else no step taken yet: no state
                    # a shared value is copied: Adam counts its steps in place, and two slices must not share one
                    optimizer.state[v] = {n: torch.stack([r[n][1] for r in rows]) if own else
                                          (s.clone() if torch.is_tensor(s) else s)
                                          for n, (own, s) in rows[0].items()}


def inf_or(value) -> float:
    """A clip bound from a config: None (or 0) is no clipping."""
    return float(value) if value else math.inf
