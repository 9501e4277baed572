"""The gate-by-gate cell over a whole sequence as one autograd.Function: `LSTMCell.forward`'s fast path.

Autograd through the per-step loop records a dozen small operations per time step and replays
them backwards; for the small cells these experiments use, that bookkeeping, not arithmetic, is
most of a training step. Here the forward loop records no graph and keeps every step's gates and
cell state in one history buffer; the backward is one loop through time with a handful of in-place
operations per step, because every factor that does not depend on the incoming gradient (the gate
derivatives, ∂c_t/∂c_{t-1}, the peepholes folded in) is computed for all steps at once before the
loop. Each weight's gradient is one matrix product over all steps. It is the structure of the Triton
kernel's backward (kernels/lstm/backward.py).

What keeps a step cheap on the CPU, where each operation costs microseconds however small:
- feature-major buffers, (features, time, batch): a step's gate blocks are runs of whole rows, and
  the weight gradients multiply (features, time * batch) views without a copy;
- a fixed step buffer [h | z | c | s] (Plan.step_part) whose views are made once per sequence and which
  is copied whole into the history, rather than a dozen fresh views per step;
- the candidate as tanh(z) = 2 sigmoid(2z) - 1 with its weights doubled on the way in, so that one
  sigmoid covers every block of a step (PyTorch's CPU tanh costs several sigmoids);
- the loops in inference mode, which skips autograd's dispatch on every operation.
Inside, the gate blocks are o, i, f, g (those the variant keeps: Plan.internal_order; the weights are
reordered on the way in and their gradients back, Plan.reorder): the sigmoid gates are then one run of
rows, which is also the operand of fgr's gate recurrence, and so are the blocks the backward multiplies by
∂L/∂c_t (i, f, g).
"""
from dataclasses import dataclass
from enum import Enum
from typing import NamedTuple

import torch
from torch.autograd.function import once_differentiable


@dataclass(frozen=True)
class Plan:
    """What one cell computes: the gate blocks it keeps and its options. Inside, the blocks run in the internal
    order o, then the gates before c (i and/or f), then g: the sigmoid gates are one run of rows."""

    H: int
    rows: str  # Variant.rows, nn.LSTM's order: "ifgo", "fgo" (nig), "igo" (nfg, cifg), "ifg" (nog)
    forget: str  # Variant.forget_gate: "gate" | "one" | "coupled"
    input_act: bool
    output_act: bool
    peephole_gates: str  # the gates with a peephole
    gate_recurrence: bool  # fgr: the sigmoid gates see the previous step's sigmoid gates

    @classmethod
    def of(cls, variant, peep_gates: str, H: int) -> "Plan":
        return cls(H, variant.rows, variant.forget_gate, variant.input_act, variant.output_act, peep_gates,
                   variant.gate_recurrence)

    @property
    def gates_before_c(self) -> str:
        """The sigmoid gates taken before c."""
        return self.rows[: self.rows.index("g")]

    @property
    def o_blocks(self) -> int:
        """How many blocks of o lead the internal order: 1, or 0 without an output gate."""
        return int("o" in self.rows)

    @property
    def internal_order(self) -> str:
        """The blocks as the loops keep them: o first, then the gates before c, then g."""
        return "o" * self.o_blocks + self.gates_before_c + "g"

    @property
    def z_rows(self) -> int:
        """The rows of a step's pre-activations z: one block of H per gate kept (R*H)."""
        return len(self.rows) * self.H

    @property
    def sigmoid_rows(self) -> int:
        """The rows of the sigmoid gates (the first ones)."""
        return self.z_rows - self.H

    @property
    def o_peeks(self) -> bool:
        """o has a peephole: it sees c_t, so it is squashed after c, not with the other gates."""
        return "o" in self.peephole_gates

    def block(self, k: str) -> slice:
        """The rows of gate k in z (internal order)."""
        n = self.internal_order.index(k)
        return slice(n * self.H, (n + 1) * self.H)

    @property
    def step_rows(self) -> int:
        """The rows of one step's buffer [h | z | c | s]."""
        return self.z_rows + 3 * self.H

    def step_part(self, k: str) -> slice:
        """The rows of part k of a step's buffer [h | z | c | s]: z the pre-activations, overwritten by the gates;
        s = tanh(c)."""
        start = {"h": 0, "z": self.H, "c": self.H + self.z_rows, "s": 2 * self.H + self.z_rows}[k]
        return slice(start, start + (self.z_rows if k == "z" else self.H))

    def reorder(self, w: torch.Tensor, *dims: int, back: bool = False) -> torch.Tensor:
        """nn.LSTM's block order (o last) -> the internal one (o first), along `dims` (default 0); `back`: the
        other way, for the gradients."""
        dims = dims or (0,)
        return w.roll((-self.H if back else self.H,) * len(dims), dims) if self.o_blocks else w


class HiddenFrom(Enum):
    """How a step's h comes from its cell state: the output gate and the output activation a variant keeps."""
    O_TANH_C = "h = o * tanh(c)"  # the LSTM
    O_C = "h = o * c"  # noaf: no output activation
    TANH_C = "h = tanh(c)"  # nog: no output gate
    C = "h = c"  # neither

    @classmethod
    def of(cls, plan: "Plan") -> "HiddenFrom":
        if plan.o_blocks:
            return cls.O_TANH_C if plan.output_act else cls.O_C
        return cls.TANH_C if plan.output_act else cls.C


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
        z_rows, sigmoid_rows = plan.z_rows, plan.sigmoid_rows
        xt = x.transpose(0, 1).contiguous()  # (T, B, I)
        w_ih, w_hh, b = plan.reorder(w_ih), plan.reorder(w_hh), plan.reorder(b_ih + b_hh).unsqueeze(1)
        w_gg = plan.reorder(w_gg, 0, 1) if plan.gate_recurrence else None
        w_ih2, w_hh2 = w_ih, w_hh
        if plan.input_act:  # tanh via a sigmoid of 2z: g's rows doubled (exact in binary floating point)
            two = torch.ones(z_rows, 1, dtype=x.dtype, device=x.device)
            two[plan.block("g")] = 2
            w_ih2, w_hh2, b = w_ih * two, w_hh * two, b * two
        P = peepholes(plan, x, (p_i, p_f, p_o))
        step_buf = x.new_zeros(plan.step_rows, B)
        step_buf[plan.step_part("h")] = h0.t()
        step_buf[plan.step_part("c")] = c0.t()
        if plan.gate_recurrence:
            step_buf[plan.step_part("z")][:sigmoid_rows] = plan.reorder(torch.cat(g0, dim=1), 1).t()
        hist = x.new_empty(step_buf.shape[0], T + 1, B)  # column 0 the initial state, column t + 1 step t's step_buf
        hist[:, 0] = step_buf
        # the x-part of every step's pre-activations in one product, parked in the history until its step
        zx = hist[plan.step_part("z"), 1:]
        torch.addmm(b, w_ih2, xt.view(T * B, I).t(), out=zx.view(z_rows, T * B))
        forward_steps(plan, zx.unbind(1), w_hh2, w_gg, P, step_buf, hist.unbind(1))
        ctx.plan = plan
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(xt, hist, w_ih, w_hh, w_gg, P["pre"], P["o"])
        Hs, z_last = hist[plan.step_part("h")], hist[plan.step_part("z"), -1]
        last = (z_last[plan.block(k)].t() for k in plan.rows if plan.gate_recurrence and k != "g")
        return Hs[:, 1:].permute(2, 1, 0), Hs[:, -1].t(), hist[plan.step_part("c"), -1].t(), *last

    @staticmethod
    @once_differentiable
    def backward(ctx, d_out, d_hT, d_cT, *d_gT):
        plan = ctx.plan
        xt, hist, w_ih, w_hh, w_gg, p_pre, p_o = ctx.saved_tensors
        H, z_rows, T, B = plan.H, plan.z_rows, hist.shape[1] - 1, hist.shape[2]
        # ∂L/∂h_t (T, H, B), the recurrent part added in place: (B, T*H) -> (T*H, B) is a plain 2-D transpose
        dH = hist.new_zeros(T, H, B) if d_out is None else d_out.reshape(B, T * H).t().contiguous().view(T, H, B)
        if d_hT is not None:
            dH[-1].add_(d_hT.t())
        dc = hist.new_zeros(H, B) if d_cT is None else d_cT.t().contiguous()  # ∂L/∂c_t, back to c_0
        dA = None  # fgr: ∂L/∂(the gates of the last step), through the state
        if plan.gate_recurrence:
            dA = hist.new_zeros(plan.sigmoid_rows, B)
            for k, d in zip((k for k in plan.rows if k != "g"), d_gT):
                if d is not None:
                    dA[plan.block(k)] = d.t()
        dZ = hist.new_empty(z_rows, T, B)  # ∂L/∂z, z the true pre-activations (g's not doubled)
        backward_steps(plan, factors(plan, hist, p_pre, p_o), dH.unbind(0), dc, dA, dZ, w_hh.t().contiguous(),
                       None if w_gg is None else w_gg.t().contiguous(), p_pre, p_o)
        return (None, *gradients(ctx, dZ, dc, xt, hist, w_ih, w_hh, w_gg))


@torch.inference_mode()
def forward_steps(plan: Plan, zx, w_hh, w_gg, P, step_buf, cols):
    """The forward loop: each step in `step_buf`, copied into its history column cols[t + 1]."""
    H, sigmoid_rows, o_blocks, n_before_c = plan.H, plan.sigmoid_rows, plan.o_blocks, len(plan.gates_before_c)
    v = {k: step_buf[plan.step_part(k)] for k in ("h", "z", "c", "s")}
    v.update((k, v["z"][plan.block(k)]) for k in plan.internal_order)
    z, c, s, h, i, f, g, o = (v.get(k) for k in "zcshifgo")
    before_c, sigmoid_blocks = z[o_blocks * H : sigmoid_rows].view(n_before_c, H, -1), z[:sigmoid_rows]
    # the sigmoids taken before c, one run of rows: all but o when o sees c_t; all but an unsquashed g
    squashed_first = z[(o_blocks if plan.o_peeks else 0) * H : plan.z_rows if plan.input_act else sigmoid_rows]
    minus_one = step_buf.new_tensor(-1.0)
    # the options as locals: the loop body runs T times
    recur, p_pre, input_act, forget, p_o = plan.gate_recurrence, P["pre"], plan.input_act, plan.forget, P["o"]
    h_from = HiddenFrom.of(plan)
    for t in range(len(zx)):
        if recur:  # the previous gates, before z is overwritten
            r = torch.mm(w_gg, sigmoid_blocks)
        torch.addmm(zx[t], w_hh, h, out=z)
        if recur:
            sigmoid_blocks.add_(r)
        if p_pre is not None:
            before_c.addcmul_(p_pre, c)
        squashed_first.sigmoid_()
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
        if h_from is HiddenFrom.O_TANH_C:
            torch.mul(o, torch.tanh(c, out=s), out=h)
        elif h_from is HiddenFrom.O_C:
            torch.mul(o, c, out=h)
        elif h_from is HiddenFrom.TANH_C:
            torch.tanh(c, out=h)
        else:
            h.copy_(c)
        cols[t + 1].copy_(step_buf)


@torch.inference_mode()
def backward_steps(plan: Plan, fac: "Factors", dHs, dc, dA, dZ, w_hhT, w_ggT, p_pre, p_o):
    """The backward loop, from step T - 1 down to 0: fills ∂L/∂z (dZ) and leaves ∂L/∂c_0 in dc.
    dHs[t]: ∂L/∂h_t from the outputs (its recurrent part is added here); dA: fgr's ∂L/∂(the last gates)."""
    H, sigmoid_rows, o_blocks, n_before_c = plan.H, plan.sigmoid_rows, plan.o_blocks, len(plan.gates_before_c)
    Ao, Bc, K, F, Dsig = fac.dh_dzo, fac.dh_dc, fac.dc_dz, fac.dc_dcprev, fac.dsigmoid
    T, B = dZ.shape[1], dZ.shape[2]
    dZs = dZ.unbind(1)
    dZsig = dZ[:sigmoid_rows].unbind(1)
    dZo = dZ[:H].unbind(1) if o_blocks else None
    dZK = dZ[o_blocks * H :].view(n_before_c + 1, H, T, B).unbind(2)  # pre and g: the blocks ∝ ∂L/∂c_t
    recur = plan.gate_recurrence
    for t in reversed(range(T)):
        dh = dHs[t]
        if t < T - 1:  # through step t + 1's pre-activations
            dh.addmm_(w_hhT, dZs[t + 1])
        if recur:  # the gates of step t feed step t + 1's sigmoid gates
            E = (dA if t == T - 1 else torch.mm(w_ggT, dZsig[t + 1])).mul_(Dsig[t])
            if p_o is not None:
                dc.addcmul_(E[:H], p_o)
        if o_blocks:
            torch.mul(dh, Ao[t], out=dZo[t])
        dc.addcmul_(dh, Bc[t])
        torch.mul(dc, K[t], out=dZK[t])
        if recur:
            dZsig[t].add_(E)
        if F is not None:
            dc.mul_(F[t])
        if recur and p_pre is not None:
            dc.add_((E[o_blocks * H :].view(n_before_c, H, B) * p_pre).sum(0))


def peepholes(plan: Plan, x, peeps) -> dict:
    """The peepholes as the loop uses them: "pre", (len(pre), H, 1) with zero rows for the gates
    without one, or None; "o", (H, 1) or None."""
    p = dict(zip("ifo", peeps))
    P = {"pre": None, "o": p["o"].unsqueeze(-1) if p["o"] is not None else None}
    if any(p[k] is not None for k in plan.gates_before_c):
        zero = x.new_zeros(plan.H)
        P["pre"] = torch.stack([p[k] if p[k] is not None else zero for k in plan.gates_before_c]).unsqueeze(-1)
    return P


def gradients(ctx, dZ, dc, xt, hist, w_ih, w_hh, w_gg) -> tuple:
    """∂L/∂ every input of GateSequence after the plan, from ∂L/∂z (R*H, T, B) and ∂L/∂c_0 (H, B):
    each weight's gradient is one product over all steps and the batch, rotated back to nn.LSTM's order."""
    plan, need = ctx.plan, ctx.needs_input_grad
    T, B, I = xt.shape
    H, z_rows, sigmoid_rows = plan.H, plan.z_rows, plan.sigmoid_rows
    flat = dZ.view(z_rows, T * B)
    d_x = (flat.t() @ w_ih).view(T, B, I).transpose(0, 1) if need[1] else None
    d_w_ih = plan.reorder(flat @ xt.view(T * B, I), back=True)
    d_w_hh = plan.reorder(flat @ hist[plan.step_part("h"), :-1].reshape(H, T * B).t(), back=True)
    d_b = plan.reorder(flat.sum(1), back=True)
    d_w_gg = None
    if plan.gate_recurrence:
        g_prev = hist[plan.step_part("z"), :-1][:sigmoid_rows].reshape(sigmoid_rows, T * B)
        d_w_gg = plan.reorder(flat[:sigmoid_rows] @ g_prev.t(), 0, 1, back=True)
    d_p = dict.fromkeys("ifo")
    Cs = hist[plan.step_part("c")]
    for k in plan.peephole_gates:
        d_p[k] = (dZ[plan.block(k)] * (Cs[:, 1:] if k == "o" else Cs[:, :-1])).sum((1, 2))
    d_h0 = (w_hh.t() @ dZ[:, 0]).t() if need[10] else None
    d_c0 = dc.t() if need[11] else None
    d_g0 = ()
    if plan.gate_recurrence:
        d_G0 = w_gg.t() @ dZ[:sigmoid_rows, 0]
        d_g0 = tuple(d_G0[plan.block(k)].t() for k in plan.rows if k != "g")
    return (d_x, d_w_ih, d_w_hh, d_b, d_b.clone(), d_w_gg, d_p["i"], d_p["f"], d_p["o"], d_h0, d_c0, *d_g0)


class Factors(NamedTuple):
    """Everything the backward multiplies the incoming gradient by, for all steps at once, as lists over t of
    per-step views (the backward's local names in brackets)."""
    dh_dzo: list | None  # [Ao] ∂h/∂z_o: dz_o = dh * Ao, (H, B); None without an output gate
    dh_dc: list  # [Bc] ∂h/∂c_t, o's peephole included: dc += dh * Bc, (H, B)
    dc_dz: list  # [K] ∂c_t/∂z of the gates before c and of g: dz = dc * K, (len(gates_before_c) + 1, H, B)
    dc_dcprev: list | None  # [F] ∂c_t/∂c_{t-1}, the i, f peepholes included: dc_{t-1} = dc * F; None where 1
    dsigmoid: list | None  # [Dsig] σ'(z) of the sigmoid gates, for fgr's gradient through the previous gates


def factors(plan: Plan, hist, p_pre, p_o) -> Factors:
    """The backward's factors (Factors) from the forward's history."""
    A, Cs = hist[plan.step_part("z"), 1:], hist[plan.step_part("c")]
    Hs, has_o = hist[plan.step_part("h")], bool(plan.o_blocks)
    # s = tanh(c), or c without the output activation; without an output gate it is h itself
    TC = (hist[plan.step_part("s"), 1:] if has_o else Hs[:, 1:]) if plan.output_act else Cs[:, 1:]
    blk = {k: A[plan.block(k)] for k in plan.internal_order}
    c_prev, n_before_c = Cs[:, :-1], len(plan.gates_before_c)
    one = A.new_ones(())
    sig = A[: plan.sigmoid_rows]  # σ' = s - s², every sigmoid gate at once
    sig = torch.addcmul(sig, sig, sig, value=-1)
    d_sig = {k: sig[plan.block(k)] for k in plan.internal_order[:-1]}
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
    K = A.new_empty(n_before_c + 1, *c_prev.shape)
    for n, k in enumerate(plan.gates_before_c):
        if k == "i":  # ∂c/∂i = g, or g - c_prev when f = 1 - i
            torch.mul(g - c_prev if plan.forget == "coupled" else g, d_sig["i"], out=K[n])
        else:
            torch.mul(c_prev, d_sig["f"], out=K[n])
    dg = torch.addcmul(one, g, g, value=-1) if plan.input_act else None
    if i is None:
        K[n_before_c] = dg if dg is not None else 1
    elif dg is not None:
        torch.mul(i, dg, out=K[n_before_c])
    else:
        K[n_before_c] = i
    F = {"gate": blk.get("f"), "coupled": 1 - i if i is not None else None, "one": None}[plan.forget]
    if p_pre is not None:
        peeped = (K[:n_before_c] * p_pre.unsqueeze(-1)).sum(0)  # zero rows for the gates without one
        F = peeped.add_(F) if F is not None else peeped.add_(1)
    Dsig = sig.unbind(1) if plan.gate_recurrence else None
    return Factors(Ao, Bc.unbind(1), K.unbind(2), None if F is None else F.unbind(1), Dsig)
