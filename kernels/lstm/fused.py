"""Per-step fused-gate LSTM in Triton: `lstm_fused`, forward and backward over time.

One LSTM layer, nn.LSTM conventions, split the way cuDNN's non-persistent path splits it:

  * the input projection for all T steps is ONE GEMM before the loop (`common.input_projection`);
  * each step is ONE GEMM, gates_t = xw_t + h_{t-1} W_hh^T (cuBLAS addmm, in place, into
    the compute dtype: `common.gemm`; see common.py for what is kept in fp32), plus
    ONE fused Triton kernel (`lstm_fused_fwd_kernel`) that applies the four nonlinearities,
    updates c and h, and overwrites the pre-activations with the activations, which is
    all backward needs;
  * backward walks time in reverse with its own loop (not autograd through T small
    kernels): per step ONE fused kernel (`lstm_fused_bwd_kernel`) turns dh_t, dc_t into
    the pre-activation gradient and dc_{t-1}, and ONE GEMM carries dh back through W_hh;
    the weight, bias and input gradients are three large GEMMs / one reduction over all
    T*B rows at the end (`recurrent_backward`).

On CUDA both time loops are replayed from CUDA graphs (graphs.py).

Chain: kernels -> one-step launchers (`lstm_fused_fwd`, `lstm_fused_bwd`) -> time loops
-> `LSTMFusedFunction` -> `lstm_fused`. `recurrent_backward` is public because the
persistent forward (persistent.py) has no backward of its own and reuses this one: it
lives here, next to the backward kernel it loops over, so that persistent depends on
fused and not the other way round.
"""

from functools import partial

import torch
import triton
import triton.language as tl

from . import graphs
from .common import (as_given, compute_dtype, gemm, gemm_operand, input_projection, load_gates, lstm_cell,
                     mixed_gemm, prepare, state_history, store_gates, tanh)


@triton.jit
def _cells(N, H, BLOCK: tl.constexpr):
    """This program's BLOCK cells of the flattened (B, H) state: offsets, mask, b, j.
    Gate k of cell (b, j) lives at column k*H + j of row b of a (B, 4H) slab (nn.LSTM
    order i, f, g, o): consecutive j are consecutive addresses, so gate accesses coalesce."""
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    return offs, offs < N, offs // H, offs % H


@triton.jit
def lstm_fused_fwd_kernel(
    g_ptr,       # (B, 4H) compute dtype; in: gate pre-activations; out: activations i, f, g, o
    c_prev_ptr,  # (B, H) c_{t-1}, compute dtype (fp32 / fp64)
    h_ptr,       # (B, H) out: h_t, input dtype
    c_ptr,       # (B, H) out: c_t, compute dtype
    N,           # B * H
    H,
    BLOCK: tl.constexpr,
):
    offs, mask, b, j = _cells(N, H, BLOCK)
    gp = g_ptr + b * (4 * H) + j
    acc = c_ptr.dtype.element_ty  # the cell state's dtype is the compute dtype
    zi, zf, zg, zo = load_gates(gp, H, mask, acc)
    c_prev = tl.load(c_prev_ptr + offs, mask=mask, other=0.0).to(acc)
    i, f, g, o, c, h = lstm_cell(zi, zf, zg, zo, c_prev)

    tl.store(c_ptr + offs, c, mask=mask)
    tl.store(h_ptr + offs, h.to(h_ptr.dtype.element_ty), mask=mask)
    # backward needs the activations, not the pre-activations: store them in place,
    # so the forward saves (T, B, 4H) + (T+1, B, H) and recomputes only tanh(c_t)
    store_gates(gp, H, mask, i, f, g, o)


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
    offs, mask, b, j = _cells(N, H, BLOCK)
    acc = dc_ptr.dtype.element_ty
    i, f, g, o = load_gates(g_ptr + b * (4 * H) + j, H, mask, acc)
    c_prev = tl.load(c_prev_ptr + offs, mask=mask, other=0.0).to(acc)
    c = tl.load(c_ptr + offs, mask=mask, other=0.0).to(acc)
    dh = tl.load(dh_ptr + offs, mask=mask, other=0.0).to(acc)
    if HAS_DHO:
        # h_t feeds both the output sequence and the next step: the two gradients add
        dh += tl.load(dho_ptr + b * stride_dho + j, mask=mask, other=0.0).to(acc)
    dc = tl.load(dc_ptr + offs, mask=mask, other=0.0).to(acc)

    tc = tanh(c)  # recomputed: cheaper than saving another (T, B, H)
    dc = dc + dh * o * (1.0 - tc * tc)  # through h_t = o * tanh(c_t)
    d_i = dc * g * i * (1.0 - i)        # sigmoid' = s (1 - s)
    d_f = dc * c_prev * f * (1.0 - f)
    d_g = dc * i * (1.0 - g * g)        # tanh' = 1 - tanh^2
    d_o = dh * tc * o * (1.0 - o)

    store_gates(dg_ptr + b * (4 * H) + j, H, mask, d_i, d_f, d_g, d_o)
    tl.store(dc_ptr + offs, dc * f, mask=mask)  # c_t = f c_{t-1} + ...: dc_{t-1} = dc_t f


def _block(n):
    # one program per 1024 cells at most; smaller problems get one right-sized program
    return max(16, min(1024, triton.next_power_of_2(n)))


def _check_step(name, t, shape, dtype=None):
    if tuple(t.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {tuple(t.shape)}")
    if dtype is not None and t.dtype != dtype:
        raise ValueError(f"{name} must be {dtype}, got {t.dtype}")
    if not t.is_contiguous():
        raise ValueError(f"{name} must be contiguous")


def lstm_fused_fwd(gates, c_prev, h_out=None, c_out=None):
    """One forward step. gates (B, 4H) holds x_t W_ih^T + h_{t-1} W_hh^T + b and is
    overwritten with the activations (i, f, g, o); c_prev (B, H) is the cell state in
    the compute dtype (fp32, or fp64 for fp64 gates). h_out (B, H), any float dtype
    (default gates'), receives h_t. Returns (h_t, c_t)."""
    B, H4 = gates.shape
    H = H4 // 4
    _check_step("gates", gates, (B, 4 * H))
    _check_step("c_prev", c_prev, (B, H))
    if h_out is None:
        h_out = torch.empty(B, H, dtype=gates.dtype, device=gates.device)
    if c_out is None:
        c_out = torch.empty_like(c_prev)
    _check_step("h_out", h_out, (B, H))
    _check_step("c_out", c_out, (B, H), c_prev.dtype)
    N = B * H
    BLOCK = _block(N)
    lstm_fused_fwd_kernel[(triton.cdiv(N, BLOCK),)](gates, c_prev, h_out, c_out, N, H, BLOCK=BLOCK, num_warps=4)
    return h_out, c_out


def lstm_fused_bwd(gates, c_prev, c, dh, dc, dgates=None, dh_out=None):
    """One backward step. gates: the activations saved by `lstm_fused_fwd`; c_prev, c:
    c_{t-1}, c_t; dh (B, H): gradient reaching h_t through the recurrence; dh_out (B, H),
    optional, any row stride: gradient reaching h_t from the output sequence; dc (B, H):
    dL/dc_t, overwritten with dL/dc_{t-1}; dgates (B, 4H), any float dtype (default
    gates'), receives dL/d(pre-activations). Returns (dgates, dc)."""
    B, H4 = gates.shape
    H = H4 // 4
    _check_step("gates", gates, (B, 4 * H))
    for name, t in (("c_prev", c_prev), ("c", c), ("dc", dc)):
        _check_step(name, t, (B, H), c_prev.dtype)
    _check_step("dh", dh, (B, H))
    if dgates is None:
        dgates = torch.empty_like(gates)
    _check_step("dgates", dgates, (B, 4 * H))
    if dh_out is not None:
        if tuple(dh_out.shape) != (B, H) or dh_out.stride(1) != 1:
            raise ValueError(f"dh_out must be (B, H) = {(B, H)} with unit column stride")
    N = B * H
    BLOCK = _block(N)
    lstm_fused_bwd_kernel[(triton.cdiv(N, BLOCK),)](
        gates, c_prev, c, dh if dh_out is None else dh_out, dh, dc, dgates, N, H,
        0 if dh_out is None else dh_out.stride(0),
        HAS_DHO=dh_out is not None, BLOCK=BLOCK, num_warps=4)
    return dgates, dc


# the time loops: run eagerly, or captured once per shape and replayed (graphs.py)

def forward_loop(gates, hs, cs, w_hh):
    """gates (T, B, 4H), compute dtype: xw on entry, activations on exit; hs (T+1, B, H)
    and cs (T+1, B, H) hold h0/c0 in slot 0 and receive h_t/c_t in slot t+1; w_hh as
    `common.gemm_operand` gives it."""
    T = gates.shape[0]
    w_hh_t = w_hh.t()  # (H, 4H) view, no copy: cuBLAS reads it transposed
    for t in range(T):
        gemm(hs[t], w_hh_t, gates[t], c=gates[t])  # (B, 4H) += (B, H) @ (H, 4H)
        lstm_fused_fwd(gates[t], cs[t], hs[t + 1], cs[t + 1])


def backward_loop(gates, cs, dout, dh, dc, dgates, w_hh):
    """Reverse time. dout (B, T, H); dh (B, H) starts as dL/dh_T and ends as dL/dh0;
    dc (B, H) starts as dL/dc_T and ends as dL/dc0, both in the compute dtype; dgates
    (T, B, 4H) is filled; w_hh as `common.gemm_operand` gives it."""
    T = gates.shape[0]
    for t in range(T - 1, -1, -1):
        lstm_fused_bwd(gates[t], cs[t], cs[t + 1], dh, dc, dgates[t], dh_out=dout[:, t])
        gemm(dgates[t], w_hh, dh)  # (B, 4H) @ (4H, H) -> (B, H): dL/dh_{t-1}


def _loop_graph(loop, T, B, H, dtype, cdtype, device):
    """The captured `forward_loop` or `backward_loop` for this shape, with its buffers."""
    w_dtype = dtype if mixed_gemm(device, dtype) else cdtype  # what gemm_operand(w_hh) gives

    def buffers():
        z = partial(torch.zeros, dtype=dtype, device=device)
        bufs = dict(gates=z(T, B, 4 * H, dtype=cdtype), cs=z(T + 1, B, H, dtype=cdtype),
                    w_hh=z(4 * H, H, dtype=w_dtype))
        if loop is forward_loop:
            bufs.update(hs=z(T + 1, B, H))
        else:
            bufs.update(dout=z(B, T, H), dh=z(B, H, dtype=cdtype), dc=z(B, H, dtype=cdtype),
                        dgates=z(T, B, 4 * H))
        return bufs

    # cuBLAS picks its kernels, TF32 or not, when the loop is captured: a change of these
    # flags must capture anew
    m = torch.backends.cuda.matmul
    flags = (m.allow_tf32, m.allow_fp16_reduced_precision_reduction, m.allow_bf16_reduced_precision_reduction)
    return graphs.get_graph((loop.__name__, T, B, H, dtype, *flags), device, buffers, loop)


def recurrent_backward(saved, dout, dh_T, dc_T, needs, use_cuda_graph):
    """Backward over time of a single-layer LSTM whose forward saved `saved`: x_tm
    (T, B, I), hs (T+1, B, H), cs (T+1, B, H), gates (T, B, 4H) activations (compute dtype),
    w_ih, w_hh.
    needs: which of (x, h0, c0, w_ih, w_hh, b_ih, b_hh) want a gradient. Returns those
    seven gradients, None where not needed."""
    x_tm, hs, cs, gates, w_ih, w_hh = saved
    T, B, I = x_tm.shape
    H = w_hh.shape[1]
    dtype, cdtype = w_hh.dtype, cs.dtype
    # materialized grads may be expanded zeros or come in another dtype
    dout = dout.to(dtype).contiguous()                 # (B, T, H)
    dh_T = dh_T.to(cdtype).reshape(B, H)               # (B, H)
    dc_T = dc_T.to(cdtype).reshape(B, H)               # (B, H)

    if graphs.graphs_enabled(gates.device, use_cuda_graph):
        g = _loop_graph(backward_loop, T, B, H, dtype, cdtype, gates.device)
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

    dg2 = dgates.view(T * B, 4 * H)  # (T*B, 4H): every step's gradient as one big GEMM operand
    dx = dw_ih = dw_hh = db = None
    if needs[0]:
        dx = (dg2 @ w_ih).view(T, B, I).transpose(0, 1)  # (B, T, I) view; autograd accepts strides
    if needs[3]:
        dw_ih = dg2.t() @ x_tm.reshape(T * B, I)  # (4H, I)
    if needs[4]:
        dw_hh = dg2.t() @ hs[:T].reshape(T * B, H)  # (4H, H): h_{t-1} for every step t
    if needs[5] or needs[6]:
        db = dg2.sum(0, dtype=cdtype).to(dtype)  # (4H,), reduced in fp32 for half inputs
    return (dx, dh0.to(dtype) if needs[1] else None, dc0.to(dtype) if needs[2] else None,
            dw_ih, dw_hh, db if needs[5] else None, db if needs[6] else None)


class LSTMFusedFunction(torch.autograd.Function):
    """Inputs already validated by `lstm_fused`: x (B, T, I), h0/c0 (B, H), all contiguous."""

    @staticmethod
    def forward(ctx, x, h0, c0, w_ih, w_hh, b_ih, b_hh, use_cuda_graph):
        B, T, I = x.shape
        H = w_hh.shape[1]
        dtype, cdtype = x.dtype, compute_dtype(x.dtype)
        x_tm = x.transpose(0, 1).contiguous()  # (T, B, I): each step's rows contiguous
        save = any(ctx.needs_input_grad[:7])

        if graphs.graphs_enabled(x.device, use_cuda_graph):
            g = _loop_graph(forward_loop, T, B, H, dtype, cdtype, x.device)
            input_projection(x_tm, w_ih, b_ih, b_hh, out=g.buf.gates)
            g.buf.hs[0].copy_(h0)
            g.buf.cs[0].copy_(c0)
            g.buf.w_hh.copy_(w_hh)
            g.replay()
            # the static buffers are reused by the next call: keep private copies
            hs = g.buf.hs.clone() if save else g.buf.hs
            cs = g.buf.cs.clone() if save else g.buf.cs
            gates = g.buf.gates.clone() if save else None
        else:
            gates = input_projection(x_tm, w_ih, b_ih, b_hh)  # (T, B, 4H), compute dtype
            hs, cs = state_history(h0, c0, T, cdtype)         # (T+1, B, H) each
            forward_loop(gates, hs, cs, gemm_operand(w_hh))

        out = hs[1:].transpose(0, 1).contiguous()  # (B, T, H) batch-first, like nn.LSTM
        if save:
            ctx.save_for_backward(x_tm, hs, cs, gates, w_ih, w_hh)
        ctx.use_cuda_graph = use_cuda_graph
        return out, hs[T].clone(), cs[T].to(dtype, copy=True)  # copies: hs, cs may be graph buffers

    @staticmethod
    def backward(ctx, dout, dh_T, dc_T):
        return (*recurrent_backward(ctx.saved_tensors, dout, dh_T, dc_T, ctx.needs_input_grad,
                                    ctx.use_cuda_graph), None)


def lstm_fused(x, state=None, w_ih=None, w_hh=None, b_ih=None, b_hh=None, *, use_cuda_graph=None):
    """Single-layer LSTM, forward and backward in fused Triton kernels.

    Same math and conventions as ``torch.nn.LSTM(I, H, batch_first=True)``:

    Args:
        x: (B, T, I) input sequence, batch first; float16, bfloat16, float32 or float64,
            on a CUDA device (or on the CPU with TRITON_INTERPRET=1).
        state: (h0, c0), each (B, H) or nn.LSTM's (1, B, H); either may be None (zeros),
            as may the whole pair.
        w_ih: (4H, I), w_hh: (4H, H), b_ih / b_hh: (4H,) or None -- nn.LSTM's
            ``weight_ih_l0``, ``weight_hh_l0``, ``bias_ih_l0``, ``bias_hh_l0`` (gate order
            i, f, g, o).
        use_cuda_graph: replay the per-step loops as captured CUDA graphs (one capture per
            shape, cached); None = on for CUDA unless LSTM_FUSED_CUDA_GRAPH=0, and always
            off while the caller is itself capturing a graph.

    Returns:
        (out, (h_T, c_T)): out (B, T, H); h_T, c_T in the shape style of the given states
        ((1, B, H) if they were given so, else (B, H)).

    All inputs must share x's dtype and device; wrong shapes, dtypes or devices raise
    ValueError. Non-contiguous inputs are copied to contiguous ones. Differentiable with
    respect to every tensor argument.
    """
    (x, h0, c0, w_ih, w_hh, b_ih, b_hh), three_d = prepare("lstm_fused", x, state, w_ih, w_hh, b_ih, b_hh)
    out, h_T, c_T = LSTMFusedFunction.apply(x, h0, c0, w_ih, w_hh, b_ih, b_hh, use_cuda_graph)
    return out, as_given(h_T, c_T, three_d)


# The shared GPU check (gpu-check/gpu_check.py, outside this repository) reads the per-step path
# through these module names; they keep it measuring the same code until it moves to the new ones.
from .common import INTERPRETED  # noqa: E402
from .graphs import _GRAPH_CACHE, clear_graph_cache  # noqa: E402

_input_projection, _compute_dtype = input_projection, compute_dtype
