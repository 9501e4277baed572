"""The gate-by-gate cell over a whole sequence as one autograd.Function: `LSTMCell.forward`'s fast path.

Autograd through the per-step loop records a dozen small operations per time step and replays
them backwards; for the small cells these experiments use, that bookkeeping, not arithmetic, is
most of a training step. Here the forward loop records no graph and keeps every step's gates and
cell state in one history buffer; the backward is one loop through time with a handful of in-place
operations per step, because every factor that does not depend on the incoming gradient (the gate
derivatives, ∂c_t/∂c_{t-1}, the peepholes folded in) is computed for all steps at once before the
loop. Each weight's gradient is one matrix product over all steps. It is the structure of the Triton
kernel's backward (kernels/lstm/fused.py).

What keeps a step cheap on the CPU, where each operation costs microseconds however small:
- feature-major buffers, (features, time, batch): a step's gate blocks are slabs of whole rows, and
  the weight gradients multiply (features, time * batch) views without a copy;
- a fixed slab [h | z | c | s] per step whose views are made once per sequence and which is copied
  whole into the history, rather than a dozen fresh views per step;
- the candidate as tanh(z) = 2 sigmoid(2z) - 1 with its weights doubled on the way in, so that one
  sigmoid covers every block of a step (PyTorch's CPU tanh costs several sigmoids);
- the loops in inference mode, which skips autograd's dispatch on every operation.
The blocks keep nn.LSTM's order, the gates before c first (i, f), then g, then o; fgr's gate
recurrence is one (R*H, R*H) matrix that is zero on g's rows and columns.
"""
from dataclasses import dataclass

import torch
from torch.autograd.function import once_differentiable


@dataclass(frozen=True)
class Plan:
    """What one cell computes: its blocks (nn.LSTM's order, the ones the variant keeps) and options."""

    H: int
    rows: str  # Variant.rows: "ifgo", "fgo" (nig), "igo" (nfg, cifg), "ifg" (nog)
    forget: str  # Variant.forget_gate: "gate" | "one" | "coupled"
    input_act: bool
    output_act: bool
    peep: str  # the gates with a peephole
    recur: bool  # fgr: the sigmoid gates see the previous step's sigmoid gates

    @classmethod
    def of(cls, variant, peep_gates: str, H: int) -> "Plan":
        return cls(H, variant.rows, variant.forget_gate, variant.input_act, variant.output_act, peep_gates,
                   variant.gate_recurrence)

    @property
    def pre(self) -> str:
        """The sigmoid gates taken before c (the first blocks)."""
        return self.rows[: self.rows.index("g")]

    @property
    def RH(self) -> int:
        return len(self.rows) * self.H

    @property
    def S(self) -> int:
        """The rows of a step's slab: h, z (R*H), c, s."""
        return self.RH + 3 * self.H

    def slab(self, k: str) -> slice:
        start = {"h": 0, "z": self.H, "c": self.H + self.RH, "s": 2 * self.H + self.RH}[k]
        return slice(start, start + (self.RH if k == "z" else self.H))

    @property
    def peep_o(self) -> bool:
        return "o" in self.peep

    def span(self, k: str) -> slice:
        n = self.rows.index(k)
        return slice(n * self.H, (n + 1) * self.H)

    def sigmoid_rows(self, device) -> torch.Tensor:
        """The rows of the sigmoid blocks, in their order (fgr's W_gg)."""
        return torch.cat([torch.arange(self.span(k).start, self.span(k).stop, device=device) for k in self.rows
                          if k != "g"])


def run_sequence(cell, x: torch.Tensor, state: tuple):
    """LSTMCell.forward: x (B, T, I), the state (h, c, *fgr's previous i, f, o) -> out (B, T, H), state."""
    peep = [cell.peephole[k] if k in cell.peephole else None for k in "ifo"]
    out, *state = GateSequence.apply(cell.plan, x, cell.weight_ih_l0, cell.weight_hh_l0, cell.bias_ih_l0,
                                     cell.bias_hh_l0, cell.weight_gg, *peep, *state)
    return out, tuple(state)


class GateSequence(torch.autograd.Function):
    """(plan, x (B, T, I), W_ih, W_hh, b_ih, b_hh, W_gg or None, p_i, p_f, p_o (each (H,) or None),
    h0, c0 and fgr's previous sigmoid gates (each (B, H))) -> out (B, T, H), h_T, c_T, fgr's last
    sigmoid gates."""

    @staticmethod
    def forward(ctx, plan: Plan, x, w_ih, w_hh, b_ih, b_hh, w_gg, p_i, p_f, p_o, h0, c0, *g0):
        B, T, I = x.shape
        H, RH = plan.H, plan.RH
        xt = x.transpose(0, 1).contiguous()  # (T, B, I)
        # tanh via a sigmoid of 2z: g's rows doubled (exact in binary floating point)
        b, w_ih2, w_hh2 = (b_ih + b_hh).unsqueeze(1), w_ih, w_hh
        if plan.input_act:
            two = torch.ones(RH, 1, dtype=x.dtype, device=x.device)
            two[plan.span("g")] = 2
            w_ih2, w_hh2, b = w_ih * two, w_hh * two, b * two
        zx = torch.addmm(b, w_ih2, xt.view(T * B, I).t()).view(RH, T, B)  # the x-part of every step at once
        P, W_full = parameters(plan, x, w_gg, (p_i, p_f, p_o))
        slab = x.new_zeros(plan.S, B)
        slab[plan.slab("h")] = h0.t()
        slab[plan.slab("c")] = c0.t()
        W = w_hh2
        if plan.recur:  # one product on [h; z], the previous h and the previous gates
            slab[plan.slab("z")][plan.sigmoid_rows(x.device)] = torch.cat(g0, dim=1).t()
            W = torch.cat([w_hh2, W_full], dim=1)
        hist = x.new_empty(plan.S, T + 1, B)  # column 0 the initial state, column t + 1 step t's slab
        hist[:, 0] = slab
        forward_steps(plan, zx.unbind(1), W, P, slab, hist.unbind(1))
        ctx.plan = plan
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(xt, hist, w_ih, w_hh, W_full, P["pre"], P["o"])
        Hs, z_last = hist[plan.slab("h")], hist[plan.slab("z"), -1]
        last = (z_last[plan.span(k)].t() for k in plan.rows if plan.recur and k != "g")
        return Hs[:, 1:].permute(2, 1, 0), Hs[:, -1].t(), hist[plan.slab("c"), -1].t(), *last

    @staticmethod
    @once_differentiable
    def backward(ctx, d_out, d_hT, d_cT, *d_gT):
        plan = ctx.plan
        xt, hist, w_ih, w_hh, W_full, p_pre, p_o = ctx.saved_tensors
        H, RH, T, B = plan.H, plan.RH, hist.shape[1] - 1, hist.shape[2]
        # ∂L/∂h_t (T, H, B), the recurrent part added in place: (B, T*H) -> (T*H, B) is a plain 2-D transpose
        dH = hist.new_zeros(T, H, B) if d_out is None else d_out.reshape(B, T * H).t().contiguous().view(T, H, B)
        if d_hT is not None:
            dH[-1].add_(d_hT.t())
        dc = hist.new_zeros(H, B) if d_cT is None else d_cT.t().contiguous()  # ∂L/∂c_t, back to c_0
        dA = None  # fgr: ∂L/∂(the gates of the last step), through the state
        if plan.recur:
            dA = hist.new_zeros(RH, B)
            for k, d in zip((k for k in plan.rows if k != "g"), d_gT):
                if d is not None:
                    dA[plan.span(k)] = d.t()
        dZ = hist.new_empty(RH, T, B)  # ∂L/∂z, z the true pre-activations (g's not doubled)
        backward_steps(plan, factors(plan, hist, p_pre, p_o), dH.unbind(0), dc, dA, dZ, w_hh.t().contiguous(),
                       None if W_full is None else W_full.t().contiguous(), p_pre, p_o)
        return (None, *gradients(ctx, dZ, dc, xt, hist, w_ih, w_hh, W_full))


@torch.inference_mode()
def forward_steps(plan: Plan, zx, W, P, slab, cols):
    """The forward loop: each step in `slab`, copied into its history column cols[t + 1]."""
    H, npre, has_o = plan.H, len(plan.pre), "o" in plan.rows
    v = {k: slab[plan.slab(k)] for k in ("h", "z", "c", "s")}
    v.update((k, v["z"][plan.span(k)]) for k in plan.rows)
    z, c, s, h, i, f, g, o = (v.get(k) for k in "zcshifgo")
    pre = z[: npre * H].view(npre, H, -1)
    # the sigmoids taken before c: every block but o when o sees c_t; i, f and o around an unsquashed g
    if plan.input_act:
        early = [z] if not plan.peep_o else [z[: (npre + 1) * H]]
    else:
        early = [pre] + ([o] if has_o and not plan.peep_o else [])
    hz = slab[: H + plan.RH]
    minus_one = slab.new_tensor(-1.0)
    # the options as locals: the loop body runs T times
    recur, p_pre, input_act, forget, p_o = plan.recur, P["pre"], plan.input_act, plan.forget, P["o"]
    h_from = "o" if has_o and plan.output_act else "o*c" if has_o else "tanh" if plan.output_act else "c"
    for t in range(len(zx)):
        if recur:
            z.copy_(torch.addmm(zx[t], W, hz))
        else:
            torch.addmm(zx[t], W, h, out=z)
        if p_pre is not None:
            pre.addcmul_(p_pre, c)
        for e in early:
            e.sigmoid_()
        if input_act:
            torch.add(minus_one, g, alpha=2, out=g)  # 2 sigmoid(2z) - 1
        if forget == "coupled":  # f = 1 - i: c + i (g - c)
            c.lerp_(g, i)
        elif forget == "one":
            c.addcmul_(i, g)
        elif i is None:
            c.mul_(f).add_(g)
        else:
            c.mul_(f).addcmul_(i, g)
        if p_o is not None:
            o.addcmul_(p_o, c).sigmoid_()
        if h_from == "o":
            torch.mul(o, torch.tanh(c, out=s), out=h)
        elif h_from == "o*c":
            torch.mul(o, c, out=h)
        elif h_from == "tanh":
            torch.tanh(c, out=h)
        else:
            h.copy_(c)
        cols[t + 1].copy_(slab)


@torch.inference_mode()
def backward_steps(plan: Plan, fac: tuple, dHs, dc, dA, dZ, w_hhT, W_fullT, p_pre, p_o):
    """The backward loop, from step T - 1 down to 0: fills ∂L/∂z (dZ) and leaves ∂L/∂c_0 in dc.
    dHs[t]: ∂L/∂h_t from the outputs (its recurrent part is added here); dA: fgr's ∂L/∂(the last gates)."""
    H, npre, has_o = plan.H, len(plan.pre), "o" in plan.rows
    Ao, Bc, K, F, Dsig = fac
    T, B = dZ.shape[1], dZ.shape[2]
    dZs = dZ.unbind(1)
    dZo = dZ[plan.span("o")].unbind(1) if has_o else None
    dZK = dZ[: (npre + 1) * H].view(npre + 1, H, T, B).unbind(2)  # pre and g: the blocks ∝ ∂L/∂c_t
    pre_rows = slice(0, npre * H)
    for t in reversed(range(T)):
        dh = dHs[t]
        if t < T - 1:  # through step t + 1's pre-activations
            dh.addmm_(w_hhT, dZs[t + 1])
        if plan.recur:  # the gates of step t feed step t + 1's sigmoid gates
            E = (dA if t == T - 1 else torch.mm(W_fullT, dZs[t + 1])).mul_(Dsig[t])
            if plan.peep_o:
                dc.addcmul_(E[plan.span("o")], p_o)
        if has_o:
            torch.mul(dh, Ao[t], out=dZo[t])
        dc.addcmul_(dh, Bc[t])
        torch.mul(dc, K[t], out=dZK[t])
        if plan.recur:
            dZs[t].add_(E)
        if F is not None:
            dc.mul_(F[t])
        if plan.recur and p_pre is not None:
            dc.add_((E[pre_rows].view(npre, H, B) * p_pre).sum(0))


def parameters(plan: Plan, x, w_gg, peeps):
    """The peepholes as the loop uses them: {"pre": (len(pre), H, 1) with zero rows for the gates
    without one, or None; "o": (H, 1) or None}; fgr's W_gg as one (R*H, R*H) matrix, zero on g's
    rows and columns, else None."""
    p = dict(zip("ifo", peeps))
    P = {"pre": None, "o": p["o"].unsqueeze(-1) if p["o"] is not None else None}
    if any(p[k] is not None for k in plan.pre):
        zero = x.new_zeros(plan.H)
        P["pre"] = torch.stack([p[k] if p[k] is not None else zero for k in plan.pre]).unsqueeze(-1)
    if not plan.recur:
        return P, None
    rows = plan.sigmoid_rows(x.device)
    W_full = x.new_zeros(plan.RH, plan.RH)
    W_full[rows.unsqueeze(1), rows] = w_gg
    return P, W_full


def gradients(ctx, dZ, dc, xt, hist, w_ih, w_hh, W_full) -> tuple:
    """∂L/∂ every input of GateSequence after the plan, from ∂L/∂z (R*H, T, B) and ∂L/∂c_0 (H, B):
    each weight's gradient is one product over all steps and the batch."""
    plan, need = ctx.plan, ctx.needs_input_grad
    T, B, I = xt.shape
    H, RH = plan.H, plan.RH
    flat = dZ.view(RH, T * B)
    d_x = (flat.t() @ w_ih).view(T, B, I).transpose(0, 1) if need[1] else None
    d_w_ih = flat @ xt.view(T * B, I)
    d_w_hh = flat @ hist[plan.slab("h"), :-1].reshape(H, T * B).t()
    d_b = flat.sum(1)
    d_w_gg = None
    if plan.recur:
        rows = plan.sigmoid_rows(dZ.device)
        g_prev = hist[plan.slab("z"), :-1].reshape(RH, T * B)
        d_w_gg = (flat @ g_prev.t())[rows.unsqueeze(1), rows]
    d_p = dict.fromkeys("ifo")
    for k in plan.peep:
        Cs = hist[plan.slab("c")]
        d_p[k] = (dZ[plan.span(k)] * (Cs[:, 1:] if k == "o" else Cs[:, :-1])).sum((1, 2))
    d_h0 = (w_hh.t() @ dZ[:, 0]).t() if need[10] else None
    d_c0 = dc.t() if need[11] else None
    d_g0 = ()
    if plan.recur:
        d_G0 = W_full.t() @ dZ[:, 0]
        d_g0 = tuple(d_G0[plan.span(k)].t() for k in plan.rows if k != "g")
    return (d_x, d_w_ih, d_w_hh, d_b, d_b.clone(), d_w_gg, d_p["i"], d_p["f"], d_p["o"], d_h0, d_c0, *d_g0)


def factors(plan: Plan, hist, p_pre, p_o):
    """Everything the backward multiplies the incoming gradient by, for all steps at once, as lists
    over t of per-step views:
        Ao   ∂h/∂z_o                      dz_o = dh * Ao          (H, B)
        Bc   ∂h/∂c_t (o's peephole too)   dc  += dh * Bc          (H, B)
        K    ∂c_t/∂z for pre and g        dz_pre,g = dc * K       (len(pre) + 1, H, B)
        F    ∂c_t/∂c_{t-1} with the i, f peepholes, None if 1    dc_{t-1} = dc * F
        Dsig σ'(z) of every block, for fgr's gradient through the previous gates (else None)."""
    A, Cs = hist[plan.slab("z"), 1:], hist[plan.slab("c")]
    Hs, has_o = hist[plan.slab("h")], "o" in plan.rows
    # s = tanh(c), or c without the output activation; without an output gate it is h itself
    TC = (hist[plan.slab("s"), 1:] if has_o else Hs[:, 1:]) if plan.output_act else Cs[:, 1:]
    blk = {k: A[plan.span(k)] for k in plan.rows}
    c_prev, npre = Cs[:, :-1], len(plan.pre)
    one = A.new_ones(())
    sig_pre = A[: npre * plan.H]  # σ' = s - s², the pre gates' blocks at once
    sig_pre = torch.addcmul(sig_pre, sig_pre, sig_pre, value=-1)
    d_sig = {k: sig_pre[n * plan.H : (n + 1) * plan.H] for n, k in enumerate(plan.pre)}
    if "o" in blk:
        d_sig["o"] = torch.addcmul(blk["o"], blk["o"], blk["o"], value=-1)
    ds = torch.addcmul(one, TC, TC, value=-1) if plan.output_act else None  # ∂s/∂c = 1 - s²
    Ao = None
    if "o" in blk:
        Ao = TC * d_sig["o"]
        Bc = blk["o"] * ds if ds is not None else blk["o"].clone()
        if p_o is not None:
            Bc.addcmul_(Ao, p_o.unsqueeze(-1))
        Ao = Ao.unbind(1)
    else:
        Bc = ds if ds is not None else torch.ones_like(c_prev)
    g, i = blk["g"], blk.get("i")
    K = A.new_empty(npre + 1, *c_prev.shape)
    for n, k in enumerate(plan.pre):
        if k == "i":  # ∂c/∂i = g, or g - c_prev when f = 1 - i
            torch.mul(g - c_prev if plan.forget == "coupled" else g, d_sig["i"], out=K[n])
        else:
            torch.mul(c_prev, d_sig["f"], out=K[n])
    dg = torch.addcmul(one, g, g, value=-1) if plan.input_act else None
    if i is None:
        K[npre] = dg if dg is not None else 1
    elif dg is not None:
        torch.mul(i, dg, out=K[npre])
    else:
        K[npre] = i
    F = {"gate": blk.get("f"), "coupled": 1 - i if i is not None else None, "one": None}[plan.forget]
    if p_pre is not None:
        peeped = (K[:npre] * p_pre.unsqueeze(-1)).sum(0)  # zero rows for the gates without one
        F = peeped.add_(F) if F is not None else peeped.add_(1)
    # fgr: g's rows of Dsig are never used, the gate recurrence's columns for g being zero
    Dsig = (A * (1 - A)).unbind(1) if plan.recur else None
    return Ao, Bc.unbind(1), K.unbind(2), None if F is None else F.unbind(1), Dsig
