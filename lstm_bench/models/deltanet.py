"""`model=deltanet`: DeltaNet, a matrix memory written by the delta rule (Schlag et al. 2021, "Linear Transformers
Are Secretly Fast Weight Programmers"; in the chunkwise form of Yang et al. 2024, "Parallelizing Linear
Transformers with the Delta Rule over Sequence Length"); `step` is its twin.

Per head, d = H/heads, with S the (d x d) memory stored as sum k v^T (so S^T q reads it):
    q_t = l2norm(silu(W_q x_t)),  k_t = l2norm(silu(W_k x_t)),  v_t = silu(W_v x_t)
    beta_t = sigmoid(w_beta^T x_t + b_beta)                        in (0, 1), one per head
    S_t = S_{t-1} + beta_t k_t (v_t - S_{t-1}^T k_t)^T = (I - beta_t k_t k_t^T) S_{t-1} + beta_t k_t v_t^T
    o_t = S_t^T q_t                                                 (B, H): the heads side by side
The transition I - beta k k^T has eigenvalue 1 - beta_t along k_t (|k_t| = 1) and 1 elsewhere, so in (0, 1).
The features are flash-linear-attention's DeltaNet defaults (silu, then L2 norm on q and k; silu on v),
without its short convolutions and output norm (Grazzi et al. ran their state-tracking runs without the
convolutions too). The state is (o, S): o is read out of S, never fed back (`h_is_readout`), so heads * d * d
numbers are carried.

`negative_eigenvalues=true` (Grazzi et al. 2025, "Unlocking State-Tracking in Linear RNNs Through Negative
Eigenvalues", Table 2 and their Figure 13's change to DeltaNet): beta_t = 2 sigmoid(.) in (0, 2), so the
eigenvalue 1 - beta_t lies in (-1, 1) and the write beta_t k_t v_t^T doubles with it; a transition can reflect.

The chunkwise form (Yang et al. 2024, the WY / UT representation), for a chunk with carried S_0: the pseudo-values
u_r = beta_r (v_r - S_{r-1}^T k_r) solve (I + tril(diag(beta) K K^T, -1)) U = diag(beta) (V - K S_0), one unit
lower-triangular solve per chunk, after which O = Q S_0 + tril(Q K^T) U and the chunk ends at S_0 + K^T U.

Gates reported by `step`, per head, in [0, 1]: f = |1 - beta_t|, the share of the memory's content along k_t
that is kept (elsewhere it is all kept), and i = beta_t / max beta (1, or 2 with negative eigenvalues).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from lstm_bench.errors import require

CHUNK = 32  # steps per chunk, one (L x L) triangular solve each: the fastest of 16, 32, 64, 128 on a CPU at H=64


class DeltaNet(nn.Module):
    name = "deltanet"
    h_is_readout = True  # state[0] = S^T q is read out; the next step never reads it

    def __init__(self, input_size: int, hidden_size: int = 128, heads: int = 4, negative_eigenvalues: bool = False):
        super().__init__()
        require(isinstance(heads, int) and heads >= 1 and hidden_size % heads == 0, "model.heads", heads,
                f"a positive divisor of model.hidden_size={hidden_size}")
        require(isinstance(negative_eigenvalues, bool), "model.negative_eigenvalues", negative_eigenvalues,
                "true or false")
        self.hidden_size, self.heads, self.d = hidden_size, heads, hidden_size // heads
        self.negative_eigenvalues, self.chunk = negative_eigenvalues, CHUNK
        self.beta_max = 2.0 if negative_eigenvalues else 1.0
        self.proj = nn.Linear(input_size, 3 * hidden_size + heads)  # rows q, k, v (H each), beta (heads)
        self.name = type(self).name + ("-neg" if negative_eigenvalues else "")

    def init_state(self, B, device=None, dtype=None):
        z = dict(device=device, dtype=dtype)
        return torch.zeros(B, self.hidden_size, **z), torch.zeros(B, self.heads, self.d, self.d, **z)

    def features(self, p: torch.Tensor):
        """q, k, v (..., heads, d) and beta (..., heads)."""
        H, nh, d = self.hidden_size, self.heads, self.d
        qkv, b = p.split([3 * H, nh], dim=-1)
        qkv = F.silu(qkv).unflatten(-1, (3, nh, d))  # (..., 3, nh, d): one call each, not three
        qk = F.normalize(qkv[..., :2, :, :], dim=-1)
        return qk[..., 0, :, :], qk[..., 1, :, :], qkv[..., 2, :, :], self.beta_max * torch.sigmoid(b)

    def step(self, x_t, state):
        S = state[1]
        q, k, v, beta = self.features(self.proj(x_t))  # (B, nh, d), beta (B, nh)
        u = beta[..., None] * (v - torch.einsum("bhkv,bhk->bhv", S, k))
        S = S + k.unsqueeze(-1) * u.unsqueeze(-2)
        o = torch.einsum("bhkv,bhk->bhv", S, q).flatten(-2)  # (B, H)
        return (o, S), {"f": (1 - beta).abs(), "i": beta / self.beta_max}

    def forward(self, x, state=None):
        B, T, _ = x.shape
        S = torch.zeros(B, self.heads, self.d, self.d, device=x.device, dtype=x.dtype) if state is None else state[1]
        q, k, v, beta = self.features(self.proj(x))
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # (B, nh, T, d)
        beta = beta.transpose(1, 2)[..., None]  # (B, nh, T, 1)
        outs = []
        # split, not sliced: a slice's backward fills a zero tensor of the whole sequence per chunk
        for qc, kc, vc, bc in zip(*(t.split(self.chunk, dim=2) for t in (q, k, v, beta))):
            lower = torch.tril(bc * (kc @ kc.transpose(-1, -2)), diagonal=-1)  # (B, nh, L, L)
            A = lower + torch.eye(lower.shape[-1], device=x.device, dtype=x.dtype)
            qS, kS = (torch.cat([qc, kc], dim=-2) @ S).split(qc.shape[-2], dim=-2)  # one product, not two
            U = torch.linalg.solve_triangular(A, bc * (vc - kS), upper=False, unitriangular=True)
            outs.append(qS + torch.tril(qc @ kc.transpose(-1, -2)) @ U)  # (B, nh, L, d)
            S = S + kc.transpose(-1, -2) @ U
        o = torch.cat(outs, dim=2).transpose(1, 2).flatten(-2)  # (B, T, H)
        return o, (o[:, -1], S)
