"""Tests of the Triton LSTM kernels (kernels/lstm) against the float64 gate-by-gate reference.

Without CUDA the kernels run in Triton's CPU interpreter (TRITON_INTERPRET=1, set below
before triton is imported): milliseconds per launch, so shapes are tiny and odd. GPU-only
cases (fp16/bf16, larger shapes, the grid-barrier persistent path, CUDA graphs) skip
cleanly without a GPU.
"""
import os

import torch

if not torch.cuda.is_available():
    # must happen before triton is imported: triton picks the interpreter at @triton.jit time
    os.environ.setdefault("TRITON_INTERPRET", "1")

import pytest  # noqa: E402

pytest.importorskip("triton", reason="the Triton kernels need the triton package (Linux wheels only)")

from kernels import lstm_fused, lstm_fused_gemm, lstm_persistent  # noqa: E402
from kernels.lstm import common, graphs  # noqa: E402
from kernels.lstm.backward import lstm_fused_bwd  # noqa: E402
from kernels.lstm.fused import lstm_fused_fwd  # noqa: E402
from kernels.lstm.fused_gemm import gemm_config, lstm_gemm_bwd, lstm_gemm_fwd  # noqa: E402
from kernels.lstm.naive import lstm_cell_naive, lstm_naive  # noqa: E402
from kernels.lstm.persistent import persistent_config  # noqa: E402
from lstm_bench.errors import ConfigError  # noqa: E402
from lstm_bench.models.lstm import LSTM  # noqa: E402
from lstm_bench.models.lstm_triton import LSTMTriton  # noqa: E402

HAS_CUDA = torch.cuda.is_available()
INTERPRETED = common.INTERPRETED
DEVICE = torch.device("cuda" if HAS_CUDA and not INTERPRETED else "cpu")
needs_cuda = pytest.mark.skipif(not HAS_CUDA or INTERPRETED, reason="needs a CUDA GPU (real Triton kernels)")

# Relative error ||actual - ref|| / ||ref|| allowed per dtype, ref in float64. fp32: fp32
# rounding through a few dozen steps; fp16/bf16: GEMM operands and stored activations in
# half precision (bf16 has 8 mantissa bits).
REL_TOL = {torch.float64: 1e-10, torch.float32: 1e-5, torch.float16: 1e-2, torch.bfloat16: 5e-2}
# elementwise bounds (assert_close) on top of the norm bound, per dtype: (rtol, atol), atol
# relative to the largest |reference| element of the tensor (weight gradients sum T*B terms)
ELEM_TOL = {torch.float64: (1e-8, 1e-10), torch.float32: (1e-4, 1e-5),
            torch.float16: (5e-2, 2e-2), torch.bfloat16: (2e-1, 1e-1)}

IMPLS = {"fused": lstm_fused, "persistent": lstm_persistent}
ALL_IMPLS = dict(IMPLS, fused_gemm=lstm_fused_gemm)  # fused_gemm's interpreter cases are its own (below)
NAMES = ("out", "h_T", "c_T", "dx", "dh0", "dc0", "dw_ih", "dw_hh", "db_ih", "db_hh")


def make_inputs(B, T, I, H, dtype, device=DEVICE, seed=0, bias=True):
    """Fresh random inputs, scaled like nn.LSTM's init (uniform +-1/sqrt(H))."""
    g = torch.Generator().manual_seed(seed)

    def r(*shape, scale=1.0):
        return ((torch.rand(*shape, generator=g, dtype=torch.float64) * 2 - 1) * scale).to(device, dtype)

    k = 1.0 / H ** 0.5
    x = r(B, T, I)
    w_ih, w_hh = r(4 * H, I, scale=k), r(4 * H, H, scale=k)
    b_ih, b_hh = (r(4 * H, scale=k), r(4 * H, scale=k)) if bias else (None, None)
    h0, c0 = r(B, H, scale=0.5), r(B, H, scale=0.5)
    return x, (h0, c0), w_ih, w_hh, b_ih, b_hh


def run_with_grads(fn, x, state, w_ih, w_hh, b_ih, b_hh, upstream=None, seed=1):
    """Forward + backward with fixed upstream gradients for out, h_T and c_T.
    Returns the 10 tensors named in NAMES (float64) and the upstream gradients used."""
    leaves = [t.detach().clone().requires_grad_(True) if t is not None else None
              for t in (x, *state, w_ih, w_hh, b_ih, b_hh)]
    x, h0, c0, w_ih, w_hh, b_ih, b_hh = leaves
    out, (h_T, c_T) = fn(x, (h0, c0), w_ih, w_hh, b_ih, b_hh)
    if upstream is None:
        g = torch.Generator().manual_seed(seed)
        upstream = [torch.randn(t.shape, generator=g, dtype=torch.float64) for t in (out, h_T, c_T)]
    ups = [u.to(out.device, out.dtype) for u in upstream]
    torch.autograd.backward([out, h_T, c_T], ups)
    grads = [t.grad if t is not None else None for t in leaves]
    res = [out, h_T, c_T] + grads
    return [None if t is None else t.detach().double().cpu() for t in res], upstream


def assert_rel(actual, expected, dtype, what):
    assert actual.shape == expected.shape, f"{what}: shape {tuple(actual.shape)} != {tuple(expected.shape)}"
    assert torch.isfinite(actual).all(), f"{what}: non-finite values"
    err = ((actual - expected).norm() / expected.norm().clamp_min(1e-30)).item()
    assert err <= REL_TOL[dtype], f"{what}: relative error {err:.3e} > {REL_TOL[dtype]:.0e} ({dtype})"
    rtol, atol = ELEM_TOL[dtype]
    atol = atol * max(expected.abs().max().item(), 1e-30)
    torch.testing.assert_close(actual, expected, rtol=rtol, atol=atol, msg=lambda m: f"{what}: {m}")


def check_against_reference(fn, B, T, I, H, dtype, device=DEVICE, bias=True, seed=0):
    inputs = make_inputs(B, T, I, H, dtype, device, seed=seed, bias=bias)
    got, upstream = run_with_grads(fn, *inputs)
    # the reference sees the same (rounded) inputs, upcast to float64, on the CPU
    ref_inputs = [t.double().cpu() if isinstance(t, torch.Tensor) else t for t in inputs]
    ref_inputs[1] = tuple(s.double().cpu() for s in inputs[1])
    want, _ = run_with_grads(lstm_naive, *ref_inputs, upstream=upstream)
    for name, a, e in zip(NAMES, got, want):
        if e is None:
            assert a is None, f"{name}: expected no gradient"
            continue
        assert_rel(a, e, dtype, f"{fn.__name__} {name}")


# ---------------------------------------------------------------------------------------
# CPU (interpreter) and GPU: float64 / float32 against the reference

SHAPES = [
    pytest.param(3, 4, 5, 37, id="B3-T4-I5-H37"),
    pytest.param(2, 1, 3, 16, id="B2-T1-I3-H16"),
    pytest.param(17, 3, 1, 20, id="B17-T3-I1-H20"),  # two batch programs in the persistent kernel
]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["fp64", "fp32"])
@pytest.mark.parametrize("B,T,I,H", SHAPES)
@pytest.mark.parametrize("impl", list(IMPLS), ids=list(IMPLS))
def test_matches_reference(impl, B, T, I, H, dtype):
    check_against_reference(IMPLS[impl], B, T, I, H, dtype)


@pytest.mark.parametrize("impl", list(ALL_IMPLS), ids=list(ALL_IMPLS))
def test_no_bias(impl):
    check_against_reference(ALL_IMPLS[impl], 2, 4, 3, 19, torch.float64, bias=False)


def test_reference_check_catches_a_wrong_kernel():
    # the comparison above must be able to fail: a 1% change of one recurrent weight row
    # (the forget gate of unit 0) must break it
    def wrong(x, state, w_ih, w_hh, b_ih, b_hh):
        w = w_hh.clone()
        w[37] *= 1.01  # row H + 0: forget gate of unit 0 (H = 37)
        return lstm_fused(x, state, w_ih, w, b_ih, b_hh)

    with pytest.raises(AssertionError):
        check_against_reference(wrong, 3, 4, 5, 37, torch.float64)


@pytest.mark.parametrize("impl", list(ALL_IMPLS), ids=list(ALL_IMPLS))
def test_matches_nn_lstm(impl):
    B, T, I, H = 3, 6, 4, 21
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(I, H, batch_first=True).double().to(DEVICE)
    x = torch.randn(B, T, I, dtype=torch.float64, device=DEVICE)
    h0 = torch.randn(1, B, H, dtype=torch.float64, device=DEVICE)
    c0 = torch.randn(1, B, H, dtype=torch.float64, device=DEVICE)
    params = (lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0)
    with torch.no_grad():
        want, (wh, wc) = lstm(x, (h0, c0))
        got, (gh, gc) = ALL_IMPLS[impl](x, (h0, c0), *params)
        # nn.LSTM's (1, B, H) states in, (1, B, H) out
        assert gh.shape == (1, B, H) and gc.shape == (1, B, H)
        for name, a, e in (("out", got, want), ("h_T", gh, wh), ("c_T", gc, wc)):
            assert_rel(a, e, torch.float64, name)
        # no state: zeros, returned as (B, H)
        want0, (wh0, _) = lstm(x)
        got0, (gh0, _) = ALL_IMPLS[impl](x, None, *params)
        assert gh0.shape == (B, H)
        assert_rel(got0, want0, torch.float64, "out (zero state)")
        assert_rel(gh0, wh0[0], torch.float64, "h_T (zero state)")


def test_gradcheck_fused():
    x, (h0, c0), w_ih, w_hh, b_ih, b_hh = make_inputs(2, 3, 2, 3, torch.float64)
    args = [t.requires_grad_(True) for t in (x, h0, c0, w_ih, w_hh, b_ih, b_hh)]

    def f(x, h0, c0, w_ih, w_hh, b_ih, b_hh):
        out, (h, c) = lstm_fused(x, (h0, c0), w_ih, w_hh, b_ih, b_hh)
        return out, h, c

    assert torch.autograd.gradcheck(f, args, eps=1e-6, atol=1e-7, rtol=1e-5, fast_mode=True)


def test_gradcheck_persistent():
    x, (h0, c0), w_ih, w_hh, b_ih, b_hh = make_inputs(2, 3, 2, 3, torch.float64, seed=3)
    args = [t.requires_grad_(True) for t in (x, h0, c0, w_ih, w_hh, b_ih, b_hh)]

    def f(*a):
        out, (h, c) = lstm_persistent(a[0], (a[1], a[2]), *a[3:])
        return out, h, c

    assert torch.autograd.gradcheck(f, args, eps=1e-6, atol=1e-7, rtol=1e-5, fast_mode=True)


def _gemm_with(**opts):
    def fn(*a):
        return lstm_fused_gemm(*a, **opts)
    fn.__name__ = f"lstm_fused_gemm{opts}"
    return fn


# one Triton kernel per step, the GEMM inside (fused_gemm.py), forward and backward, on odd
# sizes whose tiles do not divide them: several unit programs (each storing its own units'
# gradients while computing every unit's pointwise backward), several batch programs,
# K covered in 16-wide chunks with a masked tail, one program and one chunk
GEMM_CASES = [
    pytest.param(3, 3, 2, 37, torch.float64, dict(block_h=16, block_k=16), id="B3-T3-H37-3progs-3chunks-fp64"),
    pytest.param(17, 2, 1, 20, torch.float32, dict(block_h=16, block_k=16), id="B17-T2-H20-2x2progs-fp32"),
    pytest.param(2, 3, 3, 16, torch.float32, dict(), id="B2-T3-H16-1prog-fp32"),
    pytest.param(3, 3, 5, 9, torch.float16, dict(), id="B3-T3-H9-fp16"),
]


@pytest.mark.parametrize("B,T,I,H,dtype,opts", GEMM_CASES)
def test_fused_gemm_matches_reference(B, T, I, H, dtype, opts):
    check_against_reference(_gemm_with(**opts), B, T, I, H, dtype, seed=H)


def test_fused_gemm_step_launchers_match_cell():
    # one step each way against autograd of the reference cell; 2 unit programs, 2 K chunks
    B, H = 3, 20
    g = torch.Generator().manual_seed(6)

    def r(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64).to(DEVICE)

    def empty(*shape):
        return torch.empty(*shape, dtype=torch.float64, device=DEVICE)

    xw, h_prev, c_prev, w_hh = r(B, 4 * H), r(B, H), r(B, H), r(4 * H, H) / H ** 0.5
    cfg = gemm_config(B, H, torch.float64, DEVICE, block_h=16, block_k=16)
    act = xw.clone()
    h, c = lstm_gemm_fwd(act, h_prev, w_hh, c_prev, empty(B, H), empty(B, H), cfg)
    # the cell with W_ih = I on the pre-activations' input part: xw + h_prev W_hh^T
    leaves = [t.clone().requires_grad_(True) for t in (xw, h_prev, c_prev)]
    hr, cr = lstm_cell_naive(leaves[0], leaves[1], leaves[2], torch.eye(4 * H, dtype=torch.float64, device=DEVICE),
                             w_hh)
    assert_rel(h, hr.detach(), torch.float64, "h_t")
    assert_rel(c, cr.detach(), torch.float64, "c_t")
    pre = xw + h_prev @ w_hh.t()
    i, f, gg, o = pre.chunk(4, 1)
    assert_rel(act, torch.cat([i.sigmoid(), f.sigmoid(), gg.tanh(), o.sigmoid()], 1), torch.float64, "activations")

    dh, dc = r(B, H), r(B, H)
    dho = r(B, 2, H)[:, 1]  # strided rows, like dout[:, t]
    dg, dh_prev, dc_prev = lstm_gemm_bwd(act, c_prev, c, dh, dc, empty(B, H), empty(B, H), empty(B, 4 * H), w_hh,
                                         cfg, dh_out=dho)
    dpre, dhp, dcp = torch.autograd.grad([hr, cr], leaves, [dh + dho, dc])
    assert_rel(dg, dpre, torch.float64, "dgates")
    assert_rel(dh_prev, dhp, torch.float64, "dh_{t-1}")
    assert_rel(dc_prev, dcp, torch.float64, "dc_{t-1}")


def test_fused_gemm_config_is_checked():
    with pytest.raises(ValueError, match="block_h must be a power of two >= 16, got 24"):
        lstm_fused_gemm(*make_inputs(2, 2, 2, 5, torch.float64), block_h=24)
    # programmatic dependent launch is for the GPU only: the interpreter runs without it
    assert not gemm_config(2, 5, torch.float16, torch.device("cpu"), pdl=True).pdl


# the usage examples in the launchers' docstrings, run as written (the public functions'
# examples need a CUDA GPU and are not run here)
CPU_EXAMPLES = ["naive.lstm_naive", "fused.lstm_fused_fwd", "backward.lstm_fused_bwd", "fused_gemm.lstm_gemm_fwd",
                "fused_gemm.lstm_gemm_bwd", "persistent.launch_persistent", "persistent.lstm_persistent_fwd"]


@pytest.mark.skipif(not INTERPRETED, reason="the examples run on the CPU interpreter")
@pytest.mark.parametrize("name", CPU_EXAMPLES)
def test_docstring_example_runs(name):
    import doctest
    import importlib
    module, fn = name.split(".")
    mod = importlib.import_module(f"kernels.lstm.{module}")
    torch.manual_seed(0)
    (test,) = doctest.DocTestFinder().find(getattr(mod, fn), name, globs=dict(vars(mod)))
    assert test.examples, f"{name} has no example"
    runner = doctest.DocTestRunner()
    runner.run(test)
    assert runner.summarize(verbose=False).failed == 0, f"{name}'s example fails"


def test_non_contiguous_inputs():
    B, T, I, H = 3, 5, 4, 18
    x, (h0, c0), w_ih, w_hh, b_ih, b_hh = make_inputs(B, T, I, H, torch.float64)
    xt = x.transpose(0, 1).contiguous().transpose(0, 1)  # (B, T, I) view with time-major strides
    w_hh_nc = w_hh.t().contiguous().t()                   # (4H, H) column-major
    h0_nc = h0.t().contiguous().t()
    assert not xt.is_contiguous() and not w_hh_nc.is_contiguous() and not h0_nc.is_contiguous()
    with torch.no_grad():
        got, (gh, gc) = lstm_fused(xt, (h0_nc, c0), w_ih, w_hh_nc, b_ih, b_hh)
        want, (wh, wc) = lstm_naive(x, (h0, c0), w_ih, w_hh, b_ih, b_hh)
    assert_rel(got, want, torch.float64, "out")
    assert_rel(gc, wc, torch.float64, "c_T")


def test_step_launchers_match_cell():
    # the two kernels on their own: one step forward, one step backward vs autograd of the cell
    B, H = 5, 13
    g = torch.Generator().manual_seed(4)
    pre = torch.randn(B, 4 * H, generator=g, dtype=torch.float64)
    c_prev = torch.randn(B, H, generator=g, dtype=torch.float64)
    act = pre.clone().to(DEVICE)
    h, c = lstm_fused_fwd(act, c_prev.to(DEVICE))
    # the cell with identity weights on a one-hot "input" reproduces the pre-activations
    eye = torch.eye(4 * H, dtype=torch.float64)
    pre_l = pre.clone().requires_grad_(True)
    c_l = c_prev.clone().requires_grad_(True)
    hr, cr = lstm_cell_naive(pre_l, torch.zeros(B, H, dtype=torch.float64), c_l, eye,
                             torch.zeros(4 * H, H, dtype=torch.float64))
    assert_rel(h.cpu(), hr.detach(), torch.float64, "h_t")
    assert_rel(c.cpu(), cr.detach(), torch.float64, "c_t")
    i, f, gg, o = pre.chunk(4, 1)
    want_act = torch.cat([i.sigmoid(), f.sigmoid(), gg.tanh(), o.sigmoid()], 1)
    assert_rel(act.cpu(), want_act, torch.float64, "activations saved in place")

    dh = torch.randn(B, H, generator=g, dtype=torch.float64)
    dho = torch.randn(B, 2, H, generator=g, dtype=torch.float64)[:, 1]  # strided rows, like dout[:, t]
    dc = torch.randn(B, H, generator=g, dtype=torch.float64)
    dgates, dc_prev = lstm_fused_bwd(act, c_prev.to(DEVICE), c, dh.to(DEVICE),
                                     dc.clone().to(DEVICE), dh_out=dho.to(DEVICE))
    dpre, dcp = torch.autograd.grad([hr, cr], [pre_l, c_l], [dh + dho, dc])
    assert_rel(dgates.cpu(), dpre, torch.float64, "dgates")
    assert_rel(dc_prev.cpu(), dcp, torch.float64, "dc_{t-1}")


@pytest.fixture
def stand_in_graphs(monkeypatch):
    """The CUDA-graph path on any machine: a stand-in "graph" replays the captured Python
    loop. Yields the list of captures made (one entry per capture)."""
    class StandInGraph:
        def __init__(self, body):
            self.body = body

        def replay(self):
            self.body()

    captures = []

    def capture(body):
        captures.append(body)
        body()  # the real capture warms up with one eager run too
        return StandInGraph(body)

    monkeypatch.setattr(graphs, "capture", capture)
    monkeypatch.setattr(graphs, "graphs_enabled", lambda device, use: True)
    graphs.clear_graph_cache()
    yield captures
    graphs.clear_graph_cache()


def test_graph_bookkeeping_with_a_stand_in_graph(stand_in_graphs):
    # static buffers copied in, results cloned out, one cached graph per shape
    for seed in (0, 1):  # the second call reuses the cached graphs with new inputs
        check_against_reference(lstm_fused, 3, 5, 4, 11, torch.float64, seed=seed)
    assert len(graphs._GRAPH_CACHE) == 2  # one forward, one backward graph
    # two forwards before the first backward must not share the static buffers
    a = make_inputs(3, 5, 4, 11, torch.float64, seed=7)
    b = make_inputs(3, 5, 4, 11, torch.float64, seed=8)
    w = [t.clone().requires_grad_(True) for t in a[2:]]
    o1, _ = lstm_fused(a[0], a[1], *w)
    lstm_fused(b[0], b[1], *w)
    g1 = torch.autograd.grad(o1.sum(), w[1])[0]
    w_ref = [t.clone().requires_grad_(True) for t in a[2:]]
    g_ref = torch.autograd.grad(lstm_naive(a[0], a[1], *w_ref)[0].sum(), w_ref[1])[0]
    assert_rel(g1.cpu(), g_ref.cpu(), torch.float64, "dw_hh after an interleaved forward")


def test_fused_gemm_graph_bookkeeping_with_a_stand_in_graph(stand_in_graphs):
    # the same static-buffer discipline for the one-kernel path: (2, B, H) dh / dc buffers
    # swapped inside the graph, results read from the right slot, one graph per direction
    for seed in (0, 1):
        check_against_reference(lstm_fused_gemm, 3, 3, 2, 11, torch.float64, seed=seed)
    assert [k[0] for k in graphs._GRAPH_CACHE] == ["gemm_forward_loop", "gemm_backward_loop"]


def _cached(loop):
    """The batch sizes of the cached graphs of `loop`, least recently used first."""
    return [k[2] for k in graphs._GRAPH_CACHE if k[0] == loop]


def test_graph_cache_keeps_every_shape_of_a_run(stand_in_graphs, monkeypatch):
    # train and eval batches alternating: each shape is captured once, forward and backward
    H, T = 3, 2
    w = [t.requires_grad_(True) for t in make_inputs(1, T, 2, H, torch.float64)[2:]]
    for _ in range(3):
        for B in (2, 3):
            x = make_inputs(B, T, 2, H, torch.float64, seed=B)[0]
            lstm_fused(x, None, *w)[0].sum().backward()
    assert len(stand_in_graphs) == 4
    assert _cached("forward_loop") == _cached("backward_loop") == [2, 3]

    # past GRAPH_CACHE_SIZE a loop drops its least recently used shape, and only its own
    monkeypatch.setattr(graphs, "GRAPH_CACHE_SIZE", 2)

    def forward(B):
        with torch.no_grad():
            lstm_fused(make_inputs(B, T, 2, H, torch.float64, seed=B)[0], None, *w)

    forward(4)  # evicts B=2, the least recently used forward graph
    assert _cached("forward_loop") == [3, 4] and _cached("backward_loop") == [2, 3]
    forward(3)  # cached: no capture, now the most recently used
    assert len(stand_in_graphs) == 5 and _cached("forward_loop") == [4, 3]
    forward(2)  # captured again, evicting B=4
    assert len(stand_in_graphs) == 6 and _cached("forward_loop") == [3, 2]

    graphs.clear_graph_cache()
    assert not graphs._GRAPH_CACHE
    forward(3)
    assert len(stand_in_graphs) == 7


# ---------------------------------------------------------------------------------------
# fp16/bf16: what is kept in fp32

HALF = [pytest.param(torch.float16, id="fp16"), pytest.param(torch.bfloat16, id="bf16")]


def _fp32_dot_bound(n, magnitude):
    # the textbook forward error of an n-term fp32 sum of exact products, in any order:
    # gamma_n * sum |terms|, gamma_n = n u / (1 - n u), u = 2^-24
    u = 2.0 ** -24
    return n * u / (1 - n * u) * magnitude


@pytest.mark.parametrize("dtype", HALF)
def test_half_pre_activations_are_not_rounded_to_half(dtype):
    # x W_ih^T + b_ih + b_hh (input projection), gates += h W_hh^T (each forward step) and
    # dh = dgates W_hh (each backward step) within fp32's error bound of the exact float64
    # result; rounding them to the half dtype, as a half-precision GEMM output does, is not
    T, B, I, H = 2, 3, 40, 5
    x, (h0, _), w_ih, w_hh, b_ih, b_hh = make_inputs(B, T, I, H, dtype)
    d = [t.double() for t in (x, h0, w_ih, w_hh, b_ih, b_hh)]
    x_tm = x.transpose(0, 1).contiguous()
    xw = common.input_projection(x_tm, w_ih, b_ih, b_hh)
    assert xw.dtype == torch.float32 and xw.shape == (T, B, 4 * H)
    want = d[0].transpose(0, 1) @ d[2].t() + d[4] + d[5]
    bound = _fp32_dot_bound(I + 2, d[0].transpose(0, 1).abs() @ d[2].t().abs() + d[4].abs() + d[5].abs())
    assert ((xw.double() - want).abs() <= bound).all()
    assert not ((xw.to(dtype).double() - want).abs() <= bound).all()  # the bound can fail

    gates = xw[0].clone()
    common.gemm(h0, w_hh.t(), gates, c=gates)  # forward_loop's step GEMM, accumulating in place
    want_g = want[0] + d[1] @ d[3].t()
    # xw[0]'s own error, plus an (H+1)-term fp32 sum of xw[0] and the exact products h W_hh^T
    bound_g = bound[0] + _fp32_dot_bound(H + 1, want[0].abs() + bound[0] + d[1].abs() @ d[3].t().abs())
    assert ((gates.double() - want_g).abs() <= bound_g).all()

    dgates = torch.randn(B, 4 * H, generator=torch.Generator().manual_seed(2)).to(DEVICE, dtype)
    dh = torch.empty(B, H, dtype=torch.float32, device=DEVICE)
    common.gemm(dgates, common.gemm_operand(w_hh), dh)  # backward_loop's step GEMM
    want_dh = dgates.double() @ d[3]
    assert ((dh.double() - want_dh).abs() <= _fp32_dot_bound(4 * H, dgates.double().abs() @ d[3].abs())).all()


@pytest.mark.parametrize("dtype", HALF)
def test_half_inputs_match_reference(dtype):
    # every output and gradient of a fp16 / bf16 call against float64, on any machine
    check_against_reference(lstm_fused, 3, 12, 5, 9, dtype, seed=11)


# ---------------------------------------------------------------------------------------
# bad input

def _good(B=2, T=3, I=4, H=5):
    return list(make_inputs(B, T, I, H, torch.float64))


@pytest.mark.parametrize("case,match", [
    ("x_2d", "x must be batch-first"),
    ("x_int", "x dtype"),
    ("w_hh_shape", "w_hh must be"),
    ("w_ih_shape", "w_ih must be"),
    ("bias_shape", "b_ih must be"),
    ("h0_shape", "h0 must be"),
    ("state_mixed", "both be"),
    ("state_not_pair", "pair"),
    ("dtype_mismatch", "w_hh has dtype"),
    ("device_mismatch", "w_ih is on"),
])
def test_bad_input(case, match):
    x, (h0, c0), w_ih, w_hh, b_ih, b_hh = _good()
    state = (h0, c0)
    if case == "x_2d":
        x = x[0]
    elif case == "x_int":
        x = x.long()
    elif case == "w_hh_shape":
        w_hh = w_hh[:, :4]
    elif case == "w_ih_shape":
        w_ih = w_ih[:, :3]
    elif case == "bias_shape":
        b_ih = b_ih[:-1]
    elif case == "h0_shape":
        state = (h0[:1], c0)
    elif case == "state_mixed":
        state = (h0.unsqueeze(0), c0)
    elif case == "state_not_pair":
        state = (h0,)
    elif case == "dtype_mismatch":
        w_hh = w_hh.float()
    elif case == "device_mismatch":
        w_ih = w_ih.to("meta")
    with pytest.raises(ValueError, match=match):
        lstm_fused(x, state, w_ih, w_hh, b_ih, b_hh)


def test_cpu_tensors_without_interpreter_rejected(monkeypatch):
    monkeypatch.setattr(common, "INTERPRETED", False)
    x, state, w_ih, w_hh, b_ih, b_hh = make_inputs(2, 3, 4, 5, torch.float64, device="cpu")
    with pytest.raises(ValueError, match="CUDA device"):
        lstm_fused(x, state, w_ih, w_hh, b_ih, b_hh)


def _persistent_with(**opts):
    def fn(*a):
        return lstm_persistent(*a, **opts)
    fn.__name__ = f"lstm_persistent{opts}"
    return fn


# the persistent kernel's step code in each layout, forward and gradients (backward reads the
# saved activations and histories) against the reference, float64 and float32:
# - barrier-free with the dot split over 2 K slices (rank-3 dot, h reshaped on chip);
# - the barrier layout with one program: h_t round-trips through global memory, the barrier
#   counts to 1, K covered by two slice widths (H=70, 2 slices: 32 + 16 wide, 96 >= 70);
# - the barrier layout over 3 unit slices x 2 batch slices with T = 1 (no barrier to wait
#   at): the W / xW gathers and stores of programs past the first, masked tails;
# - four per-gate dots instead of the merged one.
PERSISTENT_LAYOUTS = [
    pytest.param(3, 5, 2, 37, dict(k_slices=2), id="free-S2"),
    pytest.param(3, 4, 2, 70, dict(barrier=True, k_slices=2), id="barrier-1prog-S2-KS32+16"),
    pytest.param(19, 1, 3, 40, dict(block_h=16, block_b=16, k_slices=1), id="barrier-6prog-T1"),
    pytest.param(18, 1, 3, 37, dict(block_h=16, k_slices=2), id="barrier-6prog-T1-S2"),
    pytest.param(3, 4, 2, 21, dict(gate_dots=True), id="free-gate-dots"),
]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["fp64", "fp32"])
@pytest.mark.parametrize("B,T,I,H,opts", PERSISTENT_LAYOUTS)
def test_persistent_layouts_match_reference(B, T, I, H, opts, dtype):
    check_against_reference(_persistent_with(**opts), B, T, I, H, dtype, seed=H)


def test_persistent_config_k_split():
    # the configuration rule off the GPU (on one, block_h and the grid follow the SM count and on-chip budget)
    DEVICE = torch.device("cpu")
    cfg = persistent_config(3, 70, torch.float32, DEVICE, barrier=True, k_slices=2)
    assert (cfg.k_slices, cfg.ks1, cfg.ks2, cfg.grid, cfg.use_barrier) == (2, 32, 16, (1, 1), True)
    b, h, hp, bar, warps = cfg  # the 5-tuple the GPU check scripts unpack
    assert (b, h, hp, bar, warps) == (16, 128, 128, True, 2)
    assert persistent_config(18, 37, torch.float32, DEVICE, block_h=16).grid == (2, 3)


@pytest.mark.skipif(not INTERPRETED, reason="the interpreter runs programs in turn: a barrier cannot complete")
def test_persistent_barrier_times_out_with_a_clear_error():
    # 3 unit slices x T=3: program 0 waits at its first step boundary for programs 1 and 2,
    # which the interpreter only starts once program 0 has finished: only the spin bound
    # ends the wait (tests/test_kernel_sync.py runs the programs concurrently)
    from kernels.lstm.persistent import launch_persistent
    from kernels.lstm.sync import flag_buffer
    B, T, H = 2, 3, 40
    x, (h0, c0), w_ih, w_hh, b_ih, b_hh = make_inputs(B, T, 3, H, torch.float32)
    with pytest.raises(RuntimeError, match=r"grid barrier timed out for B=2, H=40.*NaN.*lstm_fused"):
        lstm_persistent(x, (h0, c0), w_ih, w_hh, b_ih, b_hh, block_h=16, spin_limit=3)
    # seen directly: the status word set, each program's flag at its last step boundary (no
    # counter), and the void launch poisoned: NaN from the step after the time-out in the
    # units of the programs that gave up (0 and 1; program 2 found everyone done), and in
    # every unit once those NaN h_t have been read
    cfg = persistent_config(B, H, torch.float32, DEVICE, block_h=16)
    xw = torch.zeros(T, B, 4 * H)
    out = torch.zeros(T, B, H)
    hT, cT = torch.empty(B, H), torch.empty(B, H)
    flags = flag_buffer(cfg.n_programs, "cpu")
    with pytest.raises(RuntimeError):
        launch_persistent(cfg, xw, w_hh, h0, c0, out, hT, cT, spin_limit=2, sync=flags)
    assert flags.tolist() == [T - 1] * 3 + [1]
    assert torch.isfinite(out[0]).all()
    assert torch.isnan(out[1:, :, :32]).all() and torch.isnan(out[2]).all() and torch.isnan(cT).all()


def test_persistent_time_out_is_reported_by_a_later_check(monkeypatch):
    # on the GPU a launch's time-out word reaches the host behind an event, never waited for
    # by the forward: a later check raises for each finished launch that timed out
    from kernels.lstm import persistent

    class Event:
        def __init__(self, done):
            self.done = done

        def query(self):
            return self.done

        def synchronize(self):
            self.done = True

    monkeypatch.setattr(persistent, "_PENDING", [
        (torch.tensor([0], dtype=torch.int32), Event(True), "finished, fine"),
        (torch.tensor([1], dtype=torch.int32), Event(False), "still running, timed out")])
    persistent.check_persistent_status()  # the finished launch was fine, the other is not known yet
    assert [p[2] for p in persistent._PENDING] == ["still running, timed out"]
    with pytest.raises(RuntimeError, match="still running, timed out"):
        persistent.check_persistent_status(wait=True)
    assert not persistent._PENDING


def test_persistent_barrier_layout_needs_a_cooperative_launch(monkeypatch):
    # a triton without cooperative launches gets one line, not a launch that may deadlock
    from kernels.lstm import persistent
    monkeypatch.setattr(persistent, "INTERPRETED", False)
    monkeypatch.setattr(persistent, "_cooperative_supported", lambda: False)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda d=None: type("P", (), {"multi_processor_count": 132}))
    with pytest.raises(ValueError, match=r"^persistent LSTM's grid-barrier layout \(H=768, torch.float16\) needs a "
                                         r"cooperative launch, which triton \S+ does not offer: use lstm_fused "
                                         r"\(model.kernel=fused\)$"):
        persistent_config(16, 768, torch.float16, torch.device("cuda"))
    cfg = persistent_config(16, 128, torch.float16, torch.device("cuda"))  # barrier-free: no co-residency needed
    assert not cfg.use_barrier


# ---------------------------------------------------------------------------------------
# GPU only

GPU_SHAPES = [
    pytest.param(16, 64, 32, 256, id="B16-T64-I32-H256"),
    pytest.param(5, 33, 7, 100, id="B5-T33-I7-H100"),
    pytest.param(64, 20, 16, 128, id="B64-T20-I16-H128"),
]


@needs_cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16], ids=["fp32", "fp16", "bf16"])
@pytest.mark.parametrize("B,T,I,H", GPU_SHAPES)
@pytest.mark.parametrize("impl", list(ALL_IMPLS), ids=list(ALL_IMPLS))
def test_gpu_matches_reference(impl, B, T, I, H, dtype):
    check_against_reference(ALL_IMPLS[impl], B, T, I, H, dtype)


@needs_cuda
@pytest.mark.parametrize("opts", [dict(pdl=True), dict(pdl=True, use_cuda_graph=False), dict(block_h=16, block_k=128)],
                         ids=["pdl-graph", "pdl-eager", "bh16-bk128"])
def test_gpu_fused_gemm_options_match_reference(opts):
    check_against_reference(_gemm_with(**opts), 16, 33, 8, 200, torch.float16)


@needs_cuda
def test_gpu_persistent_forward_never_syncs_the_host():
    # the grid-barrier layout's time-out status reaches the host asynchronously: the forward
    # itself must not synchronise (torch raises on any synchronising call in this mode)
    x, state, *w = make_inputs(8, 17, 8, 384, torch.float16)
    cfg = persistent_config(8, 384, torch.float16, DEVICE)
    assert cfg.use_barrier
    with torch.no_grad():
        lstm_persistent(x, state, *w)  # compiles
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        try:
            lstm_persistent(x, state, *w)
        finally:
            torch.cuda.set_sync_debug_mode(0)
    from kernels.lstm.persistent import check_persistent_status
    check_persistent_status(wait=True)  # and no time-out was reported


@needs_cuda
@pytest.mark.parametrize("H,block_h", [(37, 16), (384, None), (1000, None)], ids=["H37-bh16", "H384", "H1000"])
def test_gpu_persistent_barrier_path(H, block_h):
    B = 8
    cfg = persistent_config(B, H, torch.float16, DEVICE, block_h=block_h)
    assert cfg[3], "expected the grid-barrier path"
    fn = lstm_persistent if block_h is None else (
        lambda *a: lstm_persistent(*a, block_h=block_h))
    fn.__name__ = "lstm_persistent"
    for dtype in (torch.float16, torch.float32) if H <= 512 else (torch.float16,):
        check_against_reference(fn, B, 17, 8, H, dtype, seed=H)


@needs_cuda
def test_gpu_cuda_graph_matches_eager_and_repeats():
    B, T, I, H = 4, 9, 6, 48
    for seed in (0, 1):  # a second call replays the cached graph with new inputs
        inputs = make_inputs(B, T, I, H, torch.float32, seed=seed)
        a, ups = run_with_grads(lambda *z: lstm_fused(*z, use_cuda_graph=True), *inputs)
        b, _ = run_with_grads(lambda *z: lstm_fused(*z, use_cuda_graph=False), *inputs, upstream=ups)
        for name, u, v in zip(NAMES, a, b):
            assert_rel(u, v, torch.float32, f"graph vs eager {name}")
    # two forwards before one backward must not share the graph's static buffers
    x1 = make_inputs(B, T, I, H, torch.float32, seed=5)
    x2 = make_inputs(B, T, I, H, torch.float32, seed=6)
    w = [t.clone().requires_grad_(True) for t in x1[2:]]
    o1, _ = lstm_fused(x1[0], x1[1], *w, use_cuda_graph=True)
    o2, _ = lstm_fused(x2[0], x2[1], *w, use_cuda_graph=True)
    g1 = torch.autograd.grad(o1.sum(), w[1])[0]
    w_ref = [t.detach().double().cpu().requires_grad_(True) for t in x1[2:]]
    r1, _ = lstm_naive(x1[0].double().cpu(), tuple(s.double().cpu() for s in x1[1]), *w_ref)
    g1_ref = torch.autograd.grad(r1.sum(), w_ref[1])[0]
    assert_rel(g1.double().cpu(), g1_ref, torch.float32, "dw_hh after an interleaved forward")
    del o2


# ---------------------------------------------------------------------------------------
# harness integration: model=lstm_triton

def test_lstm_triton_loads_nn_lstm_state_dict():
    I, H, B, T = 5, 24, 3, 6
    torch.manual_seed(0)
    ref = LSTM(I, H, forget_bias_add=1.0).double().to(DEVICE)
    model = LSTMTriton(I, H).double().to(DEVICE)
    assert set(model.state_dict()) == set(ref.state_dict())
    model.load_state_dict(ref.state_dict())           # model=lstm's state dict
    nn_lstm = torch.nn.LSTM(I, H, batch_first=True).double().to(DEVICE)
    nn_lstm.load_state_dict(model.lstm.state_dict())  # and a bare nn.LSTM's round-trips
    x = torch.randn(B, T, I, dtype=torch.float64, device=DEVICE)
    state = (torch.randn(B, H, dtype=torch.float64, device=DEVICE),
             torch.randn(B, H, dtype=torch.float64, device=DEVICE))
    with torch.no_grad():
        want, (wh, wc) = ref(x, state)
        got, (gh, gc) = model(x, state)
        assert gh.shape == (B, H) and gc.shape == (B, H)
        for name, a, e in (("out", got, want), ("h", gh, wh), ("c", gc, wc)):
            assert_rel(a, e, torch.float64, f"LSTMTriton {name}")
        got0, _ = model(x)  # zero state
        assert_rel(got0, ref(x)[0], torch.float64, "LSTMTriton out, zero state")
        # the per-step twin (reference cell math) agrees with the kernel's forward
        s = state
        for t in range(T):
            s, gates = model.step(x[:, t], s)
        assert set(gates) == {"i", "f", "g", "o"}
        assert_rel(s[0], gh, torch.float64, "step twin h_T")
    # gradients flow into the nn.LSTM-named parameters
    model(x, state)[0].square().sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_lstm_triton_without_gpu_is_a_config_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    with pytest.raises(ConfigError, match=r"^model=lstm_triton needs a CUDA GPU or TRITON_INTERPRET=1 \("):
        LSTMTriton(4, 8)
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    LSTMTriton(4, 8)  # the interpreter is enough to construct it


def test_lstm_triton_kernel_key(monkeypatch, capsys):
    from kernels.lstm import dispatch

    with pytest.raises(ConfigError, match=r"^model\.kernel='foo' is not allowed: auto \| fused \| fused_gemm \| persistent$"):
        LSTMTriton(4, 8, kernel="foo")
    I, H, B, T = 3, 6, 2, 4
    torch.manual_seed(0)
    ref = LSTM(I, H).double().to(DEVICE)
    x = torch.randn(B, T, I, dtype=torch.float64, device=DEVICE)
    model = LSTMTriton(I, H, kernel="fused").double().to(DEVICE)
    model.load_state_dict(ref.state_dict())
    with torch.no_grad():
        assert_rel(model(x)[0], ref(x)[0], torch.float64, "kernel=fused out")
        auto = LSTMTriton(I, H).double().to(DEVICE)  # the interpreter, or an fp64 call, runs fused
        auto(x)
        auto(x)
    assert auto.kernels_used == {"fused"}
    assert capsys.readouterr().err.count("note: model.kernel=auto runs fused") == 1  # said once

    # persistent on a shape it does not cover: one line naming the key and why
    def uncovered(B, H, dtype, device, *a, **k):
        raise ValueError(f"persistent LSTM does not cover H={H}")

    monkeypatch.setattr(dispatch, "persistent_config", uncovered)
    model.kernel = "persistent"
    with pytest.raises(ConfigError, match=r"^model\.kernel='persistent' is not allowed: auto or fused .*"
                                          r"does not cover H=6$"):
        model(x)


def test_auto_kernel_rule():
    # the rule as measured (benchmarks/results/kernels-h200.md): fused at every shape and dtype, on a GPU
    # and in the interpreter; a named kernel is taken as named, an unknown name refused
    from kernels.lstm import dispatch

    for device in (torch.device("cuda"), torch.device("cpu")):
        for dtype, H in [(torch.float16, 64), (torch.bfloat16, 128), (torch.float16, 768), (torch.float32, 64)]:
            assert dispatch.choose("auto", 16, H, dtype, device) == "fused", (device, dtype, H)
            assert dispatch.choose("persistent", 16, H, dtype, device) == "persistent"
    with pytest.raises(ValueError, match="kernel must be one of auto, fused, fused_gemm, persistent, got 'foo'"):
        dispatch.choose("foo", 16, 64, torch.float16, torch.device("cuda"))
