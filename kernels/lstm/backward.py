"""The recurrent backward of a single-layer LSTM: per-step fused kernel, reverse time loop, weight gradients.

Any forward that saves (x_tm, hs, cs, activations, w_ih, w_hh) can use it: the per-step
fused path (fused.py) and the persistent forward (persistent.py), which has no backward of
its own. It lives in its own module so that both import it and neither imports the other.

Per step, in reverse time, ONE fused kernel (`lstm_fused_bwd_kernel`) turns dh_t, dc_t into
the pre-activation gradient and dc_{t-1}, and ONE GEMM carries dh back through W_hh
(`backward_loop`; on CUDA replayed from a CUDA graph, graphs.py). The weight, bias and
input gradients are three large GEMMs and one reduction over all T*B rows at the end
(`input_and_weight_grads`, shared with fused_gemm.py).
"""

from functools import partial

import torch
import triton
import triton.language as tl

from . import graphs
from .common import cells, check_step, elementwise_block, gemm, gemm_operand, load_gates, mixed_gemm, store_gates, tanh


@triton.jit
def cell_backward(i, f, g, o, c_prev, c, dh, dc):
    """One step's pointwise backward: activations, c_{t-1}, c_t and the gradients reaching h_t
    and c_t -> the four pre-activation gradients and dL/dc_t through both paths (times f it
    is dL/dc_{t-1})."""
    tc = tanh(c)  # recomputed: cheaper than saving another (T, B, H)
    dc = dc + dh * o * (1.0 - tc * tc)  # through h_t = o * tanh(c_t)
    d_i = dc * g * i * (1.0 - i)        # sigmoid' = s (1 - s)
    d_f = dc * c_prev * f * (1.0 - f)
    d_g = dc * i * (1.0 - g * g)        # tanh' = 1 - tanh^2
    d_o = dh * tc * o * (1.0 - o)
    return d_i, d_f, d_g, d_o, dc


@triton.jit
def lstm_fused_bwd_kernel(
    g_ptr,       # (B, 4H) activations i, f, g, o saved by the forward
    c_prev_ptr,  # (B, H) c_{t-1}, compute dtype
    c_ptr,       # (B, H) c_t, compute dtype
    dho_ptr,     # (B, H) rows stride_dho apart: dL/dout_t from above (unused if not HAS_DHO)
    dh_ptr,      # (B, H) compute dtype: dL/dh_t carried back through W_hh from step t+1
    dc_ptr,      # (B, H) in: dL/dc_t from step t+1; out: dL/dc_{t-1}
    dg_ptr,      # (B, 4H) out: dL/d(pre-activations), input dtype (a GEMM operand)
    N,           # B * H
    H,
    stride_dho,
    HAS_DHO: tl.constexpr,
    BLOCK: tl.constexpr,
):
    offs, mask, b, j = cells(N, H, BLOCK)
    acc = dc_ptr.dtype.element_ty
    i, f, g, o = load_gates(g_ptr + b * (4 * H) + j, H, mask, acc)
    c_prev = tl.load(c_prev_ptr + offs, mask=mask, other=0.0).to(acc)
    c = tl.load(c_ptr + offs, mask=mask, other=0.0).to(acc)
    dh = tl.load(dh_ptr + offs, mask=mask, other=0.0).to(acc)
    if HAS_DHO:
        # h_t feeds both the output sequence and the next step: the two gradients add
        dh += tl.load(dho_ptr + b * stride_dho + j, mask=mask, other=0.0).to(acc)
    dc = tl.load(dc_ptr + offs, mask=mask, other=0.0).to(acc)
    d_i, d_f, d_g, d_o, dc = cell_backward(i, f, g, o, c_prev, c, dh, dc)
    store_gates(dg_ptr + b * (4 * H) + j, H, mask, d_i, d_f, d_g, d_o)
    tl.store(dc_ptr + offs, dc * f, mask=mask)  # c_t = f c_{t-1} + ...: dc_{t-1} = dc_t f


def lstm_fused_bwd(gates, c_prev, c, dh, dc, dgates=None, dh_out=None):
    """One backward step. gates: the activations saved by the forward; c_prev, c:
    c_{t-1}, c_t; dh (B, H): gradient reaching h_t through the recurrence; dh_out (B, H),
    optional, any row stride: gradient reaching h_t from the output sequence; dc (B, H):
    dL/dc_t, overwritten with dL/dc_{t-1}; dgates (B, 4H), any float dtype (default
    gates'), receives dL/d(pre-activations). Returns (dgates, dc).

    Example (the CPU interpreter: TRITON_INTERPRET=1 before triton is imported)::

        >>> B, H = 2, 3
        >>> act = torch.rand(B, 4 * H)                       # i, f, g, o in (0, 1)
        >>> c_prev, c = torch.randn(B, H), torch.randn(B, H)
        >>> dgates, dc = lstm_fused_bwd(act, c_prev, c, torch.randn(B, H), torch.randn(B, H))
        >>> dgates.shape, dc.shape
        (torch.Size([2, 12]), torch.Size([2, 3]))
    """
    B, H4 = gates.shape
    H = H4 // 4
    check_step("gates", gates, (B, 4 * H))
    for name, t in (("c_prev", c_prev), ("c", c), ("dc", dc)):
        check_step(name, t, (B, H), c_prev.dtype)
    check_step("dh", dh, (B, H))
    if dgates is None:
        dgates = torch.empty_like(gates)
    check_step("dgates", dgates, (B, 4 * H))
    if dh_out is not None:
        if tuple(dh_out.shape) != (B, H) or dh_out.stride(1) != 1:
            raise ValueError(f"dh_out must be (B, H) = {(B, H)} with unit column stride")
    N = B * H
    BLOCK = elementwise_block(N)
    lstm_fused_bwd_kernel[(triton.cdiv(N, BLOCK),)](
        gates, c_prev, c, dh if dh_out is None else dh_out, dh, dc, dgates, N, H,
        0 if dh_out is None else dh_out.stride(0),
        HAS_DHO=dh_out is not None, BLOCK=BLOCK, num_warps=4)
    return dgates, dc


def backward_loop(gates, cs, dout, dh, dc, dgates, w_hh):
    """Reverse time. dout (B, T, H); dh (B, H) starts as dL/dh_T and ends as dL/dh0;
    dc (B, H) starts as dL/dc_T and ends as dL/dc0, both in the compute dtype; dgates
    (T, B, 4H) is filled; w_hh as `common.gemm_operand` gives it."""
    T = gates.shape[0]
    for t in range(T - 1, -1, -1):
        lstm_fused_bwd(gates[t], cs[t], cs[t + 1], dh, dc, dgates[t], dh_out=dout[:, t])
        gemm(dgates[t], w_hh, dh)  # (B, 4H) @ (4H, H) -> (B, H): dL/dh_{t-1}


def _backward_graph(T, B, H, dtype, cdtype, device):
    """The captured `backward_loop` for this shape, with its static buffers."""
    w_dtype = dtype if mixed_gemm(device, dtype) else cdtype  # what gemm_operand(w_hh) gives

    def buffers():
        z = partial(torch.zeros, dtype=dtype, device=device)
        return dict(gates=z(T, B, 4 * H, dtype=cdtype), cs=z(T + 1, B, H, dtype=cdtype),
                    w_hh=z(4 * H, H, dtype=w_dtype), dout=z(B, T, H), dh=z(B, H, dtype=cdtype),
                    dc=z(B, H, dtype=cdtype), dgates=z(T, B, 4 * H))

    return graphs.get_graph(("backward_loop", T, B, H, dtype, *graphs.matmul_flags()), device, buffers,
                            backward_loop)


def input_and_weight_grads(dgates, x_tm, hs, w_ih, needs, cdtype):
    """The gradients that are one big GEMM over all T*B rows once every step's dL/d(pre-
    activations) is known: dgates (T, B, 4H), x_tm (T, B, I), hs (T+1, B, H) -> dx (B, T, I)
    view, dw_ih (4H, I), dw_hh (4H, H), db (4H,); None where `needs` (x, h0, c0, w_ih, w_hh,
    b_ih, b_hh) does not ask."""
    T, B, I = x_tm.shape
    H = hs.shape[-1]
    dg2 = dgates.reshape(T * B, 4 * H)  # (T*B, 4H): every step's gradient as one big GEMM operand
    dx = dw_ih = dw_hh = db = None
    if needs[0]:
        dx = (dg2 @ w_ih).view(T, B, I).transpose(0, 1)  # (B, T, I) view; autograd accepts strides
    if needs[3]:
        dw_ih = dg2.t() @ x_tm.reshape(T * B, I)  # (4H, I)
    if needs[4]:
        dw_hh = dg2.t() @ hs[:T].reshape(T * B, H)  # (4H, H): h_{t-1} for every step t
    if needs[5] or needs[6]:
        db = dg2.sum(0, dtype=cdtype).to(dgates.dtype)  # (4H,), reduced in fp32 for half inputs
    return dx, dw_ih, dw_hh, db


def recurrent_backward(saved, dout, dh_T, dc_T, needs, use_cuda_graph):
    """Backward over time of a single-layer LSTM whose forward saved `saved`: x_tm
    (T, B, I), hs (T+1, B, H), cs (T+1, B, H), gates (T, B, 4H) activations (compute dtype),
    w_ih, w_hh.
    needs: which of (x, h0, c0, w_ih, w_hh, b_ih, b_hh) want a gradient. Returns those
    seven gradients, None where not needed.

    Example (what an autograd.Function's backward returns; the CPU interpreter)::

        >>> saved = (x_tm, hs, cs, activations, w_ih, w_hh)   # as the forward saved them
        >>> dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh = recurrent_backward(
        ...     saved, dout, dh_T, dc_T, ctx.needs_input_grad[:7], use_cuda_graph=None)
    """
    x_tm, hs, cs, gates, w_ih, w_hh = saved
    T, B, I = x_tm.shape
    H = w_hh.shape[1]
    dtype, cdtype = w_hh.dtype, cs.dtype
    # materialized grads may be expanded zeros or come in another dtype
    dout = dout.to(dtype).contiguous()                 # (B, T, H)
    dh_T = dh_T.to(cdtype).reshape(B, H)               # (B, H)
    dc_T = dc_T.to(cdtype).reshape(B, H)               # (B, H)

    if graphs.graphs_enabled(gates.device, use_cuda_graph):
        g = _backward_graph(T, B, H, dtype, cdtype, gates.device)
        for buf, val in ((g.buf.gates, gates), (g.buf.cs, cs), (g.buf.dout, dout),
                         (g.buf.dh, dh_T), (g.buf.dc, dc_T), (g.buf.w_hh, w_hh)):
            buf.copy_(val)
        g.replay()
        dgates, dh0, dc0 = g.buf.dgates, g.buf.dh.clone(), g.buf.dc.clone()
    else:
        dh0 = dh_T.clone()  # updated in place, step by step, into dL/dh0
        dc0 = dc_T.clone()
        dgates = torch.empty(gates.shape, dtype=dtype, device=gates.device)  # (T, B, 4H)
        backward_loop(gates, cs, dout, dh0, dc0, dgates, gemm_operand(w_hh))

    dx, dw_ih, dw_hh, db = input_and_weight_grads(dgates, x_tm, hs, w_ih, needs, cdtype)
    return (dx, dh0.to(dtype) if needs[1] else None, dc0.to(dtype) if needs[2] else None,
            dw_ih, dw_hh, db if needs[5] else None, db if needs[6] else None)
