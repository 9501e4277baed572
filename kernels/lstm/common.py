"""What every LSTM path here shares: the gate math, the dtype rule, the input checks, the input projection.

This is the bottom layer of kernels/lstm: it imports torch and triton only, never a
sibling module. Everything that launches a kernel builds on it:

    common  <-  graphs  <-  fused  <-  persistent
    common  <-  naive (the dtype rule only)

Precision: GEMMs run in the input dtype (fp32 accumulate inside cuBLAS / tl.dot); the
gate math and the cell state c run in `compute_dtype` (fp32, fp64 for fp64 inputs).
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


# triton >= 3.2 decides at decoration time whether a kernel runs in the CPU interpreter
INTERPRETED = type(tanh).__name__ == "InterpretedFunction"


def input_projection(x_tm, w_ih, b_ih, b_hh, out=None):
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


def state_history(h0, c0, T, cdtype):
    """hs (T+1, B, H) in h0's dtype and cs (T+1, B, H) in `cdtype`, holding h0 / c0 in slot
    0: a forward recurrence writes h_t / c_t to slot t+1, and backward reads them all."""
    hs = h0.new_empty(T + 1, *h0.shape)
    cs = c0.new_empty(T + 1, *c0.shape, dtype=cdtype)
    hs[0].copy_(h0)
    cs[0].copy_(c0)
    return hs, cs


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
