"""Per-step LSTM with the recurrent GEMM inside the Triton kernel: `lstm_fused_gemm`.

fused.py's step is two launches: a cuBLAS GEMM (gates += h_{t-1} W_hh^T) and a gate
kernel. Here a step is ONE launch (`lstm_gemm_fwd_kernel`): each program computes the
pre-activations of BLOCK_B rows x BLOCK_H hidden units, four per-gate dots over K = H in
BLOCK_K chunks, and applies the gate math, the cell update and the activation store to them
as the GEMM's epilogue, so the pre-activations never leave the chip.

Backward, per step in reverse, is ONE launch too (`lstm_gemm_bwd_kernel`): dL/dh_{t-1} =
dL/d(pre-activations)_t W_hh is a GEMM over K = 4H whose operand is the pointwise backward
of step t, so each program computes that pointwise part for each K chunk as the GEMM's
prologue, from the saved activations and c. Every program needs every chunk, so the
pointwise work is repeated by the H / BLOCK_H programs of a batch block; each chunk's
dL/d(pre-activations) and dL/dc_{t-1} are stored once, by the program that owns those
units. dh and dc are read by all programs of a step and written for the next: two
buffers each, swapped every step. The weight, bias and input gradients are backward.py's
`input_and_weight_grads`.

With `pdl=True` (triton >= 3.6 on sm_90) each step is launched as a programmatic dependent
launch: a program loads its first W_hh chunk, then waits (`gdc_wait`) for the previous
step's grid to finish, so the next step's launch and weight loads overlap this one's tail.
Needs no co-residency of programs: each launch is an ordinary grid.

Precision is fused.py's (common.py): operands in the input dtype, accumulation, gate math,
c, dh and dc in the compute dtype; the GEMM operands h_t and dL/d(pre-activations) in the
input dtype. On CUDA both time loops are replayed from CUDA graphs (graphs.py).

Chain: kernels -> one-step launchers (`lstm_gemm_fwd`, `lstm_gemm_bwd`) -> time loops ->
`LSTMFusedGemmFunction` -> `lstm_fused_gemm`.
"""

from collections import namedtuple
from functools import partial

import torch
import triton
import triton.language as tl

from . import graphs
from .backward import cell_backward, input_and_weight_grads
from .common import (INTERPRETED, as_given, check_step, compute_dtype, dot, load_gates, lstm_cell, prepare,
                     run_forward, store_gates)

try:  # triton >= 3.4: programmatic dependent launch (PTX griddepcontrol)
    from triton.language.extra.cuda import gdc_launch_dependents, gdc_wait
except ImportError:  # pragma: no cover - older triton: pdl is refused by gemm_config
    gdc_launch_dependents = gdc_wait = None


class GemmConfig(namedtuple("GemmConfig", "block_b block_h block_k num_warps num_stages pdl")):
    """Launch configuration of both step kernels: BLOCK_B rows x BLOCK_H hidden units per
    program, K in BLOCK_K chunks, num_warps, num_stages (the K loop's software pipeline),
    programmatic dependent launch."""


def gemm_config(B, H, dtype, device, block_h=None, block_k=None, num_warps=None, pdl=None, num_stages=None):
    """The step kernels' configuration for (B, H) in `dtype`; the arguments override it.
    block_h and block_k are powers of two >= 16 (a tensor-core dot's minimum). The defaults
    are the ones that compile for sm_90 without spilling (kernels/NOTES.md), not timed ones."""
    block_b = 16  # the dot's minimum M; smaller batches are masked
    if block_h is None:
        block_h = 32 if H > 512 else 16
    if block_k is None:
        block_k = 32  # 64 spills in the backward: its prologue holds nine (BLOCK_B, BLOCK_K) tiles
    for name, v in (("block_h", block_h), ("block_k", block_k)):
        if v < 16 or v & (v - 1):
            raise ValueError(f"{name} must be a power of two >= 16, got {v}")
    if num_warps is None:
        num_warps = 8 if block_h >= 32 else 4
    if num_stages is None:
        num_stages = 2 if dtype in (torch.float16, torch.bfloat16) else 1
    on_gpu = device.type == "cuda" and not INTERPRETED
    pdl = bool(pdl) and on_gpu
    if pdl and gdc_wait is None:
        raise ValueError(f"pdl=True needs programmatic dependent launch, which triton {triton.__version__} "
                         f"does not offer: use pdl=False")
    return GemmConfig(block_b, block_h, block_k, num_warps, num_stages, pdl)


@triton.jit
def _w_tile(w_ptr, gate, rows, mrow, cols, mcol, H, TRANS: tl.constexpr):
    """A tile of gate `gate`'s rows of W_hh (4H, H). TRANS: [k, j] = W[gate*H + j, k] with k in
    rows, j in cols (the forward's h W^T); else [u, j] = W[gate*H + u, j] (the backward's dg W)."""
    if TRANS:
        p = w_ptr + (gate * H + cols[None, :]) * H + rows[:, None]
    else:
        p = w_ptr + (gate * H + rows[:, None]) * H + cols[None, :]
    return tl.load(p, mask=mrow[:, None] & mcol[None, :], other=0.0)


@triton.jit
def _w_tiles(w_ptr, rows, mrow, cols, mcol, H, TRANS: tl.constexpr):
    """The four gates' tiles of W_hh (i, f, g, o), as _w_tile lays each out."""
    return (_w_tile(w_ptr, 0, rows, mrow, cols, mcol, H, TRANS), _w_tile(w_ptr, 1, rows, mrow, cols, mcol, H, TRANS),
            _w_tile(w_ptr, 2, rows, mrow, cols, mcol, H, TRANS), _w_tile(w_ptr, 3, rows, mrow, cols, mcol, H, TRANS))


@triton.jit
def _fwd_chunk(zi, zf, zg, zo, h_ptr, rb, mb, rk, H, wi, wf, wg, wo, IEEE: tl.constexpr):
    """The four pre-activation tiles plus one K chunk: h_{t-1}[rb, rk] @ W_gate^T[rk, .]."""
    h = tl.load(h_ptr + rb[:, None] * H + rk[None, :], mask=mb[:, None] & (rk < H)[None, :], other=0.0)
    return dot(h, wi, zi, IEEE), dot(h, wf, zf, IEEE), dot(h, wg, zg, IEEE), dot(h, wo, zo, IEEE)


@triton.jit
def lstm_gemm_fwd_kernel(
    g_ptr,       # (B, 4H) compute dtype: in x_t W_ih^T + b; out: activations i, f, g, o
    h_prev_ptr,  # (B, H) h_{t-1}, input dtype
    w_ptr,       # (4H, H) W_hh, input dtype (nn.LSTM layout)
    c_prev_ptr,  # (B, H) c_{t-1}, compute dtype
    h_ptr,       # (B, H) out: h_t, input dtype
    c_ptr,       # (B, H) out: c_t, compute dtype
    B, H,
    BLOCK_B: tl.constexpr, BLOCK_H: tl.constexpr, BLOCK_K: tl.constexpr,
    IEEE: tl.constexpr, PDL: tl.constexpr,
):
    rb = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)  # batch rows
    mb = rb < B
    rj = tl.program_id(1) * BLOCK_H + tl.arange(0, BLOCK_H)  # hidden units
    mj = rj < H
    acc = c_ptr.dtype.element_ty  # the compute dtype
    rk = tl.arange(0, BLOCK_K)
    # the first K chunk of W does not depend on the previous step: with PDL it loads while
    # that step finishes
    wi, wf, wg, wo = _w_tiles(w_ptr, rk, rk < H, rj, mj, H, True)
    if PDL:
        gdc_wait()  # the previous step's h_t, c_t are complete and visible
        gdc_launch_dependents()  # the next step may start loading its weights
    z0 = tl.zeros((BLOCK_B, BLOCK_H), acc)
    zi, zf, zg, zo = _fwd_chunk(z0, z0, z0, z0, h_prev_ptr, rb, mb, rk, H, wi, wf, wg, wo, IEEE)
    for k0 in range(BLOCK_K, H, BLOCK_K):
        rk = k0 + tl.arange(0, BLOCK_K)
        wi, wf, wg, wo = _w_tiles(w_ptr, rk, rk < H, rj, mj, H, True)
        zi, zf, zg, zo = _fwd_chunk(zi, zf, zg, zo, h_prev_ptr, rb, mb, rk, H, wi, wf, wg, wo, IEEE)

    # epilogue: the gate math on the tile, as fused.py's gate kernel does it
    m = mb[:, None] & mj[None, :]
    s_off = rb[:, None] * H + rj[None, :]
    gp = g_ptr + rb[:, None] * (4 * H) + rj[None, :]
    xi, xf, xg, xo = load_gates(gp, H, m, acc)
    c_prev = tl.load(c_prev_ptr + s_off, mask=m, other=0.0).to(acc)
    i, f, g, o, c, h = lstm_cell(xi + zi.to(acc), xf + zf.to(acc), xg + zg.to(acc), xo + zo.to(acc), c_prev)
    tl.store(c_ptr + s_off, c, mask=m)
    tl.store(h_ptr + s_off, h.to(h_ptr.dtype.element_ty), mask=m)
    store_gates(gp, H, m, i, f, g, o)  # what backward reads, in place of the pre-activations


@triton.jit
def _bwd_step_chunk(dhp, u0, rb, mb, rj, mj, j0, g_ptr, c_prev_ptr, c_ptr, dho_ptr, stride_dho, dh_ptr, dc_ptr,
                    dc_prev_ptr, dg_ptr, H, wi, wf, wg, wo, HAS_DHO: tl.constexpr, BLOCK_K: tl.constexpr,
                    BLOCK_H: tl.constexpr, IEEE: tl.constexpr):
    """Prologue, then one K chunk (units u0 .. u0+BLOCK_K, all four gates) of dL/dh_{t-1} = dg_t W_hh."""
    ru = u0 + tl.arange(0, BLOCK_K)
    m = mb[:, None] & (ru < H)[None, :]
    off = rb[:, None] * H + ru[None, :]
    gp = rb[:, None] * (4 * H) + ru[None, :]
    acc = dc_ptr.dtype.element_ty
    i, f, g, o = load_gates(g_ptr + gp, H, m, acc)
    c_prev = tl.load(c_prev_ptr + off, mask=m, other=0.0).to(acc)
    c = tl.load(c_ptr + off, mask=m, other=0.0).to(acc)
    dh = tl.load(dh_ptr + off, mask=m, other=0.0).to(acc)
    if HAS_DHO:
        # h_t feeds both the output sequence and the next step: the two gradients add
        dh += tl.load(dho_ptr + rb[:, None] * stride_dho + ru[None, :], mask=m, other=0.0).to(acc)
    dc = tl.load(dc_ptr + off, mask=m, other=0.0).to(acc)
    d_i, d_f, d_g, d_o, dc = cell_backward(i, f, g, o, c_prev, c, dh, dc)
    dt = dg_ptr.dtype.element_ty  # the GEMM operand's dtype: the input dtype
    d_i, d_f, d_g, d_o = d_i.to(dt), d_f.to(dt), d_g.to(dt), d_o.to(dt)
    # every program of the batch block computes this chunk; the one owning its units stores it
    own = m & ((ru >= j0) & (ru < j0 + BLOCK_H))[None, :]
    store_gates(dg_ptr + gp, H, own, d_i, d_f, d_g, d_o)
    tl.store(dc_prev_ptr + off, dc * f, mask=own)  # c_t = f c_{t-1} + ...: dc_{t-1} = dc_t f
    dhp = dot(d_i, wi, dhp, IEEE)
    dhp = dot(d_f, wf, dhp, IEEE)
    dhp = dot(d_g, wg, dhp, IEEE)
    return dot(d_o, wo, dhp, IEEE)


@triton.jit
def lstm_gemm_bwd_kernel(
    g_ptr,        # (B, 4H) activations i, f, g, o saved by the forward, compute dtype
    c_prev_ptr,   # (B, H) c_{t-1}, compute dtype
    c_ptr,        # (B, H) c_t, compute dtype
    dho_ptr,      # (B, H) rows stride_dho apart: dL/dout_t from above (unused if not HAS_DHO)
    stride_dho,
    dh_ptr,       # (B, H) compute dtype: dL/dh_t carried back from step t+1 (read by every program)
    dc_ptr,       # (B, H) compute dtype: dL/dc_t (read by every program)
    dh_prev_ptr,  # (B, H) out: dL/dh_{t-1}, compute dtype
    dc_prev_ptr,  # (B, H) out: dL/dc_{t-1}, compute dtype
    dg_ptr,       # (B, 4H) out: dL/d(pre-activations), input dtype
    w_ptr,        # (4H, H) W_hh, input dtype
    B, H,
    HAS_DHO: tl.constexpr, BLOCK_B: tl.constexpr, BLOCK_H: tl.constexpr, BLOCK_K: tl.constexpr,
    IEEE: tl.constexpr, PDL: tl.constexpr,
):
    rb = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)
    mb = rb < B
    j0 = tl.program_id(1) * BLOCK_H
    rj = j0 + tl.arange(0, BLOCK_H)  # the units of dL/dh_{t-1} this program sums
    mj = rj < H
    acc = dc_ptr.dtype.element_ty
    ru = tl.arange(0, BLOCK_K)
    wi, wf, wg, wo = _w_tiles(w_ptr, ru, ru < H, rj, mj, H, False)
    if PDL:
        gdc_wait()
        gdc_launch_dependents()
    dhp = _bwd_step_chunk(tl.zeros((BLOCK_B, BLOCK_H), acc), 0, rb, mb, rj, mj, j0, g_ptr, c_prev_ptr, c_ptr,
                          dho_ptr, stride_dho, dh_ptr, dc_ptr, dc_prev_ptr, dg_ptr, H, wi, wf, wg, wo,
                          HAS_DHO, BLOCK_K, BLOCK_H, IEEE)
    for u0 in range(BLOCK_K, H, BLOCK_K):
        ru = u0 + tl.arange(0, BLOCK_K)
        wi, wf, wg, wo = _w_tiles(w_ptr, ru, ru < H, rj, mj, H, False)
        dhp = _bwd_step_chunk(dhp, u0, rb, mb, rj, mj, j0, g_ptr, c_prev_ptr, c_ptr, dho_ptr, stride_dho, dh_ptr,
                              dc_ptr, dc_prev_ptr, dg_ptr, H, wi, wf, wg, wo, HAS_DHO, BLOCK_K, BLOCK_H, IEEE)
    m = mb[:, None] & mj[None, :]
    tl.store(dh_prev_ptr + rb[:, None] * H + rj[None, :], dhp.to(dh_prev_ptr.dtype.element_ty), mask=m)


def lstm_gemm_fwd(gates, h_prev, w_hh, c_prev, h_out, c_out, cfg):
    """One forward step in one launch. gates (B, 4H), compute dtype: x_t W_ih^T + b on entry,
    the activations (i, f, g, o) on exit; h_prev (B, H) and w_hh (4H, H) in the input dtype;
    c_prev (B, H) in the compute dtype; h_out, c_out (B, H) receive h_t, c_t; cfg a
    `gemm_config`. Returns (h_out, c_out).

    Example (the CPU interpreter: TRITON_INTERPRET=1 before triton is imported)::

        >>> B, H = 2, 24
        >>> cfg = gemm_config(B, H, torch.float32, torch.device("cpu"))
        >>> gates, w_hh = torch.randn(B, 4 * H), torch.randn(4 * H, H)
        >>> h, c = lstm_gemm_fwd(gates, torch.randn(B, H), w_hh, torch.zeros(B, H),
        ...                      torch.empty(B, H), torch.empty(B, H), cfg)
        >>> h.shape, bool((gates[:, :48] > 0).all())  # gates now holds the activations (i, f in (0, 1))
        (torch.Size([2, 24]), True)
    """
    B, H4 = gates.shape
    H = H4 // 4
    check_step("gates", gates, (B, 4 * H))
    for name, t in (("h_prev", h_prev), ("c_prev", c_prev), ("h_out", h_out), ("c_out", c_out)):
        check_step(name, t, (B, H))
    check_step("w_hh", w_hh, (4 * H, H))
    grid = (triton.cdiv(B, cfg.block_b), triton.cdiv(H, cfg.block_h))
    opts = {"launch_pdl": True} if cfg.pdl else {}
    lstm_gemm_fwd_kernel[grid](gates, h_prev, w_hh, c_prev, h_out, c_out, B, H,
                               BLOCK_B=cfg.block_b, BLOCK_H=cfg.block_h, BLOCK_K=cfg.block_k,
                               IEEE=w_hh.dtype in (torch.float32, torch.float64), PDL=cfg.pdl,
                               num_warps=cfg.num_warps, num_stages=cfg.num_stages, **opts)
    return h_out, c_out


def lstm_gemm_bwd(gates, c_prev, c, dh, dc, dh_prev, dc_prev, dgates, w_hh, cfg, dh_out=None):
    """One backward step in one launch. gates (B, 4H): the activations the forward saved;
    c_prev, c: c_{t-1}, c_t; dh, dc (B, H): dL/dh_t through the recurrence and dL/dc_t, read
    only; dh_out (B, H), optional, any row stride: dL/dout_t; dh_prev, dc_prev (B, H) receive
    dL/dh_{t-1} and dL/dc_{t-1} (other buffers than dh, dc: every program reads all of
    those); dgates (B, 4H), input dtype, receives dL/d(pre-activations). Returns
    (dgates, dh_prev, dc_prev).

    Example (the CPU interpreter)::

        >>> B, H = 2, 24
        >>> cfg = gemm_config(B, H, torch.float32, torch.device("cpu"))
        >>> act, w_hh = torch.rand(B, 4 * H), torch.randn(4 * H, H)
        >>> c_prev, c, dh, dc = (torch.randn(B, H) for _ in range(4))
        >>> dg, dh_prev, dc_prev = lstm_gemm_bwd(act, c_prev, c, dh, dc, torch.empty(B, H),
        ...                                      torch.empty(B, H), torch.empty(B, 4 * H), w_hh, cfg)
        >>> torch.allclose(dh_prev, dg @ w_hh, atol=1e-5)
        True
    """
    B, H4 = gates.shape
    H = H4 // 4
    check_step("gates", gates, (B, 4 * H))
    for name, t in (("c_prev", c_prev), ("c", c), ("dh", dh), ("dc", dc), ("dh_prev", dh_prev),
                    ("dc_prev", dc_prev)):
        check_step(name, t, (B, H))
    check_step("dgates", dgates, (B, 4 * H))
    check_step("w_hh", w_hh, (4 * H, H))
    if dh_out is not None and (tuple(dh_out.shape) != (B, H) or dh_out.stride(1) != 1):
        raise ValueError(f"dh_out must be (B, H) = {(B, H)} with unit column stride")
    grid = (triton.cdiv(B, cfg.block_b), triton.cdiv(H, cfg.block_h))
    opts = {"launch_pdl": True} if cfg.pdl else {}
    lstm_gemm_bwd_kernel[grid](gates, c_prev, c, dh if dh_out is None else dh_out,
                               0 if dh_out is None else dh_out.stride(0), dh, dc, dh_prev, dc_prev, dgates, w_hh,
                               B, H, HAS_DHO=dh_out is not None, BLOCK_B=cfg.block_b, BLOCK_H=cfg.block_h,
                               BLOCK_K=cfg.block_k, IEEE=w_hh.dtype in (torch.float32, torch.float64),
                               PDL=cfg.pdl, num_warps=cfg.num_warps, num_stages=cfg.num_stages, **opts)
    return dgates, dh_prev, dc_prev


def gemm_forward_loop(gates, hs, cs, w_hh, cfg):
    """gates (T, B, 4H), compute dtype: xw on entry, activations on exit; hs / cs (T+1, B, H)
    with h0 / c0 in slot 0 receive h_t / c_t in slot t+1; w_hh (4H, H) in the input dtype."""
    for t in range(gates.shape[0]):
        lstm_gemm_fwd(gates[t], hs[t], w_hh, cs[t], hs[t + 1], cs[t + 1], cfg)


def gemm_backward_loop(gates, cs, dout, dh, dc, dgates, w_hh, cfg):
    """Reverse time. dh, dc (2, B, H), compute dtype: slot 0 holds dL/dh_T, dL/dc_T on entry;
    the slots swap every step and slot T % 2 holds dL/dh0, dL/dc0 on exit. dout (B, T, H);
    dgates (T, B, 4H) is filled."""
    T = gates.shape[0]
    for t in range(T - 1, -1, -1):
        src = (T - 1 - t) % 2
        lstm_gemm_bwd(gates[t], cs[t], cs[t + 1], dh[src], dc[src], dh[1 - src], dc[1 - src], dgates[t],
                      w_hh, cfg, dh_out=dout[:, t])


def _graph(loop, T, B, H, dtype, cdtype, device, cfg):
    """The captured loop for this shape and configuration, with its static buffers."""
    def buffers():
        z = partial(torch.zeros, dtype=dtype, device=device)
        bufs = dict(gates=z(T, B, 4 * H, dtype=cdtype), cs=z(T + 1, B, H, dtype=cdtype), w_hh=z(4 * H, H))
        if loop is gemm_forward_loop:
            bufs.update(hs=z(T + 1, B, H))
        else:
            bufs.update(dout=z(B, T, H), dh=z(2, B, H, dtype=cdtype), dc=z(2, B, H, dtype=cdtype),
                        dgates=z(T, B, 4 * H))
        return bufs

    return graphs.get_graph((loop.__name__, T, B, H, dtype, *cfg), device, buffers, partial(loop, cfg=cfg))


class LSTMFusedGemmFunction(torch.autograd.Function):
    """Inputs already validated by `lstm_fused_gemm`: x (B, T, I), h0/c0 (B, H), all contiguous."""

    @staticmethod
    def forward(ctx, x, h0, c0, w_ih, w_hh, b_ih, b_hh, cfg, use_cuda_graph):
        B, T, I = x.shape
        H = w_hh.shape[1]
        dtype, cdtype = x.dtype, compute_dtype(x.dtype)
        x_tm = x.transpose(0, 1).contiguous()  # (T, B, I): each step's rows contiguous
        save = any(ctx.needs_input_grad[:7])
        graph = (_graph(gemm_forward_loop, T, B, H, dtype, cdtype, x.device, cfg)
                 if graphs.graphs_enabled(x.device, use_cuda_graph) else None)
        hs, cs, gates = run_forward(x_tm, w_ih, w_hh, b_ih, b_hh, h0, c0, cdtype,
                                    partial(gemm_forward_loop, cfg=cfg), graph, save)
        out = hs[1:].transpose(0, 1).contiguous()  # (B, T, H) batch-first, like nn.LSTM
        if save:
            ctx.save_for_backward(x_tm, hs, cs, gates, w_ih, w_hh)
        ctx.cfg, ctx.use_cuda_graph = cfg, use_cuda_graph
        return out, hs[T].clone(), cs[T].to(dtype, copy=True)  # copies: hs, cs may be graph buffers

    @staticmethod
    def backward(ctx, dout, dh_T, dc_T):
        x_tm, hs, cs, gates, w_ih, w_hh = ctx.saved_tensors
        T, B, _ = x_tm.shape
        H = w_hh.shape[1]
        dtype, cdtype = w_hh.dtype, cs.dtype
        needs = ctx.needs_input_grad
        dout = dout.to(dtype).contiguous()  # (B, T, H); materialized grads may be expanded zeros
        if graphs.graphs_enabled(gates.device, ctx.use_cuda_graph):
            g = _graph(gemm_backward_loop, T, B, H, dtype, cdtype, gates.device, ctx.cfg)
            for buf, val in ((g.buf.gates, gates), (g.buf.cs, cs), (g.buf.dout, dout), (g.buf.w_hh, w_hh)):
                buf.copy_(val)
            dh, dc, dgates = g.buf.dh, g.buf.dc, g.buf.dgates
            dh[0].copy_(dh_T.reshape(B, H))
            dc[0].copy_(dc_T.reshape(B, H))
            g.replay()
        else:
            dh = torch.empty(2, B, H, dtype=cdtype, device=gates.device)  # (2, B, H): read one, write the other
            dc = torch.empty_like(dh)
            dh[0].copy_(dh_T.reshape(B, H))
            dc[0].copy_(dc_T.reshape(B, H))
            dgates = torch.empty(gates.shape, dtype=dtype, device=gates.device)  # (T, B, 4H)
            gemm_backward_loop(gates, cs, dout, dh, dc, dgates, w_hh, ctx.cfg)
        dx, dw_ih, dw_hh, db = input_and_weight_grads(dgates, x_tm, hs, w_ih, needs, cdtype)
        dh0, dc0 = dh[T % 2], dc[T % 2]
        return (dx, dh0.to(dtype, copy=True) if needs[1] else None, dc0.to(dtype, copy=True) if needs[2] else None,
                dw_ih, dw_hh, db if needs[5] else None, db if needs[6] else None, None, None)


def lstm_fused_gemm(x, state=None, w_ih=None, w_hh=None, b_ih=None, b_hh=None, *, block_h=None, block_k=None,
                    num_warps=None, num_stages=None, pdl=None, use_cuda_graph=None):
    """Single-layer LSTM, one Triton launch per step forward and one per step backward, the
    recurrent GEMM inside it: `lstm_fused`'s interface, conventions and result.

    Args:
        x, state, w_ih, w_hh, b_ih, b_hh: as `lstm_fused` (nn.LSTM's layout, batch first).
        block_h, block_k, num_warps, num_stages: the step kernels' tiles (powers of two
            >= 16), warps and pipeline stages; None = `gemm_config`'s choice.
        pdl: launch each step as a programmatic dependent launch (sm_90, triton >= 3.4);
            None = off. Ignored in the interpreter.
        use_cuda_graph: as `lstm_fused`.

    Examples::

        >>> import torch
        >>> from kernels import lstm_fused_gemm
        >>> lstm = torch.nn.LSTM(32, 768, batch_first=True, device="cuda", dtype=torch.float16)
        >>> x = torch.randn(16, 1024, 32, device="cuda", dtype=torch.float16, requires_grad=True)
        >>> out, (h, c) = lstm_fused_gemm(x, None, lstm.weight_ih_l0, lstm.weight_hh_l0,
        ...                               lstm.bias_ih_l0, lstm.bias_hh_l0, block_h=32)
        >>> out.shape
        torch.Size([16, 1024, 768])
        >>> out.sum().backward()
    """
    (x, h0, c0, w_ih, w_hh, b_ih, b_hh), three_d = prepare("lstm_fused_gemm", x, state, w_ih, w_hh, b_ih, b_hh)
    cfg = gemm_config(x.shape[0], w_hh.shape[1], x.dtype, x.device, block_h, block_k, num_warps, pdl, num_stages)
    out, h_T, c_T = LSTMFusedGemmFunction.apply(x, h0, c0, w_ih, w_hh, b_ih, b_hh, cfg, use_cuda_graph)
    return out, as_given(h_T, c_T, three_d)
