"""`model=s6`: the selective state-space recurrence of Mamba (Gu & Dao 2023, "Mamba: Linear-Time Sequence
Modeling with Selective State Spaces", Algorithm 2 and §3.6), in pure PyTorch; `step` is its twin.

Each of the H channels carries an N-wide state (N = `d_state`), with Mamba's input branch and output gate:
    u_t = silu(W_u x_t),  z_t = W_z x_t                                (the block's in_proj, no conv)
    Delta_t = softplus(W_dt (W_r u_t) + b_dt)      (B, H)               (dt_proj of the rank-R x_proj part)
    B_t = W_B u_t,  C_t = W_C u_t                  (B, N) each, shared by the channels
    A = -exp(A_log)                                (H, N), S4D-real init A[:, n] = -(n + 1)
    a_t = exp(Delta_t A)                           the discretised decay (ZOH), in (0, 1)
    s_t = a_t * s_{t-1} + (Delta_t u_t) B_t        (B, H, N)           (Mamba's simplified B discretisation)
    y_t = s_t C_t + D * u_t,   out_t = y_t * silu(z_t)   (B, H)
R = ceil(H / 16) (Mamba's dt_rank), b_dt so that Delta starts log-uniform in [0.001, 0.1] (Mamba's dt init),
D = 1. The short causal convolution before the SSM and the block's out_proj are left out: the shared readout
follows. The state is (out, s): out is read out (`h_is_readout`), so H * N numbers are carried.

`negative_eigenvalues=true` (Grazzi et al. 2025, Table 2): a_t = 2 exp(Delta_t A) - 1, in (-1, 1); B stays.

The forward runs the scan step by step over time. Its parallel forms (a Blelloch or doubling scan, or the
log-space scan with the input split by sign) were measured 20-50x slower on this CPU: each materialises the
(B, T, H, N) state log2(T) times, where Mamba's kernel keeps it in SRAM. The loop stores the state once.

Gates reported by `step`: f = |a_t| per (channel, state) pair, flattened to H * N: the decay of each.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from lstm_bench.errors import require


class S6(nn.Module):
    name = "s6"
    h_is_readout = True  # state[0] = out_t is read out of s_t; the next step never reads it

    def __init__(self, input_size: int, hidden_size: int = 128, d_state: int = 16, negative_eigenvalues: bool = False,
                 dt_min: float = 0.001, dt_max: float = 0.1):
        super().__init__()
        require(isinstance(d_state, int) and d_state >= 1, "model.d_state", d_state, "a positive integer")
        require(isinstance(negative_eigenvalues, bool), "model.negative_eigenvalues", negative_eigenvalues,
                "true or false")
        require(0 < dt_min <= dt_max, "model.dt_min", dt_min, f"in (0, model.dt_max={dt_max}]")
        H, N = hidden_size, d_state
        self.hidden_size, self.d_state, self.negative_eigenvalues = H, N, negative_eigenvalues
        self.rank = math.ceil(H / 16)
        self.in_proj = nn.Linear(input_size, 2 * H, bias=False)  # u, z
        self.x_proj = nn.Linear(H, self.rank + 2 * N, bias=False)  # dt (rank R), B, C
        self.dt_proj = nn.Linear(self.rank, H)
        self.A_log = nn.Parameter(torch.log(torch.arange(1, N + 1, dtype=torch.float32)).repeat(H, 1))  # (H, N)
        self.D = nn.Parameter(torch.ones(H))
        with torch.no_grad():  # Mamba's dt init: Delta = softplus(b_dt) log-uniform in [dt_min, dt_max]
            std = self.rank ** -0.5
            nn.init.uniform_(self.dt_proj.weight, -std, std)
            dt = torch.exp(torch.rand(H) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # softplus^-1
        self.name = type(self).name + ("-neg" if negative_eigenvalues else "")

    def init_state(self, B, device=None, dtype=None):
        z = dict(device=device, dtype=dtype)
        return torch.zeros(B, self.hidden_size, **z), torch.zeros(B, self.hidden_size, self.d_state, **z)

    def coefficients(self, x: torch.Tensor):
        """(a, b, C, the rest of y, the output gate) for x (..., E): s = a s_prev + b, out = (s C + Du) gate."""
        u, z = self.in_proj(x).chunk(2, dim=-1)
        u = F.silu(u)
        dt, Bm, Cm = self.x_proj(u).split([self.rank, self.d_state, self.d_state], dim=-1)
        delta = F.softplus(self.dt_proj(dt))  # (..., H)
        a = torch.exp(delta.unsqueeze(-1) * -torch.exp(self.A_log))  # (..., H, N)
        if self.negative_eigenvalues:
            a = 2 * a - 1
        b = (delta * u).unsqueeze(-1) * Bm.unsqueeze(-2)  # (..., H, N)
        return a, b, Cm, self.D * u, F.silu(z)

    def step(self, x_t, state):
        a, b, Cm, du, gate = self.coefficients(x_t)
        s = a * state[1] + b
        out = ((s @ Cm.unsqueeze(-1)).squeeze(-1) + du) * gate
        return (out, s), {"f": a.abs().flatten(-2)}

    def forward(self, x, state=None):
        B, T, _ = x.shape
        a, b, Cm, du, gate = self.coefficients(x)  # a, b (B, T, H, N)
        s = torch.zeros_like(b[:, 0]) if state is None else state[1]
        states = []
        for a_t, b_t in zip(a.unbind(1), b.unbind(1)):  # unbind, not a[:, t]: see wrapper.unroll
            s = torch.addcmul(b_t, a_t, s)
            states.append(s)
        y = (torch.stack(states, dim=1) @ Cm.unsqueeze(-1)).squeeze(-1)  # (B, T, H)
        out = (y + du) * gate
        return out, (out[:, -1], s)
