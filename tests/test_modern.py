"""The LSTM's modern descendants (sLSTM, minLSTM, minGRU): each against a literal float64 transcription
of its paper's equations, the parallel scans against the sequential twins, the stabiliser against the
unstabilised cell, long inputs, and a run of each through the harness with its diagnostics."""
import math

import pytest
import torch
from conftest import TINY, compose_cfg, read_result, unroll

import lstm_bench.train as train
from lstm_bench.errors import ConfigError
from lstm_bench.models.minrnn import MinGRU, MinLSTM, doubling_scan, log_scan
from lstm_bench.models.slstm import SLSTM
from lstm_bench.records import read_jsonl

B, T, I, H = 3, 7, 5, 6
F64 = dict(dtype=torch.float64)


def reference_slstm(rec: SLSTM, x: torch.Tensor):
    """xLSTM's eqs. (8)-(14) as written, without the stabiliser: h, c, n and the kept share f n_{t-1}/n_t per step."""
    Wi, Wf, Wz, Wo = rec.weight_ih.chunk(4, dim=0)
    bi, bf, bz, bo = rec.bias.chunk(4)
    Ri, Rf, Rz, Ro = (torch.block_diag(*rec.weight_hh[k]) for k in range(4))  # full (H, H), zero off the heads
    h = c = n = torch.zeros(x.shape[0], rec.hidden_size, **F64)
    hs, cs, ns, kept = [], [], [], []
    for t in range(x.shape[1]):
        xt = x[:, t]
        z = torch.tanh(xt @ Wz.T + h @ Rz + bz)
        i = torch.exp(xt @ Wi.T + h @ Ri + bi)
        f_pre = xt @ Wf.T + h @ Rf + bf
        f = torch.sigmoid(f_pre) if rec.forget_activation == "sigmoid" else torch.exp(f_pre)
        o = torch.sigmoid(xt @ Wo.T + h @ Ro + bo)
        c_new = f * c + i * z
        n_new = f * n + i
        kept.append(f * n / n_new)
        c, n = c_new, n_new
        h = o * c / n
        hs.append(h), cs.append(c), ns.append(n)
    return torch.stack(hs, 1), torch.stack(cs, 1), torch.stack(ns, 1), torch.stack(kept, 1)


@pytest.mark.parametrize("forget", ["sigmoid", "exp"])
@pytest.mark.parametrize("heads", [1, 3])
def test_slstm_is_its_equations_and_the_stabiliser_changes_nothing(forget, heads):
    torch.manual_seed(0)
    rec = SLSTM(I, H, heads=heads, forget_activation=forget).double()
    assert rec.weight_hh.numel() == 4 * H * H // heads  # block-diagonal: H/heads square blocks per gate
    with torch.no_grad():
        rec.bias[H:2 * H] += 2.0  # a forget gate that keeps: exp(f~) > 1, so m grows and does its work
    x = 2 * torch.randn(B, T, I, **F64)
    h_ref, c_ref, n_ref, kept_ref = reference_slstm(rec, x)
    out, (h, c, n, m) = rec(x)
    torch.testing.assert_close(out, h_ref, rtol=1e-12, atol=1e-12)
    # the stored c and n are the true ones divided by exp(m_t): (15)-(17)
    torch.testing.assert_close(c * m.exp(), c_ref[:, -1], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(n * m.exp(), n_ref[:, -1], rtol=1e-12, atol=1e-12)
    out_step, state_step, gates = unroll(rec, x)
    torch.testing.assert_close(out_step, out, rtol=1e-12, atol=1e-12)
    f = torch.stack([gt["f"] for gt in gates], 1)
    torch.testing.assert_close(f, kept_ref, rtol=1e-12, atol=1e-12)
    assert f[:, 0].eq(0).all() and (f > 0).all(dim=2)[:, 1:].all() and (f <= 1).all()  # n_0 = 0: nothing to keep
    if forget == "exp":
        assert m.max() > 1  # the stabiliser moved
    for a, b in zip(state_step, (h, c, n, m), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_slstm_stabiliser_stays_finite_where_the_plain_equations_overflow():
    torch.manual_seed(1)
    rec = SLSTM(I, H, heads=2, forget_activation="exp").double()
    with torch.no_grad():
        rec.bias[: 2 * H] += 400.0  # i~, f~ around 400: exp overflows float64 within two steps
    x = torch.randn(B, T, I, **F64)
    h_ref, *_ = reference_slstm(rec, x)
    assert not torch.isfinite(h_ref).all()
    out, state = rec(x)
    assert torch.isfinite(out).all() and all(torch.isfinite(s).all() for s in state)
    assert state[3].min() > 0.9 * 400 * T  # m_t ≈ m_{t-1} + f~_t here: it carries the scale the plain c and n could not


def test_slstm_heads_do_not_mix():
    """With block-diagonal R, head k's h_t depends on head j's h_{t-1} only for j = k."""
    torch.manual_seed(2)
    rec = SLSTM(I, H, heads=3).double()
    state = tuple(torch.randn(1, H, **F64).abs() for _ in range(4))
    x_t = torch.randn(1, I, **F64)
    J = torch.autograd.functional.jacobian(lambda h: rec.step(x_t, (h, *state[1:]))[0][0], state[0])[0, :, 0]
    block = torch.block_diag(*[torch.ones(2, 2)] * 3).bool()
    assert J[~block].abs().max() == 0 and J[block].abs().min() > 0


def reference_min(rec, x: torch.Tensor, h0: torch.Tensor):
    """Feng et al.'s minGRU / minLSTM (§3), one step at a time, with g for the candidate; a -> 2a - 1 with negative eigenvalues."""
    gpos = lambda v: torch.where(v >= 0, v + 0.5, torch.sigmoid(v))  # noqa: E731
    W, b = rec.proj.weight, rec.proj.bias
    h, hs = h0, []
    for t in range(x.shape[1]):
        p = x[:, t] @ W.T + b
        if isinstance(rec, MinGRU):
            z = torch.sigmoid(p[:, :H])
            a, w, cand = 1 - z, z, p[:, H:]
        else:
            f, i = torch.sigmoid(p[:, :H]), torch.sigmoid(p[:, H:2 * H])
            a, w, cand = f / (f + i), i / (f + i), p[:, 2 * H:]
        if rec.negative_eigenvalues:
            a = 2 * a - 1
        h = a * h + w * gpos(cand)
        hs.append(h)
    return torch.stack(hs, 1)


MIN = [(cls, neg) for cls in (MinGRU, MinLSTM) for neg in (False, True)]
MIN_IDS = [f"{c.name}{'-neg' if n else ''}" for c, n in MIN]


@pytest.mark.parametrize("cls,neg", MIN, ids=MIN_IDS)
def test_min_rnn_scan_is_its_equations_and_its_twin_outputs_and_gradients(cls, neg):
    torch.manual_seed(3)
    rec = cls(I, H, negative_eigenvalues=neg).double()
    x = 3 * torch.randn(B, T, I, **F64, requires_grad=True)  # wide enough that g takes both branches
    h0 = torch.rand(B, H, **F64) + 0.1  # a carried state; the log scan takes h >= 0, which the model keeps
    want = reference_min(rec, x, h0)
    out, (h_last,) = rec(x, (h0,))
    torch.testing.assert_close(out, want, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(h_last, want[:, -1], rtol=1e-10, atol=1e-12)
    out0, _ = rec(x)  # no state: the zero state
    torch.testing.assert_close(out0, reference_min(rec, x, torch.zeros(B, H, **F64)), rtol=1e-10, atol=1e-12)

    out_step, _, gates = unroll(rec, x)
    torch.testing.assert_close(out_step, out0, rtol=1e-10, atol=1e-12)
    up = torch.randn_like(out0)
    params = [x, *rec.parameters()]
    for a, b in zip(torch.autograd.grad((out0 * up).sum(), params), torch.autograd.grad((out_step * up).sum(), params)):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)
    f = torch.stack([gt["f"] for gt in gates], 1)
    assert (0 <= f).all() and (f <= 1).all()
    if not neg:  # f is the decay itself, and keep + write = 1
        torch.testing.assert_close(f + torch.stack([gt["i"] for gt in gates], 1), torch.ones_like(f))


def test_log_scan_and_doubling_scan_agree_on_5000_steps():
    torch.manual_seed(4)
    a, b, h0 = torch.rand(2, 5000, 3, **F64), torch.rand(2, 5000, 3, **F64), torch.rand(2, 3, **F64)
    torch.testing.assert_close(log_scan(a.log(), b.log(), h0), doubling_scan(a, b, h0), rtol=1e-9, atol=0)
    torch.testing.assert_close(doubling_scan(-a, b, None)[:, :50], reference_scan(-a[:, :50], b[:, :50]))


def reference_scan(a, b):
    h, out = torch.zeros_like(b[:, 0]), []
    for t in range(a.shape[1]):
        h = a[:, t] * h + b[:, t]
        out.append(h)
    return torch.stack(out, 1)


# the sLSTM steps in Python: its exponential forget gate only, the one whose m grows without bound
LONG = {"slstm-expf": lambda: SLSTM(I, H, heads=2, forget_activation="exp"),
        **{name: lambda c=c, n=n: c(I, H, negative_eigenvalues=n) for (c, n), name in zip(MIN, MIN_IDS)}}


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("name", LONG)
def test_long_inputs_stay_finite(name):
    torch.manual_seed(5)
    rec = LONG[name]()
    x = (3 * torch.randn(2, 5000, I)).requires_grad_()  # float32, as training runs
    if isinstance(rec, SLSTM):
        with torch.no_grad():
            rec.bias[H:2 * H] = 3.0  # f~ = 3 held: unstabilised, exp(3 t) leaves float32 by t = 30
    out, state = rec(x)
    out[:, -1].sum().backward()
    assert torch.isfinite(out).all() and all(torch.isfinite(s).all() for s in state)
    assert torch.isfinite(x.grad).all() and all(torch.isfinite(p.grad).all() for p in rec.parameters())


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("model", ["slstm", "minlstm", "mingru", "mingru-neg"])
def test_each_runs_through_the_harness_with_its_diagnostics(tmp_path, model):
    name, _, neg = model.partition("-")
    more = ["model.negative_eigenvalues=true"] if neg else []
    cfg = compose_cfg(*TINY, "task=copy", "task.n_recall=2", f"model={name}", *more, "train.steps=4",
                      "train.eval_every=2", "train.batch_size=4", "train.eval_batch_size=8", "diag.batch_size=2")
    train.run(cfg, tmp_path)
    result = read_result(tmp_path)
    assert result["model"] == model and result["status"] in ("solved", "unsolved")
    assert 0 < result["forget_mean"] < 1 and math.isfinite(result["grad_ratio_log10"])
    assert result["forget_timescale_median"] > 0
    rows = read_jsonl(tmp_path / "diagnostics.jsonl")
    assert len(rows) == 3 and all(len(r["gate_hist"]["f"]) == 50 for r in rows)
    assert ("cell_norm" in rows[-1]) == (name == "slstm")  # a second state, the cell, only for the sLSTM
    assert (tmp_path / "forget_gate_heatmap.png").exists()


@pytest.mark.parametrize("make,key", [
    (lambda: SLSTM(I, H, heads=4), "model.heads=4"),
    (lambda: SLSTM(I, H, heads=2, forget_activation="tanh"), "model.forget_activation='tanh'"),
    (lambda: MinGRU(I, H, negative_eigenvalues="yes"), "model.negative_eigenvalues='yes'"),
])
def test_bad_options(make, key):
    with pytest.raises(ConfigError, match=rf"^{key} is not allowed"):
        make()
