"""`model=slstm`: the sLSTM cell of xLSTM (Beck et al. 2024), exponential gating with memory mixing by head.

The equations of arXiv:2405.04517, §2.2 (numbering as in the paper):
    c_t = f_t c_{t-1} + i_t z_t                        (8)   cell state
    n_t = f_t n_{t-1} + i_t                            (9)   normaliser state
    h_t = o_t h~_t,  h~_t = c_t / n_t                  (10)  hidden state
    z_t = tanh(z~_t),      z~_t = W_z x_t + R_z h_{t-1} + b_z   (11)  cell input
    i_t = exp(i~_t),       i~_t = W_i x_t + R_i h_{t-1} + b_i   (12)  input gate
    f_t = sigmoid(f~_t) or exp(f~_t), likewise from x_t, h_{t-1} (13)  forget gate (`forget_activation`)
    o_t = sigmoid(o~_t),   likewise                             (14)  output gate
and the stabiliser that keeps exp from overflowing, with c, n stored divided by exp(m_t):
    m_t  = max(log f_t + m_{t-1}, log i_t)             (15)
    i'_t = exp(log i_t - m_t)                          (16)
    f'_t = exp(log f_t + m_{t-1} - m_t)                (17)
which leaves h_t unchanged: c and n are scaled alike. Every R is block-diagonal over `heads`
(memory mixing within a head, none across), stored as (4, heads, H/heads, H/heads) in the gate
order i, f, z, o, acting as h_{t-1} @ block_diag(R[g, 0], ..., R[g, heads-1]).

The state is (h, c, n, m), in that order, not the paper's (c, n, m, h): the harness reads the
first element as h and the second as the memory cell (wrapper.py, the diagnostics). c and n are
the stabilised ones, as the recurrence stores them. The zero state has n = 0 and m = 0.

Gates reported by `step`, each in [0, 1] for the diagnostics:
    f   f'_t n_{t-1} / n_t: the share of the normalised memory c/n that is kept. c_t/n_t is the
        average of c_{t-1}/n_{t-1} and z_t with these weights, for either forget activation, and
        the stabiliser cancels in it; exp(f~) itself can exceed 1, so it is not reported.
    i   i'_t / n_t = 1 - f: the share written from z_t
    o   o_t
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from lstm_bench.errors import require

FORGET = ("sigmoid", "exp")


class SLSTM(nn.Module):
    name = "slstm"

    def __init__(self, input_size: int, hidden_size: int = 128, heads: int = 4, forget_activation: str = "sigmoid"):
        super().__init__()
        require(isinstance(heads, int) and heads >= 1 and hidden_size % heads == 0, "model.heads", heads,
                f"a positive divisor of model.hidden_size={hidden_size}")
        require(forget_activation in FORGET, "model.forget_activation", forget_activation, " | ".join(FORGET))
        self.hidden_size, self.heads, self.forget_activation = hidden_size, heads, forget_activation
        d = hidden_size // heads
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size))  # rows i, f, z, o
        self.bias = nn.Parameter(torch.empty(4 * hidden_size))
        self.weight_hh = nn.Parameter(torch.empty(4, heads, d, d))  # per gate, per head: (in, out)
        # PyTorch's recurrent-layer init, U(-1/sqrt(fan-in), +): a head's recurrent fan-in is H/heads
        for p, fan_in in ((self.weight_ih, hidden_size), (self.bias, hidden_size), (self.weight_hh, d)):
            nn.init.uniform_(p, -1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in))
        self.name = type(self).name + ("-expf" if forget_activation == "exp" else "")

    def init_state(self, B, device=None, dtype=None):
        z = torch.zeros(B, self.hidden_size, device=device, dtype=dtype)
        return (z, z.clone(), z.clone(), z.clone())  # h, c, n, m

    def recurrent_matrix(self) -> torch.Tensor:
        """(H, 4H): the four block-diagonal R side by side, so one matmul gives every gate's h_{t-1} @ R."""
        eye = torch.eye(self.heads, device=self.weight_hh.device, dtype=self.weight_hh.dtype)
        return torch.einsum("gnde,nm->ndgme", self.weight_hh, eye).reshape(self.hidden_size, 4 * self.hidden_size)

    def cell(self, wx: torch.Tensor, state, R: torch.Tensor):
        """One step from wx = W x_t + b (B, 4H), the input's share computed ahead, and R = recurrent_matrix()."""
        h, c, n, m = state
        i_, f_, z_, o_ = torch.addmm(wx, h, R).chunk(4, dim=1)  # pre-activations i~, f~, z~, o~
        log_f = F.logsigmoid(f_) if self.forget_activation == "sigmoid" else f_
        m_new = torch.maximum(log_f + m, i_)  # (15)
        i = torch.exp(i_ - m_new)  # (16)
        f = torch.exp(log_f + m - m_new)  # (17)
        o = torch.sigmoid(o_)
        c_new = f * c + i * torch.tanh(z_)
        n_new = f * n + i
        h_new = o * c_new / n_new
        kept = f * n / n_new
        return (h_new, c_new, n_new, m_new), {"f": kept, "i": 1 - kept, "o": o}

    def step(self, x_t, state):
        return self.cell(F.linear(x_t, self.weight_ih, self.bias), state, self.recurrent_matrix())

    def forward(self, x, state=None):
        # the recurrence mixes h into every gate: only the input projection runs ahead of the loop
        if state is None:
            state = self.init_state(x.shape[0], x.device, x.dtype)
        wx = F.linear(x, self.weight_ih, self.bias)  # (B, T, 4H)
        R = self.recurrent_matrix()
        hs = []
        for wx_t in wx.unbind(dim=1):
            state, _ = self.cell(wx_t, state, R)
            hs.append(state[0])
        return torch.stack(hs, dim=1), state
