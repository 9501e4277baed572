"""The LSTM written out gate by gate, with the names users learn, and its variants.

The memory cell c is a conveyor belt through time. From the concatenation [h_{t-1}, x_t]:
    forget gate  f_t = sigmoid(W_f [h_{t-1}, x_t] + b_f)   f = 0 erases the belt, f = 1 keeps it whole
    input gate   i_t = sigmoid(W_i [h_{t-1}, x_t] + b_i)   how much new content goes on
    candidate    g_t = tanh(W_g [h_{t-1}, x_t] + b_g)      the new content
    output gate  o_t = sigmoid(W_o [h_{t-1}, x_t] + b_o)
    c_t = f_t * c_{t-1} + i_t * g_t
    h_t = o_t * tanh(c_t)
The weights use nn.LSTM's layout (gate order i, f, g, o; W = [W_hh | W_ih] split in two
matrices, two biases that add), so nn.LSTM's weights give the same outputs here.

`model.variant` changes one thing in that cell (the variants of Greff et al. 2017):
    vanilla  the cell above
    nig      no input gate:          i = 1
    nfg      no forget gate:         f = 1 (the original 1997 LSTM: a belt that never forgets)
    nog      no output gate:         o = 1
    niaf     no input activation:    g = W_g [h, x] + b_g (no tanh)
    noaf     no output activation:   h = o * c
    cifg     coupled input-forget:   f = 1 - i
    fgr      full gate recurrence:   i, f, o also see the previous step's i, f, o (9 more H x H matrices)
A removed gate has no weights: the matrices hold only the blocks the cell computes, in the
order i, f, g, o. `model.peephole` lets the gates see the belt (Gers & Schmidhuber 2000):
i and f add p * c_{t-1} to their pre-activation, o adds p * c_t (p a vector per gate).

Two implementations of one cell: `LSTMCell.step` (cell_update, autograd, the textbook form) is the ground
truth; `forward` runs lstm_cell_seq.GateSequence, a whole-sequence autograd.Function that the tests hold to
`step` (outputs, states, gradients, every variant). kernels/lstm/naive.py writes the same vanilla step again
on purpose: kernels/ must not import the harness, and its tests hold it to nn.LSTM.

Adding a variant:
1. a field of Variant (or a value of one) that says what it changes, and its entry in VARIANTS;
2. cell_update: the step with that change (the ground truth; a gate it removes comes back as None);
3. lstm_cell_seq: Plan.of carries the field; forward_steps computes it in the loop; factors gives the
   backward's factors for it (Factors: ∂h/∂z_o, ∂h/∂c, ∂c/∂z, ∂c/∂c_prev); HiddenFrom, if it changes how
   h comes from c;
4. tests/test_variants.py: its equations by hand on one step, the sequence against `step`, a float64
   gradcheck, and the result's name.
"""
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn as nn

from lstm_bench.models.init import init_gate_biases, init_name
from lstm_bench.models.lstm_cell_seq import Plan, run_sequence
from lstm_bench.errors import require


@dataclass(frozen=True)
class Variant:
    """What a variant changes in the cell; the defaults are the vanilla LSTM."""

    input_gate: bool = True  # False: i = 1
    forget_gate: str = "gate"  # "gate"; "one": f = 1; "coupled": f = 1 - i
    output_gate: bool = True  # False: o = 1
    input_act: bool = True  # False: g without tanh
    output_act: bool = True  # False: h = o * c
    gate_recurrence: bool = False  # True: i, f, o see the previous step's i, f, o

    @property
    def rows(self) -> str:
        """The pre-activation blocks the weights compute, in nn.LSTM's order."""
        kept = {"i": self.input_gate, "f": self.forget_gate == "gate", "g": True, "o": self.output_gate}
        return "".join(k for k in "ifgo" if kept[k])

    @property
    def sigmoid_gates(self) -> str:
        """The gates with weights of their own: the ones that can have a peephole or gate recurrence."""
        return self.rows.replace("g", "")


VARIANTS = {
    "vanilla": Variant(),
    "nig": Variant(input_gate=False),
    "nfg": Variant(forget_gate="one"),
    "nog": Variant(output_gate=False),
    "niaf": Variant(input_act=False),
    "noaf": Variant(output_act=False),
    "cifg": Variant(forget_gate="coupled"),
    "fgr": Variant(gate_recurrence=True),
}
VANILLA = VARIANTS["vanilla"]


def cell_update(v: Variant, z: torch.Tensor, c: torch.Tensor, peep: dict):
    """Pre-activations z (B, len(v.rows) * H) and the belt c_{t-1} (B, H) -> h_t, c_t, (i, f, g, o).

    A removed gate comes back as None (it is exactly 1); cifg's f is 1 - i."""
    z = dict(zip(v.rows, z.chunk(len(v.rows), dim=1)))

    def gate(k, c_seen):  # sigmoid gate k, peeking at c_seen if it has a peephole; None if removed
        if k not in z:
            return None
        return torch.sigmoid(z[k] if k not in peep else torch.addcmul(z[k], peep[k], c_seen))

    i = gate("i", c)
    f = 1 - i if v.forget_gate == "coupled" else gate("f", c)
    g = torch.tanh(z["g"]) if v.input_act else z["g"]
    c = (c if f is None else f * c) + (g if i is None else i * g)
    s = torch.tanh(c) if v.output_act else c
    o = gate("o", c)
    h = s if o is None else o * s
    return h, c, (i, f, g, o)


def gates_dict(gates, like: torch.Tensor) -> dict:
    """(i, f, g, o) with None for a removed gate -> the diagnostics' dict, a removed gate as exactly 1."""
    return {k: torch.ones_like(like) if a is None else a for k, a in zip("ifgo", gates)}


def preactivations(x_t, h, w_ih, w_hh, b_ih, b_hh) -> torch.Tensor:
    """The textbook form: one matrix on the concatenation [h_{t-1}, x_t] -> (B, R*H)."""
    W = torch.cat([w_hh, w_ih], dim=1)  # (R*H, H + I)
    return torch.cat([h, x_t], dim=1) @ W.T + (b_ih + b_hh)


def lstm_step(x_t, h, c, w_ih, w_hh, b_ih, b_hh):
    """One vanilla step, as the lecture writes it: h_t, c_t and the gates dict. The harness's ground truth for the
    LSTM step; kernels/lstm/naive.py's lstm_cell_naive is the same equations again, on purpose (kernels/ imports
    no harness code), held to nn.LSTM by the kernel tests."""
    z = preactivations(x_t, h, w_ih, w_hh, b_ih, b_hh)  # (B, 4H)
    h, c, gates = cell_update(VANILLA, z, c, {})
    return h, c, gates_dict(gates, h)


class LSTMCell(nn.Module):
    """`model=lstm_cell`: the gate-by-gate cell in plain PyTorch, any variant, optional peepholes.

    `step` is the cell as written above, one step with autograd: the diagnostics' twin and the
    reference the tests hold `forward` to. `forward` runs the whole sequence through one
    autograd.Function with its own backward (lstm_cell_seq), the same numbers at a fraction of the
    cost. The state is (h, c), and for fgr (h, c, *the previous step's i, f, o)."""

    name = "lstm_cell"

    def __init__(self, input_size: int, hidden_size: int = 128, variant: str = "vanilla", peephole=False,
                 init: str = "default", forget_bias=None, chrono_tmax=None, forget_bias_add=None):
        super().__init__()
        require(variant in VARIANTS, "model.variant", variant, "one of " + ", ".join(VARIANTS))
        v = self.variant = VARIANTS[variant]
        peep_gates = self._peephole_gates(peephole, variant)
        H, I, R = hidden_size, input_size, len(v.rows)
        self.hidden_size = H
        # nn.LSTM's names and shapes (for vanilla), so its state_dict loads here
        self.weight_ih_l0 = nn.Parameter(torch.empty(R * H, I))
        self.weight_hh_l0 = nn.Parameter(torch.empty(R * H, H))
        self.bias_ih_l0 = nn.Parameter(torch.empty(R * H))
        self.bias_hh_l0 = nn.Parameter(torch.empty(R * H))
        # given as pairs, the gates keep their order (ParameterDict sorts the keys of a dict)
        self.peephole = nn.ParameterDict([(k, nn.Parameter(torch.empty(H))) for k in peep_gates])
        S = len(v.sigmoid_gates) * H
        self.weight_gg = nn.Parameter(torch.empty(S, S)) if v.gate_recurrence else None
        bound = 1 / math.sqrt(H)  # nn.LSTM's own initialisation, for every parameter
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)
        init_gate_biases(self.bias_ih_l0, self.bias_hh_l0, v.rows, v.forget_gate == "coupled", init, forget_bias,
                         chrono_tmax, variant, forget_bias_add)
        self.prev_gates = v.sigmoid_gates if v.gate_recurrence else ""  # what the state carries besides h, c
        self.plan = Plan.of(v, peep_gates, H)
        # the result's name: lstm_cell (the plain cell), lstm_cell-nfg, lstm_cell-vanilla+peephole, lstm_cell+chrono
        cell = "" if not peep_gates else "+peephole" if peep_gates == v.sigmoid_gates else f"+peephole_{peep_gates}"
        cell = f"-{variant}{cell}" if cell or variant != "vanilla" else ""
        self.name = type(self).name + cell + init_name(init, forget_bias, forget_bias_add)

    def _peephole_gates(self, peephole, variant: str) -> str:
        """model.peephole: true (every gate the variant keeps), false, or the gates by letter ('fo', [f, o])."""
        own = self.variant.sigmoid_gates
        if isinstance(peephole, bool):
            return own if peephole else ""
        asked = peephole if isinstance(peephole, (str, Sequence)) else ()  # a string's letters, or a list's items
        require(len(asked) > 0 and all(k in set(own) for k in asked), "model.peephole", peephole,
                f"true, false, or some of the gates variant {variant} keeps: {', '.join(own)}")
        return "".join(k for k in own if k in asked)

    def init_state(self, B, device=None, dtype=None):
        z = torch.zeros(B, self.hidden_size, device=device, dtype=dtype)
        return (z, *(z.clone() for _ in range(1 + len(self.prev_gates))))

    def _gate_recurrence(self, state) -> torch.Tensor:
        """fgr: the previous step's gates through W_gg, an addend (B, R*H) to i, f and o (g sees no gates)."""
        r = torch.cat(state[2:], dim=1) @ self.weight_gg.T  # (B, len(prev_gates) * H)
        per_gate = dict(zip(self.prev_gates, r.chunk(len(self.prev_gates), dim=1)))
        zero = torch.zeros_like(state[0])
        return torch.cat([per_gate.get(k, zero) for k in self.variant.rows], dim=1)

    def _next(self, z, state, peep: dict):
        """Everything after the matrix product: the cell update, and the state it leaves."""
        h, c, gates = cell_update(self.variant, z, state[1], peep)
        prev = dict(zip("ifgo", gates))
        return (h, c, *(prev[k] for k in self.prev_gates)), gates

    def step(self, x_t, state):
        z = preactivations(x_t, state[0], self.weight_ih_l0, self.weight_hh_l0, self.bias_ih_l0, self.bias_hh_l0)
        if self.prev_gates:
            z = z + self._gate_recurrence(state)
        state, gates = self._next(z, state, dict(self.peephole))
        return state, gates_dict(gates, state[0])

    def forward(self, x, state=None):
        state = state if state is not None else self.init_state(x.shape[0], x.device, x.dtype)
        return run_sequence(self, x, state)
