"""The probe: one measurement of the gradient through time and the gates, as a plain record.

The loss the probe differentiates, L = sum over the probe's sequences b of l_b, where l_b is
sequence b's own loss at the end of its dependency (task.dependency: the scored step end_b,
and start_b, the input it depends on; the task's docstring says which, where a sequence has
several scored steps). The gradient of sequence b's state is then that of its own l_b only.
Lag k = end_b - t counts the steps back from the scored step; sequence b's dependency length
is d_b = end_b - start_b. What one probe records, on a fixed batch from the test seeds:
    grad_h[t]             ‖∂L/∂h_t‖ per sequence, averaged over the batch, against the step t
    grad_h_lag[k]         ‖∂l_b/∂h_{end_b-k}‖ averaged over the sequences with end_b >= k, against
                          the lag: one curve however the sequences' lengths and scored steps vary;
                          lag_n[k] of them at lag k
    grad_c[t], grad_c_lag[k]  the same along the memory cell (recurrences with a cell)
                          A recurrence whose h is read out of its state and never fed back (h_is_readout: a
                          matrix memory, an SSM) has grad_h of its whole carried state instead (the norm over
                          every carried element, a matrix memory's flattened), and no grad_c
    dependency_length     the mean d_b; dependency_range [min, max] of d_b; the sequences without
                          a dependency in view (end_b = -1: a window of a stream) are left out
    grad_ratio_log10      the mean over sequences of log10(‖∂l_b/∂h_{start_b}‖ / ‖∂l_b/∂h_{end_b}‖):
                          the gradient across each sequence's own dependency
    grad_decay_per_step   least-squares slope of ln(‖∂l_b/∂h_{end_b-k}‖ / ‖∂l_b/∂h_{end_b}‖) against
                          k over every sequence's lags 0..d_b: ln a for h_t = a h_{t-1} + x_t,
                          negative = vanishing, so dependency_length * decay / ln 10 ≈ grad_ratio_log10
    forget_*, input_*, output_*   gate means and saturation (open > 0.9, shut < 0.1) for gates named f,
                          i, o, over the real positions only (task.valid: never the padding);
                          forget_timescale = -1/ln(mean f) per unit, its median and max over units;
                          a unit whose mean f is exactly 1 never forgets: its timescale is infinite,
                          recorded as null with forget_timescale_{median,max}_infinite true;
                          forget_unit_mean, the (H,) mean f per unit those come from
    gate_hist             counts of each gate's values at the real positions in HIST_BINS equal bins on [0, 1]
    cell_norm[t]          ‖c_t‖ averaged over the sequences real at t, null where none is (recurrences with a cell;
                          for a matrix memory, the Frobenius norm of the memory)
    spectral_radius       of the recurrent matrix (one-tensor states with a square weight_hh)
    dependency_loss       the mean of l_b over the sequences with a dependency
    param_grad_norm       ‖∂(dependency_loss)/∂θ‖ per parameter tensor: of that mean
nn.RNN and nn.LSTM hide their per-step states, so everything is measured on a float64 copy of
the model run through its per-step twin (`SeqModel.unroll`): in float32 the tanh RNN's ‖∂L/∂h_1‖
underflows to exactly 0 at T=100. A norm that still underflows is floored at the dtype's
smallest normal number (grad_floored says so), never logged as -inf.
"""
from __future__ import annotations

import copy
import math
import statistics
from dataclasses import replace

import torch

HIST_BINS = 50
# the GRU's update gate z is the share of h it keeps (h = (1-z)*n + z*h): its forget gate, reported beside f
GATES = {"i": "input", "f": "forget", "o": "output", "z": "update"}


def lag_curve(norms: torch.Tensor, end: torch.Tensor) -> tuple[list, list]:
    """norms (B, T) of each sequence's own gradient, end (B,) its scored step (-1: none) ->
    (mean over the sequences that reach lag k, how many do), each (max end + 1,)."""
    k = torch.arange(int(end.max()) + 1, device=norms.device)
    t = end.unsqueeze(1) - k  # (B, K): the step at lag k
    ok = t >= 0
    lagged = norms.gather(1, t.clamp(min=0)) * ok
    n = ok.sum(dim=0)
    return (lagged.sum(dim=0) / n.clamp(min=1)).tolist(), n.tolist()


def ratio_and_decay(norms: torch.Tensor, start: torch.Tensor, end: torch.Tensor) -> dict:
    """grad_ratio_log10, grad_decay_per_step and grad_floored from norms (B, T) of the sequences
    that have a dependency (start, end (B,)), each curve taken relative to its own scored step."""
    tiny = torch.finfo(norms.dtype).tiny
    rows = torch.arange(len(end), device=norms.device)
    first, last = norms[rows, start], norms[rows, end]
    ratio = (first.clamp(min=tiny).log10() - last.clamp(min=tiny).log10()).mean().item()
    # pooled least squares over every sequence's lags 0..d_b, leaving out the norms that underflowed
    k = torch.arange(int((end - start).max()) + 1, device=norms.device)
    t = end.unsqueeze(1) - k  # (B, K)
    seg = norms.gather(1, t.clamp(min=0))
    ok = (t >= start.unsqueeze(1)) & (seg >= tiny) & torch.isfinite(seg) & (last >= tiny).unsqueeze(1)
    decay = math.nan
    if k.expand_as(t)[ok].unique().numel() >= 2:
        x, y = k.expand_as(t)[ok].to(norms.dtype), (seg.log() - last.log().unsqueeze(1))[ok]
        x = x - x.mean()
        decay = ((x * (y - y.mean())).sum() / (x * x).sum()).item()
    return {"ratio_log10": ratio, "decay_per_step": decay, "floored": bool((first < tiny).any())}


def timescale(f_unit: torch.Tensor) -> dict:
    """The forget gate's e-folding times (f^tau = 1/e) of (H,) mean f per unit: median and max,
    null with a flag where infinite (a unit at f = 1 exactly keeps what it holds forever)."""
    tau = sorted(torch.where(f_unit < 1, -1.0 / torch.log(f_unit), math.inf).tolist())
    out = {}
    for name, v in (("median", statistics.median(tau)), ("max", tau[-1])):
        out[f"forget_timescale_{name}"] = v if math.isfinite(v) else None
        out[f"forget_timescale_{name}_infinite"] = v == math.inf
    return out


def gate_stats(G: dict, valid: torch.Tensor) -> dict:
    """G: gate name -> (B, T, H) values in [0, 1]; valid (B, T) bool: the positions that count."""
    G = {k: v[valid] for k, v in G.items()}  # (N, H): the real positions only
    out = {}
    for k, name in GATES.items():
        if k in G:
            v = G[k]
            out[f"{name}_mean"] = v.mean().item()
            out[f"{name}_open"] = (v > 0.9).double().mean().item()
            out[f"{name}_shut"] = (v < 0.1).double().mean().item()
    if "f" in G:
        f_unit = G["f"].mean(dim=0)
        out.update(timescale(f_unit))
        out["forget_unit_mean"] = f_unit.tolist()  # the report draws the timescales' distribution from it
    out["gate_hist"] = {k: torch.histc(G[k], bins=HIST_BINS, min=0, max=1).long().tolist() for k in GATES if k in G}
    return out


def spectral_radius(recurrence, n_state: int) -> float | None:
    """max |eigenvalue| of the recurrent matrix of a one-tensor state (a vanilla RNN, an IRNN)."""
    H = recurrence.hidden_size
    W = [p for n, p in recurrence.named_parameters() if "weight_hh" in n and p.shape == (H, H)]
    if n_state != 1 or len(W) != 1 or not torch.isfinite(W[0]).all():
        return None
    return torch.linalg.eigvals(W[0].detach().double()).abs().max().item()


def measure(model, task, batch, dtype=torch.float64) -> tuple[dict, torch.Tensor | None]:
    """One probe: (the record, the (H, T') forget-gate heatmap of example 0's real steps, or None).
    Runs on a copy of `model`: the training model, its .grad and the RNG are left alone."""
    def cast(v):  # values and regression targets to the probe's dtype; symbols and classes stay long
        return v.to(dtype) if v.is_floating_point() else v

    m = copy.deepcopy(model).to(dtype)
    batch = replace(batch, x=cast(batch.x), y=cast(batch.y))
    B, T = batch.x.shape[:2]
    start, end = task.dependency(batch)
    has = end >= 0
    valid = task.valid(batch)
    out, states, gates = m.unroll(batch.x)
    per_seq = task.dependency_loss(out, batch)  # (B,): each sequence's own loss, so its gradient is its own
    loss = per_seq[has].sum()
    S = len(states[0])
    names, params = zip(*m.named_parameters())
    flat = [s for state in states for s in state]  # T*S tensors, time-major
    grads = torch.autograd.grad(loss, flat + list(params), materialize_grads=True)
    # per state element k: its gradients at every step, (T, B, width), a matrix memory's flattened
    g = [torch.stack(grads[k : T * S : S]).flatten(2) for k in range(S)]
    # torch's norm squares its input: below 1e-154 that underflows even float64, so scale by the row's max first
    scales = [gk.abs().amax(dim=-1, keepdim=True).clamp(min=torch.finfo(dtype).tiny) for gk in g]  # (T, B, 1)
    norms = torch.stack([sc[..., 0] * (gk / sc).norm(dim=-1) for gk, sc in zip(g, scales)]).permute(0, 2, 1)  # (S, B, T)
    if getattr(m.recurrence, "h_is_readout", False):
        # h is read out of the rest and never fed back: ∂L/∂h_t is the readout's own, nothing through time. The
        # gradient through time is the carried state's, all its elements together, in the place of h's
        norms = norms[1:].square().sum(dim=0, keepdim=True).sqrt()

    n_dep = int(has.sum())
    d = (end - start)[has]
    row = {"dependency_loss": loss.item() / max(n_dep, 1),
           "dependency_length": d.double().mean().item() if n_dep else None,
           "dependency_range": [int(d.min()), int(d.max())] if n_dep else None}
    for key, prefix, nm in zip(("h", "c"), ("grad", "grad_c"), norms):  # a second state is the memory cell
        row[f"grad_{key}"] = nm.mean(dim=0).tolist()
        r = ratio_and_decay(nm[has], start[has], end[has]) if n_dep else {}  # none in view: a short stream window
        row[f"{prefix}_ratio_log10"], row[f"{prefix}_decay_per_step"] = r.get("ratio_log10"), r.get("decay_per_step")
        row[f"grad_{key}_lag"], row["lag_n"] = lag_curve(nm[has], end[has]) if n_dep else ([], [])
        if key == "h":
            row["grad_floored"] = r.get("floored", False)
    if S >= 2:
        real = valid.T.to(dtype)  # (T, B)
        c = torch.stack([s[1].detach().flatten(1).norm(dim=-1) for s in states])  # (T, B): a matrix memory's too
        mean_c = (c * real).sum(dim=1) / real.sum(dim=1)
        row["cell_norm"] = [v if math.isfinite(v) else None for v in mean_c.tolist()]

    heatmap = None
    with torch.no_grad():
        G = {k: torch.stack([g[k] for g in gates], dim=1) for k in GATES if k in gates[0]}  # (B, T, H) each
        if G:
            row.update(gate_stats(G, valid))
        if "f" in G:
            heatmap = G["f"][0][valid[0]].T.float().cpu()  # (H, T'): units x example 0's real steps
        rho = spectral_radius(m.recurrence, S)
        if rho is not None:
            row["spectral_radius"] = rho
        # of the mean loss over the sequences with a dependency, as dependency_loss reports it
        row["param_grad_norm"] = {n: g.norm().item() / max(n_dep, 1) for n, g in zip(names, grads[T * S :])}
    return row, heatmap


def scalars(row: dict) -> dict:
    """A record's scalars under the logger's keys: diag/NAME, diag/param_grad/PARAM."""
    out = {f"diag/{k}": v for k, v in row.items() if isinstance(v, (int, float)) and k != "step"}
    out.update({f"diag/param_grad/{n}": v for n, v in row.get("param_grad_norm", {}).items()})
    return out
