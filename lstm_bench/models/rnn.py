"""`model=rnn`: the vanilla tanh RNN, h_t = tanh(W [h_{t-1}, x_t] + b), and its per-step twin."""
import torch
import torch.nn as nn


class RNN(nn.Module):
    name = "rnn"

    def __init__(self, input_size: int, hidden_size: int = 128, nonlinearity: str = "tanh"):
        super().__init__()
        self.hidden_size = hidden_size
        self.rnn = nn.RNN(input_size, hidden_size, nonlinearity=nonlinearity, batch_first=True)
        self.act = torch.tanh if nonlinearity == "tanh" else torch.relu

    def init_state(self, B, device=None, dtype=None):
        return (torch.zeros(B, self.hidden_size, device=device, dtype=dtype),)

    def step(self, x_t, state):
        m = self.rnn
        h = self.act(x_t @ m.weight_ih_l0.T + m.bias_ih_l0 + state[0] @ m.weight_hh_l0.T + m.bias_hh_l0)
        return (h,), {}

    def forward(self, x, state=None):
        out, h = self.rnn(x, None if state is None else state[0].unsqueeze(0))  # (B, T, H)
        return out, (h[0],)
