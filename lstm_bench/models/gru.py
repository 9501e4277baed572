"""`model=gru`: nn.GRU (Cho et al. 2014), with a gate-by-gate per-step twin for diagnostics.

PyTorch's equations, gate order r, z, n in the weights:
    reset gate   r_t = sigmoid(W_r [h_{t-1}, x_t] + b_r)
    update gate  z_t = sigmoid(W_z [h_{t-1}, x_t] + b_z)
    candidate    n_t = tanh(W_in x_t + b_in + r_t * (W_hn h_{t-1} + b_hn))
    h_t = (1 - z_t) * n_t + z_t * h_{t-1}
PyTorch's z is the share of the old state that is KEPT: z = 1 carries h unchanged, as the LSTM's
f = 1 keeps its belt. So z plays the forget gate's role, and 1 - z the input gate's: a GRU is a
coupled-gate (cifg-like) cell whose belt is h itself. `step` reports {"r", "z", "n"}.
"""
import torch
import torch.nn as nn


class GRU(nn.Module):
    name = "gru"

    def __init__(self, input_size: int, hidden_size: int = 128):
        super().__init__()
        self.hidden_size = hidden_size
        self.gru = nn.GRU(input_size, hidden_size, batch_first=True)

    def init_state(self, B, device=None, dtype=None):
        return (torch.zeros(B, self.hidden_size, device=device, dtype=dtype),)

    def step(self, x_t, state):
        m, h = self.gru, state[0]
        xr, xz, xn = (x_t @ m.weight_ih_l0.T + m.bias_ih_l0).chunk(3, dim=1)
        hr, hz, hn = (h @ m.weight_hh_l0.T + m.bias_hh_l0).chunk(3, dim=1)
        r = torch.sigmoid(xr + hr)
        z = torch.sigmoid(xz + hz)  # 1 keeps the old state: the forget gate's role
        n = torch.tanh(xn + r * hn)
        h = (1 - z) * n + z * h
        return (h,), {"r": r, "z": z, "n": n}

    def forward(self, x, state=None):
        out, h = self.gru(x, None if state is None else state[0].unsqueeze(0))  # (B, T, H)
        return out, (h[0],)
