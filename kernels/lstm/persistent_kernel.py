"""The persistent LSTM forward kernel and its jit helpers (persistent.py: design, launch, autograd; sync.py: the step sync)."""

import triton
import triton.language as tl

from .common import dot, tanh
from .sync import publish, wait_for_producers


@triton.jit
def _k_index(k0, S: tl.constexpr, KS: tl.constexpr):
    # reduction indices of S slices of width KS from k0: (KS,) if S == 1 else (S, KS)
    if S == 1:
        return k0 + tl.arange(0, KS)
    else:
        return k0 + tl.arange(0, S)[:, None] * KS + tl.arange(0, KS)[None, :]


@triton.jit
def _load_w(w_ptr, rows, mrow, H, k0, S: tl.constexpr, KS: tl.constexpr):
    """W_hh^T restricted to columns `rows`: [k, n] = W_hh[rows[n], k], (KS, N) or (S, KS, N)."""
    rk = _k_index(k0, S, KS)
    if S == 1:
        return tl.load(w_ptr + rows[None, :] * H + rk[:, None],
                       mask=(rk < H)[:, None] & mrow[None, :], other=0.0)
    else:
        return tl.load(w_ptr + rows[None, None, :] * H + rk[:, :, None],
                       mask=(rk < H)[:, :, None] & mrow[None, None, :], other=0.0)


@triton.jit
def _load_h(p, rb, mb, sb, H, k0, S: tl.constexpr, KS: tl.constexpr):
    """h rows rb of a slab at p (batch stride sb): (BLOCK_B, KS) or (S, BLOCK_B, KS)."""
    rk = _k_index(k0, S, KS)
    if S == 1:
        return tl.load(p + rb[:, None] * sb + rk[None, :], mask=mb[:, None] & (rk < H)[None, :],
                       other=0.0, cache_modifier=".cg")
    else:
        return tl.load(p + rb[None, :, None] * sb + rk[:, None, :],
                       mask=mb[None, :, None] & (rk < H)[:, None, :], other=0.0, cache_modifier=".cg")


@triton.jit
def _step_dot(ha, wa, hb, wb, S: tl.constexpr, KS2: tl.constexpr, IEEE: tl.constexpr):
    """h_{t-1} @ W^T for one program: (BLOCK_B, N), summed over the K slices."""
    r = dot(ha, wa, None, IEEE)
    if KS2 > 0:
        r = dot(hb, wb, r, IEEE)
    if S > 1:
        r = tl.sum(r, axis=0)
    return r


@triton.jit
def lstm_persistent_fwd_kernel(
    xw_ptr, sx_t, sx_b,   # x W_ih^T + biases, (.., 4H) rows at t*sx_t + b*sx_b
    w_ptr,                # (4H, H) W_hh, nn.LSTM layout
    h0_ptr, c0_ptr,       # (B, H) initial states
    out_ptr, so_t, so_b,  # h_t rows at t*so_t + b*so_b (the barrier layout re-reads h_t here)
    hT_ptr, cT_ptr,       # (B, H) final states
    hs_ptr, cs_ptr,       # (T+1, B, H) state histories, slot 0 = h0 / c0 (only if HIST)
    gates_ptr,            # activations i, f, g, o with xw's strides, may be xw itself (only if SAVE)
    flags_ptr,            # (programs + 1,) int32 zeroed: one step flag per program, then the time-out word
    T, B, H, spin_limit,
    BLOCK_B: tl.constexpr, BLOCK_H: tl.constexpr,
    S: tl.constexpr, KS1: tl.constexpr, KS2: tl.constexpr,  # K covered by S*KS1 + S*KS2
    GATE_DOTS: tl.constexpr,  # four per-gate dots instead of one over the interleaved columns
    USE_BARRIER: tl.constexpr, HIST: tl.constexpr, SAVE: tl.constexpr, IEEE: tl.constexpr,
    NP: tl.constexpr,     # power of two >= programs per batch block (the producers a program waits for)
    POLL: tl.constexpr,   # sync.POLL_*: how flags are polled (ld.acquire on the GPU)
    WAIT: tl.constexpr,   # False: publish but never wait (a timing of everything but the sync; outputs void)
):
    tl.static_assert(USE_BARRIER or (KS2 == 0 and S * KS1 == BLOCK_H))
    tl.static_assert(not GATE_DOTS or KS2 == 0)
    N: tl.constexpr = 4 * BLOCK_H
    pid_b = tl.program_id(0)
    pid_h = tl.program_id(1)
    rb = pid_b * BLOCK_B + tl.arange(0, BLOCK_B)  # batch rows of this program
    mb = rb < B
    rj = pid_h * BLOCK_H + tl.arange(0, BLOCK_H)  # hidden units of this program
    s_mask = mb[:, None] & (rj < H)[None, :]
    s_off = rb[:, None] * H + rj[None, :]         # (BLOCK_B, BLOCK_H) in a (B, H) slab
    o_off = rb[:, None] * so_b + rj[None, :]
    rn = tl.arange(0, N)
    gate = rn % 4
    col = gate * H + pid_h * BLOCK_H + rn // 4    # column in nn.LSTM's (.., 4H) gate order
    mn = pid_h * BLOCK_H + rn // 4 < H
    x_mask = mb[:, None] & mn[None, :]
    x_off = rb[:, None] * sx_b + col[None, :]     # (BLOCK_B, N)
    is_g = (gate == 2)[None, :]
    acc = tl.float64 if w_ptr.dtype.element_ty == tl.float64 else tl.float32
    dt = w_ptr.dtype.element_ty

    # loaded once, reused for all T steps: the point of the persistent kernel
    wa = _load_w(w_ptr, col, mn, H, 0, S, KS1)
    ha = _load_h(h0_ptr, rb, mb, H, H, 0, S, KS1)
    wb = wa
    hb = ha
    if GATE_DOTS:  # gate-blocked columns: [k, j] = W_hh[gate*H + j, k], one (K, BLOCK_H) per gate
        wa = _load_w(w_ptr, rj, rj < H, H, 0, S, KS1)
        wb = _load_w(w_ptr, H + rj, rj < H, H, 0, S, KS1)
        wc = _load_w(w_ptr, 2 * H + rj, rj < H, H, 0, S, KS1)
        wd = _load_w(w_ptr, 3 * H + rj, rj < H, H, 0, S, KS1)
    elif KS2 > 0:
        wb = _load_w(w_ptr, col, mn, H, S * KS1, S, KS2)
        hb = _load_h(h0_ptr, rb, mb, H, H, S * KS1, S, KS2)
    c = tl.load(c0_ptr + s_off, mask=s_mask, other=0.0).to(acc)
    hn = tl.zeros((BLOCK_B, BLOCK_H), acc)
    if HIST:
        tl.store(hs_ptr + s_off, tl.load(h0_ptr + s_off, mask=s_mask), mask=s_mask)
        tl.store(cs_ptr + s_off, c, mask=s_mask)

    n_h = tl.num_programs(1)  # the programs sharing this batch block: the producers of our h rows
    status_ptr = flags_ptr + tl.num_programs(0) * n_h
    limit = spin_limit
    bad = tl.full([], 0, tl.int32)  # 1 once a wait ran out: from then on our c (so h) is NaN
    xw_next = tl.load(xw_ptr + x_off, mask=x_mask, other=0.0)
    # per-step pointers advance by pointer arithmetic (64-bit), so T*B*4H may exceed 2^31
    xw_t = xw_ptr
    g_t = gates_ptr
    out_t = out_ptr
    hs_t = hs_ptr + B * H
    cs_t = cs_ptr + B * H
    for t in range(T):
        z = xw_next.to(acc)
        xw_next = tl.load(xw_t + sx_t + x_off, mask=x_mask & (tl.full((1, 1), t, tl.int32) + 1 < T), other=0.0)
        if GATE_DOTS:  # interleave the four results: [b, j, p, q] = gate 2p + q of unit j
            zi = _step_dot(ha, wa, ha, wa, S, 0, IEEE)
            zf = _step_dot(ha, wb, ha, wb, S, 0, IEEE)
            zg = _step_dot(ha, wc, ha, wc, S, 0, IEEE)
            zo = _step_dot(ha, wd, ha, wd, S, 0, IEEE)
            z += tl.reshape(tl.join(tl.join(zi, zg), tl.join(zf, zo)), (BLOCK_B, N)).to(acc)
        else:
            z += _step_dot(ha, wa, hb, wb, S, KS2, IEEE).to(acc)
        # sigmoid for i, f, o; tanh(z) = 2 sigmoid(2z) - 1 for g: one transcendental per column
        sg = tl.sigmoid(tl.where(is_g, 2.0 * z, z))
        a = tl.where(is_g, 2.0 * sg - 1.0, sg)
        if SAVE:
            tl.store(g_t + x_off, a.to(gates_ptr.dtype.element_ty), mask=x_mask)
        # column 4j + 2p + q -> [j, p, q]: q = 0 holds i (p = 0) and g (p = 1), q = 1 holds f, o
        ig, fo = tl.split(tl.reshape(a, (BLOCK_B, BLOCK_H, 2, 2)))
        i, g = tl.split(ig)
        f, o = tl.split(fo)
        c = f * c + i * g
        if USE_BARRIER:
            c = tl.where(bad != 0, float("nan"), c)  # a void launch never returns plausible numbers
        hn = tl.where(s_mask, o * tanh(c), 0.0)  # padded units stay exactly 0: they feed the next dot
        tl.store(out_t + o_off, hn.to(dt), mask=s_mask)
        if HIST:
            tl.store(hs_t + s_off, hn.to(dt), mask=s_mask)
            tl.store(cs_t + s_off, c.to(cs_ptr.dtype.element_ty), mask=s_mask)

        if USE_BARRIER:
            if t + 1 < T:
                # our h_t slice stored: release our flag; then wait until every program of this
                # batch block has released step t+1 (sync.py)
                publish(flags_ptr + pid_b * n_h + pid_h, t + 1)
                if WAIT:
                    ok = wait_for_producers(flags_ptr + pid_b * n_h, n_h, t + 1, limit, NP, POLL)
                    if ok == 0:
                        tl.store(status_ptr, 1)
                    bad = tl.maximum(bad, 1 - ok)
                    limit = tl.where(ok == 0, 0, limit)  # the launch is void: never wait again
            ha = _load_h(out_t, rb, mb, so_b, H, 0, S, KS1)
            if KS2 > 0:
                hb = _load_h(out_t, rb, mb, so_b, H, S * KS1, S, KS2)
        else:
            # BLOCK_H == S*KS1: we own whole state rows, h never leaves the chip
            if S == 1:
                ha = hn.to(dt)
            else:
                ha = tl.permute(tl.reshape(hn.to(dt), (BLOCK_B, S, KS1)), (1, 0, 2))
            hb = ha
        xw_t += sx_t
        g_t += sx_t
        out_t += so_t
        hs_t += B * H
        cs_t += B * H
    tl.store(hT_ptr + s_off, hn.to(hT_ptr.dtype.element_ty), mask=s_mask)
    tl.store(cT_ptr + s_off, c.to(cT_ptr.dtype.element_ty), mask=s_mask)
