"""`model=exprnn`: an RNN whose recurrent matrix is orthogonal, kept so by the exponential map (Lezcano-Casado &
Martínez-Rubio 2019, "Cheap Orthogonal Constraints in Neural Networks: A Simple Parametrization of the
Orthogonal and Unitary Group", ICML, arXiv:1901.08428), with the modReLU of Arjovsky et al. 2016. It stands in
for Arjovsky et al.'s uRNN: both keep |W h| = |h|, so the gradient through W neither vanishes nor explodes.

    W = B exp(A - A^T)                         A lower-triangular, B orthogonal and fixed (the base)
    h_t = modrelu(W h_{t-1} + T x_t)           T: (H, E), no bias
    modrelu(z) = sign(z) * relu(|z| + b)       b: (H,), the only bias
W comes from torch.nn.utils.parametrizations.orthogonal (`orthogonal_map`: matrix_exp, ExpRNN's, or cayley),
with its default static trivialisation: the base B is the matrix W starts at and A starts at 0. W starts at
Henaff et al.'s init, the one ExpRNN uses on the copy task: a block-diagonal of 2 x 2 rotations by angles
drawn uniformly in [-pi, pi] (one unit on its own when H is odd). b starts U(-0.01, 0.01), T as nn.Linear.

The free parameters of W are the H(H-1)/2 below A's diagonal; torch stores all H^2 (capacity.py counts what the
map reads). A nonlinear recurrence: no parallel form, so forward and `step` share the cell.
"""
import contextlib
import math

import torch
import torch.nn as nn
from torch.nn.utils.parametrizations import orthogonal

from lstm_bench.errors import require

MAPS = ("matrix_exp", "cayley")


def modrelu(z: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.sign(z) * torch.relu(z.abs() + b)


def henaff(H: int) -> torch.Tensor:
    """(H, H) block-diagonal rotations by angles uniform in [-pi, pi]."""
    W = torch.eye(H, device="cpu")
    for j in range(0, H - 1, 2):
        t = (2 * torch.rand(()) - 1) * math.pi
        c, s = torch.cos(t), torch.sin(t)
        W[j, j], W[j, j + 1], W[j + 1, j], W[j + 1, j + 1] = c, -s, s, c
    return W


class ExpRNN(nn.Module):
    name = "exprnn"

    def __init__(self, input_size: int, hidden_size: int = 128, orthogonal_map: str = "matrix_exp"):
        super().__init__()
        require(orthogonal_map in MAPS, "model.orthogonal_map", orthogonal_map, " | ".join(MAPS))
        self.hidden_size = hidden_size
        self.input_kernel = nn.Linear(input_size, hidden_size, bias=False)
        # torch's orthogonal() checks its start on the device (a .item()), which the meta device of the parameter
        # budget search cannot: there it is built on the CPU from the identity (no draws) and moved
        meta = torch.empty(0).is_meta
        self.recurrent_kernel = nn.utils.skip_init(nn.Linear, hidden_size, hidden_size, bias=False,
                                                   device="cpu" if meta else torch.get_default_device())
        with torch.no_grad():
            self.recurrent_kernel.weight.copy_(torch.eye(hidden_size, device="cpu") if meta else henaff(hidden_size))
        with torch.device("cpu") if meta else contextlib.nullcontext():
            orthogonal(self.recurrent_kernel, orthogonal_map=orthogonal_map)  # base = the Henaff matrix, A = 0
        if meta:
            self.recurrent_kernel.to("meta")
        self.bias = nn.Parameter(torch.empty(hidden_size).uniform_(-0.01, 0.01))
        self.name = type(self).name + ("-cayley" if orthogonal_map == "cayley" else "")

    def init_state(self, B, device=None, dtype=None):
        return (torch.zeros(B, self.hidden_size, device=device, dtype=dtype),)

    def step(self, x_t, state):
        h = modrelu(self.input_kernel(x_t) + state[0] @ self.recurrent_kernel.weight.T, self.bias)
        return (h,), {}

    def forward(self, x, state=None):
        B, T, _ = x.shape
        h = torch.zeros(B, self.hidden_size, device=x.device, dtype=x.dtype) if state is None else state[0]
        Wt = self.recurrent_kernel.weight.T  # the orthogonal map once per forward, not once per step
        hs = []
        for tx in self.input_kernel(x).unbind(1):
            h = modrelu(torch.addmm(tx, h, Wt), self.bias)
            hs.append(h)
        return torch.stack(hs, dim=1), (h,)
