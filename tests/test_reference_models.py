"""Optional: our sLSTM, minGRU and minLSTM against their reference packages (`xlstm`'s vanilla
backend, `minGRU-pytorch`), weights copied across, float64 on the CPU. Each test is skipped, with its
reason, where its package is not installed; neither is a dependency of the project.

What is compared, and what is not:
- minGRU-pytorch's `minGRU(dim, expansion_factor, proj_out=False)` is the paper's plain log-space
  minGRU with the same g. Its one projection has no bias and its rows are (candidate, gate), ours
  (gate, candidate) with a bias: the reference is fed [x, 1] so that its last weight column carries
  our bias. Its `expansion_factor` sets our hidden size; `proj_out=False` keeps its output the state.
- its `minLSTM` likewise, rows (candidate, f, i) against ours (f, i, candidate). Only from a zero
  state in parallel: given `prev_hidden`, its parallel path starts the scan from log g(h_0), not
  log h_0 (its own sequential path uses h_0 itself), so h_0 = 0.3 would be read as 0.8 there. Its
  sequential step, which uses h_0, is compared instead.
- xlstm's `sLSTMCell` (backend="vanilla", function="slstm") is the recurrence alone, fed the
  pre-activations W x_t (B, T, 4H) in the gate order i, f, z, o, heads inside each gate, as ours.
  Its `sLSTMLayer` is not comparable: it adds a causal conv, head-wise (block-diagonal) input
  projections and a group norm, where ours has one dense W. Its vanilla pointwise function has the
  sigmoid forget gate only, so `forget_activation=exp` has no reference here. From the zero state
  it sets m_1 = i~_1 where ours sets m_1 = max(log f_1 + 0, i~_1): both are valid stabilisers, so
  h and c/n agree and the stabilised c, n, m differ by a shared factor exp(m); from a state with
  n > 0 the two recurrences are the same and every state element is compared.
"""
import pytest
import torch
import torch.nn.functional as F

from lstm_bench.models.minrnn import MinGRU, MinLSTM
from lstm_bench.models.slstm import SLSTM

B, T = 3, 7
F64 = dict(dtype=torch.float64)
TOL = dict(rtol=1e-10, atol=1e-12)


def with_ones(x: torch.Tensor) -> torch.Tensor:
    """x with a constant-1 feature appended: a bias-free linear map of it is an affine map of x."""
    return torch.cat([x, torch.ones(*x.shape[:-1], 1, **F64)], dim=-1)


def copy_minrnn(ours, ref_weight: torch.Tensor, ref_order: tuple[str, ...], our_order: tuple[str, ...]):
    """Our proj from the reference's bias-free (n*H, D+1) weight: rows regrouped, last column as bias."""
    blocks = dict(zip(ref_order, ref_weight.detach().chunk(len(ref_order), dim=0)))
    w = torch.cat([blocks[k] for k in our_order], dim=0)
    with torch.no_grad():
        ours.proj.weight.copy_(w[:, :-1])
        ours.proj.bias.copy_(w[:, -1])


def grads(loss, *tensors):
    return torch.autograd.grad(loss, tensors)


# --- minGRU-pytorch ---------------------------------------------------------------------------------

def make_minrnn(ref_cls, ours_cls, ref_order, our_order, D=4, H=7):
    ref = ref_cls(D + 1, expansion_factor=H / (D + 1), proj_out=False).double()
    assert isinstance(ref.to_out, torch.nn.Identity)
    torch.manual_seed(1)
    ref_w = next(ref.parameters())
    assert ref_w.shape == (len(ref_order) * H, D + 1), "the reference's inner size is not H"
    with torch.no_grad():
        ref_w.normal_(0, 1.5)  # wide pre-activations: both branches of g, gates near 0 and 1
    ours = ours_cls(D, H).double()
    copy_minrnn(ours, ref_w, ref_order, our_order)
    return ref, ours, ref_w


def check_minrnn_forward_and_grads(ref, ours, ref_w, ref_order, our_order, h0=None):
    D, H = ours.proj.in_features, ours.hidden_size
    x = torch.randn(B, T, D, **F64, requires_grad=True)
    w_out = torch.randn(B, T, H, **F64)  # a loss that weights every output differently
    h_ref = ref(with_ones(x)) if h0 is None else ref(with_ones(x), prev_hidden=h0.unsqueeze(1))
    h_ours, (h_last,) = ours(x, None if h0 is None else (h0,))
    torch.testing.assert_close(h_ours, h_ref, **TOL)
    torch.testing.assert_close(h_last, h_ref[:, -1], **TOL)

    gx_ref, gw_ref = grads((h_ref * w_out).sum(), x, ref_w)
    gx, gw, gb = grads((h_ours * w_out).sum(), x, ours.proj.weight, ours.proj.bias)
    torch.testing.assert_close(gx, gx_ref, **TOL)
    blocks = dict(zip(ref_order, gw_ref.chunk(len(ref_order), dim=0)))
    g_ref = torch.cat([blocks[k] for k in our_order], dim=0)
    torch.testing.assert_close(gw, g_ref[:, :-1], **TOL)
    torch.testing.assert_close(gb, g_ref[:, -1], **TOL)


def check_minrnn_step(ref, ours):
    """One step from a positive state: the reference's sequential path (T = 1) against our twin."""
    x1, h0 = torch.randn(B, 1, ours.proj.in_features, **F64), torch.rand(B, 1, ours.hidden_size, **F64)
    (h1,), _ = ours.step(x1[:, 0], (h0[:, 0],))
    torch.testing.assert_close(h1, ref(with_ones(x1), prev_hidden=h0)[:, 0], **TOL)


def test_mingru_matches_mingru_pytorch():
    mingru = pytest.importorskip("minGRU_pytorch.minGRU",
                                 reason="minGRU-pytorch: optional reference, not installed")
    order = (("cand", "z"), ("z", "cand"))
    ref, ours, ref_w = make_minrnn(mingru.minGRU, MinGRU, *order)
    check_minrnn_forward_and_grads(ref, ours, ref_w, *order)
    # from a positive state (its parallel path scans from log h_0, as ours does)
    check_minrnn_forward_and_grads(ref, ours, ref_w, *order, h0=torch.rand(B, ours.hidden_size, **F64) + 0.1)
    check_minrnn_step(ref, ours)


def test_minlstm_matches_mingru_pytorch():
    minlstm = pytest.importorskip("minGRU_pytorch.minLSTM",
                                  reason="minGRU-pytorch: optional reference, not installed")
    order = (("cand", "f", "i"), ("f", "i", "cand"))
    ref, ours, ref_w = make_minrnn(minlstm.minLSTM, MinLSTM, *order)
    check_minrnn_forward_and_grads(ref, ours, ref_w, *order)
    check_minrnn_step(ref, ours)


# --- xlstm, vanilla backend -------------------------------------------------------------------------

def make_slstm_pair(I=5, H=9, heads=3):
    cell_mod = pytest.importorskip("xlstm.blocks.slstm.cell", reason="xlstm: optional reference, not installed")
    torch.manual_seed(2)
    ours = SLSTM(I, H, heads=heads).double()
    with torch.no_grad():
        ours.weight_hh.mul_(3.0)  # recurrent terms large enough to matter against the input's
        # a shut input gate and an open forget gate: log f_1 > i~_1, where the two stabilisers part
        ours.bias[:H].sub_(3.0), ours.bias[H:2 * H].add_(2.0)
    cfg = cell_mod.sLSTMCellConfig(hidden_size=H, num_heads=heads, backend="vanilla", function="slstm",
                                   dtype="float32", input_shape="BSGNH", output_shape="BSH")
    ref = cell_mod.sLSTMCell(cfg).double()
    d = H // heads
    # ours: weight_hh[g, n] (in, out) for gate g of head n; theirs, external: [n, in, g, out]
    # ours: bias rows (gate, head, unit); theirs, external: [head, gate, unit]
    with torch.no_grad():
        ref._recurrent_kernel_.data = ref._recurrent_kernel_ext2int(ours.weight_hh.permute(1, 2, 0, 3).clone())
        ref._bias_.data = ref._bias_ext2int(ours.bias.view(4, heads, d).permute(1, 0, 2).clone())
    assert torch.equal(ref._bias_, ours.bias), "the vanilla cell's internal bias is laid out as ours"
    return ref, ours


def ref_grads_as_ours(ref, g_R, g_b):
    """The reference's gradients of its internal R and bias, in our parameters' layout."""
    return ref._recurrent_kernel_int2ext(g_R).permute(2, 0, 1, 3), ref._bias_int2ext(g_b).permute(1, 0, 2).reshape(-1)


def test_slstm_matches_xlstm_vanilla_cell():
    ref, ours = make_slstm_pair()
    x = torch.randn(B, T, ours.weight_ih.shape[1], **F64, requires_grad=True) * 2
    W_ref = ours.weight_ih.detach().clone().requires_grad_(True)
    h_ref, s_ref = ref(F.linear(x, W_ref))  # its input is W x_t, its bias added inside
    h_ours, (h, c, n, m) = ours(x)
    torch.testing.assert_close(h_ours, h_ref, **TOL)
    torch.testing.assert_close(h, s_ref[0], **TOL)
    torch.testing.assert_close(c / n, s_ref[1] / s_ref[2], **TOL)
    assert (m - s_ref[3]).abs().max() > 0.1, "these inputs no longer reach a step 1 with log f_1 > i~_1"
    # the stabilisers differ from step 1 by a per-unit constant: same n exp(m)
    torch.testing.assert_close(n * m.exp(), s_ref[2] * s_ref[3].exp(), **TOL)

    w_out = torch.randn_like(h_ours)
    g_ref = grads((h_ref * w_out).sum(), x, W_ref, ref._recurrent_kernel_, ref._bias_)
    g_ours = grads((h_ours * w_out).sum(), x, ours.weight_ih, ours.weight_hh, ours.bias)
    for a, b_ in zip(g_ours, (*g_ref[:2], *ref_grads_as_ours(ref, *g_ref[2:]))):
        torch.testing.assert_close(a, b_, **TOL)


def test_slstm_from_a_state_matches_xlstm_every_state_element():
    ref, ours = make_slstm_pair()
    x = torch.randn(B, 2 * T, ours.weight_ih.shape[1], **F64)
    _, state = ours(x[:, :T])  # a reached state: n > 0, m not 0, h mixed across a head
    h_ours, end = ours(x[:, T:], state)
    h_ref, s_ref = ref(F.linear(x[:, T:], ours.weight_ih), torch.stack(state))
    torch.testing.assert_close(h_ours, h_ref.detach(), **TOL)
    torch.testing.assert_close(torch.stack(end), s_ref.detach(), **TOL)
