"""K models of one shape as one: a member dimension over rnn, irnn, gru, lstm and lstm_cell (every variant).

    packed = PackedModel([model_0, ..., model_{K-1}])   # SeqModels of one config but their seeds
    out, state = packed(x)                               # x (K, B, T[, F]) -> out (K, B, T, n_out), state
    packed.load_into(k, model_k)                         # member k's weights, back into a plain SeqModel

The weights are torch.func's `stack_module_state` of the K models: one leaf tensor (K, ...) per parameter,
so one backward fills every member's gradient, and member k's gradient is that of its own loss only (no
operation mixes members). The forward is `vmap` over `functional_call` of one model, run through a scan form
of its recurrence: vmap cannot batch nn.RNN, nn.GRU or nn.LSTM (their fused kernels have no batching rule),
nor lstm_cell's own autograd.Function. A scan form is the recurrence's per-step math with the input's part
of every pre-activation taken for all steps in one product before the loop; the loop keeps only the
recurrent product and the gates. The gates are the models' own code: lstm and lstm_cell step through
`lstm_cell.cell_update` (tested equal to nn.LSTM, tests/test_models.py), the GRU's is its `step`'s.

A recurrence with no scan form here (slstm, mlstm, lstm_triton, ...) cannot be packed: `packable` says so
in one line, and a sweep runs its jobs one at a time, as without packing.
"""
from __future__ import annotations

import copy

import torch
import torch.nn as nn
from torch.func import functional_call, stack_module_state, vmap

from lstm_bench.models.gru import GRU
from lstm_bench.models.irnn import IRNN
from lstm_bench.models.lstm import LSTM
from lstm_bench.models.lstm_cell import VANILLA, LSTMCell, cell_update
from lstm_bench.models.rnn import RNN

# ---- scan forms: project(rec, e (B, T, E)) -> the input's part of every pre-activation (B, T, ·);
#      step(rec, z_x (B, ·), state) -> the next state (a tuple whose first element is h)


def _rnn_project(rec, e):
    m = rec.rnn
    return e @ m.weight_ih_l0.T + (m.bias_ih_l0 + m.bias_hh_l0)  # (B, T, H)


def _rnn_step(rec, zx, state):
    return (rec.act(torch.addmm(zx, state[0], rec.rnn.weight_hh_l0.T)),)


def _gru_project(rec, e):
    m = rec.gru
    return e @ m.weight_ih_l0.T + m.bias_ih_l0  # (B, T, 3H): r, z, n


def _gru_step(rec, zx, state):
    m, h = rec.gru, state[0]
    xr, xz, xn = zx.chunk(3, dim=1)
    hr, hz, hn = torch.addmm(m.bias_hh_l0, h, m.weight_hh_l0.T).chunk(3, dim=1)  # n's part stays apart: r gates it
    r = torch.sigmoid(xr + hr)
    z = torch.sigmoid(xz + hz)
    n = torch.tanh(xn + r * hn)
    return ((1 - z) * n + z * h,)


def _lstm_project(rec, e):
    m = rec.lstm
    return e @ m.weight_ih_l0.T + (m.bias_ih_l0 + m.bias_hh_l0)  # (B, T, 4H): i, f, g, o


def _lstm_step(rec, zx, state):
    h, c = state
    h, c, _ = cell_update(VANILLA, torch.addmm(zx, h, rec.lstm.weight_hh_l0.T), c, {})
    return h, c


def _cell_project(rec, e):
    return e @ rec.weight_ih_l0.T + (rec.bias_ih_l0 + rec.bias_hh_l0)  # (B, T, R*H): the blocks the variant keeps


def _cell_step(rec, zx, state):
    z = torch.addmm(zx, state[0], rec.weight_hh_l0.T)
    if rec.prev_gates:  # fgr: the previous step's gates
        z = z + rec._gate_recurrence(state)
    state, _ = rec._next(z, state, dict(rec.peephole))
    return state


# the exact class: a subclass (lstm_triton is an LSTM) computes in its own way and is not packed as its parent
SCANS = {RNN: (_rnn_project, _rnn_step), IRNN: (_rnn_project, _rnn_step), GRU: (_gru_project, _gru_step),
         LSTM: (_lstm_project, _lstm_step), LSTMCell: (_cell_project, _cell_step)}


def packable(recurrence_class) -> str | None:
    """None if models with this recurrence can be packed, else why not, in a few words."""
    if recurrence_class in SCANS:
        return None
    names = ", ".join(sorted(c.name for c in SCANS))
    return f"{getattr(recurrence_class, 'name', recurrence_class.__name__)} has no packed form (only {names} have)"


def scan(rec, e, state=None):
    """The recurrence over e (B, T, E) through its scan form -> hs (B, T, H), the final state."""
    project, step = SCANS[type(rec)]
    if state is None:
        state = rec.init_state(e.shape[0], e.device, e.dtype)
    hs = []
    for zx in project(rec, e).unbind(1):  # not [:, t]: its backward would fill a zero (B, T, ·) per step
        state = step(rec, zx, state)
        hs.append(state[0])
    return torch.stack(hs, dim=1), tuple(state)


class Scanned(nn.Module):
    """A SeqModel's forward with the recurrence run through its scan form: what vmap can batch. It holds the
    model's own modules under their own names, so the model's parameter names are its parameter names."""

    def __init__(self, model):
        super().__init__()
        self.encoder, self.recurrence, self.readout = model.encoder, model.recurrence, model.readout
        self.read_last = model.read_last

    def forward(self, x, state=None):
        e = self.encoder(x)  # (B, T, E)
        hs, state = scan(self.recurrence, e, state)  # (B, T, H)
        if self.read_last:
            hs = hs[:, -1]  # (B, H)
        return self.readout(hs), state


class PackedModel(nn.Module):
    """K SeqModels of one config as one module with a member dimension. `params` holds the stacked leaf
    tensors, (K, ...) each, by the models' own parameter names; `keep` drops members."""

    def __init__(self, models: list):
        super().__init__()
        if not models:
            raise ValueError("a pack needs at least one model")
        why = packable(type(models[0].recurrence))
        if why:
            raise ValueError(f"cannot pack: {why}")
        shapes = {tuple((n, p.shape, p.dtype) for n, p in m.named_parameters()) for m in models}
        if len(shapes) != 1:
            raise ValueError("cannot pack: the models' parameters differ in name, shape or dtype")
        params, buffers = stack_module_state(models)
        self.params = nn.ParameterDict({n.replace(".", "/"): nn.Parameter(p) for n, p in params.items()})
        self.names = list(params)  # the models' own dotted names, in their order
        self.buffers_ = buffers
        # the stateless template vmap calls: no storage of its own (the weights come from `params`)
        # (kept out of the module's children: .to() cannot move a meta tensor)
        self.__dict__["base"] = Scanned(copy.deepcopy(models[0]).to("meta"))

    @property
    def K(self) -> int:
        return next(iter(self.params.values())).shape[0]

    def stacked(self) -> dict:
        """{dotted name: the (K, ...) leaf tensor}."""
        return {n: self.params[n.replace(".", "/")] for n in self.names}

    def _one(self, params, buffers, x, state):
        return functional_call(self.base, (params, buffers), (x, state))

    def forward(self, x: torch.Tensor, state=None):
        """x (K, B, T) symbols or (K, B, T, F) values; state None or a tuple of (K, B, H) -> out (K, B, ...),
        the final state, a tuple of (K, B, H)."""
        state_dim = None if state is None else 0
        return vmap(self._one, in_dims=(0, 0, 0, state_dim))(self.stacked(), self.buffers_, x, state)

    @torch.no_grad()
    def load_into(self, k: int, model) -> None:
        """Member k's current weights into `model`, a SeqModel of the same config (its own copy)."""
        own = dict(model.named_parameters())
        for n, p in self.stacked().items():
            own[n].copy_(p[k])

    @torch.no_grad()
    def keep(self, members: list[int]) -> None:
        """Only these members go on, in this order: every stacked tensor, and its gradient, indexed."""
        index = torch.tensor(members, dtype=torch.long, device=next(iter(self.params.values())).device)
        for key, p in self.params.items():
            grad = None if p.grad is None else p.grad.index_select(0, index)
            q = nn.Parameter(p.detach().index_select(0, index))
            q.grad = grad
            self.params[key] = q
        self.buffers_ = {n: b.index_select(0, index) for n, b in self.buffers_.items()}
