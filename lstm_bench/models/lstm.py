"""`model=lstm`: nn.LSTM (cuDNN on a GPU), with the gate-by-gate cell as its per-step twin."""
import torch
import torch.nn as nn

from lstm_bench.models.init import init_gate_biases, init_name
from lstm_bench.models.lstm_cell import lstm_step


class LSTM(nn.Module):
    """`init`, `forget_bias`, `forget_bias_add`, `chrono_tmax`: the bias initialisation (lstm_bench/models/init.py)."""

    name = "lstm"

    def __init__(self, input_size: int, hidden_size: int = 128, forget_bias=None, init: str = "default",
                 chrono_tmax=None, forget_bias_add=None):
        super().__init__()
        self.hidden_size = hidden_size
        self.lstm = nn.LSTM(input_size, hidden_size, batch_first=True)
        init_gate_biases(self.lstm.bias_ih_l0, self.lstm.bias_hh_l0, init=init, forget_bias=forget_bias,
                         chrono_tmax=chrono_tmax, forget_bias_add=forget_bias_add)
        self.name = type(self).name + init_name(init, forget_bias, forget_bias_add)  # a subclass keeps its own name

    def init_state(self, B, device=None, dtype=None):
        z = torch.zeros(B, self.hidden_size, device=device, dtype=dtype)
        return (z, z.clone())

    def step(self, x_t, state):
        m = self.lstm
        h, c, gates = lstm_step(x_t, *state, m.weight_ih_l0, m.weight_hh_l0, m.bias_ih_l0, m.bias_hh_l0)
        return (h, c), gates

    def forward(self, x, state=None):
        if state is not None:
            state = tuple(s.unsqueeze(0) for s in state)  # (1, B, H): nn.LSTM's layout
        out, (h, c) = self.lstm(x, state)  # (B, T, H)
        return out, (h[0], c[0])
