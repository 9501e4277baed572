"""What every LSTM path here shares: the gate math, the dtype rule, the input checks, the input projection.

This is the bottom layer of kernels/lstm: it imports torch and triton only, never a
sibling module. Everything that launches a kernel builds on it:

    common  <-  graphs  <-  backward  <-  fused       <-  dispatch
                            backward  <-  fused_gemm  <-  dispatch
    common  <-  sync    <-  persistent_kernel  <-  persistent (+ backward)  <-  dispatch
    common  <-  naive (the dtype rule only)

Precision for fp16/bf16 inputs: GEMM operands are in the input dtype and accumulate in fp32
(cuBLAS / tl.dot); every pre-activation (x W_ih^T + b_ih + b_hh + h W_hh^T, so also the
saved activations, twice a half tensor's memory), the gate math, the cell state c and the
gradients carried back through time (dh, dc) are in `compute_dtype` (fp32, fp64 for fp64
inputs). Only what the caller sees or a GEMM reads is in the input dtype: h_t and the
per-step pre-activation gradients.
"""

import torch
import triton
import triton.language as tl

FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def compute_dtype(dtype):
    """The dtype of the gate math and the cell state for inputs of `dtype`: half types are
    upcast, so the recurrence does not accumulate fp16/bf16 rounding over T steps."""
    return torch.float64 if dtype == torch.float64 else torch.float32


@triton.jit
def tanh(x):
    # tl.tanh does not exist in every supported triton (>= 3.2) and libdevice is not
    # available in the interpreter; 2*sigmoid(2x) - 1 is exact to rounding for O(1) values
    return 2.0 * tl.sigmoid(2.0 * x) - 1.0


@triton.jit
def load_gates(p, H, mask, acc):
    """The four gate columns of a (b, j) cell, at k*H + j in nn.LSTM's order i, f, g, o."""
    a = tl.load(p, mask=mask, other=0.0).to(acc)
    b = tl.load(p + H, mask=mask, other=0.0).to(acc)
    c = tl.load(p + 2 * H, mask=mask, other=0.0).to(acc)
    d = tl.load(p + 3 * H, mask=mask, other=0.0).to(acc)
    return a, b, c, d


@triton.jit
def store_gates(p, H, mask, a, b, c, d):
    """`load_gates`' inverse: a, b, c, d to the four gate columns at p, in p's dtype."""
    dt = p.dtype.element_ty
    tl.store(p, a.to(dt), mask=mask)
    tl.store(p + H, b.to(dt), mask=mask)
    tl.store(p + 2 * H, c.to(dt), mask=mask)
    tl.store(p + 3 * H, d.to(dt), mask=mask)


@triton.jit
def lstm_cell(zi, zf, zg, zo, c_prev):
    """The gate math of one step: pre-activations and c_{t-1} -> i, f, g, o, c_t, h_t."""
    i = tl.sigmoid(zi)
    f = tl.sigmoid(zf)
    g = tanh(zg)
    o = tl.sigmoid(zo)
    c = f * c_prev + i * g  # the conveyor belt: keep f of the old memory, add i of the new content
    h = o * tanh(c)
    return i, f, g, o, c, h


@triton.jit
def cells(N, H, BLOCK: tl.constexpr):
    """This program's BLOCK cells of the flattened (B, H) state: offsets, mask, b, j.
    Gate k of cell (b, j) lives at column k*H + j of row b of a (B, 4H) slab (nn.LSTM
    order i, f, g, o): consecutive j are consecutive addresses, so gate accesses coalesce."""
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    return offs, offs < N, offs // H, offs % H


@triton.jit
def dot(a, b, acc, IEEE: tl.constexpr):
    """a @ b (+ acc) accumulated in fp32, or fp64 for fp64 operands."""
    # fp32 dots default to tf32 on tensor cores; the LSTM must match fp32 nn.LSTM
    if IEEE:
        # out_dtype follows the operands: triton 3.6 refuses an fp64 accumulator under its fp32 default
        return tl.dot(a, b, acc, input_precision="ieee", out_dtype=a.dtype)
    else:
        return tl.dot(a, b, acc)


def elementwise_block(n):
    """Cells per program of a one-dimensional elementwise launch over n cells: 1024 at most;
    smaller problems get one right-sized program."""
    return max(16, min(1024, triton.next_power_of_2(n)))


def check_step(name, t, shape, dtype=None):
    """ValueError unless `t` is contiguous, of `shape` (and `dtype`, if given): a one-step
    launcher's buffers are written by raw offsets."""
    if tuple(t.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {tuple(t.shape)}")
    if dtype is not None and t.dtype != dtype:
        raise ValueError(f"{name} must be {dtype}, got {t.dtype}")
    if not t.is_contiguous():
        raise ValueError(f"{name} must be contiguous")


# triton >= 3.2 decides at decoration time whether a kernel runs in the CPU interpreter
INTERPRETED = type(tanh).__name__ == "InterpretedFunction"


# torch >= 2.8 (aten::mm.dtype): a CUDA GEMM of fp16/bf16 operands that writes its fp32
# accumulator as fp32, instead of rounding it to the operands' dtype
MIXED_GEMM = hasattr(torch.ops.aten.mm, "dtype_out") and hasattr(torch.ops.aten.addmm, "dtype_out")


def mixed_gemm(device, dtype):
    """Whether `gemm` multiplies `dtype` operands into a compute-dtype result in one call on
    `device`; elsewhere (older torch, the CPU) a GEMM operand must be upcast first."""
    return dtype == compute_dtype(dtype) or (MIXED_GEMM and device.type == "cuda")


def gemm_operand(w):
    """`w` as `gemm` wants a reused operand: unchanged where `mixed_gemm`, else upcast once
    to the compute dtype (half values are exact in fp32, so nothing is lost)."""
    return w if mixed_gemm(w.device, w.dtype) else w.to(compute_dtype(w.dtype))


def gemm(a, b, out, c=None):
    """out = c + a @ b (c broadcastable to out; c is out: accumulate in place), with a, b in
    the input dtype and out in the compute dtype: products summed in fp32 and the result,
    bias included, never rounded to fp16/bf16 (the rounding the half-precision addmm did).

    With torch's out_dtype GEMM (CUDA, torch >= 2.8) this is one cuBLAS call on the half
    operands. Without it, the operands are upcast and the GEMM runs in fp32: the same
    numbers (half products are exact in fp32), at fp32 GEMM speed and with an fp32 copy of
    each operand; on the CPU (the interpreter tests) that is the only way."""
    if a.dtype != out.dtype and not mixed_gemm(out.device, a.dtype):
        a, b = a.to(out.dtype), b.to(out.dtype)
    if a.dtype == out.dtype:
        if c is out:
            return out.addmm_(a, b)
        return torch.mm(a, b, out=out) if c is None else torch.addmm(c, a, b, out=out)
    if c is None:
        return torch.mm(a, b, out_dtype=out.dtype, out=out)
    return torch.addmm(c, a, b, out_dtype=out.dtype, out=out)


def input_projection(x_tm, w_ih, b_ih, b_hh, out=None):
    """xw = x W_ih^T + b_ih + b_hh for all T at once, in the compute dtype (fp32 for half
    inputs, biases summed in fp32 too). x_tm (T, B, I) -> (T, B, 4H), written into `out`
    (T, B, 4H, compute dtype) when given."""
    T, B, I = x_tm.shape
    cd = compute_dtype(x_tm.dtype)
    x2 = x_tm.reshape(T * B, I)  # (T*B, I)
    if out is None:
        out = torch.empty(T, B, w_ih.shape[0], dtype=cd, device=x_tm.device)
    biases = [b.to(cd) for b in (b_ih, b_hh) if b is not None]
    bias = None if not biases else biases[0] if len(biases) == 1 else biases[0] + biases[1]  # (4H,)
    gemm(x2, w_ih.t(), out.view(T * B, -1), bias)  # (T*B, 4H)
    return out  # (T, B, 4H)


def state_history(h0, c0, T, cdtype):
    """hs (T+1, B, H) in h0's dtype and cs (T+1, B, H) in `cdtype`, holding h0 / c0 in slot
    0: a forward recurrence writes h_t / c_t to slot t+1, and backward reads them all."""
    hs = h0.new_empty(T + 1, *h0.shape)
    cs = c0.new_empty(T + 1, *c0.shape, dtype=cdtype)
    hs[0].copy_(h0)
    cs[0].copy_(c0)
    return hs, cs


def run_forward(x_tm, w_ih, w_hh, b_ih, b_hh, h0, c0, cdtype, loop, graph=None, save=True):
    """The per-step paths' forward (fused, fused_gemm): the input projection of every step at once, then the
    recurrence from (h0, c0), by `loop(gates, hs, cs, w_hh)`, or by replaying `graph`, that loop captured with
    its static buffers (graphs.get_graph). Returns hs and cs (T+1, B, H) each and the gates (T, B, 4H) (None from
    a graph that need not keep them); a graph's buffers are copied where the backward keeps them (`save`), since
    the next call reuses them."""
    if graph is not None:
        input_projection(x_tm, w_ih, b_ih, b_hh, out=graph.buf.gates)
        graph.buf.hs[0].copy_(h0)
        graph.buf.cs[0].copy_(c0)
        graph.buf.w_hh.copy_(w_hh)
        graph.replay()
        hs = graph.buf.hs.clone() if save else graph.buf.hs
        cs = graph.buf.cs.clone() if save else graph.buf.cs
        return hs, cs, graph.buf.gates.clone() if save else None
    gates = input_projection(x_tm, w_ih, b_ih, b_hh)  # (T, B, 4H), compute dtype
    hs, cs = state_history(h0, c0, x_tm.shape[0], cdtype)  # (T+1, B, H) each
    loop(gates, hs, cs, w_hh)
    return hs, cs, gates


def _shape(t):
    return tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__


def prepare(fn, x, state, w_ih, w_hh, b_ih, b_hh):
    """Check the arguments of the public function named `fn` (shapes, dtypes, devices);
    return them contiguous, with (B, H) states, and whether the states came as (1, B, H)."""
    if w_ih is None or w_hh is None:
        raise ValueError(f"{fn} needs w_ih (4H, I) and w_hh (4H, H)")
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 3:
        raise ValueError(f"x must be batch-first (B, T, I), got {x.dim()}-D shape {tuple(x.shape)}")
    B, T, I = x.shape
    if B < 1 or T < 1 or I < 1:
        raise ValueError(f"x must have B, T, I >= 1, got {tuple(x.shape)}")
    if x.dtype not in FLOAT_DTYPES:
        raise ValueError(f"x dtype must be one of float16/bfloat16/float32/float64, got {x.dtype}")
    for name, w in (("w_ih", w_ih), ("w_hh", w_hh)):
        if not isinstance(w, torch.Tensor) or w.dim() != 2:
            raise ValueError(f"{name} must be a 2-D tensor (4H, ...), got {_shape(w)}")
    H = w_hh.shape[1]
    if H < 1 or tuple(w_hh.shape) != (4 * H, H):
        raise ValueError(f"w_hh must be (4H, H) (nn.LSTM's weight_hh_l0), got {tuple(w_hh.shape)}")
    if tuple(w_ih.shape) != (4 * H, I):
        raise ValueError(f"w_ih must be (4H, I) = {(4 * H, I)} for x with I={I} and H={H}, "
                         f"got {tuple(w_ih.shape)}")
    for name, b in (("b_ih", b_ih), ("b_hh", b_hh)):
        if b is not None and (not isinstance(b, torch.Tensor) or tuple(b.shape) != (4 * H,)):
            raise ValueError(f"{name} must be None or (4H,) = {(4 * H,)}, got {_shape(b)}")

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
        raise ValueError(f"{fn} runs Triton kernels: the tensors must be on a CUDA device "
                         f"(got {x.device}), or set TRITON_INTERPRET=1 before importing triton "
                         f"to run them on the CPU interpreter")

    h0 = x.new_zeros(B, H) if h0 is None else h0.reshape(B, H).contiguous()  # (B, H)
    c0 = x.new_zeros(B, H) if c0 is None else c0.reshape(B, H).contiguous()  # (B, H)
    prm = [None if t is None else t.contiguous() for t in (w_ih, w_hh, b_ih, b_hh)]
    return (x.contiguous(), h0, c0, *prm), three_d


def as_given(h_T, c_T, three_d):
    """The final states in the shape style the initial ones came in: nn.LSTM's (1, B, H)
    if they were given so, else (B, H)."""
    return (h_T.unsqueeze(0), c_T.unsqueeze(0)) if three_d else (h_T, c_T)
