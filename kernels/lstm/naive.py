"""Reference LSTM: the literal gate-by-gate loop, in fp32 or fp64.

This is the ground truth the Triton kernels are tested against. It uses
nn.LSTM's parameter layout (W_ih (4H, I), W_hh (4H, H), b_ih / b_hh (4H,),
rows stacked in gate order i, f, g, o) and keeps the input and recurrent
products separate ("concatenation-free": no [x, h] @ [W_ih W_hh]^T), so every
gate is written out exactly as in the textbook:

    i_t = sigmoid(x_t W_ii^T + b_ii + h_{t-1} W_hi^T + b_hi)
    f_t = sigmoid(x_t W_if^T + b_if + h_{t-1} W_hf^T + b_hf)
    g_t = tanh   (x_t W_ig^T + b_ig + h_{t-1} W_hg^T + b_hg)
    o_t = sigmoid(x_t W_io^T + b_io + h_{t-1} W_ho^T + b_ho)
    c_t = f_t * c_{t-1} + i_t * g_t
    h_t = o_t * tanh(c_t)

It is slow on purpose (8 small GEMMs per step) and differentiable through
plain autograd, which is what makes it a trustworthy reference. The harness writes
the same step again in lstm_bench/models/lstm_cell.py (lstm_step, its own ground
truth): on purpose, since kernels/ imports no harness code; both are held to nn.LSTM.
"""

import torch

from . import common


def lstm_cell_naive(x_t, h, c, w_ih, w_hh, b_ih=None, b_hh=None):
    """One LSTM step, gate by gate. x_t (B, I), h/c (B, H) -> (h_t, c_t), each (B, H).

    Computes in whatever dtype it is given; the caller chooses the precision.
    """
    H = h.shape[-1]

    def preact(k):
        # rows [k*H, (k+1)*H) of the stacked weights belong to gate k (order i, f, g, o)
        z = x_t @ w_ih[k * H:(k + 1) * H].t() + h @ w_hh[k * H:(k + 1) * H].t()  # (B, H)
        if b_ih is not None:
            z = z + b_ih[k * H:(k + 1) * H]
        if b_hh is not None:
            z = z + b_hh[k * H:(k + 1) * H]
        return z

    i = torch.sigmoid(preact(0))
    f = torch.sigmoid(preact(1))
    g = torch.tanh(preact(2))
    o = torch.sigmoid(preact(3))
    c_t = f * c + i * g
    h_t = o * torch.tanh(c_t)
    return h_t, c_t


def lstm_naive(x, state=None, w_ih=None, w_hh=None, b_ih=None, b_hh=None, compute_dtype=None):
    """Reference single-layer LSTM with the same call convention as `lstm_fused`.

    x: (B, T, I) batch-first. state: (h0, c0), each (B, H) or nn.LSTM's (1, B, H),
    or None / (None, None) for zeros. Returns (out (B, T, H), (h_T, c_T)) in x's dtype,
    with the states in the shape style they were given ((B, H) when None).
    compute_dtype: defaults to the kernels' (`common.compute_dtype`): fp64 for fp64 inputs,
    fp32 otherwise, so the reference is not limited by fp16/bf16 rounding.

    Example (plain PyTorch: no GPU, no interpreter)::

        >>> lstm = torch.nn.LSTM(3, 5, batch_first=True).double()
        >>> x = torch.randn(2, 7, 3, dtype=torch.float64)
        >>> out, (h, c) = lstm_naive(x, None, *lstm.parameters())    # w_ih, w_hh, b_ih, b_hh
        >>> torch.allclose(out, lstm(x)[0])
        True
    """
    B, T, I = x.shape
    H = w_hh.shape[1]
    dtype = x.dtype
    cd = compute_dtype or common.compute_dtype(dtype)
    h0, c0 = state if state is not None else (None, None)
    three_d = (h0 is not None and h0.dim() == 3) or (c0 is not None and c0.dim() == 3)
    h = x.new_zeros(B, H, dtype=cd) if h0 is None else h0.reshape(B, H).to(cd)  # (B, H)
    c = x.new_zeros(B, H, dtype=cd) if c0 is None else c0.reshape(B, H).to(cd)  # (B, H)
    w_ih, w_hh = w_ih.to(cd), w_hh.to(cd)
    b_ih = None if b_ih is None else b_ih.to(cd)
    b_hh = None if b_hh is None else b_hh.to(cd)
    xc = x.to(cd)
    outs = []
    for t in range(T):
        h, c = lstm_cell_naive(xc[:, t], h, c, w_ih, w_hh, b_ih, b_hh)
        outs.append(h)
    out = torch.stack(outs, dim=1).to(dtype)  # (B, T, H)
    h, c = h.to(dtype), c.to(dtype)
    if three_d:
        h, c = h.unsqueeze(0), c.unsqueeze(0)  # (1, B, H), nn.LSTM style
    return out, (h, c)
