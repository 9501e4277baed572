"""`model=lru`: the Linear Recurrent Unit of Orvieto et al. 2023 ("Resurrecting Recurrent Neural Networks for Long
Sequences", ICML, arXiv:2303.06349): a complex diagonal linear recurrence with its exponential parameterisation
and normalisation; trained as a causal convolution (the recurrence does not depend on the input); `step` is its
twin.

With N = H complex states (§3 and the paper's Appendix A code):
    lambda = exp(-exp(nu) + i exp(theta))          |lambda| = exp(-exp(nu)) in (0, 1): stable by construction
    gamma = exp(gamma_log), gamma_log initialised to log sqrt(1 - |lambda|^2)   (the normalisation)
    x_t = lambda * x_{t-1} + gamma * (B u_t)       (B, N) complex, B = B_re + i B_im
    y_t = Re(C x_t) + D u_t                        C = C_re + i C_im
    out_t = gelu(y_t)
Initialised as the paper's code: |lambda| uniform on the ring [r_min, r_max] (in area), arg lambda uniform in
[0, max_phase], B ~ N(0, 1/(2E)) and C ~ N(0, 1/N) in each of their real and imaginary parts. Two departures,
both forced by the harness: D is a full (H, E) matrix, not the paper's diagonal (the input width E is not H
here), and out_t = gelu(y_t) stands in for the MLP / GLU the paper's block puts after the LRU, since the
shared readout is linear and a linear recurrence under a linear readout is a linear map of the inputs.

The state is (out, x) with x stored as [Re x, Im x] (B, 2N): out is read out (`h_is_readout`), so 2N real
numbers are carried. The forward is the recurrence unrolled, x_t = sum_{s<=t} lambda^{t-s} gamma B u_s +
lambda^{t+1} x_0: a causal convolution with the kernel lambda^k, computed by FFT (O(T log T), the powers as
exp(k log lambda), never a division by lambda).

Gates reported by `step`: f = |lambda| per state, the decay (the same at every step).
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from lstm_bench.errors import require


class LRU(nn.Module):
    name = "lru"
    h_is_readout = True  # state[0] = gelu(Re(C x) + D u) is read out of x; the next step never reads it

    def __init__(self, input_size: int, hidden_size: int = 128, r_min: float = 0.9, r_max: float = 0.999,
                 max_phase: float = 2 * math.pi):
        super().__init__()
        require(0 <= r_min < r_max <= 1, "model.r_min", r_min, f"in [0, model.r_max={r_max}), and r_max <= 1")
        require(max_phase > 0, "model.max_phase", max_phase, "a positive angle in radians")
        E, H = input_size, hidden_size
        self.hidden_size = H
        u1, u2 = torch.rand(H), torch.rand(H)
        self.nu_log = nn.Parameter(torch.log(-0.5 * torch.log(u1 * (r_max**2 - r_min**2) + r_min**2)))
        self.theta_log = nn.Parameter(torch.log(max_phase * u2))
        self.gamma_log = nn.Parameter(torch.log(torch.sqrt(1 - torch.exp(-torch.exp(self.nu_log.detach())) ** 2)))
        self.B_re = nn.Parameter(torch.randn(H, E) / math.sqrt(2 * E))
        self.B_im = nn.Parameter(torch.randn(H, E) / math.sqrt(2 * E))
        self.C_re = nn.Parameter(torch.randn(H, H) / math.sqrt(H))
        self.C_im = nn.Parameter(torch.randn(H, H) / math.sqrt(H))
        self.D = nn.Parameter(torch.randn(H, E) / math.sqrt(E))

    def init_state(self, B, device=None, dtype=None):
        z = dict(device=device, dtype=dtype)
        return torch.zeros(B, self.hidden_size, **z), torch.zeros(B, 2 * self.hidden_size, **z)

    def log_lambda(self) -> torch.Tensor:
        return torch.complex(-torch.exp(self.nu_log), torch.exp(self.theta_log))  # (N,)

    def drive(self, u: torch.Tensor) -> torch.Tensor:
        """gamma * (B u), complex (..., N)."""
        g = torch.exp(self.gamma_log)
        return torch.complex(u @ self.B_re.T * g, u @ self.B_im.T * g)

    def read(self, x_re: torch.Tensor, x_im: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        return F.gelu(x_re @ self.C_re.T - x_im @ self.C_im.T + u @ self.D.T)  # Re(C x) + D u

    def step(self, u_t, state):
        N = self.hidden_size
        x = torch.complex(state[1][:, :N], state[1][:, N:])
        lam = torch.exp(self.log_lambda())
        x = lam * x + self.drive(u_t)
        stored = torch.cat([x.real, x.imag], dim=-1)  # read out of what is stored: the probe differentiates it
        out = self.read(stored[:, :N], stored[:, N:], u_t)
        return (out, stored), {"f": lam.abs().expand(u_t.shape[0], -1)}

    def forward(self, u, state=None):
        B, T, _ = u.shape
        N = self.hidden_size
        log_lam = self.log_lambda()
        k = torch.arange(T, device=u.device, dtype=u.dtype)
        kernel = torch.exp(k[:, None] * log_lam)  # (T, N): lambda^k
        n = 2 * T  # zero-padded: the circular convolution is the causal one
        x = torch.fft.ifft(torch.fft.fft(self.drive(u), n=n, dim=1) * torch.fft.fft(kernel, n=n, dim=0), dim=1)[:, :T]
        if state is not None:  # x_0 carried in: + lambda^{t+1} x_0
            x0 = torch.complex(state[1][:, :N], state[1][:, N:])
            x = x + torch.exp((k[:, None] + 1) * log_lam) * x0[:, None]
        out = self.read(x.real, x.imag, u)
        last = x[:, -1]
        return out, (out[:, -1], torch.cat([last.real, last.imag], dim=-1))
