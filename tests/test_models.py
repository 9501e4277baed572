"""The recurrences: the gate-by-gate cell is nn.LSTM, the per-step twins are their models, and every
model config builds what it names."""
import hydra
import pytest
import torch
import torch.nn as nn
from conftest import ROOT, TINY, compose_cfg, unroll

from lstm_bench.models.lstm import LSTM
from lstm_bench.models.lstm_cell import LSTMCell
from lstm_bench.models.rnn import RNN
from lstm_bench.train import build

B, T, I, H = 3, 7, 5, 6


def test_lstm_cell_equals_nn_lstm_outputs_and_gradients_float64():
    torch.manual_seed(0)
    ref = nn.LSTM(I, H, batch_first=True).double()
    cell = LSTMCell(I, H).double()
    cell.load_state_dict(ref.state_dict())  # nn.LSTM's layout: its weights load as they are
    x = torch.randn(B, T, I, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(B, H, dtype=torch.float64)
    c0 = torch.randn(B, H, dtype=torch.float64)
    out_ref, (h_ref, c_ref) = ref(x, (h0[None], c0[None]))
    out, (h, c) = cell(x, (h0, c0))
    torch.testing.assert_close(out, out_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(h, h_ref[0], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(c, c_ref[0], rtol=1e-12, atol=1e-12)

    g = torch.randn_like(out)  # the same upstream gradient for both
    grads_ref = torch.autograd.grad((out_ref * g).sum() + h_ref.sum() + 2 * c_ref.sum(), [x, *ref.parameters()])
    grads = torch.autograd.grad((out * g).sum() + h.sum() + 2 * c.sum(), [x, *cell.parameters()])
    for a, b in zip(grads, grads_ref):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cls", [LSTM, LSTMCell, RNN], ids=lambda c: c.name)
def test_step_twin_reproduces_forward(cls):
    torch.manual_seed(1)
    rec = cls(I, H).double()
    x = torch.randn(B, T, I, dtype=torch.float64)
    out, state = rec(x)
    out_step, state_step, _ = unroll(rec, x)
    torch.testing.assert_close(out_step, out, rtol=1e-12, atol=1e-12)
    for a, b in zip(state_step, state):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cls", [LSTM, LSTMCell], ids=lambda c: c.name)
def test_forget_bias_add_moves_b_f_by_exactly_the_value(cls):
    def biases(rec):
        return {n: p.detach().clone() for n, p in rec.named_parameters() if "bias" in n}

    torch.manual_seed(2)
    base = biases(cls(I, H))
    torch.manual_seed(2)
    shifted = biases(cls(I, H, forget_bias_add=1.0))
    b_ih = next(n for n in base if "bias_ih" in n)
    b_hh = next(n for n in base if "bias_hh" in n)
    b_f = lambda b: b[b_ih][H:2 * H] + b[b_hh][H:2 * H]  # nn.LSTM adds its two biases
    torch.testing.assert_close(b_f(shifted) - b_f(base), torch.ones(H), rtol=0, atol=1e-6)
    # only the forget gate moved: i, g, o keep PyTorch's init
    keep = torch.ones(4 * H, dtype=torch.bool)
    keep[H:2 * H] = False
    torch.testing.assert_close(shifted[b_ih][keep], base[b_ih][keep], rtol=0, atol=0)
    torch.testing.assert_close(shifted[b_hh], base[b_hh], rtol=0, atol=0)
    # and the gate the cell computes is sigma(b_f): with x = 0 and h = 0 only the bias speaks
    torch.manual_seed(2)
    rec = cls(I, H, forget_bias_add=1.0)
    _, gates = rec.step(torch.zeros(1, I), rec.init_state(1))
    torch.testing.assert_close(gates["f"][0], torch.sigmoid(b_f(shifted)))


@pytest.mark.parametrize("name", sorted(p.stem for p in (ROOT / "conf" / "model").glob("*.yaml")))
def test_every_model_config_builds_its_class_and_runs(name):
    """model=NAME builds the class its _target_ names, which reads the task's batches. The configs that
    compose model/lstm.yaml (lstm_cell, lstm_triton) take its keys: init=forget_bias sets b_f to 1."""
    cfg = compose_cfg(*TINY, f"model={name}")
    lstm_family = "init" in cfg.model
    if lstm_family:
        cfg.model.init = "forget_bias"
    task, model = build(cfg, torch.device("cpu"))
    rec = model.recurrence
    assert type(rec) is hydra.utils.get_class(cfg.model._target_)
    batch = task.batch(2, 0, 0)
    out, _ = model(batch.x)
    assert torch.isfinite(task.loss(out, batch))
    if lstm_family:
        p = dict(rec.named_parameters())
        b_ih, b_hh = (next(v for k, v in p.items() if k.endswith(n)) for n in ("bias_ih_l0", "bias_hh_l0"))
        H = rec.hidden_size
        torch.testing.assert_close((b_ih + b_hh)[H:2 * H], torch.ones(H), rtol=0, atol=1e-6)
