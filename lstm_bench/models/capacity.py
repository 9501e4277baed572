"""What a recurrence costs: its trainable parameters, the numbers it carries from step to step, and the
hidden size a parameter budget buys (`model.param_budget`), for any model, by counting, never by formula.

A fair comparison of recurrences holds one of these fixed: the budget search builds the model at
candidate hidden sizes on the meta device (no memory, no draws from the random generator, so the
weights of the run that follows are those of the same hidden size without a budget) and keeps the
largest whose recurrence fits.
"""
from collections.abc import Callable

import torch
import torch.nn as nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import _Orthogonal, _OrthMaps  # private: what orthogonal() registers

from lstm_bench.errors import ConfigError, require

LARGEST_H_PROBED = 1024  # the smallest H a model accepts is looked for up to here: refusing all of them, it refuses every H


def read_by_map(p: parametrize.ParametrizationList) -> int | None:
    """How many numbers of a parametrised tensor's stored original its map reads, where it reads fewer than it
    stores; None where it reads them all. torch's orthogonal map (matrix_exp, cayley) builds the skew matrix
    A = X - X^H from X.tril() of its (n x k) original, n >= k: the diagonal cancels and the upper part is never
    read, leaving n k - k (k + 1) / 2 numbers (n (n - 1) / 2 for a square W, the dimension of its group)."""
    maps = [m for m in p if isinstance(m, _Orthogonal)]
    if len(p) != 1 or not maps or maps[0].orthogonal_map == _OrthMaps.householder or p.original.is_complex():
        return None
    n, k = max(p.original.shape[-2:]), min(p.original.shape[-2:])
    return p.original[..., 0, 0].numel() * (n * k - k * (k + 1) // 2)


def n_params(module: nn.Module) -> int:
    """Trainable numbers: every parameter's, except a parametrised tensor whose map reads only part of what it
    stores, which counts the part it reads (read_by_map)."""
    total = sum(p.numel() for p in module.parameters() if p.requires_grad)
    for m in module.modules():
        for plist in getattr(m, "parametrizations", {}).values() if parametrize.is_parametrized(m) else ():
            read = read_by_map(plist)
            if read is not None and plist.original.requires_grad:
                total -= plist.original.numel() - read
    return total


def state_size(recurrence: nn.Module) -> int:
    """Numbers carried from one step to the next per sequence: the widths of the state the recurrence
    starts from (h for an RNN or GRU, h and c for an LSTM, whatever else a model carries). A recurrence whose
    h is read out of the rest of its state, never read by the next step (`h_is_readout = True`: a matrix
    memory's output S^T q, an SSM's C s + D u), carries only the rest: heads x d_k x d_v for a matrix memory."""
    state = recurrence.init_state(1, torch.device("meta"))
    if getattr(recurrence, "h_is_readout", False):
        state = state[1:]
    return sum(s[0].numel() for s in state)


def capacity(model: nn.Module) -> dict:
    """What result.json records of a SeqModel's size: all its parameters, its recurrence's, the state, H."""
    rec = model.recurrence
    return {"hidden_size": rec.hidden_size, "n_params": n_params(model), "n_params_recurrence": n_params(rec),
            "state_size": state_size(rec)}


def recurrence_params(make: Callable[[int], nn.Module], hidden_size: int) -> int | None:
    """The recurrence's trainable parameters at `hidden_size`; None for a hidden size the model refuses
    (the sLSTM's must divide by its heads)."""
    try:
        with torch.device("meta"):
            return n_params(make(hidden_size))
    except ConfigError:
        return None


def largest_hidden_size(budget: int, make: Callable[[int], nn.Module]) -> int:
    """The largest hidden size whose recurrence, make(H), has at most `budget` parameters.

    A monotone search (doubling, then bisection) on the count at the largest hidden size the model
    takes at or below H, which never decreases in H as long as the count does not: every model has
    more weights at a larger H."""

    def fits_below(h: int) -> tuple[int, int | None]:  # the largest allowed size <= h and its count
        while h > 0 and (n := recurrence_params(make, h)) is None:
            h -= 1
        return h, (n if h > 0 else None)

    smallest = next((h for h in range(1, LARGEST_H_PROBED + 1) if recurrence_params(make, h) is not None), None)
    if smallest is None:
        make(1)  # raises the model's own one-line reason
        raise AssertionError("a hidden size the model refuses on the meta device only")
    least = recurrence_params(make, smallest)
    require(least <= budget, "model.param_budget", budget,
            f"at least {least}: the recurrence has {least} parameters at its smallest hidden size, H={smallest}")
    lo, hi = smallest, 2 * smallest  # fits_below(lo) fits the budget; find an hi whose does not
    while fits_below(hi)[1] <= budget:
        assert hi < 2**40, "the recurrence's parameters do not grow with its hidden size"
        lo, hi = hi, 2 * hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits_below(mid)[1] <= budget else (lo, mid)
    return fits_below(lo)[0]
