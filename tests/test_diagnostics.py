"""Diagnostics against known answers: a linear RNN on every task's dependency, a forced forget gate,
gate statistics over the real positions only, infinite timescales, the lecture's worked cell
updates, autograd on the unrolled graph, the W&B offline record, and short real runs."""
import glob
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn as nn

import conftest
from conftest import compose_cfg
from lstm_bench.diagnostics import measure
from lstm_bench.models import SeqModel
from lstm_bench.models.lstm import LSTM
from lstm_bench.models.lstm_cell import LSTMCell
from lstm_bench.models.rnn import RNN
from lstm_bench.records import read_json, read_jsonl
from lstm_bench.train import run
from tasks import TEST
from tasks.adding import Adding
from tasks.assoc_recall import AssocRecall
from tasks.copy_memory import Copy
from tasks.multiplication import Multiplication
from tasks.reber import Reber
from tasks.reber_grammar import ReaderState, Symbol
from tasks.selective_copy import SelectiveCopy
from tasks.temporal_order import TemporalOrder

F64 = torch.float64
# conftest's tiny run (20 steps, evaluations at 10 and 20), T=8; diag.batch_size small so the probe is quick too
TINY = [*conftest.TINY, "task.length=8", "diag.batch_size=8"]


pytestmark = pytest.mark.usefixtures("one_thread")


class LinearRNN(nn.Module):
    """h_t = a h_{t-1} + x_t: recurrent matrix a*I (the encoder's output is x_t, so its size is H).
    dL/dh_t = a dL/dh_{t+1}, so the gradient ratio over d steps is a^d and its decay per step ln a, exactly."""

    name = "linear"

    def __init__(self, a: float, hidden_size: int = 4):
        super().__init__()
        self.hidden_size = hidden_size
        self.weight_hh = nn.Parameter(a * torch.eye(hidden_size, dtype=F64))  # a exactly, as the probe sees it

    def init_state(self, B, device=None, dtype=None):
        return (torch.ones(B, self.hidden_size, device=device, dtype=dtype),)

    def step(self, x_t, state):
        return (state[0] @ self.weight_hh.T + x_t,), {}

    def forward(self, x, state=None):
        state = state or self.init_state(x.shape[0], x.device, x.dtype)
        hs = []
        for x_t in x.unbind(1):
            state, _ = self.step(x_t, state)
            hs.append(state[0])
        return torch.stack(hs, dim=1), state


def set_params(rec: nn.Module, **values) -> None:
    """Set an LSTM's parameters by nn.LSTM's names (weight_ih_l0, ...), whichever class holds them."""
    with torch.no_grad():
        for name, p in rec.named_parameters():
            key = name.split(".")[-1]
            if key in values:
                p.copy_(torch.as_tensor(values[key], dtype=p.dtype).expand_as(p))


def identity_readout(model: SeqModel) -> None:
    with torch.no_grad():
        model.readout.weight.fill_(1.0)
        model.readout.bias.zero_()


def linear_model(task, a: float, H: int = 4) -> SeqModel:
    torch.manual_seed(0)  # a random readout: an all-ones one gives a zero cross-entropy gradient
    return SeqModel(LinearRNN(a, H), task, embed_size=H).double()


def first(seq, pred) -> int:
    return next(i for i, v in enumerate(seq) if pred(v))


# the dependency (start, end) of sequence b as each task's docstring defines it, read off the batch with plain loops

def copy_dep(task, batch, b):  # the first recall, right after the delimiter, back to the first symbol
    return 0, first(batch.x[b].tolist(), lambda v: v == task.n_symbols + 1) + 1


def marked_dep(task, batch, b):  # the first marked value to the scored step: the last, or the one `mask` marks
    end = len(batch.x[b]) - 1 if batch.mask is None else first(batch.mask[b].tolist(), bool)
    return first(batch.x[b, :, 1].tolist(), lambda v: v == 1.0), end


def temporal_dep(task, batch, b):  # the first X or Y to the answer step, where B is
    x = batch.x[b].tolist()
    return first(x, lambda v: v in (5, 6)), first(x, lambda v: v == 8)


def selective_dep(task, batch, b):  # the first symbol to the first recall marker
    x = batch.x[b].tolist()
    return first(x, lambda v: 1 <= v <= task.n_symbols), first(x, lambda v: v == task.n_symbols + 1)


def assoc_dep(task, batch, b):  # the query with the longest gap (the first of equals) back to its key
    x = batch.x[b].tolist()
    keys = x[: 2 * task.n_pairs : 2]
    queries = [(q - 2 * keys.index(v), q) for q, v in enumerate(x) if q >= 2 * task.n_pairs and v != 0]
    gap, q = max(queries, key=lambda gq: (gq[0], -gq[1]))
    return q - gap, q


def reber_dep(task, batch, b):  # where the second letter is due back to its first letter, the longest in view
    pairs, letter = [], None
    for t, r in enumerate(batch.reader_state[b].tolist()):
        letter = t if r == ReaderState.AFTER_LETTER else letter
        if r in (ReaderState.T_DUE, ReaderState.P_DUE) and letter is not None:
            pairs.append((t - letter, t))
    if not pairs:
        return -1, -1
    d, t = max(pairs, key=lambda dt: (dt[0], -dt[1]))
    return t - d, t


# every task (and the options that move its dependency) at two lengths
SEVEN = {
    "copy": (lambda T: Copy(T, n_symbols=4, n_recall=3), copy_dep),
    "copy_variable": (lambda T: Copy(T, n_symbols=4, n_recall=3, variable=True), copy_dep),
    "adding": (lambda T: Adding(T), marked_dep),
    "adding_hochreiter": (lambda T: Adding(T, style="hochreiter"), marked_dep),
    "multiplication": (lambda T: Multiplication(T), marked_dep),
    "temporal_order": (lambda T: TemporalOrder(T), temporal_dep),
    "selective_copy": (lambda T: SelectiveCopy(T, n_symbols=4, n_recall=3), selective_dep),
    "assoc_recall": (lambda T: AssocRecall(T, n_keys=6, n_values=4, n_pairs=4, n_queries=3), assoc_dep),
    "reber": (lambda T: Reber(T), reber_dep),
    "reber_continual": (lambda T: Reber(T, continual=True), reber_dep),
}
LENGTHS = {"adding_hochreiter": (20, 44), "reber": (20, 40), "reber_continual": (24, 48)}


@pytest.mark.parametrize("a", [0.5, 1.1])
@pytest.mark.parametrize("name", SEVEN)
def test_linear_rnn_gives_ln_a_across_every_tasks_dependency(name, a):
    """For each task at two lengths: the lag curve reaches back over each sequence's own dependency
    (end - start, as the task defines it), and h_t = a h_{t-1} + x_t gives log10 ratio d * log10 a
    per sequence and the slope ln a, exactly."""
    depths = []
    for T in LENGTHS.get(name, (12, 30)):
        task = SEVEN[name][0](T)
        batch = task.batch(8, 0, 0, split=TEST)
        start, end = zip(*(SEVEN[name][1](task, batch, b) for b in range(len(batch.x))))
        d = [e - s for s, e in zip(start, end) if e >= 0]
        assert len(d) >= 4  # most sequences have their dependency in view (a stream window may not)
        model = linear_model(task, a)
        row, _ = measure(model, task, batch)
        assert row["dependency_range"] == [min(d), max(d)]
        assert row["dependency_length"] == pytest.approx(sum(d) / len(d), rel=1e-12)
        K = max(end)
        assert len(row["grad_h_lag"]) == K + 1 >= max(d) + 1  # the lags cover every dependency
        assert row["lag_n"] == [sum(e >= k for e in end) for k in range(K + 1)]
        assert row["grad_decay_per_step"] == pytest.approx(math.log(a), rel=1e-9)
        assert row["grad_ratio_log10"] == pytest.approx(sum(d) / len(d) * math.log10(a), rel=1e-9)
        # the lag curve, independently: each sequence's own gradient at its scored step, a^k times further back
        m = model
        x = batch.x.double() if batch.x.is_floating_point() else batch.x
        hs = m.recurrence(m.encoder(x))[0].detach().requires_grad_()
        loss = task.dependency_loss(m.read(hs), type(batch)(**{**vars(batch), "x": x, "y": batch.y.double()
                                                               if batch.y.is_floating_point() else batch.y}))
        (g,) = torch.autograd.grad(loss.sum(), hs)
        at_end = [g[b, e].norm().item() for b, e in enumerate(end) if e >= 0]
        ends = [e for e in end if e >= 0]
        want = [sum(a**k * n for n, e in zip(at_end, ends) if e >= k) / sum(e >= k for e in ends) for k in range(K + 1)]
        assert row["grad_h_lag"] == pytest.approx(want, rel=1e-9)
        depths.append(max(d))
    assert depths[1] > depths[0] or name.startswith("reber")  # the window grows with T (a Reber string does not)


def test_linear_rnn_curve_against_t_and_the_spectral_radius():
    T, a = 30, 0.9
    task = Adding(T)
    model = linear_model(task, a)
    row, heatmap = measure(model, task, task.batch(5, 0, 0, split=TEST))
    g = torch.tensor(row["grad_h"], dtype=F64)
    expected = a ** torch.arange(T - 1, -1, -1, dtype=F64)  # a^(T-1-t): every sequence is scored at T-1
    torch.testing.assert_close(g / g[-1], expected, rtol=1e-12, atol=0)
    assert row["grad_h_lag"] == pytest.approx(row["grad_h"][::-1], rel=1e-12)
    assert row["spectral_radius"] == pytest.approx(a)
    assert heatmap is None and "forget_mean" not in row and "grad_c" not in row


def test_underflow_is_a_floor_not_minus_infinity():
    # a^202 = 1e-606 underflows even float64; the ratio is floored and flagged, never -inf or NaN
    T, a = 200, 1e-3
    task = Copy(T, n_symbols=4, n_recall=2)  # every sequence: the recall at 202 reads the symbol at 0
    row, _ = measure(linear_model(task, a), task, task.batch(4, 0, 0, split=TEST))
    assert row["dependency_range"] == [T + 2, T + 2]
    assert row["grad_floored"] is True
    assert math.isfinite(row["grad_ratio_log10"]) and row["grad_ratio_log10"] < -290
    assert row["grad_decay_per_step"] == pytest.approx(math.log(a), rel=1e-9)  # fitted where it did not underflow
    g = row["grad_h_lag"]
    assert g[100] / g[0] == pytest.approx(a**100, rel=1e-9)  # 1e-300: measured, not lost to squaring


@pytest.mark.parametrize("cls", [LSTM, LSTMCell])
@pytest.mark.parametrize("f", [0.5, 0.9])
def test_forced_forget_gate_decays_the_cell_gradient_as_f_to_the_t(cls, f):
    T, H = 25, 3
    task = Adding(T)
    rec = cls(input_size=2, hidden_size=H).double()  # float64 before setting: f is then f to the last bit
    logit = math.log(f / (1 - f))
    b = torch.zeros(4 * H, dtype=F64)
    b[:H] = -1e4  # input gate shut: sigmoid(-1e4) is exactly 0
    b[H : 2 * H] = logit  # forget gate exactly f, whatever h and x
    set_params(rec, weight_ih_l0=0.0, weight_hh_l0=0.0, bias_ih_l0=b, bias_hh_l0=0.0)
    model = SeqModel(rec, task, embed_size=2).double()
    identity_readout(model)
    batch = task.batch(4, 0, 0, split=TEST)
    row, heatmap = measure(model, task, batch)
    g = torch.tensor(row["grad_c"], dtype=F64)
    torch.testing.assert_close(g / g[-1], f ** torch.arange(T - 1, -1, -1, dtype=F64), rtol=1e-10, atol=0)
    d = (T - 1 - (batch.x[..., 1] == 1).long().argmax(dim=1)).double()  # the last step back to the first marked value
    assert row["dependency_length"] == pytest.approx(d.mean().item())
    assert row["grad_c_ratio_log10"] == pytest.approx(d.mean().item() * math.log10(f), rel=1e-9)
    assert row["grad_c_decay_per_step"] == pytest.approx(math.log(f), rel=1e-9)
    assert row["forget_mean"] == pytest.approx(f) and row["input_mean"] == 0.0 and row["input_shut"] == 1.0
    assert row["forget_timescale_median"] == pytest.approx(-1 / math.log(f))
    assert sum(row["gate_hist"]["f"]) == 4 * T * H
    assert heatmap.shape == (H, T) and torch.allclose(heatmap, torch.full((H, T), f))
    # h_{t-1} feeds nothing here (W_hh = 0): its gradient is exactly 0 before the end, reported as a floor
    assert row["grad_floored"] is True and math.isfinite(row["grad_ratio_log10"])


def sigmoid(v: float) -> float:
    return 1 / (1 + math.exp(-v))


@pytest.mark.parametrize("cls", [LSTM, LSTMCell])
def test_forget_gate_is_sigmoid_of_W_f_on_h_x_by_hand(cls):
    # the lecture's sizes: h is 3-d, x is 4-d, [h_{t-1}, x_t] is 7-d; two steps so h_{t-1} != 0
    H, I = 3, 4
    rec = cls(input_size=I, hidden_size=H).double()
    w_ih = [[0.1 * ((r * I + k) % 7 - 3) for k in range(I)] for r in range(4 * H)]
    w_hh = [[0.2 * ((r * H + k) % 5 - 2) for k in range(H)] for r in range(4 * H)]
    b_ih = [0.05 * (r % 4 - 1) for r in range(4 * H)]
    b_hh = [0.03 * (r % 3 - 1) for r in range(4 * H)]
    set_params(rec, weight_ih_l0=w_ih, weight_hh_l0=w_hh, bias_ih_l0=b_ih, bias_hh_l0=b_hh)
    xs = [[0.5, -1.0, 2.0, 0.0], [1.0, 0.25, -0.5, 1.5]]

    h, c = [0.0] * H, [0.0] * H
    state = rec.init_state(1, dtype=F64)
    for x in xs:
        def pre(r):  # row r of W [h_{t-1}, x_t] + b, nn.LSTM's layout: W = [W_hh | W_ih], b = b_ih + b_hh
            return sum(w_hh[r][k] * h[k] for k in range(H)) + sum(w_ih[r][k] * x[k] for k in range(I)) + b_ih[r] + b_hh[r]
        i = [sigmoid(pre(j)) for j in range(H)]
        f = [sigmoid(pre(H + j)) for j in range(H)]
        g = [math.tanh(pre(2 * H + j)) for j in range(H)]
        o = [sigmoid(pre(3 * H + j)) for j in range(H)]
        c = [f[j] * c[j] + i[j] * g[j] for j in range(H)]
        h = [o[j] * math.tanh(c[j]) for j in range(H)]
        state, gates = rec.step(torch.tensor([x], dtype=F64), state)
        torch.testing.assert_close(gates["f"], torch.tensor([f], dtype=F64), rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(state[1], torch.tensor([c], dtype=F64), rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(state[0], torch.tensor([h], dtype=F64), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("cls", [LSTM, LSTMCell])
@pytest.mark.parametrize("b_f, c_new", [
    ([-1e3, -1e3, -1e3], [0.0, 0.0, 0.0]),  # f = [0, 0, 0]: the context is erased
    ([1e3, 1e3, 1e3], [6.0, 8.0, 9.0]),  # f = [1, 1, 1]: kept whole
    ([0.0, 1e3, 0.0], [3.0, 8.0, 4.5]),  # f = [0.5, 1, 0.5]: partly removed
])
def test_lecture_cell_updates(cls, b_f, c_new):
    H = 3
    rec = cls(input_size=4, hidden_size=H).double()
    b = torch.zeros(4 * H, dtype=F64)
    b[:H] = -1e3  # input gate shut: nothing new goes on the belt
    b[H : 2 * H] = torch.tensor(b_f)
    set_params(rec, weight_ih_l0=0.0, weight_hh_l0=0.0, bias_ih_l0=b, bias_hh_l0=0.0)
    c_prev = torch.tensor([[6.0, 8.0, 9.0]], dtype=F64)
    (h, c), gates = rec.step(torch.randn(1, 4, dtype=F64), (torch.zeros(1, H, dtype=F64), c_prev))
    assert torch.equal(c, torch.tensor([c_new], dtype=F64))
    assert torch.equal(gates["f"], torch.sigmoid(torch.tensor([b_f], dtype=F64)))


@pytest.mark.parametrize("cls", [RNN, LSTM, LSTMCell])
@pytest.mark.parametrize("task", [Adding(6), Copy(4, n_symbols=3, n_recall=2)], ids=["adding", "copy"])
def test_agrees_with_autograd_on_the_unrolled_graph(cls, task):
    torch.manual_seed(0)
    model = SeqModel(cls(input_size=3, hidden_size=5), task, embed_size=3)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    batch = task.batch(4, 0, 0, split=TEST)
    row, _ = measure(model, task, batch)
    assert all(torch.equal(p, before[n]) and p.grad is None for n, p in model.named_parameters())  # untouched

    m = model.double()
    x = batch.x.double() if batch.x.is_floating_point() else batch.x
    y = batch.y.double() if batch.y.is_floating_point() else batch.y
    batch = type(batch)(x, y, batch.mask)
    B, T = x.shape[:2]
    # independently, for every t: cut the graph at state t, a leaf there, and differentiate the rest
    for k, key in enumerate(["grad_h", "grad_c"][: len(m.recurrence.init_state(1))]):
        for t in range(T):
            e = m.encoder(x)  # (B, T, E)
            state = m.recurrence.init_state(B, dtype=F64)
            hs = []
            for s in range(T):
                state, gates = m.recurrence.step(e[:, s], state)
                if s == t and k == 0:
                    leaf = state[0].detach().requires_grad_()
                    state = (leaf, *state[1:])
                elif s == t:  # c_t: its own step's h_t = o_t tanh(c_t) lies downstream of it too
                    leaf = state[1].detach().requires_grad_()
                    state = (gates["o"] * torch.tanh(leaf), leaf)
                hs.append(state[0])
            loss = task.dependency_loss(m.read(torch.stack(hs, dim=1)), batch).sum()  # each sequence's own
            (g,) = torch.autograd.grad(loss, leaf)
            assert row[key][t] == pytest.approx(g.norm(dim=-1).mean().item(), rel=1e-9, abs=1e-300)
    # the parameter gradients of the per-step twin equal those of the model's own forward (nn.LSTM, nn.RNN)
    out, _ = m(x)
    names, params = zip(*m.named_parameters())
    grads = torch.autograd.grad(task.dependency_loss(out, batch).mean(), params)  # of the mean, as documented
    for n, g in zip(names, grads):
        assert row["param_grad_norm"][n] == pytest.approx(g.norm().item(), rel=1e-9)


def padded_forget_model(task, H: int = 3) -> SeqModel:
    """An LSTM whose forget gate is 1/2 on every real symbol and 1 on padding (input gate shut)."""
    rec = LSTMCell(input_size=1, hidden_size=H).double()
    b = torch.zeros(4 * H, dtype=F64)
    b[:H] = -1e4
    w = torch.zeros(4 * H, 1, dtype=F64)
    w[H : 2 * H] = 1e3  # f = sigmoid(1e3 * [x is PAD]): exactly 1 on padding, 1/2 elsewhere
    set_params(rec, weight_ih_l0=w, weight_hh_l0=0.0, bias_ih_l0=b, bias_hh_l0=0.0)
    model = SeqModel(rec, task, embed_size=1).double()
    with torch.no_grad():
        model.encoder.weight.zero_()
        model.encoder.weight[Symbol.PAD] = 1.0
    return model


def test_gate_statistics_count_the_real_positions_only():
    H = 3
    task = Reber(40)  # one string of ~12 symbols per row of 40: most positions are padding
    batch = task.batch(6, 0, 0, split=TEST)
    real = batch.x != Symbol.PAD
    assert real.double().mean() < 0.5  # the padding would move every mean below
    row, heatmap = measure(padded_forget_model(task, H), task, batch)
    assert row["forget_mean"] == 0.5 and row["forget_open"] == 0.0 and row["input_shut"] == 1.0
    assert row["forget_timescale_median"] == pytest.approx(1 / math.log(2)) and not row["forget_timescale_median_infinite"]
    assert sum(row["gate_hist"]["f"]) == int(real.sum()) * H
    assert heatmap.shape == (H, int(real[0].sum()))  # example 0's own steps
    assert all(v is None for v, r in zip(row["cell_norm"], real.any(dim=0)) if not r)


def test_a_forget_gate_stuck_at_one_has_an_infinite_timescale():
    T, H = 10, 3
    task = Adding(T)
    rec = LSTMCell(input_size=2, hidden_size=H).double()
    b = torch.zeros(4 * H, dtype=F64)
    b[H : 2 * H] = torch.tensor([0.0, 0.0, 1e3])  # units 0, 1: f = 1/2; unit 2: f = 1 exactly
    set_params(rec, weight_ih_l0=0.0, weight_hh_l0=0.0, bias_ih_l0=b, bias_hh_l0=0.0)
    row, _ = measure(SeqModel(rec, task, embed_size=2).double(), task, task.batch(4, 0, 0, split=TEST))
    assert row["forget_timescale_median"] == pytest.approx(1 / math.log(2))
    assert row["forget_timescale_max"] is None and row["forget_timescale_max_infinite"] is True
    nfg = SeqModel(LSTMCell(input_size=2, hidden_size=H, variant="nfg"), task, embed_size=2)  # f = 1: no forget gate
    row, _ = measure(nfg, task, task.batch(4, 0, 0, split=TEST))
    assert row["forget_mean"] == 1.0
    assert row["forget_timescale_median"] is None and row["forget_timescale_median_infinite"] is True


def test_an_infinite_value_is_infinity_in_a_table_cell():
    from lstm_bench.report.render import _cell, _tex_escape
    from lstm_bench.report.tables import Stat

    assert _cell(Stat((math.inf, 3.0)), ".1f") == "∞ (n=2)" and _cell(Stat((3.0,)), ".1f") == "3.0 (n=1)"
    assert _tex_escape("∞ (n=2)") == r"$\infty$ (n=2)"


@pytest.mark.parametrize("model, task", [("rnn", "adding"), ("lstm", "adding"), ("lstm_cell", "adding"), ("lstm", "copy")])
def test_short_run_writes_diagnostics(tmp_path, model, task):
    result = run(compose_cfg(*TINY, f"model={model}", f"task={task}"), tmp_path)
    rows = read_jsonl(tmp_path / "diagnostics.jsonl")
    assert [r["step"] for r in rows] == [0, 10, 20]  # the fresh model, every evaluation
    T = 8 if task == "adding" else 8 + 2 * 10  # copy: delay + 2 * n_recall
    lstm = model != "rnn"
    for r in rows:
        assert len(r["grad_h"]) == T and all(math.isfinite(v) and v >= 0 for v in r["grad_h"])
        K = T - 1 if task == "adding" else 8 + 10  # the scored step: the last, or copy's first recall
        assert len(r["grad_h_lag"]) == len(r["lag_n"]) == K + 1 and r["dependency_range"][1] <= K
        assert math.isfinite(r["grad_ratio_log10"]) and math.isfinite(r["grad_decay_per_step"])
        assert all(math.isfinite(v) for v in r["param_grad_norm"].values())
        assert ("grad_c" in r) == lstm and ("cell_norm" in r) == lstm and ("spectral_radius" in r) == (not lstm)
        if lstm:
            assert len(r["cell_norm"]) == T and 0 < r["forget_mean"] < 1 and r["forget_timescale_median"] > 0
    assert result["grad_ratio_log10"] == rows[-1]["grad_ratio_log10"]
    assert result["grad_decay_per_step"] == rows[-1]["grad_decay_per_step"]
    assert result["dependency_length"] == rows[-1]["dependency_length"]
    assert (result["forget_mean"] is not None) == lstm and (result["forget_timescale_median"] is not None) == lstm
    assert result["diag_time_s"] > 0
    assert read_json(tmp_path / "result.json")["grad_ratio_log10"] == result["grad_ratio_log10"]
    for png in ["grad_through_time.png"] + (["forget_gate_heatmap.png"] if lstm else []):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_diagnostics_leave_training_alone_and_turn_off(tmp_path):
    on = run(compose_cfg(*TINY, "model=lstm_cell"), tmp_path / "on")
    off = run(compose_cfg(*TINY, "model=lstm_cell", "diag.every=0"), tmp_path / "off")
    # same seed, same metrics number for number: the probe draws no random numbers and touches no weights
    assert (tmp_path / "on/metrics.jsonl").read_text() == (tmp_path / "off/metrics.jsonl").read_text()
    assert on["test_loss"] == off["test_loss"]
    assert not (tmp_path / "off/diagnostics.jsonl").exists() and not list((tmp_path / "off").glob("*.png"))
    assert off["grad_ratio_log10"] is None and off["diag_time_s"] == 0
    # every=2: evaluations 0, 2, ... and the end (steps 0 and 20 of evaluations at 0, 10, 20)
    run(compose_cfg(*TINY, "model=rnn", "diag.every=2"), tmp_path / "two")
    assert [r["step"] for r in read_jsonl(tmp_path / "two/diagnostics.jsonl")] == [0, 20]


def test_bad_diag_config_is_one_clear_error(tmp_path):
    with pytest.raises(ValueError, match=r"diag\.every=-1 is not allowed"):
        run(compose_cfg(*TINY, "diag.every=-1"), tmp_path)


def inspect(run_dir: Path, *flags: str) -> str:
    wandb = str(Path(sys.executable).parent / "wandb")
    (offline,) = glob.glob(str(run_dir / "wandb" / "offline-run-*"))
    return subprocess.run([wandb, "leet", "inspect", *flags, "--json", offline], capture_output=True, text=True,
                          check=True, timeout=60).stdout


def test_wandb_offline_run_holds_the_diagnostics(tmp_path):
    overrides = [o for o in TINY if o != "logger=none"]
    result = run(compose_cfg(*overrides, "logger=wandb", "model=lstm_cell"), tmp_path)
    history = [json.loads(line)["history"]["item"] for line in inspect(tmp_path).splitlines()
               if json.loads(line).get("type") == "history"]
    diag = [h for h in history if "diag/grad_ratio_log10" in h]
    assert [h["_step"] for h in diag] == [0, 10, 20]
    for h in diag:
        for gate in ("forget", "input", "output"):
            assert h[f"diag/{gate}_hist._type"] == "histogram" and len(h[f"diag/{gate}_hist.values"]) == 50
        assert h["diag/forget_heatmap._type"] == "image-file"
        assert math.isfinite(h["diag/grad_c_ratio_log10"]) and 0 < h["diag/forget_mean"] < 1
    assert any("diag/grad_h_t_table._type" in h for h in history)  # the curves of every probe, as a line plot
    summary = json.loads(inspect(tmp_path, "--summary"))["summary"]
    assert summary["grad_ratio_log10"] == result["grad_ratio_log10"]  # result.json's fields
    assert summary["diag/grad_ratio_log10"] == result["grad_ratio_log10"]  # the latest scalars
    assert summary["diag/forget_timescale_median"] == result["forget_timescale_median"]
