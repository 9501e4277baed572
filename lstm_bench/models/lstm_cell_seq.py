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
Inside, the gate blocks are o, i, f, g (those the variant keeps; the weights are rotated on the way
in and their gradients back): the sigmoid gates are then one run of rows, which is also the operand
of fgr's gate recurrence, and so are the blocks the backward multiplies by ∂L/∂c_t (i, f, g).
"""
from dataclasses import dataclass

import torch
from torch.autograd.function import once_differentiable


@dataclass(frozen=True)
class Plan:
    """What one cell computes: the blocks it keeps, in the internal order o, pre (i and/or f), g, and options."""

    H: int
    rows: str  # Variant.rows, nn.LSTM's order: "ifgo", "fgo" (nig), "igo" (nfg, cifg), "ifg" (nog)
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
        """The sigmoid gates taken before c."""
        return self.rows[: self.rows.index("g")]

    @property
    def n_o(self) -> int:
        return int("o" in self.rows)

    @property
    def order(self) -> str:
        return "o" * self.n_o + self.pre + "g"

    @property
    def RH(self) -> int:
        return len(self.rows) * self.H

    @property
    def SH(self) -> int:
        """The rows of the sigmoid gates (the first ones)."""
        return self.RH - self.H

    @property
    def peep_o(self) -> bool:
        return "o" in self.peep

    def span(self, k: str) -> slice:
        n = self.order.index(k)
        return slice(n * self.H, (n + 1) * self.H)

    @property
    def slab_rows(self) -> int:
        return self.RH + 3 * self.H

    def slab(self, k: str) -> slice:
        """The rows of a step's slab [h | z | c | s]: z the R*H pre-activations, then gates; s = tanh(c)."""
        start = {"h": 0, "z": self.H, "c": self.H + self.RH, "s": 2 * self.H + self.RH}[k]
        return slice(start, start + (self.RH if k == "z" else self.H))

    def rotate(self, w: torch.Tensor, *dims: int, back: bool = False) -> torch.Tensor:
        """nn.LSTM's block order (o last) <-> the internal one (o first), along `dims` (default 0)."""
        dims = dims or (0,)
        return w.roll((-self.H if back else self.H,) * len(dims), dims) if self.n_o else w


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
        H, RH, SH = plan.H, plan.RH, plan.SH
        xt = x.transpose(0, 1).contiguous()  # (T, B, I)
        w_ih, w_hh, b = plan.rotate(w_ih), plan.rotate(w_hh), plan.rotate(b_ih + b_hh).unsqueeze(1)
        w_gg = plan.rotate(w_gg, 0, 1) if plan.recur else None
        w_ih2, w_hh2 = w_ih, w_hh
        if plan.input_act:  # tanh via a sigmoid of 2z: g's rows doubled (exact in binary floating point)
            two = torch.ones(RH, 1, dtype=x.dtype, device=x.device)
            two[plan.span("g")] = 2
            w_ih2, w_hh2, b = w_ih * two, w_hh * two, b * two
        P = peepholes(plan, x, (p_i, p_f, p_o))
        slab = x.new_zeros(plan.slab_rows, B)
        slab[plan.slab("h")] = h0.t()
        slab[plan.slab("c")] = c0.t()
        if plan.recur:
            slab[plan.slab("z")][:SH] = plan.rotate(torch.cat(g0, dim=1), 1).t()
        hist = x.new_empty(slab.shape[0], T + 1, B)  # column 0 the initial state, column t + 1 step t's slab
        hist[:, 0] = slab
        # the x-part of every step's pre-activations in one product, parked in the history until its step
        zx = hist[plan.slab("z"), 1:]
        torch.addmm(b, w_ih2, xt.view(T * B, I).t(), out=zx.view(RH, T * B))
        forward_steps(plan, zx.unbind(1), w_hh2, w_gg, P, slab, hist.unbind(1))
        ctx.plan = plan
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(xt, hist, w_ih, w_hh, w_gg, P["pre"], P["o"])
        Hs, z_last = hist[plan.slab("h")], hist[plan.slab("z"), -1]
        last = (z_last[plan.span(k)].t() for k in plan.rows if plan.recur and k != "g")
        return Hs[:, 1:].permute(2, 1, 0), Hs[:, -1].t(), hist[plan.slab("c"), -1].t(), *last

    @staticmethod
    @once_differentiable
    def backward(ctx, d_out, d_hT, d_cT, *d_gT):
        plan = ctx.plan
        xt, hist, w_ih, w_hh, w_gg, p_pre, p_o = ctx.saved_tensors
        H, RH, T, B = plan.H, plan.RH, hist.shape[1] - 1, hist.shape[2]
        # ∂L/∂h_t (T, H, B), the recurrent part added in place: (B, T*H) -> (T*H, B) is a plain 2-D transpose
        dH = hist.new_zeros(T, H, B) if d_out is None else d_out.reshape(B, T * H).t().contiguous().view(T, H, B)
        if d_hT is not None:
            dH[-1].add_(d_hT.t())
        dc = hist.new_zeros(H, B) if d_cT is None else d_cT.t().contiguous()  # ∂L/∂c_t, back to c_0
        dA = None  # fgr: ∂L/∂(the gates of the last step), through the state
        if plan.recur:
            dA = hist.new_zeros(plan.SH, B)
            for k, d in zip((k for k in plan.rows if k != "g"), d_gT):
                if d is not None:
                    dA[plan.span(k)] = d.t()
        dZ = hist.new_empty(RH, T, B)  # ∂L/∂z, z the true pre-activations (g's not doubled)
        backward_steps(plan, factors(plan, hist, p_pre, p_o), dH.unbind(0), dc, dA, dZ, w_hh.t().contiguous(),
                       None if w_gg is None else w_gg.t().contiguous(), p_pre, p_o)
        return (None, *gradients(ctx, dZ, dc, xt, hist, w_ih, w_hh, w_gg))


@torch.inference_mode()
def forward_steps(plan: Plan, zx, w_hh, w_gg, P, slab, cols):
    """The forward loop: each step in `slab`, copied into its history column cols[t + 1]."""
    H, SH, n_o, npre = plan.H, plan.SH, plan.n_o, len(plan.pre)
    v = {k: slab[plan.slab(k)] for k in ("h", "z", "c", "s")}
    v.update((k, v["z"][plan.span(k)]) for k in plan.order)
    z, c, s, h, i, f, g, o = (v.get(k) for k in "zcshifgo")
    pre, sig = z[n_o * H : SH].view(npre, H, -1), z[:SH]
    # the sigmoids taken before c, one run of rows: all but o when o sees c_t; all but an unsquashed g
    early = z[(n_o if plan.peep_o else 0) * H : plan.RH if plan.input_act else SH]
    minus_one = slab.new_tensor(-1.0)
    # the options as locals: the loop body runs T times
    recur, p_pre, input_act, forget, p_o = plan.recur, P["pre"], plan.input_act, plan.forget, P["o"]
    h_from = "o" if n_o and plan.output_act else "o*c" if n_o else "tanh" if plan.output_act else "c"
    for t in range(len(zx)):
        if recur:  # the previous gates, before z is overwritten
            r = torch.mm(w_gg, sig)
        torch.addmm(zx[t], w_hh, h, out=z)
        if recur:
            sig.add_(r)
        if p_pre is not None:
            pre.addcmul_(p_pre, c)
        early.sigmoid_()
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
def backward_steps(plan: Plan, fac: tuple, dHs, dc, dA, dZ, w_hhT, w_ggT, p_pre, p_o):
    """The backward loop, from step T - 1 down to 0: fills ∂L/∂z (dZ) and leaves ∂L/∂c_0 in dc.
    dHs[t]: ∂L/∂h_t from the outputs (its recurrent part is added here); dA: fgr's ∂L/∂(the last gates)."""
    H, SH, n_o, npre = plan.H, plan.SH, plan.n_o, len(plan.pre)
    Ao, Bc, K, F, Dsig = fac
    T, B = dZ.shape[1], dZ.shape[2]
    dZs = dZ.unbind(1)
    dZsig = dZ[:SH].unbind(1)
    dZo = dZ[:H].unbind(1) if n_o else None
    dZK = dZ[n_o * H :].view(npre + 1, H, T, B).unbind(2)  # pre and g: the blocks ∝ ∂L/∂c_t
    recur = plan.recur
    for t in reversed(range(T)):
        dh = dHs[t]
        if t < T - 1:  # through step t + 1's pre-activations
            dh.addmm_(w_hhT, dZs[t + 1])
        if recur:  # the gates of step t feed step t + 1's sigmoid gates
            E = (dA if t == T - 1 else torch.mm(w_ggT, dZsig[t + 1])).mul_(Dsig[t])
            if p_o is not None:
                dc.addcmul_(E[:H], p_o)
        if n_o:
            torch.mul(dh, Ao[t], out=dZo[t])
        dc.addcmul_(dh, Bc[t])
        torch.mul(dc, K[t], out=dZK[t])
        if recur:
            dZsig[t].add_(E)
        if F is not None:
            dc.mul_(F[t])
        if recur and p_pre is not None:
            dc.add_((E[n_o * H :].view(npre, H, B) * p_pre).sum(0))


def peepholes(plan: Plan, x, peeps) -> dict:
    """The peepholes as the loop uses them: "pre", (len(pre), H, 1) with zero rows for the gates
    without one, or None; "o", (H, 1) or None."""
    p = dict(zip("ifo", peeps))
    P = {"pre": None, "o": p["o"].unsqueeze(-1) if p["o"] is not None else None}
    if any(p[k] is not None for k in plan.pre):
        zero = x.new_zeros(plan.H)
        P["pre"] = torch.stack([p[k] if p[k] is not None else zero for k in plan.pre]).unsqueeze(-1)
    return P


def gradients(ctx, dZ, dc, xt, hist, w_ih, w_hh, w_gg) -> tuple:
    """∂L/∂ every input of GateSequence after the plan, from ∂L/∂z (R*H, T, B) and ∂L/∂c_0 (H, B):
    each weight's gradient is one product over all steps and the batch, rotated back to nn.LSTM's order."""
    plan, need = ctx.plan, ctx.needs_input_grad
    T, B, I = xt.shape
    H, RH, SH = plan.H, plan.RH, plan.SH
    flat = dZ.view(RH, T * B)
    d_x = (flat.t() @ w_ih).view(T, B, I).transpose(0, 1) if need[1] else None
    d_w_ih = plan.rotate(flat @ xt.view(T * B, I), back=True)
    d_w_hh = plan.rotate(flat @ hist[plan.slab("h"), :-1].reshape(H, T * B).t(), back=True)
    d_b = plan.rotate(flat.sum(1), back=True)
    d_w_gg = None
    if plan.recur:
        g_prev = hist[plan.slab("z"), :-1][:SH].reshape(SH, T * B)
        d_w_gg = plan.rotate(flat[:SH] @ g_prev.t(), 0, 1, back=True)
    d_p = dict.fromkeys("ifo")
    Cs = hist[plan.slab("c")]
    for k in plan.peep:
        d_p[k] = (dZ[plan.span(k)] * (Cs[:, 1:] if k == "o" else Cs[:, :-1])).sum((1, 2))
    d_h0 = (w_hh.t() @ dZ[:, 0]).t() if need[10] else None
    d_c0 = dc.t() if need[11] else None
    d_g0 = ()
    if plan.recur:
        d_G0 = w_gg.t() @ dZ[:SH, 0]
        d_g0 = tuple(d_G0[plan.span(k)].t() for k in plan.rows if k != "g")
    return (d_x, d_w_ih, d_w_hh, d_b, d_b.clone(), d_w_gg, d_p["i"], d_p["f"], d_p["o"], d_h0, d_c0, *d_g0)


def factors(plan: Plan, hist, p_pre, p_o):
    """Everything the backward multiplies the incoming gradient by, for all steps at once, as lists
    over t of per-step views:
        Ao   ∂h/∂z_o                      dz_o = dh * Ao          (H, B)
        Bc   ∂h/∂c_t (o's peephole too)   dc  += dh * Bc          (H, B)
        K    ∂c_t/∂z for pre and g        dz_pre,g = dc * K       (len(pre) + 1, H, B)
        F    ∂c_t/∂c_{t-1} with the i, f peepholes, None if 1    dc_{t-1} = dc * F
        Dsig σ'(z) of the sigmoid gates, for fgr's gradient through the previous gates (else None)."""
    A, Cs = hist[plan.slab("z"), 1:], hist[plan.slab("c")]
    Hs, has_o = hist[plan.slab("h")], bool(plan.n_o)
    # s = tanh(c), or c without the output activation; without an output gate it is h itself
    TC = (hist[plan.slab("s"), 1:] if has_o else Hs[:, 1:]) if plan.output_act else Cs[:, 1:]
    blk = {k: A[plan.span(k)] for k in plan.order}
    c_prev, npre = Cs[:, :-1], len(plan.pre)
    one = A.new_ones(())
    sig = A[: plan.SH]  # σ' = s - s², every sigmoid gate at once
    sig = torch.addcmul(sig, sig, sig, value=-1)
    d_sig = {k: sig[plan.span(k)] for k in plan.order[:-1]}
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
    Dsig = sig.unbind(1) if plan.recur else None
    return Ao, Bc.unbind(1), K.unbind(2), None if F is None else F.unbind(1), Dsig
