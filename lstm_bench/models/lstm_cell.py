"""The LSTM written out gate by gate, with the names users learn.

The memory cell c is a conveyor belt through time. From the concatenation [h_{t-1}, x_t]:
    forget gate  f_t = sigmoid(W_f [h_{t-1}, x_t] + b_f)   f = 0 erases the belt, f = 1 keeps it whole
    input gate   i_t = sigmoid(W_i [h_{t-1}, x_t] + b_i)   how much new content goes on
    candidate    g_t = tanh(W_g [h_{t-1}, x_t] + b_g)      the new content
    output gate  o_t = sigmoid(W_o [h_{t-1}, x_t] + b_o)
    c_t = f_t * c_{t-1} + i_t * g_t
    h_t = o_t * tanh(c_t)
The weights use nn.LSTM's layout (gate order i, f, g, o; W = [W_hh | W_ih] split in two
matrices, two biases that add), so nn.LSTM's weights give the same outputs here.
"""
import math

import torch
import torch.nn as nn


def lstm_update(z: torch.Tensor, c: torch.Tensor):
    """Gate pre-activations z (B, 4H) and the belt c_{t-1} (B, H) -> h_t, c_t, gates."""
    zi, zf, zg, zo = z.chunk(4, dim=1)  # 4 x (B, H), nn.LSTM's order
    i, f, g, o = torch.sigmoid(zi), torch.sigmoid(zf), torch.tanh(zg), torch.sigmoid(zo)
    c = f * c + i * g
    h = o * torch.tanh(c)
    return h, c, {"i": i, "f": f, "g": g, "o": o}


def lstm_step(x_t, h, c, w_ih, w_hh, b_ih, b_hh):
    """One step in the textbook form: one matrix on the concatenation [h_{t-1}, x_t]."""
    W = torch.cat([w_hh, w_ih], dim=1)  # (4H, H + I)
    z = torch.cat([h, x_t], dim=1) @ W.T + (b_ih + b_hh)  # (B, 4H)
    return lstm_update(z, c)


def add_forget_bias(b_ih: torch.Tensor, value: float) -> None:
    """Add `value` to the forget gate's bias. nn.LSTM sums bias_ih and bias_hh: we touch only
    bias_ih, so b_f = bias_ih[H:2H] + bias_hh[H:2H] moves by exactly `value`."""
    H = b_ih.shape[0] // 4
    with torch.no_grad():
        b_ih[H : 2 * H] += value


class LSTMCell(nn.Module):
    """`model=lstm_cell`: the gate-by-gate loop in plain PyTorch."""

    name = "lstm_cell"

    def __init__(self, input_size: int, hidden_size: int = 128, forget_bias: float = 0.0):
        super().__init__()
        H, I = hidden_size, input_size
        self.hidden_size = H
        # nn.LSTM's names and shapes, so its state_dict loads here
        self.weight_ih_l0 = nn.Parameter(torch.empty(4 * H, I))
        self.weight_hh_l0 = nn.Parameter(torch.empty(4 * H, H))
        self.bias_ih_l0 = nn.Parameter(torch.empty(4 * H))
        self.bias_hh_l0 = nn.Parameter(torch.empty(4 * H))
        bound = 1 / math.sqrt(H)  # nn.LSTM's own initialisation
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)
        add_forget_bias(self.bias_ih_l0, forget_bias)

    def init_state(self, B, device=None, dtype=None):
        z = torch.zeros(B, self.hidden_size, device=device, dtype=dtype)
        return (z, z.clone())

    def step(self, x_t, state):
        h, c = state
        h, c, gates = lstm_step(x_t, h, c, self.weight_ih_l0, self.weight_hh_l0, self.bias_ih_l0, self.bias_hh_l0)
        return (h, c), gates

    def forward(self, x, state=None):
        B, T, _ = x.shape
        h, c = state if state is not None else self.init_state(B, x.device, x.dtype)
        # the x-part of W[h, x] for all T at once: one GEMM instead of T small ones
        zx = x @ self.weight_ih_l0.T + (self.bias_ih_l0 + self.bias_hh_l0)  # (B, T, 4H)
        outs = []
        for t in range(T):
            h, c, _ = lstm_update(zx[:, t] + h @ self.weight_hh_l0.T, c)
            outs.append(h)
        return torch.stack(outs, dim=1), (h, c)  # (B, T, H)
