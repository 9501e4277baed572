"""Per-step fused-gate LSTM in Triton: `lstm_fused`, forward and backward over time.

One LSTM layer, nn.LSTM conventions, split the way cuDNN's non-persistent path splits it:

  * the input projection for all T steps is ONE GEMM before the loop (`common.input_projection`);
  * each step is ONE GEMM, gates_t = xw_t + h_{t-1} W_hh^T (cuBLAS addmm, in place, into
    the compute dtype: `common.gemm`; see common.py for what is kept in fp32), plus
    ONE fused Triton kernel (`lstm_fused_fwd_kernel`) that applies the four nonlinearities,
    updates c and h, and overwrites the pre-activations with the activations, which is
    all backward needs;
  * backward is backward.py's `recurrent_backward` (shared with the persistent forward):
    its own reverse loop of one fused kernel and one GEMM per step, then the weight
    gradients as a few GEMMs over all T*B rows.

On CUDA both time loops are replayed from CUDA graphs (graphs.py).

Chain: kernel -> one-step launcher (`lstm_fused_fwd`) -> `forward_loop` ->
`LSTMFusedFunction` -> `lstm_fused`. fused_gemm.py is the same path with the step's GEMM
inside the Triton kernel.
"""

from functools import partial

import torch
import triton
import triton.language as tl

from . import graphs
from .backward import recurrent_backward
from .common import (as_given, cells, check_step, compute_dtype, elementwise_block, gemm, gemm_operand, load_gates,
                     lstm_cell, mixed_gemm, prepare, run_forward, store_gates)


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
    offs, mask, b, j = cells(N, H, BLOCK)
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


def lstm_fused_fwd(gates, c_prev, h_out=None, c_out=None):
    """One forward step. gates (B, 4H) holds x_t W_ih^T + h_{t-1} W_hh^T + b and is
    overwritten with the activations (i, f, g, o); c_prev (B, H) is the cell state in
    the compute dtype (fp32, or fp64 for fp64 gates). h_out (B, H), any float dtype
    (default gates'), receives h_t. Returns (h_t, c_t).

    Example (the CPU interpreter: TRITON_INTERPRET=1 before triton is imported)::

        >>> gates = torch.randn(2, 4 * 3)          # (B, 4H) pre-activations, overwritten
        >>> h, c = lstm_fused_fwd(gates, torch.zeros(2, 3))
        >>> h.shape, bool((gates[:, :6] > 0).all())  # gates now holds the activations (i, f in (0, 1))
        (torch.Size([2, 3]), True)
    """
    B, H4 = gates.shape
    H = H4 // 4
    check_step("gates", gates, (B, 4 * H))
    check_step("c_prev", c_prev, (B, H))
    if h_out is None:
        h_out = torch.empty(B, H, dtype=gates.dtype, device=gates.device)
    if c_out is None:
        c_out = torch.empty_like(c_prev)
    check_step("h_out", h_out, (B, H))
    check_step("c_out", c_out, (B, H), c_prev.dtype)
    N = B * H
    BLOCK = elementwise_block(N)
    lstm_fused_fwd_kernel[(triton.cdiv(N, BLOCK),)](gates, c_prev, h_out, c_out, N, H, BLOCK=BLOCK, num_warps=4)
    return h_out, c_out


def forward_loop(gates, hs, cs, w_hh):
    """gates (T, B, 4H), compute dtype: xw on entry, activations on exit; hs (T+1, B, H)
    and cs (T+1, B, H) hold h0/c0 in slot 0 and receive h_t/c_t in slot t+1; w_hh as
    `common.gemm_operand` gives it. Run eagerly, or captured once per shape and replayed."""
    T = gates.shape[0]
    w_hh_t = w_hh.t()  # (H, 4H) view, no copy: cuBLAS reads it transposed
    for t in range(T):
        gemm(hs[t], w_hh_t, gates[t], c=gates[t])  # (B, 4H) += (B, H) @ (H, 4H)
        lstm_fused_fwd(gates[t], cs[t], hs[t + 1], cs[t + 1])


def _forward_graph(T, B, H, dtype, cdtype, device):
    """The captured `forward_loop` for this shape, with its static buffers."""
    w_dtype = dtype if mixed_gemm(device, dtype) else cdtype  # what gemm_operand(w_hh) gives

    def buffers():
        z = partial(torch.zeros, dtype=dtype, device=device)
        return dict(gates=z(T, B, 4 * H, dtype=cdtype), cs=z(T + 1, B, H, dtype=cdtype),
                    w_hh=z(4 * H, H, dtype=w_dtype), hs=z(T + 1, B, H))

    return graphs.get_graph(("forward_loop", T, B, H, dtype, *graphs.matmul_flags()), device, buffers,
                            forward_loop)


class LSTMFusedFunction(torch.autograd.Function):
    """Inputs already validated by `lstm_fused`: x (B, T, I), h0/c0 (B, H), all contiguous."""

    @staticmethod
    def forward(ctx, x, h0, c0, w_ih, w_hh, b_ih, b_hh, use_cuda_graph):
        B, T, I = x.shape
        H = w_hh.shape[1]
        dtype, cdtype = x.dtype, compute_dtype(x.dtype)
        x_tm = x.transpose(0, 1).contiguous()  # (T, B, I): each step's rows contiguous
        save = any(ctx.needs_input_grad[:7])

        graph = _forward_graph(T, B, H, dtype, cdtype, x.device) if graphs.graphs_enabled(x.device, use_cuda_graph) \
            else None
        hs, cs, gates = run_forward(x_tm, w_ih, w_hh, b_ih, b_hh, h0, c0, cdtype,
                                    lambda g, h, c, w: forward_loop(g, h, c, gemm_operand(w)), graph, save)

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

    Examples::

        >>> import torch
        >>> from kernels import lstm_fused
        >>> lstm = torch.nn.LSTM(32, 64, batch_first=True, device="cuda", dtype=torch.float16)
        >>> x = torch.randn(16, 100, 32, device="cuda", dtype=torch.float16, requires_grad=True)
        >>> out, (h, c) = lstm_fused(x, None, lstm.weight_ih_l0, lstm.weight_hh_l0,
        ...                          lstm.bias_ih_l0, lstm.bias_hh_l0)
        >>> out.shape, h.shape                      # nn.LSTM's out and h_n[0]
        (torch.Size([16, 100, 64]), torch.Size([16, 64]))
        >>> out.sum().backward()                    # grads reach x and the nn.LSTM parameters
    """
    (x, h0, c0, w_ih, w_hh, b_ih, b_hh), three_d = prepare("lstm_fused", x, state, w_ih, w_hh, b_ih, b_hh)
    out, h_T, c_T = LSTMFusedFunction.apply(x, h0, c0, w_ih, w_hh, b_ih, b_hh, use_cuda_graph)
    return out, as_given(h_T, c_T, three_d)
