"""The recurrences: the gate-by-gate cell is nn.LSTM, the per-step twins are their models."""
import pytest
import torch
import torch.nn as nn

from lstm_bench.models.lstm import LSTM
from lstm_bench.models.lstm_cell import LSTMCell
from lstm_bench.models.rnn import RNN

B, T, I, H = 3, 7, 5, 6


def unroll(rec, x):
    state = rec.init_state(x.shape[0], x.device, x.dtype)
    outs = []
    for t in range(x.shape[1]):
        state, _ = rec.step(x[:, t], state)
        outs.append(state[0])
    return torch.stack(outs, 1), state


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
    out_step, state_step = unroll(rec, x)
    torch.testing.assert_close(out_step, out, rtol=1e-12, atol=1e-12)
    for a, b in zip(state_step, state):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cls", [LSTM, LSTMCell], ids=lambda c: c.name)
def test_forget_bias_moves_b_f_by_exactly_the_value(cls):
    def biases(rec):
        return {n: p.detach().clone() for n, p in rec.named_parameters() if "bias" in n}

    torch.manual_seed(2)
    base = biases(cls(I, H))
    torch.manual_seed(2)
    shifted = biases(cls(I, H, forget_bias=1.0))
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
    rec = cls(I, H, forget_bias=1.0)
    _, gates = rec.step(torch.zeros(1, I), rec.init_state(1))
    torch.testing.assert_close(gates["f"][0], torch.sigmoid(b_f(shifted)))
