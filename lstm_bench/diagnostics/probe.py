"""The probe: one measurement of the gradient through time and the gates, as a plain record.

What one probe records, on a fixed batch from the test seeds:
    grad_h[t]             ‖∂L/∂h_t‖ per example, averaged over the batch; L = task.dependency_loss,
                          the loss where the dependency ends
    grad_c[t]             ‖∂L/∂c_t‖, the gradient along the memory cell (recurrences with a cell)
    grad_ratio_log10      log10(‖∂L/∂h_start‖ / ‖∂L/∂h_end‖) over the dependency span [start, end]
    grad_decay_per_step   slope of ln‖∂L/∂h_t‖ against the steps back from `end`: ln a for h_t = a h_{t-1};
                          negative = vanishing, so span * decay / ln 10 ≈ grad_ratio_log10
    forget_*, input_*, output_*   gate means and saturation (open > 0.9, shut < 0.1) for gates named f, i, o;
                          forget_timescale = -1/ln(mean f) per unit, its median and max over units
    gate_hist             counts of each gate's values in HIST_BINS equal bins on [0, 1]
    cell_norm[t]          ‖c_t‖ averaged over the batch (recurrences with a cell)
    spectral_radius       of the recurrent matrix (one-tensor states with a square weight_hh)
    param_grad_norm       ‖∂L/∂θ‖ per parameter tensor, of the same dependency loss
nn.RNN and nn.LSTM hide their per-step states, so everything is measured on a float64 copy of
the model run through its per-step twin (`SeqModel.unroll`): in float32 the tanh RNN's ‖∂L/∂h_1‖
underflows to exactly 0 at T=100. A norm that still underflows is floored at the dtype's
smallest normal number (grad_floored says so), never logged as -inf.
"""
from __future__ import annotations

import copy
import math
from dataclasses import replace

import torch

HIST_BINS = 50
# the GRU's update gate z is the share of h it keeps (h = (1-z)*n + z*h): its forget gate, reported beside f
GATES = {"i": "input", "f": "forget", "o": "output", "z": "update"}


def span(batch) -> tuple[int, int]:
    """The dependency span [start, end]: from the first input to the first step where the
    dependency loss reads the output (the recall positions' start, the earliest sequence end
    of a padded batch, or the last step)."""
    T = batch.x.shape[1]
    read = batch.mask.any(dim=0).nonzero() if batch.mask is not None else []  # (n, 1) steps with a target
    return 0, int(read[0]) if len(read) else T - 1


def ratio_and_decay(norms: torch.Tensor, start: int, end: int) -> dict:
    """grad_ratio_log10, grad_decay_per_step and grad_floored of one (T,) curve of norms."""
    tiny = torch.finfo(norms.dtype).tiny
    first, last = norms[start].item(), norms[end].item()
    ratio = math.log10(max(first, tiny)) - math.log10(max(last, tiny))
    # least squares of ln‖g‖ on the steps back, over the points that did not underflow
    seg = norms[start : end + 1]
    back = (end - torch.arange(start, end + 1, device=norms.device)).to(norms.dtype)
    ok = (seg >= tiny) & torch.isfinite(seg)
    decay = math.nan
    if ok.sum() >= 2:
        b, y = back[ok], seg[ok].log()
        b = b - b.mean()
        decay = ((b * (y - y.mean())).sum() / (b * b).sum()).item()
    return {"ratio_log10": ratio, "decay_per_step": decay, "floored": first < tiny}


def gate_stats(G: dict) -> dict:
    """G: gate name -> (B, T, H) values in [0, 1]."""
    out = {}
    for k, name in GATES.items():
        if k in G:
            v = G[k]
            out[f"{name}_mean"] = v.mean().item()
            out[f"{name}_open"] = (v > 0.9).double().mean().item()
            out[f"{name}_shut"] = (v < 0.1).double().mean().item()
    if "f" in G:
        f_unit = G["f"].mean(dim=(0, 1))  # (H,)
        # the e-folding time of what a unit holds: f^tau = 1/e; a unit stuck at f = 1 gets a
        # huge but finite tau rather than inf
        tau = -1.0 / torch.log(f_unit.clamp(max=1 - torch.finfo(f_unit.dtype).eps))
        out["forget_timescale_median"] = tau.quantile(0.5).item()
        out["forget_timescale_max"] = tau.max().item()
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
    """One probe: (the record, the (H, T) forget-gate heatmap of example 0 or None).
    Runs on a copy of `model`: the training model, its .grad and the RNG are left alone."""
    def cast(v):  # values and regression targets to the probe's dtype; symbols and classes stay long
        return v.to(dtype) if v.is_floating_point() else v

    m = copy.deepcopy(model).to(dtype)
    batch = replace(batch, x=cast(batch.x), y=cast(batch.y))
    B, T = batch.x.shape[:2]
    out, states, gates = m.unroll(batch.x)
    # the loss is a mean over the batch; times B, each example's gradient is at its own scale
    loss = task.dependency_loss(out, batch) * B
    S = len(states[0])
    names, params = zip(*m.named_parameters())
    flat = [s for state in states for s in state]  # T*S tensors, time-major
    grads = torch.autograd.grad(loss, flat + list(params), materialize_grads=True)
    g = torch.stack(grads[: T * S])  # (T*S, B, H)
    # torch's norm squares its input: below 1e-154 that underflows even float64, so scale by the row's max first
    scale = g.abs().amax(dim=-1, keepdim=True).clamp(min=torch.finfo(dtype).tiny)  # (T*S, B, 1)
    norms = (scale[..., 0] * (g / scale).norm(dim=-1)).mean(dim=-1)  # (T*S,): per example, then the batch mean
    norms = norms.view(T, S).T  # (S, T): row 0 is h, row 1 the cell c

    start, end = span(batch)
    h = ratio_and_decay(norms[0], start, end)
    row = {"span": [start, end], "dependency_loss": loss.item() / B, "grad_h": norms[0].tolist(),
           "grad_ratio_log10": h["ratio_log10"], "grad_decay_per_step": h["decay_per_step"], "grad_floored": h["floored"]}
    if S >= 2:  # a second state tensor is the memory cell, the conveyor belt
        c = ratio_and_decay(norms[1], start, end)
        row.update({"grad_c": norms[1].tolist(), "grad_c_ratio_log10": c["ratio_log10"],
                    "grad_c_decay_per_step": c["decay_per_step"]})
        row["cell_norm"] = torch.stack([s[1].detach().norm(dim=-1).mean() for s in states]).tolist()

    heatmap = None
    with torch.no_grad():
        G = {k: torch.stack([g[k] for g in gates], dim=1) for k in GATES if k in gates[0]}  # (B, T, H) each
        if G:
            row.update(gate_stats(G))
        if "f" in G:
            heatmap = G["f"][0].T.float().cpu()  # (H, T): units x time
        rho = spectral_radius(m.recurrence, S)
        if rho is not None:
            row["spectral_radius"] = rho
        row["param_grad_norm"] = {n: g.norm().item() for n, g in zip(names, grads[T * S :])}
    return row, heatmap


def scalars(row: dict) -> dict:
    """A record's scalars under the logger's keys: diag/NAME, diag/param_grad/PARAM."""
    out = {f"diag/{k}": v for k, v in row.items() if isinstance(v, (int, float)) and k != "step"}
    out.update({f"diag/param_grad/{n}": v for n, v in row.get("param_grad_norm", {}).items()})
    return out
