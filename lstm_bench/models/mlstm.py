"""`model=mlstm`: the mLSTM cell of xLSTM (Beck et al. 2024), a matrix memory with exponential gating, by head;
trained in chunks (a parallel form inside each chunk, the recurrence between chunks); `step` is its twin.

The equations of arXiv:2405.04517, §2.3 (numbering as in the paper), per head, d = H/heads:
    C_t = f_t C_{t-1} + i_t v_t k_t^T                      (19)  matrix memory, d x d
    n_t = f_t n_{t-1} + i_t k_t                            (20)  normaliser, d
    h_t = o_t * h~_t,  h~_t = C_t q_t / max(|n_t^T q_t|, 1)  (21)
    q_t = W_q x_t + b_q                                    (22)
    k_t = (W_k x_t + b_k) / sqrt(d)                        (23)  the bias scaled too, as xLSTM's code does
    v_t = W_v x_t + b_v                                    (24)
    i_t = exp(i~_t),  i~_t = w_i^T x_t + b_i               (25)  one scalar per head
    f_t = sigmoid(f~_t) or exp(f~_t), f~_t = w_f^T x_t + b_f  (26)  one scalar per head (`forget_activation`)
    o_t = sigmoid(W_o x_t + b_o)                           (27)
with sLSTM's stabiliser (15)-(17) (lstm_bench/models/slstm.py): m_t = max(log f_t + m_{t-1}, i~_t), and C, n
stored divided by exp(m_t), so that (21) reads h~_t = C_t q_t / max(|n_t^T q_t|, exp(-m_t)), the same number.
Here k_t v_t^T is stored, not v_t k_t^T (C_t^T q_t read out): the state is (h, C, n, m) with C (B, heads, d, d),
n (B, heads, d), m (B, heads). h is read out of the memory and never fed back (`h_is_readout`): the state
carried from step to step is heads * (d*d + d + 1) numbers.

The chunkwise form: inside a chunk with carried (C_0, n_0, m_0), F_r = sum_{j<=r} log f_j,
    m_r = max(F_r + m_0, max_{s<=r} F_r - F_s + i~_s)    (the recurrence's m_r, unrolled)
    C_r = exp(F_r + m_0 - m_r) C_0 + sum_{s<=r} exp(F_r - F_s + i~_s - m_r) k_s v_s^T
so one (L x L) matrix of weights per chunk and head gives every h~_r of the chunk and the state at its end.

`negative_eigenvalues=true` (Grazzi et al. 2025, who suggest it for mLSTM without running it, Appendix E.4):
f_t = 2 sigmoid(f~_t) - 1 = tanh(f~_t / 2), in (-1, 1). The stabiliser runs on log |f_t|, and the signs
multiply apart: the chunk's weights get sign(f_{s+1}) ... sign(f_r), a cumulative product of +-1 (exact).
Sigmoid forget gate only: exp(f~) is never negative.

Initialisation as xLSTM's code: PyTorch's Linear, then b_f = linspace(3, 6) over the heads (long memory),
b_i = 0; `forget_bias` sets every head's b_f instead (the result name gets +forget_bias). With negative
eigenvalues xLSTM's b_f starts f = tanh(b_f / 2) at 0.91-0.995, far from the sign flips parity needs: a probe
(parity, T=16, seed 0, 1000 steps) stayed at 0.54 there and solved every length by step 300 from b_f = 0. Gates reported by `step`, per head, each in [0, 1]: f = |f_t| (the eigenvalue of the transition,
the decay of the unnormalised memory; with the exponential forget gate, which can exceed 1, the stabilised
f'_t = exp(log f_t + m_{t-1} - m_t) instead), i = exp(i~_t - m_t) (the stabilised input gate); and o per unit.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from lstm_bench.errors import require

FORGET = ("sigmoid", "exp")
CHUNK = 32  # steps per chunk: the fastest of 16, 32, 64, 128 on a CPU at H=64, T=100 and 1000


class MLSTM(nn.Module):
    name = "mlstm"
    h_is_readout = True  # state[0] is read out of C, n and m; the next step never reads it

    def __init__(self, input_size: int, hidden_size: int = 128, heads: int = 4, forget_activation: str = "sigmoid",
                 negative_eigenvalues: bool = False, forget_bias: float | None = None):
        super().__init__()
        require(isinstance(heads, int) and heads >= 1 and hidden_size % heads == 0, "model.heads", heads,
                f"a positive divisor of model.hidden_size={hidden_size}")
        require(forget_activation in FORGET, "model.forget_activation", forget_activation, " | ".join(FORGET))
        require(isinstance(negative_eigenvalues, bool), "model.negative_eigenvalues", negative_eigenvalues,
                "true or false")
        require(not (negative_eigenvalues and forget_activation == "exp"), "model.negative_eigenvalues",
                negative_eigenvalues, "false with model.forget_activation=exp (exp(f~) is never negative); "
                "use model.forget_activation=sigmoid")
        require(forget_bias is None or (isinstance(forget_bias, (int, float)) and not isinstance(forget_bias, bool)
                                        and math.isfinite(forget_bias)), "model.forget_bias", forget_bias,
                "null (xLSTM's linspace(3, 6) over the heads) or a number for every head")
        self.hidden_size, self.heads, self.d = hidden_size, heads, hidden_size // heads
        self.forget_activation, self.negative_eigenvalues = forget_activation, negative_eigenvalues
        self.chunk = CHUNK
        H = hidden_size
        self.proj = nn.Linear(input_size, 4 * H + 2 * heads)  # rows q, k, v, o (H each), i, f (heads each)
        with torch.no_grad():
            self.proj.bias[4 * H:4 * H + heads].zero_()
            if forget_bias is None:
                self.proj.bias[4 * H + heads:].copy_(torch.linspace(3.0, 6.0, heads))
            else:
                self.proj.bias[4 * H + heads:].fill_(float(forget_bias))
        self.name = (type(self).name + ("-expf" if forget_activation == "exp" else "")
                     + ("-neg" if negative_eigenvalues else "") + ("+forget_bias" if forget_bias is not None else ""))

    def init_state(self, B, device=None, dtype=None):
        nh, d = self.heads, self.d
        z = dict(device=device, dtype=dtype)
        return (torch.zeros(B, self.hidden_size, **z), torch.zeros(B, nh, d, d, **z), torch.zeros(B, nh, d, **z),
                torch.zeros(B, nh, **z))

    def split(self, p: torch.Tensor):
        """(q, k, v per head (..., heads, d); o (..., H); i~, log|f|, sign f or None (..., heads))."""
        H, nh, d = self.hidden_size, self.heads, self.d
        q, k, v, o, i_, f_ = p.split([H, H, H, H, nh, nh], dim=-1)
        q, k, v = (t.unflatten(-1, (nh, d)) for t in (q, k, v))
        k = k / math.sqrt(d)  # (23)
        sign = None
        if self.negative_eigenvalues:
            f = torch.tanh(f_ / 2)  # 2 sigmoid - 1
            # a sign of +-1 always (f = 0 counts as +tiny): a zero would wipe the chunk's sign products after it
            log_f, sign = f.abs().clamp_min(torch.finfo(f.dtype).tiny).log(), torch.where(f < 0, -1.0, 1.0).to(f.dtype)
        else:
            log_f = F.logsigmoid(f_) if self.forget_activation == "sigmoid" else f_
        return q, k, v, o, i_, log_f, sign

    def step(self, x_t, state):
        _, C, n, m = state
        q, k, v, o, i_, log_f, sign = self.split(self.proj(x_t))  # q, k, v (B, nh, d); gates (B, nh)
        m_new = torch.maximum(log_f + m, i_)
        i = torch.exp(i_ - m_new)
        f = torch.exp(log_f + m - m_new)
        if sign is not None:
            f = f * sign
        C = f[..., None, None] * C + i[..., None, None] * k.unsqueeze(-1) * v.unsqueeze(-2)  # (B, nh, d, d)
        n = f[..., None] * n + i[..., None] * k
        num = torch.einsum("bhkv,bhk->bhv", C, q)
        den = torch.maximum((n * q).sum(-1).abs(), torch.exp(-m_new))  # (B, nh)
        o = torch.sigmoid(o)
        h = o * (num / den[..., None]).flatten(-2)  # (B, H)
        decay = f.abs() if self.forget_activation == "exp" else log_f.exp()
        return (h, C, n, m_new), {"f": decay, "i": i, "o": o}

    def forward(self, x, state=None):
        B, T, _ = x.shape
        if state is None:
            state = self.init_state(B, x.device, x.dtype)
        _, C, n, m = state
        q, k, v, o, i_, log_f, sign = self.split(self.proj(x))
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # (B, nh, T, d)
        i_, log_f = i_.transpose(1, 2), log_f.transpose(1, 2)  # (B, nh, T)
        sign = None if sign is None else sign.transpose(1, 2)
        outs = []
        # split, not sliced: a slice's backward fills a zero tensor of the whole sequence per chunk
        chunks = [t.split(self.chunk, dim=2) for t in (q, k, v, i_, log_f)]
        signs = sign.split(self.chunk, dim=2) if sign is not None else [None] * len(chunks[0])
        for qc, kc, vc, ic, lfc, sc in zip(*chunks, signs):
            L = lfc.shape[-1]
            Fc = lfc.cumsum(-1)  # (B, nh, L)
            carried = Fc + m[..., None]  # log weight of the carried state at r
            w = Fc[..., :, None] - Fc[..., None, :] + ic[..., None, :]  # (B, nh, L, L): r, s
            causal = torch.ones(L, L, dtype=torch.bool, device=x.device).tril()
            w = w.masked_fill(~causal, -math.inf)
            m_r = torch.maximum(carried, w.amax(-1))  # (B, nh, L)
            D = torch.exp(w - m_r[..., None])
            c_r = torch.exp(carried - m_r)
            if sc is not None:
                s = sc.cumprod(-1)  # sign(f_1 ... f_r) inside the chunk
                D = D * s[..., :, None] * s[..., None, :]
                c_r = c_r * s
            Dqk = D * (qc @ kc.transpose(-1, -2))  # (B, nh, L, L)
            num = c_r[..., None] * (qc @ C) + Dqk @ vc  # (B, nh, L, d)
            den = c_r * (qc @ n[..., None])[..., 0] + Dqk.sum(-1)
            den = torch.maximum(den.abs(), torch.exp(-m_r))
            outs.append(num / den[..., None])
            C = c_r[..., -1, None, None] * C + (kc * D[..., -1, :, None]).transpose(-1, -2) @ vc
            n = c_r[..., -1, None] * n + (kc * D[..., -1, :, None]).sum(-2)
            m = m_r[..., -1]
        h = torch.sigmoid(o) * torch.cat(outs, dim=2).transpose(1, 2).flatten(-2)  # (B, T, H)
        return h, (h[:, -1], C, n, m)
