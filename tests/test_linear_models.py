"""The matrix-memory, selective, diagonal and orthogonal recurrences (mlstm, deltanet, s6, lru, exprnn): each against a
literal float64 transcription of its paper's equations, the chunked / convolutional forward against the per-step
twin (outputs, final state and every gradient, on odd sizes across several chunks), the stabiliser against the
unstabilised equations, the eigenvalue ranges with and without negative eigenvalues, the parameter and state
counts the budget search reads, bad options, and a run of each through the harness with its diagnostics.

Optional cross-checks against the reference packages (`mambapy`'s selective_scan_seq, flash-linear-attention's naive
delta rule, `xlstm`'s parallel_stabilized_simple mLSTM) skip with their reason where the package is absent; none is a
dependency of the project."""
import importlib.util
import math
import types

import pytest
import torch
import torch.nn.functional as F
from conftest import TINY, compose_cfg, read_result, unroll

import lstm_bench.train as train
from lstm_bench.errors import ConfigError
from lstm_bench.models.capacity import largest_hidden_size, n_params, recurrence_params, state_size
from lstm_bench.models.deltanet import DeltaNet
from lstm_bench.models.exprnn import ExpRNN
from lstm_bench.models.lru import LRU
from lstm_bench.models.mlstm import MLSTM
from lstm_bench.models.s6 import S6
from lstm_bench.records import read_jsonl

B, T, I, H = 3, 37, 5, 12  # T = 37 with chunks of 8: four full chunks and a ragged one
F64 = dict(dtype=torch.float64)
TOL = dict(rtol=1e-10, atol=1e-12)


# --- literal transcriptions of the papers' equations, one step at a time ------------------------------------------

def reference_mlstm(rec: MLSTM, x: torch.Tensor):
    """xLSTM (19)-(27) as written, unstabilised, in the paper's orientation C (d_v x d_k); h and the final C, n."""
    nh, d, Hh = rec.heads, rec.d, rec.hidden_size
    W, b = rec.proj.weight, rec.proj.bias
    C = torch.zeros(x.shape[0], nh, d, d, **F64)
    n = torch.zeros(x.shape[0], nh, d, **F64)
    hs = []
    for t in range(x.shape[1]):
        p = x[:, t] @ W.T + b
        q, k, v, o = (p[:, j * Hh:(j + 1) * Hh].reshape(-1, nh, d) for j in range(4))
        k = k / math.sqrt(d)
        i = torch.exp(p[:, 4 * Hh:4 * Hh + nh])
        f_pre = p[:, 4 * Hh + nh:]
        if rec.negative_eigenvalues:
            f = 2 * torch.sigmoid(f_pre) - 1
        else:
            f = torch.sigmoid(f_pre) if rec.forget_activation == "sigmoid" else torch.exp(f_pre)
        C = f[..., None, None] * C + i[..., None, None] * v.unsqueeze(-1) * k.unsqueeze(-2)  # v k^T
        n = f[..., None] * n + i[..., None] * k
        num = (C @ q.unsqueeze(-1))[..., 0]
        den = torch.clamp((n * q).sum(-1).abs(), min=1.0)
        hs.append(torch.sigmoid(o.reshape(-1, Hh)) * (num / den[..., None]).reshape(-1, Hh))
    return torch.stack(hs, 1), C, n


def reference_deltanet(rec: DeltaNet, x: torch.Tensor, S0: torch.Tensor):
    """S_t = S_{t-1} (I - beta k k^T) + beta v k^T (d_v x d_k, as Schlag et al. write it), o_t = S_t q_t."""
    nh, d, Hh = rec.heads, rec.d, rec.hidden_size
    W, b = rec.proj.weight, rec.proj.bias
    S = S0.transpose(-1, -2).clone()  # ours is stored as sum k v^T
    eye = torch.eye(d, **F64)
    outs = []
    for t in range(x.shape[1]):
        p = x[:, t] @ W.T + b
        q, k, v = (F.silu(p[:, j * Hh:(j + 1) * Hh]).reshape(-1, nh, d) for j in range(3))
        q, k = q / q.norm(dim=-1, keepdim=True), k / k.norm(dim=-1, keepdim=True)
        beta = (2.0 if rec.negative_eigenvalues else 1.0) * torch.sigmoid(p[:, 3 * Hh:])[..., None, None]
        kk = k.unsqueeze(-1) * k.unsqueeze(-2)
        S = S @ (eye - beta * kk) + beta * v.unsqueeze(-1) * k.unsqueeze(-2)
        outs.append((S @ q.unsqueeze(-1))[..., 0].reshape(-1, Hh))
    return torch.stack(outs, 1), S.transpose(-1, -2)


def reference_s6(rec: S6, x: torch.Tensor, s0: torch.Tensor):
    """Mamba's Algorithm 2 with the discretisation of its §3 (ZOH for A, Delta B for B), channel by channel."""
    Hh, N = rec.hidden_size, rec.d_state
    s, outs = s0.clone(), []
    A = -torch.exp(rec.A_log)
    for t in range(x.shape[1]):
        uz = x[:, t] @ rec.in_proj.weight.T
        u, z = F.silu(uz[:, :Hh]), uz[:, Hh:]
        xp = u @ rec.x_proj.weight.T
        dt, Bm, Cm = xp[:, :rec.rank], xp[:, rec.rank:rec.rank + N], xp[:, rec.rank + N:]
        delta = F.softplus(dt @ rec.dt_proj.weight.T + rec.dt_proj.bias)
        y = torch.zeros(x.shape[0], Hh, **F64)
        for h in range(Hh):  # one channel at a time, as the equations are written
            a = torch.exp(delta[:, h, None] * A[h])
            if rec.negative_eigenvalues:
                a = 2 * a - 1
            s[:, h] = a * s[:, h] + delta[:, h, None] * Bm * u[:, h, None]
            y[:, h] = (s[:, h] * Cm).sum(-1) + rec.D[h] * u[:, h]
        outs.append(y * F.silu(z))
    return torch.stack(outs, 1), s


def reference_lru(rec: LRU, u: torch.Tensor, x0: torch.Tensor):
    """Orvieto et al.'s recurrence in complex arithmetic: x_t = lambda x_{t-1} + gamma B u_t, gelu(Re(C x) + D u)."""
    lam = torch.exp(-torch.exp(rec.nu_log) + 1j * torch.exp(rec.theta_log))
    Bc = (rec.B_re + 1j * rec.B_im) * torch.exp(rec.gamma_log)[:, None]
    Cc = rec.C_re + 1j * rec.C_im
    x, outs = x0, []
    for t in range(u.shape[1]):
        x = lam * x + u[:, t].to(Bc.dtype) @ Bc.T
        outs.append(F.gelu((x @ Cc.T).real + u[:, t] @ rec.D.T))
    return torch.stack(outs, 1), x


def expm_by_hand(rec: ExpRNN) -> torch.Tensor:
    """W = base @ exp(A - A^T), A the lower triangle of the stored original (the docstring's map, not torch's code)."""
    plist = rec.recurrent_kernel.parametrizations.weight
    X = plist.original.tril()
    return plist[0].base @ torch.linalg.matrix_exp(X - X.T)


def reference_exprnn(rec: ExpRNN, x: torch.Tensor, h0: torch.Tensor):
    W = expm_by_hand(rec)
    h, hs = h0, []
    for t in range(x.shape[1]):
        z = x[:, t] @ rec.input_kernel.weight.T + h @ W.T
        h = torch.where(z.abs() + rec.bias > 0, z / z.abs() * (z.abs() + rec.bias), torch.zeros_like(z))
        hs.append(h)
    return torch.stack(hs, 1), h


# --- the equations, the twins -----------------------------------------------------------------------------------

def small_chunks(rec):
    if hasattr(rec, "chunk"):
        rec.chunk = 8
    return rec


MLSTMS = {"mlstm": dict(heads=3), "mlstm-expf": dict(heads=2, forget_activation="exp"),
          "mlstm-neg": dict(heads=3, negative_eigenvalues=True)}


@pytest.mark.parametrize("name", MLSTMS)
def test_mlstm_is_its_equations_and_the_stabiliser_changes_nothing(name):
    torch.manual_seed(0)
    rec = small_chunks(MLSTM(I, H, **MLSTMS[name]).double())
    x = 2 * torch.randn(B, T, I, **F64)
    h_ref, C_ref, n_ref = reference_mlstm(rec, x)
    out, (h, C, n, m) = rec(x)
    torch.testing.assert_close(out, h_ref, **TOL)
    # the stored memory is the true one divided by exp(m), and k v^T where the paper writes v k^T
    torch.testing.assert_close(C * m.exp()[..., None, None], C_ref.transpose(-1, -2), **TOL)
    torch.testing.assert_close(n * m.exp()[..., None], n_ref, **TOL)
    if name == "mlstm-expf":
        assert m.max() > 5  # the stabiliser moved (b_f = 3..6 with exp(f~) > 1)
    if name == "mlstm-neg":
        assert (m != 0).any()


def test_mlstm_forget_bias_init():
    """xLSTM's b_f = linspace(3, 6) over the heads by default; forget_bias sets every head's, and says so in the name."""
    H4 = 3 * H + H + 3  # rows q, k, v, o, then i (3 heads), then f
    default, zero = MLSTM(I, H, heads=3), MLSTM(I, H, heads=3, negative_eigenvalues=True, forget_bias=0.0)
    torch.testing.assert_close(default.proj.bias[H4:].detach(), torch.tensor([3.0, 4.5, 6.0]))
    assert (default.proj.bias[4 * H:H4] == 0).all() and default.name == "mlstm"
    assert (zero.proj.bias[H4:] == 0).all() and zero.name == "mlstm-neg+forget_bias"
    _, _, _, _, _, log_f, sign = zero.split(zero.proj.bias.detach())  # x = 0: the bias alone
    assert (log_f.exp() < 1e-6).all()  # f = tanh(0) = 0: both signs one step away


def test_mlstm_stabiliser_stays_finite_where_the_plain_equations_overflow():
    torch.manual_seed(1)
    rec = small_chunks(MLSTM(I, H, heads=2, forget_activation="exp").double())
    with torch.no_grad():
        rec.proj.bias[4 * H:] += 400.0  # i~ and f~ near 400: exp overflows float64 within two steps
    x = torch.randn(B, T, I, **F64)
    h_ref, *_ = reference_mlstm(rec, x)
    assert not torch.isfinite(h_ref).all()
    out, state = rec(x)
    assert torch.isfinite(out).all() and all(torch.isfinite(s).all() for s in state)
    out_step, state_step, _ = unroll(rec, x)
    torch.testing.assert_close(out_step, out, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("neg", [False, True], ids=["deltanet", "deltanet-neg"])
def test_deltanet_is_its_equations_from_any_state(neg):
    torch.manual_seed(2)
    rec = small_chunks(DeltaNet(I, H, heads=3, negative_eigenvalues=neg).double())
    x = 2 * torch.randn(B, T, I, **F64)
    S0 = torch.randn(B, 3, 4, 4, **F64)
    want, S_want = reference_deltanet(rec, x, S0)
    out, (o, S) = rec(x, (torch.zeros(B, H, **F64), S0))
    torch.testing.assert_close(out, want, **TOL)
    torch.testing.assert_close(S, S_want, **TOL)
    out0, _ = rec(x)
    torch.testing.assert_close(out0, reference_deltanet(rec, x, torch.zeros_like(S0))[0], **TOL)


@pytest.mark.parametrize("neg", [False, True], ids=["s6", "s6-neg"])
def test_s6_is_its_equations_from_any_state(neg):
    torch.manual_seed(3)
    rec = S6(I, H, d_state=4, negative_eigenvalues=neg).double()
    x = 2 * torch.randn(B, T, I, **F64)
    s0 = torch.randn(B, H, 4, **F64)
    want, s_want = reference_s6(rec, x, s0)
    out, (_, s) = rec(x, (torch.zeros(B, H, **F64), s0))
    torch.testing.assert_close(out, want, **TOL)
    torch.testing.assert_close(s, s_want, **TOL)


def test_lru_is_its_equations_from_any_state():
    torch.manual_seed(4)
    rec = LRU(I, H, r_min=0.5, r_max=0.99).double()
    u = torch.randn(B, T, I, **F64)
    x0 = torch.complex(torch.randn(B, H, **F64), torch.randn(B, H, **F64))
    want, x_want = reference_lru(rec, u, x0)
    out, (_, x) = rec(u, (torch.zeros(B, H, **F64), torch.cat([x0.real, x0.imag], -1)))
    torch.testing.assert_close(out, want, **TOL)
    torch.testing.assert_close(x, torch.cat([x_want.real, x_want.imag], -1), **TOL)
    lam = torch.exp(-torch.exp(rec.nu_log))
    assert (lam >= 0.5 - 1e-12).all() and (lam <= 0.99 + 1e-12).all()  # the ring it starts on
    torch.testing.assert_close(torch.exp(rec.gamma_log), torch.sqrt(1 - lam**2))  # the normalisation


def test_exprnn_is_its_equations_and_w_is_orthogonal():
    torch.manual_seed(5)
    rec = ExpRNN(I, H).double()
    with torch.no_grad():  # move A off 0, as training would
        rec.recurrent_kernel.parametrizations.weight.original.add_(0.3 * torch.randn(H, H, **F64))
    W = rec.recurrent_kernel.weight
    torch.testing.assert_close(W, expm_by_hand(rec), **TOL)
    torch.testing.assert_close(W.T @ W, torch.eye(H, **F64), rtol=0, atol=1e-6)  # the base was drawn in float32
    x, h0 = torch.randn(B, T, I, **F64), torch.randn(B, H, **F64)
    want, h_want = reference_exprnn(rec, x, h0)
    out, (h,) = rec(x, (h0,))
    torch.testing.assert_close(out, want, **TOL)
    torch.testing.assert_close(h, h_want, **TOL)
    # the gradient of W reaches exactly the H(H-1)/2 entries below the original's diagonal: what capacity counts
    g = torch.autograd.grad((W * torch.randn(H, H, **F64)).sum(), rec.recurrent_kernel.parametrizations.weight.original)[0]
    assert int((g != 0).sum()) == H * (H - 1) // 2 == n_params(rec) - H * I - H


TWINS = {
    "mlstm": lambda: MLSTM(I, H, heads=3), "mlstm-expf": lambda: MLSTM(I, H, heads=2, forget_activation="exp"),
    "mlstm-neg": lambda: MLSTM(I, H, heads=3, negative_eigenvalues=True),
    "deltanet": lambda: DeltaNet(I, H, heads=3), "deltanet-neg": lambda: DeltaNet(I, H, heads=2, negative_eigenvalues=True),
    "s6": lambda: S6(I, H, d_state=4), "s6-neg": lambda: S6(I, H, d_state=4, negative_eigenvalues=True),
    "lru": lambda: LRU(I, H), "exprnn": lambda: ExpRNN(I, H), "exprnn-cayley": lambda: ExpRNN(I, H, "cayley"),
}


@pytest.mark.parametrize("name", TWINS)
def test_forward_and_twin_agree_outputs_states_and_gradients(name):
    torch.manual_seed(6)
    rec = small_chunks(TWINS[name]().double())
    assert rec.name == name
    x = (2 * torch.randn(B, T, I, **F64)).requires_grad_()
    out, state = rec(x)
    out_step, state_step, gates = unroll(rec, x)
    torch.testing.assert_close(out_step, out, **TOL)
    for a, b in zip(state_step, state, strict=True):
        torch.testing.assert_close(a, b, **TOL)
    up = torch.randn_like(out)
    params = [x, *rec.parameters()]
    for a, b in zip(torch.autograd.grad((out * up).sum(), params), torch.autograd.grad((out_step * up).sum(), params)):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-11)
    # carried on: a second forward from the final state continues the sequence
    x2 = torch.randn(B, 9, I, **F64)
    out2, _ = rec(x2, state)
    torch.testing.assert_close(out2, rec(torch.cat([x, x2], 1))[0][:, T:], rtol=1e-9, atol=1e-11)
    for k, v in gates[-1].items():
        assert v.shape[0] == B and (v >= 0).all() and (v <= 1).all(), k


@pytest.mark.parametrize("name", [n for n in TWINS if not n.startswith("exprnn")])  # exprnn's h is its state
def test_a_readout_h_is_never_read_by_the_next_step(name):
    """state_size leaves h out for these models: the next step must not depend on it."""
    torch.manual_seed(7)
    rec = TWINS[name]().double()
    assert rec.h_is_readout
    _, state = rec(torch.randn(2, 5, I, **F64))
    x_t = torch.randn(2, I, **F64)
    J = torch.autograd.functional.jacobian(lambda h: torch.cat([s.flatten(1) for s in rec.step(x_t, (h, *state[1:]))[0]], 1),
                                           state[0])
    assert J.abs().max() == 0


def test_eigenvalue_ranges():
    """[0, 1] by default, reaching below 0 (towards -1) with negative eigenvalues: the decay each model reports."""
    torch.manual_seed(8)
    x = 4 * torch.randn(64, 20, I, **F64)
    for make in (lambda neg: MLSTM(I, H, heads=3, negative_eigenvalues=neg), lambda neg: DeltaNet(I, H, heads=3, negative_eigenvalues=neg),
                 lambda neg: S6(I, H, d_state=4, negative_eigenvalues=neg)):
        for neg in (False, True):
            rec = make(neg).double()
            with torch.no_grad():
                if isinstance(rec, MLSTM):
                    rec.proj.bias[-3:] = 0.0  # f~ around 0: both signs of 2 sigmoid - 1
                if isinstance(rec, S6):
                    rec.dt_proj.bias.fill_(2.0)  # Delta ~ 2: exp(Delta A) near 0, so 2 a - 1 near -1
            if isinstance(rec, DeltaNet):
                *_, beta = rec.features(rec.proj(x))
                eig = 1 - beta  # along k
            elif isinstance(rec, MLSTM):
                *_, log_f, sign = rec.split(rec.proj(x))
                eig = log_f.exp() * (1 if sign is None else sign)
            else:
                eig = rec.coefficients(x)[0]
            assert eig.max() <= 1 and eig.min() >= -1
            assert (eig.min() < -0.5) == neg and (eig.min() >= 0) == (not neg), (rec.name, eig.min())


# --- counts: parameters, state, the budget ----------------------------------------------------------------------

E = 32


@pytest.mark.parametrize("make,params,state", [
    (lambda: MLSTM(E, 64, heads=4), (E + 1) * (4 * 64 + 8), 4 * (16 * 16 + 16 + 1)),
    (lambda: DeltaNet(E, 64, heads=4), (E + 1) * (3 * 64 + 4), 4 * 16 * 16),
    (lambda: S6(E, 64, d_state=16), E * 128 + 64 * (4 + 32) + (4 + 1) * 64 + 64 * 16 + 64, 64 * 16),
    (lambda: LRU(E, 64), 3 * 64 + 2 * 64 * E + 2 * 64 * 64 + 64 * E, 2 * 64),
    (lambda: ExpRNN(E, 64), 64 * E + 64 * 63 // 2 + 64, 64),
], ids=["mlstm", "deltanet", "s6", "lru", "exprnn"])
def test_parameter_and_state_counts(make, params, state):
    rec = make()
    assert n_params(rec) == params and state_size(rec) == state
    with torch.device("meta"):
        assert n_params(make()) == params  # the budget search counts on the meta device


@pytest.mark.parametrize("model", ["mlstm", "deltanet", "s6", "lru", "exprnn"])
def test_param_budget_picks_the_largest_hidden_size_that_fits(model):
    cfg = compose_cfg(f"model={model}", "model.param_budget=20000", "logger=none")
    _, m = train.build(cfg, torch.device("cpu"))
    rec, Hb = m.recurrence, m.recurrence.hidden_size
    partial = train.hydra.utils.instantiate({k: v for k, v in cfg.model.items() if k != "param_budget"},
                                            input_size=cfg.embed_size, _partial_=True)  # as build() makes it
    make = lambda h: partial(hidden_size=h)  # noqa: E731
    assert n_params(rec) <= 20000 and largest_hidden_size(20000, make) == Hb
    bigger = next(h for h in range(Hb + 1, Hb + 64) if recurrence_params(make, h) is not None)
    assert recurrence_params(make, bigger) > 20000


# --- bad input ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("make,key", [
    (lambda: MLSTM(I, H, heads=5), "model.heads=5"),
    (lambda: DeltaNet(I, H, heads=0), "model.heads=0"),
    (lambda: MLSTM(I, H, heads=2, forget_activation="exp", negative_eigenvalues=True), "model.negative_eigenvalues=True"),
    (lambda: MLSTM(I, H, heads=2, forget_activation="relu"), "model.forget_activation='relu'"),
    (lambda: MLSTM(I, H, heads=2, forget_bias="big"), "model.forget_bias='big'"),
    (lambda: DeltaNet(I, H, heads=2, negative_eigenvalues="yes"), "model.negative_eigenvalues='yes'"),
    (lambda: S6(I, H, d_state=0), "model.d_state=0"),
    (lambda: LRU(I, H, r_min=0.99, r_max=0.9), "model.r_min=0.99"),
    (lambda: ExpRNN(I, H, orthogonal_map="householder"), "model.orthogonal_map='householder'"),
])
def test_bad_options(make, key):
    with pytest.raises(ConfigError, match=rf"^{key} is not allowed: ") as err:
        make()
    assert "\n" not in str(err.value)


# --- through the harness ------------------------------------------------------------------------------------------

@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("model", ["mlstm", "deltanet-neg", "s6", "lru", "exprnn"])
def test_each_runs_through_the_harness_with_its_diagnostics(tmp_path, model):
    name, _, neg = model.partition("-")
    more = {"mlstm": ["model.heads=2"], "deltanet": ["model.heads=2"], "s6": ["model.d_state=4"]}.get(name, [])
    more += ["model.negative_eigenvalues=true"] if neg else []
    cfg = compose_cfg(*TINY, "task=copy", "task.n_recall=2", f"model={name}", *more, "train.steps=4",
                      "train.eval_every=2", "train.batch_size=4", "train.eval_batch_size=8", "diag.batch_size=2")
    train.run(cfg, tmp_path)
    result = read_result(tmp_path)
    assert result["model"] == model and result["status"] in ("solved", "unsolved")
    assert result["state_size"] == state_size(train.build(cfg, torch.device("cpu"))[1].recurrence)
    assert math.isfinite(result["grad_ratio_log10"]) and abs(result["grad_ratio_log10"]) < 50  # nothing floored
    rows = read_jsonl(tmp_path / "diagnostics.jsonl")
    assert len(rows) == 3 and all(math.isfinite(v) for v in rows[-1]["grad_h"])
    if name == "exprnn":
        assert result["forget_mean"] is None  # no gate
    else:
        assert 0 < result["forget_mean"] <= 1 and (tmp_path / "forget_gate_heatmap.png").exists()
    assert ("cell_norm" in rows[-1]) == (name != "exprnn")  # a second state: the memory


# --- optional reference packages ----------------------------------------------------------------------------------

def test_s6_matches_mambapy_selective_scan_seq():
    mamba = pytest.importorskip("mambapy.mamba", reason="mambapy: optional reference, not installed")
    torch.manual_seed(9)
    rec = S6(I, H, d_state=4).double()
    x = torch.randn(B, T, I, **F64, requires_grad=True)
    u, z = rec.in_proj(x).chunk(2, dim=-1)
    u = F.silu(u)
    dt, Bm, Cm = rec.x_proj(u).split([rec.rank, 4, 4], dim=-1)
    delta = F.softplus(rec.dt_proj(dt))
    fake = types.SimpleNamespace(config=types.SimpleNamespace(d_inner=H, d_state=4))
    y = mamba.MambaBlock.selective_scan_seq(fake, u, delta, -torch.exp(rec.A_log), Bm, Cm, rec.D)
    want = y * F.silu(z)
    out, _ = rec(x)
    torch.testing.assert_close(out, want, **TOL)
    up = torch.randn_like(out)
    for a, b in zip(torch.autograd.grad((out * up).sum(), [x, *rec.parameters()]),
                    torch.autograd.grad((want * up).sum(), [x, *rec.parameters()])):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


def test_mlstm_matches_xlstm_parallel_stabilized_simple():
    backends = pytest.importorskip("xlstm.blocks.mlstm.backends", reason="xlstm: optional reference, not installed")
    torch.manual_seed(11)
    rec = MLSTM(I, H, heads=3).double()  # sigmoid forget gate: the backend's logsigmoid
    x = (2 * torch.randn(B, 20, I, **F64)).requires_grad_()
    p = rec.proj(x)
    nh, d = 3, 4
    q, k, v, o, i_, f_ = p.split([H, H, H, H, nh, nh], dim=-1)
    heads = lambda t: t.unflatten(-1, (nh, d)).transpose(1, 2)  # noqa: E731  (B, nh, T, d)
    # its keys are scaled by 1/sqrt(d) inside, ours before; eps=0: its normaliser is max(|n q|, exp(-m)) + eps
    h_tilde = backends.parallel_stabilized_simple(heads(q), heads(k), heads(v), i_.transpose(1, 2)[..., None],
                                                  f_.transpose(1, 2)[..., None], eps=0.0)
    want = torch.sigmoid(o) * h_tilde.transpose(1, 2).flatten(-2)
    out, _ = rec(x)
    torch.testing.assert_close(out, want, **TOL)
    up = torch.randn_like(out)
    params = [x, *rec.parameters()]
    for a, b in zip(torch.autograd.grad((out * up).sum(), params), torch.autograd.grad((want * up).sum(), params)):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-11)


def fla_naive():
    """flash-linear-attention's naive delta rule, loaded from its file: importing `fla` itself pulls transformers and
    Triton kernels of its own version, which the naive loop does not need."""
    spec = importlib.util.find_spec("fla")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("flash-linear-attention: optional reference, not installed")
    pytest.importorskip("einops", reason="einops: needed by flash-linear-attention's naive ops, not installed")
    path = f"{spec.submodule_search_locations[0]}/ops/delta_rule/naive.py"
    mod_spec = importlib.util.spec_from_file_location("fla_delta_rule_naive", path)
    mod = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("neg", [False, True], ids=["deltanet", "deltanet-neg"])
def test_deltanet_matches_fla_naive_delta_rule(neg):
    naive = fla_naive()
    torch.manual_seed(10)
    rec = small_chunks(DeltaNet(I, H, heads=3, negative_eigenvalues=neg).double())
    x = torch.randn(B, T, I, **F64)
    q, k, v, beta = rec.features(rec.proj(x))
    q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # (B, heads, T, d)
    # its loop scales q by d^-0.5 and runs in float32: ours is given q * d^0.5 and compared at float32's tolerance
    o, S = naive.delta_rule_recurrence(q * math.sqrt(rec.d), k, v, beta.transpose(1, 2))
    out, (_, S_ours) = rec(x)
    torch.testing.assert_close(out, o.transpose(1, 2).flatten(-2).double(), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(S_ours, S.double(), rtol=1e-4, atol=1e-5)


# --- bad input from the command line: one line, the valid choices, a non-zero exit, nothing written ----------------

CLI_BAD = [
    (["model=lstm", "model.negative_eigenvalues=true"],
     "model.negative_eigenvalues=true is not allowed: model=lstm has no key negative_eigenvalues "
     "(the models that have it: deltanet, mingru, minlstm, mlstm, s6)"),
    (["-m", "model=deltanet,exprnn", "model.negative_eigenvalues=true"], "model=exprnn has no key negative_eigenvalues"),
    (["task=word_problem", "task.group=Q8"],
     "task.group='Q8' is not allowed: Zm (m >= 2: Z2, Z5, Z60, ...), S3, S4, S5, A4, A5"),
    (["model=mlstm", "model.hidden_size=30"], "model.heads=4 is not allowed: a positive divisor of model.hidden_size=30"),
    (["model=deltanet", "model.heads=7"], "model.heads=7 is not allowed: a positive divisor of model.hidden_size=128"),
]


@pytest.mark.parametrize("args,line", CLI_BAD, ids=[" ".join(a) for a, _ in CLI_BAD])
def test_bad_input_from_the_command_line_is_one_line(tmp_path, args, line):
    from conftest import run_cli

    proc = run_cli(*args, "logger=none", f"hydra.run.dir={tmp_path}/run", f"hydra.sweep.dir={tmp_path}/sweep",
                   cwd=tmp_path)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [f"error: {line}"] or (
        len(proc.stderr.strip().splitlines()) == 1 and line in proc.stderr), proc.stderr
    assert not (tmp_path / "run").exists() and not (tmp_path / "sweep").exists()


def test_unknown_key_leaves_presets_and_added_keys_to_hydra():
    from run import unknown_key

    assert unknown_key(["+experiment=state_tracking", "model.negative_eigenvalues=true"]) is None
    assert unknown_key(["model=lstm", "+model.negative_eigenvalues=true"]) is None
    assert unknown_key(["model=lstm_cell", "model.init=chrono"]) is None  # a key of the file lstm_cell composes
    assert unknown_key(["model=mingru", "model.negative_eigenvalues=true"]) is None
    assert "task=adding has no key group" in unknown_key(["task.group=S3"])  # the default task
    assert unknown_key(["train.optimizer.momentum=0.9", "train.steps=5"]) is None  # train's optimizer subgroup
