"""Persistent LSTM forward: the whole time loop inside one Triton launch, W_hh on chip.

The per-step path (fused.py) pays one GEMM launch and one kernel launch per step and
re-reads W_hh from L2 every step. Here each program loads its slice of W_hh once,
keeps it on chip for all T steps, and loops over time itself. Two layouts:

* barrier-free (``n_h == 1``): one program per slice of BLOCK_B = 16 batch rows holds ALL
  of W_hh (4 x H x H) and the full state of its rows, so programs never talk to each other.
  On a GPU this covers 4*HP*HP*bytes <= 128 KiB, HP = next power of two >= H:
  H <= 128 for fp16/bf16, H <= 64 for fp32, any B. In the CPU interpreter (no size limit
  that matters) it is used for every H; it is the path the interpreter tests check.
* grid barrier (``n_h > 1``, GPU only): programs split the hidden units into slices of
  BLOCK_H = 16 (all four gates of those units, W slice 4 x HP x 16 on chip) and each
  step ends with an atomic arrive-and-spin barrier across all programs, after which
  every program reads the full h_t back from global memory (L2). Triton has no grid
  sync, and a spin barrier is only safe when every program is resident at once, so the
  launcher refuses grids larger than the SM count. Covers 4*HP*16*bytes <= 128 KiB
  (H <= 1024 for fp16/bf16, H <= 512 for fp32) while cdiv(B, BLOCK_B) * cdiv(H, 16)
  programs fit on the SMs with a (BLOCK_B x HP) h tile of at most 16K elements
  (BLOCK_B in 16, 32, 64). On a 132-SM H100 that is, for fp16/bf16: H = 256: B <= 512;
  H = 384: B <= 160; H = 512: B <= 128; H = 768 or 1024: B <= 32; for fp32: H = 128:
  B <= 1024; H = 256: B <= 512; H = 512: B <= 128 (other H: `persistent_config` decides).
  The CPU interpreter runs programs one after another, so a spin-wait would hang
  there: this path is never taken there (the GPU tests check it).

Shapes outside these bounds raise ValueError (use `lstm_fused`).

Backward: the kernel is forward-only. When gradients are needed it also saves the gate
activations and the cell states, and `lstm_persistent`'s backward is fused.py's
`recurrent_backward` (one fused kernel + one GEMM per step, CUDA-graph replayed): hence
this module imports fused, and common for everything else.
"""

import torch
import triton
import triton.language as tl

from .common import (INTERPRETED, as_given, compute_dtype, input_projection, lstm_cell, prepare,
                     state_history, store_gates)
from .fused import recurrent_backward

W_ON_CHIP_BYTES = 128 * 1024  # per-program W_hh slice budget (H100: 227 KiB shared memory per SM)
H_TILE_ELEMS = 16 * 1024      # largest (BLOCK_B, HP) h operand a program loads per step


@triton.jit
def _mm(a, b, IEEE: tl.constexpr):
    # fp32 dots default to tf32 on tensor cores; the LSTM must match fp32 nn.LSTM
    if IEEE:
        return tl.dot(a, b, input_precision="ieee")
    else:
        return tl.dot(a, b)


@triton.jit
def lstm_persistent_fwd_kernel(
    xw_ptr,     # (T, B, 4H) x W_ih^T + b_ih + b_hh, time-major
    w_ptr,      # (4H, H) W_hh, nn.LSTM layout
    hs_ptr,     # (T+1, B, H) in: h0 at slot 0; out: h_t at slot t+1
    cs_ptr,     # (T+1, B, H) compute dtype; in: c0 at slot 0; out: c_t at slot t+1
    gates_ptr,  # (T, B, 4H) out: activations i, f, g, o (only if SAVE)
    bar_ptr,    # (1,) int32 zeroed arrival counter (only if USE_BARRIER)
    T, B, H,
    BLOCK_B: tl.constexpr,      # batch rows per program
    BLOCK_H: tl.constexpr,      # hidden units per program (== HP when not USE_BARRIER)
    HP: tl.constexpr,           # next power of two >= H: the K extent of h @ W_hh^T
    USE_BARRIER: tl.constexpr,
    SAVE: tl.constexpr,
    IEEE: tl.constexpr,
):
    pid_b = tl.program_id(0)
    pid_h = tl.program_id(1)
    rb = pid_b * BLOCK_B + tl.arange(0, BLOCK_B)  # batch rows of this program
    rj = pid_h * BLOCK_H + tl.arange(0, BLOCK_H)  # hidden units of this program
    rk = tl.arange(0, HP)                         # every hidden unit: the reduction axis
    mb = rb < B
    mj = rj < H
    mk = rk < H
    acc = cs_ptr.dtype.element_ty
    dt = hs_ptr.dtype.element_ty

    # W_hh^T restricted to our units, one (HP, BLOCK_H) tile per gate: [k, j] = W_hh[gate*H + j, k].
    # Loaded once and reused for all T steps: this is the point of the persistent kernel.
    w_off = rj[None, :] * H + rk[:, None]
    w_mask = mk[:, None] & mj[None, :]
    w_i = tl.load(w_ptr + w_off, mask=w_mask, other=0.0)
    w_f = tl.load(w_ptr + H * H + w_off, mask=w_mask, other=0.0)
    w_g = tl.load(w_ptr + 2 * H * H + w_off, mask=w_mask, other=0.0)
    w_o = tl.load(w_ptr + 3 * H * H + w_off, mask=w_mask, other=0.0)

    s_off = rb[:, None] * H + rj[None, :]        # (BLOCK_B, BLOCK_H): our cells in a (B, H) slab
    s_mask = mb[:, None] & mj[None, :]
    k_off = rb[:, None] * H + rk[None, :]        # (BLOCK_B, HP): whole state rows in a (B, H) slab
    k_mask = mb[:, None] & mk[None, :]
    g_off = rb[:, None] * (4 * H) + rj[None, :]  # (BLOCK_B, BLOCK_H): gate i of our cells in (B, 4H)

    c = tl.load(cs_ptr + s_off, mask=s_mask, other=0.0).to(acc)
    h = tl.load(hs_ptr + k_off, mask=k_mask, other=0.0)  # (BLOCK_B, HP) h_{t-1}, padded with 0

    # per-step base pointers advance by pointer arithmetic (64-bit), so T*B*4H may exceed 2^31
    xw_t = xw_ptr
    g_t = gates_ptr
    hs_t = hs_ptr + B * H
    cs_t = cs_ptr + B * H
    for t in range(T):
        zi = tl.load(xw_t + g_off, mask=s_mask, other=0.0).to(acc) + _mm(h, w_i, IEEE).to(acc)
        zf = tl.load(xw_t + H + g_off, mask=s_mask, other=0.0).to(acc) + _mm(h, w_f, IEEE).to(acc)
        zg = tl.load(xw_t + 2 * H + g_off, mask=s_mask, other=0.0).to(acc) + _mm(h, w_g, IEEE).to(acc)
        zo = tl.load(xw_t + 3 * H + g_off, mask=s_mask, other=0.0).to(acc) + _mm(h, w_o, IEEE).to(acc)
        i, f, g, o, c, hn = lstm_cell(zi, zf, zg, zo, c)
        hn = tl.where(s_mask, hn, 0.0)  # padded units must stay exactly 0: they feed the next dot

        tl.store(hs_t + s_off, hn.to(dt), mask=s_mask)
        tl.store(cs_t + s_off, c, mask=s_mask)
        if SAVE:
            store_gates(g_t + g_off, H, s_mask, i, f, g, o)

        if USE_BARRIER:
            # every program needs all of h_t before step t+1. All our threads' stores are
            # issued (CTA barrier), one thread arrives with release semantics, then spins
            # with acquire loads until all programs have arrived for this step.
            tl.debug_barrier()
            target = (t + 1) * tl.num_programs(0) * tl.num_programs(1)
            cnt = tl.atomic_add(bar_ptr, 1, sem="acq_rel", scope="gpu") + 1
            while cnt < target:
                cnt = tl.atomic_add(bar_ptr, 0, sem="acquire", scope="gpu")
            tl.debug_barrier()
            # .cg: read through L2, never a stale L1 line
            h = tl.load(hs_t + k_off, mask=k_mask, other=0.0, cache_modifier=".cg")
        else:
            h = hn.to(dt)  # BLOCK_H == HP: we own whole state rows, h never leaves the chip

        xw_t += 4 * B * H
        g_t += 4 * B * H
        hs_t += B * H
        cs_t += B * H


def _num_warps(block_b, block_h, HP, nbytes):
    # with too few warps the compiler hoists the loop-invariant W_hh operands into
    # registers and spills them; more warps spread a large W slice over more registers
    # (ptxas's report for each configuration: kernels/NOTES.md)
    elems = 4 * HP * block_h
    if block_b > 16:
        return 8
    if elems >= 32768 or (elems >= 16384 and nbytes >= 4):
        return 16
    return 8


def persistent_config(B, H, dtype, device, block_b=None, block_h=None):
    """Choose (BLOCK_B, BLOCK_H, HP, use_barrier, num_warps) or raise ValueError when the
    persistent kernel does not cover this shape. block_b / block_h override (tests)."""
    HP = max(16, triton.next_power_of_2(H))
    nbytes = torch.empty((), dtype=dtype).element_size()
    on_gpu = device.type == "cuda" and not INTERPRETED
    if block_h is None:
        if not on_gpu or 4 * HP * HP * nbytes <= W_ON_CHIP_BYTES:
            block_h = HP  # barrier-free: one program holds all of W_hh
        else:
            block_h = 16
    if block_h != HP and block_h not in (16, 32, 64):
        raise ValueError(f"block_h must be 16, 32, 64 or HP={HP}, got {block_h}")
    use_barrier = block_h < HP
    if use_barrier and not on_gpu:
        raise ValueError("the grid-barrier persistent path needs a CUDA GPU: the Triton "
                         "interpreter runs programs one at a time and would spin forever")
    n_h = triton.cdiv(H, block_h)
    if on_gpu and 4 * HP * block_h * nbytes > W_ON_CHIP_BYTES:
        raise ValueError(f"persistent LSTM does not cover H={H} in {dtype}: each program's W_hh "
                         f"slice (4 x {HP} x {block_h}) exceeds {W_ON_CHIP_BYTES // 1024} KiB on chip")
    if block_b is None:
        block_b = 16
        if use_barrier:
            n_sm = torch.cuda.get_device_properties(device).multi_processor_count
            while triton.cdiv(B, block_b) * n_h > n_sm and block_b < 64:
                block_b *= 2
    if on_gpu and block_b * HP > H_TILE_ELEMS:
        raise ValueError(f"persistent LSTM does not cover B={B}, H={H}: fitting the grid on the SMs "
                         f"needs {block_b} batch rows per program, and a ({block_b} x {HP}) h tile per "
                         f"step is more than {H_TILE_ELEMS} elements (registers would spill)")
    if use_barrier:
        n_sm = torch.cuda.get_device_properties(device).multi_processor_count
        n_prog = triton.cdiv(B, block_b) * n_h
        if n_prog > n_sm:
            raise ValueError(f"persistent LSTM does not cover B={B}, H={H}: the grid barrier needs "
                             f"all {n_prog} programs resident at once, but the GPU has {n_sm} SMs")
    num_warps = _num_warps(block_b, block_h, HP, nbytes)
    return block_b, block_h, HP, use_barrier, num_warps


def lstm_persistent_fwd(xw, w_hh, hs, cs, gates=None, block_b=None, block_h=None):
    """Run the recurrence over all T in one launch. xw (T, B, 4H) input projection with
    biases; w_hh (4H, H); hs (T+1, B, H) / cs (T+1, B, H) with h0 / c0 in slot 0, filled
    with h_t / c_t; gates (T, B, 4H), if given, receives the activations for backward."""
    T, B, H4 = xw.shape
    H = H4 // 4
    BLOCK_B, BLOCK_H, HP, use_barrier, num_warps = persistent_config(
        B, H, xw.dtype, xw.device, block_b, block_h)
    bar = torch.zeros(1, dtype=torch.int32, device=xw.device)
    grid = (triton.cdiv(B, BLOCK_B), triton.cdiv(H, BLOCK_H))
    lstm_persistent_fwd_kernel[grid](
        xw, w_hh, hs, cs, xw if gates is None else gates, bar, T, B, H,
        BLOCK_B=BLOCK_B, BLOCK_H=BLOCK_H, HP=HP, USE_BARRIER=use_barrier,
        SAVE=gates is not None, IEEE=xw.dtype in (torch.float32, torch.float64),
        num_warps=num_warps)
    return hs, cs


class LSTMPersistentFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, h0, c0, w_ih, w_hh, b_ih, b_hh, block_b, block_h):
        T = x.shape[1]
        x_tm = x.transpose(0, 1).contiguous()                     # (T, B, I) time-major
        xw = input_projection(x_tm, w_ih, b_ih, b_hh)              # (T, B, 4H)
        hs, cs = state_history(h0, c0, T, compute_dtype(x.dtype))  # (T+1, B, H) each
        save = any(ctx.needs_input_grad[:7])
        gates = torch.empty_like(xw) if save else None  # (T, B, 4H)
        lstm_persistent_fwd(xw, w_hh, hs, cs, gates, block_b, block_h)
        out = hs[1:].transpose(0, 1).contiguous()      # (B, T, H)
        if save:
            ctx.save_for_backward(x_tm, hs, cs, gates, w_ih, w_hh)
        return out, hs[T].clone(), cs[T].to(x.dtype, copy=True)

    @staticmethod
    def backward(ctx, dout, dh_T, dc_T):
        return (*recurrent_backward(ctx.saved_tensors, dout, dh_T, dc_T, ctx.needs_input_grad, None),
                None, None)


def lstm_persistent(x, state=None, w_ih=None, w_hh=None, b_ih=None, b_hh=None, *,
                    block_b=None, block_h=None):
    """`lstm_fused`'s interface and result, with the forward recurrence in one persistent
    launch (see the module docstring for the shapes it covers; others raise ValueError).
    Backward is the per-step fused backward."""
    (x, h0, c0, w_ih, w_hh, b_ih, b_hh), three_d = prepare("lstm_persistent", x, state, w_ih, w_hh, b_ih, b_hh)
    # fail on uncovered shapes here, with the shape in the message, not inside autograd
    persistent_config(x.shape[0], w_hh.shape[1], x.dtype, x.device, block_b, block_h)
    out, h_T, c_T = LSTMPersistentFunction.apply(x, h0, c0, w_ih, w_hh, b_ih, b_hh, block_b, block_h)
    return out, as_given(h_T, c_T, three_d)
