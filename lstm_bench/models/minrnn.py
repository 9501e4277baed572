"""`model=minlstm`, `model=mingru`: the minimal LSTM and GRU of Feng et al. 2024 ("Were RNNs All We
Needed?"), trained with a parallel scan; `step` is their sequential twin.

Their gates see x_t only, never h_{t-1}, so each is a linear recurrence h_t = a_t h_{t-1} + b_t whose
coefficients are known for every step at once (§3 of arXiv:2410.01201):
    minGRU   z_t = sigmoid(W_z x_t + b_z)                      a_t = 1 - z_t
             h_t = (1 - z_t) h_{t-1} + z_t g(W_h x_t + b_h)    b_t = z_t g(...)
    minLSTM  f_t = sigmoid(W_f x_t + b_f), i_t = sigmoid(W_i x_t + b_i)
             f'_t = f_t / (f_t + i_t),  i'_t = i_t / (f_t + i_t)            a_t = f'_t
             h_t = f'_t h_{t-1} + i'_t g(W_h x_t + b_h)                      b_t = i'_t g(...)
g(v) = v + 1/2 for v >= 0, sigmoid(v) below: the paper's positive candidate for its log-space scan,
used in both directions here so the twins compute one function. The default scan is the paper's
(Heinsen 2023): log h_t = a*_t + log(h_0 + sum_{k<=t} exp(log b_k - a*_k)), a*_t = sum_{j<=t} log a_j,
with cumsum and logcumsumexp; it needs a_t, b_t, h_0 >= 0, which the model guarantees.

`negative_eigenvalues=true` (Grazzi et al. 2025, "Unlocking state tracking in linear RNNs through
negative eigenvalues"): a_t -> 2 a_t - 1, in [-1, 1], so a unit can flip its sign each step (parity
needs it); b_t stays. Logs of a signed a_t do not exist, so this mode scans in linear space with a
doubling (Hillis-Steele) scan: log2(T) rounds of (a, b)_t <- (a_{t-d} a_t, a_t b_{t-d} + b_t), no
division and no logs, so any sign and a_t = 0 are exact.

Gates reported by `step`: f = |a_t|, the share of |h_{t-1}| kept (minGRU's 1 - z, minLSTM's f';
with negative eigenvalues |2 a - 1|), and i, the share written (z_t, i'_t).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from lstm_bench.errors import require


def g(v: torch.Tensor) -> torch.Tensor:
    return torch.where(v >= 0, v + 0.5, torch.sigmoid(v))


def log_g(v: torch.Tensor) -> torch.Tensor:
    return torch.where(v >= 0, (F.relu(v) + 0.5).log(), -F.softplus(-v))


def log_scan(log_a: torch.Tensor, log_b: torch.Tensor, h0: torch.Tensor | None) -> torch.Tensor:
    """h_t = a_t h_{t-1} + b_t over dim 1 from log a, log b (B, T, H) and h0 (B, H) >= 0 or None (zero)."""
    a_star = log_a.cumsum(dim=1)
    acc = torch.logcumsumexp(log_b - a_star, dim=1)
    if h0 is not None:
        acc = torch.logaddexp(h0.log().unsqueeze(1), acc)
    return (a_star + acc).exp()


def doubling_scan(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None) -> torch.Tensor:
    """h_t = a_t h_{t-1} + b_t over dim 1 for a, b (B, T, H) of any sign; h0 (B, H) or None (zero)."""
    if h0 is not None:
        b = torch.cat([b[:, :1] + a[:, :1] * h0.unsqueeze(1), b[:, 1:]], dim=1)
    d, T = 1, a.shape[1]
    while d < T:
        b = torch.cat([b[:, :d], a[:, d:] * b[:, :-d] + b[:, d:]], dim=1)
        a = torch.cat([a[:, :d], a[:, d:] * a[:, :-d]], dim=1)
        d *= 2
    return b


class MinRNN(nn.Module):
    """What minGRU and minLSTM share: one input projection, the scan, the twin. A subclass says
    how its projection (..., n_proj * H) gives (keep, write, candidate) and their logs."""

    n_proj: int
    name: str

    def __init__(self, input_size: int, hidden_size: int = 128, negative_eigenvalues: bool = False):
        super().__init__()
        require(isinstance(negative_eigenvalues, bool), "model.negative_eigenvalues", negative_eigenvalues,
                "true or false")
        self.hidden_size, self.negative_eigenvalues = hidden_size, negative_eigenvalues
        self.proj = nn.Linear(input_size, self.n_proj * hidden_size)
        self.name = type(self).name + ("-neg" if negative_eigenvalues else "")

    def init_state(self, B, device=None, dtype=None):
        return (torch.zeros(B, self.hidden_size, device=device, dtype=dtype),)

    def coefficients(self, p: torch.Tensor):
        """(a, b, gates) of h_t = a h_{t-1} + b in linear space."""
        keep, write, cand = self.gates(p)
        a = 2 * keep - 1 if self.negative_eigenvalues else keep
        return a, write * g(cand), {"f": a.abs(), "i": write}

    def step(self, x_t, state):
        a, b, gates = self.coefficients(self.proj(x_t))
        return (a * state[0] + b,), gates

    def forward(self, x, state=None):
        p = self.proj(x)  # (B, T, n_proj * H)
        h0 = None if state is None else state[0]
        if self.negative_eigenvalues:
            a, b, _ = self.coefficients(p)
            h = doubling_scan(a, b, h0)
        else:
            log_a, log_write, cand = self.log_gates(p)
            h = log_scan(log_a, log_write + log_g(cand), h0)
        return h, (h[:, -1],)


class MinGRU(MinRNN):
    name = "mingru"
    n_proj = 2  # z, candidate

    def gates(self, p):
        k, cand = p.chunk(2, dim=-1)
        z = torch.sigmoid(k)
        return 1 - z, z, cand

    def log_gates(self, p):
        k, cand = p.chunk(2, dim=-1)
        return -F.softplus(k), -F.softplus(-k), cand  # log(1 - z), log z


class MinLSTM(MinRNN):
    name = "minlstm"
    n_proj = 3  # f, i, candidate

    def gates(self, p):
        kf, ki, cand = p.chunk(3, dim=-1)
        f, i = torch.sigmoid(kf), torch.sigmoid(ki)
        return f / (f + i), i / (f + i), cand

    def log_gates(self, p):
        kf, ki, cand = p.chunk(3, dim=-1)
        diff = F.softplus(-kf) - F.softplus(-ki)  # log i - log f
        return -F.softplus(diff), -F.softplus(-diff), cand  # log f', log i'
