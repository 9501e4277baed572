"""Per-step fused-gate LSTM in Triton.

One LSTM layer, nn.LSTM conventions, split the way cuDNN's non-persistent
path splits it:

  * the input projection for all T steps is ONE GEMM before the loop:
    xw = x W_ih^T + b_ih + b_hh                                     (T, B, 4H)
  * each step is ONE GEMM, gates_t = xw_t + h_{t-1} W_hh^T (cuBLAS addmm_, in
    place), plus ONE fused Triton kernel (`lstm_fused_fwd_kernel`) that applies
    the four nonlinearities, updates c and h, and overwrites the pre-activations
    with the activations, which is all backward needs;
  * backward walks time in reverse with its own loop (not autograd through T
    small kernels): per step ONE fused kernel (`lstm_fused_bwd_kernel`) turns
    dh_t, dc_t into the pre-activation gradient and dc_{t-1}, and ONE GEMM
    carries dh back through W_hh; the weight, bias and input gradients are
    three large GEMMs / one reduction over all T*B rows at the end.

On CUDA the 2T small launches of each loop are captured once per shape into a
CUDA graph and replayed: the work per step is a few microseconds, about what a
kernel launch costs from Python, so without graphs the GPU mostly waits.

Precision: GEMMs run in the input dtype (fp32 accumulate inside cuBLAS); the
gate math and the cell state c run in fp32 (fp64 for fp64 inputs).
"""

import contextlib
import os
from collections import OrderedDict

import torch
import triton
import triton.language as tl

_FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


@triton.jit
def _tanh(x):
    # tl.tanh does not exist in every supported triton (>= 3.2) and libdevice is not
    # available in the interpreter; 2*sigmoid(2x) - 1 is exact to rounding for O(1) values
    return 2.0 * tl.sigmoid(2.0 * x) - 1.0


@triton.jit
def _load_gates(p, H, mask, acc):
    """The four gate columns of a (b, j) cell, at k*H + j in nn.LSTM's order i, f, g, o."""
    a = tl.load(p, mask=mask, other=0.0).to(acc)
    b = tl.load(p + H, mask=mask, other=0.0).to(acc)
    c = tl.load(p + 2 * H, mask=mask, other=0.0).to(acc)
    d = tl.load(p + 3 * H, mask=mask, other=0.0).to(acc)
    return a, b, c, d


@triton.jit
def _lstm_cell(zi, zf, zg, zo, c_prev):
    """The gate math of one step: pre-activations and c_{t-1} -> i, f, g, o, c_t, h_t."""
    i = tl.sigmoid(zi)
    f = tl.sigmoid(zf)
    g = _tanh(zg)
    o = tl.sigmoid(zo)
    c = f * c_prev + i * g  # the conveyor belt: keep f of the old memory, add i of the new content
    h = o * _tanh(c)
    return i, f, g, o, c, h


@triton.jit
def lstm_fused_fwd_kernel(
    g_ptr,       # (B, 4H) in: gate pre-activations; out: activations i, f, g, o
    c_prev_ptr,  # (B, H) c_{t-1}, compute dtype (fp32 / fp64)
    h_ptr,       # (B, H) out: h_t, input dtype
    c_ptr,       # (B, H) out: c_t, compute dtype
    N,           # B * H
    H,
    BLOCK: tl.constexpr,
):
    # one program handles BLOCK (b, j) cells of the flattened (B, H) state
    pid = tl.program_id(0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    b = offs // H
    j = offs % H
    # gate k of cell (b, j) lives at column k*H + j of row b (nn.LSTM order i, f, g, o);
    # consecutive j are consecutive addresses, so every load below is coalesced
    gp = g_ptr + b * (4 * H) + j
    acc = c_ptr.dtype.element_ty  # the cell state's dtype is the compute dtype
    zi, zf, zg, zo = _load_gates(gp, H, mask, acc)
    c_prev = tl.load(c_prev_ptr + offs, mask=mask, other=0.0).to(acc)
    i, f, g, o, c, h = _lstm_cell(zi, zf, zg, zo, c_prev)

    tl.store(c_ptr + offs, c, mask=mask)
    tl.store(h_ptr + offs, h.to(h_ptr.dtype.element_ty), mask=mask)
    # backward needs the activations, not the pre-activations: store them in place,
    # so the forward saves (T, B, 4H) + (T+1, B, H) and recomputes only tanh(c_t)
    gdt = g_ptr.dtype.element_ty
    tl.store(gp, i.to(gdt), mask=mask)
    tl.store(gp + H, f.to(gdt), mask=mask)
    tl.store(gp + 2 * H, g.to(gdt), mask=mask)
    tl.store(gp + 3 * H, o.to(gdt), mask=mask)


@triton.jit
def lstm_fused_bwd_kernel(
    g_ptr,       # (B, 4H) activations i, f, g, o saved by the forward
    c_prev_ptr,  # (B, H) c_{t-1}, compute dtype
    c_ptr,       # (B, H) c_t, compute dtype
    dho_ptr,     # (B, H) rows stride_dho apart: dL/dout_t from above (unused if not HAS_DHO)
    dh_ptr,      # (B, H) dL/dh_t carried back through W_hh from step t+1
    dc_ptr,      # (B, H) in: dL/dc_t from step t+1; out: dL/dc_{t-1}
    dg_ptr,      # (B, 4H) out: dL/d(pre-activations)
    N,           # B * H
    H,
    stride_dho,
    HAS_DHO: tl.constexpr,
    BLOCK: tl.constexpr,
):
    pid = tl.program_id(0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    b = offs // H
    j = offs % H
    gp = g_ptr + b * (4 * H) + j
    acc = dc_ptr.dtype.element_ty
    i, f, g, o = _load_gates(gp, H, mask, acc)
    c_prev = tl.load(c_prev_ptr + offs, mask=mask, other=0.0).to(acc)
    c = tl.load(c_ptr + offs, mask=mask, other=0.0).to(acc)
    dh = tl.load(dh_ptr + offs, mask=mask, other=0.0).to(acc)
    if HAS_DHO:
        # h_t feeds both the output sequence and the next step: the two gradients add
        dh += tl.load(dho_ptr + b * stride_dho + j, mask=mask, other=0.0).to(acc)
    dc = tl.load(dc_ptr + offs, mask=mask, other=0.0).to(acc)

    tc = _tanh(c)  # recomputed: cheaper than saving another (T, B, H)
    dc = dc + dh * o * (1.0 - tc * tc)  # through h_t = o * tanh(c_t)
    d_i = dc * g * i * (1.0 - i)        # sigmoid' = s (1 - s)
    d_f = dc * c_prev * f * (1.0 - f)
    d_g = dc * i * (1.0 - g * g)        # tanh' = 1 - tanh^2
    d_o = dh * tc * o * (1.0 - o)

    dgp = dg_ptr + b * (4 * H) + j
    dgt = dg_ptr.dtype.element_ty
    tl.store(dgp, d_i.to(dgt), mask=mask)
    tl.store(dgp + H, d_f.to(dgt), mask=mask)
    tl.store(dgp + 2 * H, d_g.to(dgt), mask=mask)
    tl.store(dgp + 3 * H, d_o.to(dgt), mask=mask)
    tl.store(dc_ptr + offs, dc * f, mask=mask)  # c_t = f c_{t-1} + ...: dc_{t-1} = dc_t f


# triton >= 3.2 decides at decoration time whether a kernel runs in the CPU interpreter
INTERPRETED = type(lstm_fused_fwd_kernel).__name__ == "InterpretedFunction"


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
    the compute dtype (fp32, or fp64 for fp64 gates). Returns (h_t, c_t)."""
    B, H4 = gates.shape
    H = H4 // 4
    _check_step("gates", gates, (B, 4 * H))
    _check_step("c_prev", c_prev, (B, H))
    if h_out is None:
        h_out = torch.empty(B, H, dtype=gates.dtype, device=gates.device)
    if c_out is None:
        c_out = torch.empty_like(c_prev)
    _check_step("h_out", h_out, (B, H), gates.dtype)
    _check_step("c_out", c_out, (B, H), c_prev.dtype)
    N = B * H
    BLOCK = _block(N)
    lstm_fused_fwd_kernel[(triton.cdiv(N, BLOCK),)](gates, c_prev, h_out, c_out, N, H, BLOCK=BLOCK, num_warps=4)
    return h_out, c_out


def lstm_fused_bwd(gates, c_prev, c, dh, dc, dgates=None, dh_out=None):
    """One backward step. gates: the activations saved by `lstm_fused_fwd`; c_prev, c:
    c_{t-1}, c_t; dh (B, H): gradient reaching h_t through the recurrence; dh_out (B, H),
    optional, any row stride: gradient reaching h_t from the output sequence; dc (B, H):
    dL/dc_t, overwritten with dL/dc_{t-1}. Returns (dgates (B, 4H), dc)."""
    B, H4 = gates.shape
    H = H4 // 4
    _check_step("gates", gates, (B, 4 * H))
    for name, t in (("c_prev", c_prev), ("c", c), ("dc", dc)):
        _check_step(name, t, (B, H), c_prev.dtype)
    _check_step("dh", dh, (B, H))
    if dgates is None:
        dgates = torch.empty_like(gates)
    _check_step("dgates", dgates, (B, 4 * H), gates.dtype)
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


# ---------------------------------------------------------------------------------------
# time loops (shared by the eager path and the CUDA-graph capture)

def _forward_loop(gates, hs, cs, w_hh):
    """gates (T, B, 4H): xw on entry, activations on exit; hs (T+1, B, H) and
    cs (T+1, B, H) hold h0/c0 in slot 0 and receive h_t/c_t in slot t+1."""
    T = gates.shape[0]
    w_hh_t = w_hh.t()  # (H, 4H) view, no copy: cuBLAS reads it transposed
    for t in range(T):
        gates[t].addmm_(hs[t], w_hh_t)  # (B, 4H) += (B, H) @ (H, 4H)
        lstm_fused_fwd(gates[t], cs[t], hs[t + 1], cs[t + 1])


def _backward_loop(gates, cs, dout, dh, dc, dgates, w_hh):
    """Reverse time. dout (B, T, H); dh (B, H) starts as dL/dh_T and ends as dL/dh0;
    dc (B, H) starts as dL/dc_T and ends as dL/dc0; dgates (T, B, 4H) is filled."""
    T = gates.shape[0]
    for t in range(T - 1, -1, -1):
        lstm_fused_bwd(gates[t], cs[t], cs[t + 1], dh, dc, dgates[t], dh_out=dout[:, t])
        torch.mm(dgates[t], w_hh, out=dh)  # (B, 4H) @ (4H, H) -> (B, H): dL/dh_{t-1}


# ---------------------------------------------------------------------------------------
# CUDA graphs: the per-step path is launch-bound, so each loop is captured once per
# shape and replayed. The graphs own static buffers; callers copy in and clone out.

_GRAPH_CACHE = OrderedDict()
_GRAPH_CACHE_SIZE = 4


def clear_graph_cache():
    """Drop every captured graph and its static buffers (frees their GPU memory)."""
    _GRAPH_CACHE.clear()


def _capture(fn):
    # Run the whole loop once eagerly on a side stream first: it compiles every Triton
    # specialization the loop will launch (the per-step slices' 16-byte alignment varies
    # with t) and creates the cuBLAS handle, none of which may happen during a capture.
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        fn()
    torch.cuda.current_stream().wait_stream(s)
    graph = torch.cuda.CUDAGraph()
    # thread_local: backward runs on autograd's device thread
    with torch.cuda.graph(graph, capture_error_mode="thread_local"):
        fn()
    return graph


class _FwdGraph:
    def __init__(self, T, B, H, dtype, cdtype, device):
        self.gates = torch.zeros(T, B, 4 * H, dtype=dtype, device=device)  # (T, B, 4H)
        self.hs = torch.zeros(T + 1, B, H, dtype=dtype, device=device)      # (T+1, B, H)
        self.cs = torch.zeros(T + 1, B, H, dtype=cdtype, device=device)     # (T+1, B, H)
        self.w_hh = torch.zeros(4 * H, H, dtype=dtype, device=device)       # (4H, H)

        def body():
            _forward_loop(self.gates, self.hs, self.cs, self.w_hh)

        self.graph = _capture(body)


class _BwdGraph:
    def __init__(self, T, B, H, dtype, cdtype, device):
        self.gates = torch.zeros(T, B, 4 * H, dtype=dtype, device=device)   # (T, B, 4H)
        self.cs = torch.zeros(T + 1, B, H, dtype=cdtype, device=device)     # (T+1, B, H)
        self.dout = torch.zeros(B, T, H, dtype=dtype, device=device)        # (B, T, H)
        self.dh = torch.zeros(B, H, dtype=dtype, device=device)             # (B, H)
        self.dc = torch.zeros(B, H, dtype=cdtype, device=device)            # (B, H)
        self.dgates = torch.zeros(T, B, 4 * H, dtype=dtype, device=device)  # (T, B, 4H)
        self.w_hh = torch.zeros(4 * H, H, dtype=dtype, device=device)       # (4H, H)

        def body():
            _backward_loop(self.gates, self.cs, self.dout, self.dh, self.dc, self.dgates, self.w_hh)

        self.graph = _capture(body)


def _get_graph(kind, T, B, H, dtype, cdtype, device):
    key = (kind, T, B, H, dtype, str(device))
    g = _GRAPH_CACHE.get(key)
    if g is None:
        # streams and the capture belong to the tensors' GPU (not necessarily the current one)
        with torch.cuda.device(device) if device.type == "cuda" else contextlib.nullcontext():
            g = (_FwdGraph if kind == "fwd" else _BwdGraph)(T, B, H, dtype, cdtype, device)
        _GRAPH_CACHE[key] = g
        while len(_GRAPH_CACHE) > _GRAPH_CACHE_SIZE:
            _GRAPH_CACHE.popitem(last=False)
    else:
        _GRAPH_CACHE.move_to_end(key)
    return g


def _graphs_enabled(device, use_cuda_graph):
    if device.type != "cuda" or INTERPRETED:
        return False
    if torch.cuda.is_current_stream_capturing():
        return False  # the caller is capturing us into its own graph: run eagerly inside it
    if use_cuda_graph is None:
        return os.environ.get("LSTM_FUSED_CUDA_GRAPH", "1") != "0"
    return bool(use_cuda_graph)


def _compute_dtype(dtype):
    return torch.float64 if dtype == torch.float64 else torch.float32


# ---------------------------------------------------------------------------------------
# autograd

def _input_projection(x_tm, w_ih, b_ih, b_hh, out=None):
    """xw = x W_ih^T + b_ih + b_hh for all T at once. x_tm (T, B, I) -> (T, B, 4H),
    written into `out` (T, B, 4H) when given."""
    T, B, I = x_tm.shape
    x2 = x_tm.reshape(T * B, I)  # (T*B, I)
    o2 = None if out is None else out.view(T * B, -1)  # (T*B, 4H)
    if b_ih is None and b_hh is None:
        xw = torch.mm(x2, w_ih.t(), out=o2)  # (T*B, 4H)
    else:
        if b_ih is None:
            b = b_hh
        elif b_hh is None:
            b = b_ih
        else:
            b = b_ih + b_hh
        xw = torch.addmm(b, x2, w_ih.t(), out=o2)  # (T*B, 4H)
    return xw.view(T, B, -1)  # (T, B, 4H)


def _recurrent_backward(saved, dout, dh_T, dc_T, needs, use_cuda_graph):
    """Shared backward of the fused and persistent LSTMs.

    saved: x_tm (T, B, I), hs (T+1, B, H), cs (T+1, B, H), gates (T, B, 4H) activations,
    w_ih, w_hh. needs: which of (x, h0, c0, w_ih, w_hh, b_ih, b_hh) want a gradient.
    """
    x_tm, hs, cs, gates, w_ih, w_hh = saved
    T, B, I = x_tm.shape
    H = w_hh.shape[1]
    dtype, cdtype = gates.dtype, cs.dtype
    # materialized grads may be expanded zeros or come in another dtype
    dout = dout.to(dtype).contiguous()                 # (B, T, H)
    dh_T = dh_T.to(dtype).reshape(B, H)                # (B, H)
    dc_T = dc_T.to(cdtype).reshape(B, H)               # (B, H)

    if _graphs_enabled(gates.device, use_cuda_graph):
        g = _get_graph("bwd", T, B, H, dtype, cdtype, gates.device)
        g.gates.copy_(gates)
        g.cs.copy_(cs)
        g.dout.copy_(dout)
        g.dh.copy_(dh_T)
        g.dc.copy_(dc_T)
        g.w_hh.copy_(w_hh)
        g.graph.replay()
        dgates, dh0, dc0 = g.dgates, g.dh.clone(), g.dc.clone()
    else:
        dh0 = dh_T.clone()  # updated in place, step by step, into dL/dh0
        dc0 = dc_T.clone()
        dgates = torch.empty_like(gates)  # (T, B, 4H)
        _backward_loop(gates, cs, dout, dh0, dc0, dgates, w_hh)

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
    return dx, dh0, dc0.to(dtype), dw_ih, dw_hh, db


class LSTMFusedFunction(torch.autograd.Function):
    """Inputs already validated by `lstm_fused`: x (B, T, I), h0/c0 (B, H), all contiguous."""

    @staticmethod
    def forward(ctx, x, h0, c0, w_ih, w_hh, b_ih, b_hh, use_cuda_graph):
        B, T, I = x.shape
        H = w_hh.shape[1]
        dtype, cdtype = x.dtype, _compute_dtype(x.dtype)
        x_tm = x.transpose(0, 1).contiguous()  # (T, B, I): each step's rows contiguous
        save = any(ctx.needs_input_grad[:7])

        if _graphs_enabled(x.device, use_cuda_graph):
            g = _get_graph("fwd", T, B, H, dtype, cdtype, x.device)
            _input_projection(x_tm, w_ih, b_ih, b_hh, out=g.gates)
            g.hs[0].copy_(h0)
            g.cs[0].copy_(c0)
            g.w_hh.copy_(w_hh)
            g.graph.replay()
            # the static buffers are reused by the next call: keep private copies
            hs = g.hs.clone() if save else g.hs
            cs = g.cs.clone() if save else g.cs
            gates = g.gates.clone() if save else None
        else:
            gates = _input_projection(x_tm, w_ih, b_ih, b_hh)  # (T, B, 4H)
            hs = x.new_empty(T + 1, B, H)                      # (T+1, B, H)
            cs = x.new_empty(T + 1, B, H, dtype=cdtype)        # (T+1, B, H)
            hs[0].copy_(h0)
            cs[0].copy_(c0)
            _forward_loop(gates, hs, cs, w_hh)

        out = hs[1:].transpose(0, 1).contiguous()  # (B, T, H) batch-first, like nn.LSTM
        h_T = hs[T].clone()
        c_T = cs[T].to(dtype, copy=True)  # a copy: cs may be a graph's static buffer
        if save:
            ctx.save_for_backward(x_tm, hs, cs, gates, w_ih, w_hh)
        ctx.use_cuda_graph = use_cuda_graph
        return out, h_T, c_T

    @staticmethod
    def backward(ctx, dout, dh_T, dc_T):
        grads = _recurrent_backward(ctx.saved_tensors, dout, dh_T, dc_T, ctx.needs_input_grad,
                                    ctx.use_cuda_graph)
        dx, dh0, dc0, dw_ih, dw_hh, db = grads
        n = ctx.needs_input_grad
        return (dx if n[0] else None, dh0 if n[1] else None, dc0 if n[2] else None,
                dw_ih, dw_hh, db if n[5] else None, db if n[6] else None, None)


# ---------------------------------------------------------------------------------------
# validation shared with the persistent variant

def _prepare(x, state, w_ih, w_hh, b_ih, b_hh):
    """Check shapes/dtypes/devices; return contiguous (B, H) states and the shape style."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 3:
        raise ValueError(f"x must be batch-first (B, T, I), got {x.dim()}-D shape {tuple(x.shape)}")
    B, T, I = x.shape
    if B < 1 or T < 1 or I < 1:
        raise ValueError(f"x must have B, T, I >= 1, got {tuple(x.shape)}")
    if x.dtype not in _FLOAT_DTYPES:
        raise ValueError(f"x dtype must be one of float16/bfloat16/float32/float64, got {x.dtype}")
    for name, w in (("w_ih", w_ih), ("w_hh", w_hh)):
        if not isinstance(w, torch.Tensor) or w.dim() != 2:
            raise ValueError(f"{name} must be a 2-D tensor (4H, ...), got "
                             f"{tuple(w.shape) if isinstance(w, torch.Tensor) else type(w).__name__}")
    H = w_hh.shape[1]
    if H < 1 or tuple(w_hh.shape) != (4 * H, H):
        raise ValueError(f"w_hh must be (4H, H) (nn.LSTM's weight_hh_l0), got {tuple(w_hh.shape)}")
    if tuple(w_ih.shape) != (4 * H, I):
        raise ValueError(f"w_ih must be (4H, I) = {(4 * H, I)} for x with I={I} and H={H}, "
                         f"got {tuple(w_ih.shape)}")
    for name, b in (("b_ih", b_ih), ("b_hh", b_hh)):
        if b is not None and (not isinstance(b, torch.Tensor) or tuple(b.shape) != (4 * H,)):
            raise ValueError(f"{name} must be None or (4H,) = {(4 * H,)}, got "
                             f"{tuple(b.shape) if isinstance(b, torch.Tensor) else type(b).__name__}")

    if state is None:
        state = (None, None)
    if not isinstance(state, (tuple, list)) or len(state) != 2:
        raise ValueError("state must be None or a pair (h0, c0)")
    h0, c0 = state
    ndims = set()
    for name, s in (("h0", h0), ("c0", c0)):
        if s is None:
            continue
        if not isinstance(s, torch.Tensor):
            raise ValueError(f"{name} must be a tensor or None, got {type(s).__name__}")
        if tuple(s.shape) not in ((B, H), (1, B, H)):
            raise ValueError(f"{name} must be (B, H) = {(B, H)} or nn.LSTM's (1, B, H), "
                             f"got {tuple(s.shape)}")
        ndims.add(s.dim())
    if len(ndims) > 1:
        raise ValueError("h0 and c0 must both be (B, H) or both be (1, B, H)")
    three_d = ndims == {3}

    named = [("x", x), ("w_ih", w_ih), ("w_hh", w_hh), ("b_ih", b_ih), ("b_hh", b_hh),
             ("h0", h0), ("c0", c0)]
    for name, t in named:
        if t is None:
            continue
        if t.dtype != x.dtype:
            raise ValueError(f"{name} has dtype {t.dtype} but x has {x.dtype}: all inputs must share one dtype")
        if t.device != x.device:
            raise ValueError(f"{name} is on {t.device} but x is on {x.device}: all inputs must share one device")
    if x.device.type != "cuda" and not INTERPRETED:
        raise ValueError(f"lstm_fused runs Triton kernels: the tensors must be on a CUDA device "
                         f"(got {x.device}), or set TRITON_INTERPRET=1 before importing triton "
                         f"to run them on the CPU interpreter")

    h0 = x.new_zeros(B, H) if h0 is None else h0.reshape(B, H).contiguous()  # (B, H)
    c0 = x.new_zeros(B, H) if c0 is None else c0.reshape(B, H).contiguous()  # (B, H)
    prm = [None if t is None else t.contiguous() for t in (w_ih, w_hh, b_ih, b_hh)]
    return (x.contiguous(), h0, c0, *prm), three_d


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
    if w_ih is None or w_hh is None:
        raise ValueError("lstm_fused needs w_ih (4H, I) and w_hh (4H, H)")
    (x, h0, c0, w_ih, w_hh, b_ih, b_hh), three_d = _prepare(x, state, w_ih, w_hh, b_ih, b_hh)
    out, h_T, c_T = LSTMFusedFunction.apply(x, h0, c0, w_ih, w_hh, b_ih, b_hh, use_cuda_graph)
    if three_d:
        h_T, c_T = h_T.unsqueeze(0), c_T.unsqueeze(0)  # (1, B, H), as nn.LSTM returns
    return out, (h_T, c_T)
