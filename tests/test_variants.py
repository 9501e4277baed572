"""The LSTM variants, the GRU and IRNN, and the bias initialisations.

Each variant is checked against the cell worked out by hand on one unit (plain floats and the
math module), and against the vanilla cell with the same weights: the gate it removes is
exactly 1 (or 1 - i, or unsquashed) and every other gate is unchanged. That the vanilla cell is
nn.LSTM is test_models.py's.
"""
import json
import math

import pytest
import torch

from conftest import TINY, compose_cfg, read_result, run_cli, unroll
from lstm_bench.models.gru import GRU
from lstm_bench.models.irnn import IRNN
from lstm_bench.models.lstm import LSTM
from lstm_bench.models.lstm_cell import VARIANTS, LSTMCell
from lstm_bench.records import read_jsonl
from lstm_bench.train import build, run
from lstm_bench.errors import ConfigError

F64 = torch.float64


def sigmoid(v: float) -> float:
    return 1 / (1 + math.exp(-v))


def by_hand(variant: str, p: dict, xs: list, peep: dict) -> list:
    """One unit, the lecture's equations with the variant's one change, in plain floats.
    p[k] = (w_ih (I,), w_hh, b) per gate k; p["gg"][k][j]: fgr's weight from gate j at t-1 to gate k.
    Returns (h, c, i, f, g, o) per step."""
    h = c = 0.0
    prev = {"i": 0.0, "f": 0.0, "o": 0.0}
    rows = []
    for x in xs:
        def pre(k):
            w_ih, w_hh, b = p[k]
            z = sum(w * xj for w, xj in zip(w_ih, x)) + w_hh * h + b
            if variant == "fgr" and k != "g":
                z += sum(p["gg"][k][j] * prev[j] for j in "ifo")
            return z

        i = 1.0 if variant == "nig" else sigmoid(pre("i") + peep.get("i", 0.0) * c)
        if variant == "nfg":
            f = 1.0
        elif variant == "cifg":
            f = 1 - i
        else:
            f = sigmoid(pre("f") + peep.get("f", 0.0) * c)
        g = pre("g") if variant == "niaf" else math.tanh(pre("g"))
        c = f * c + i * g
        o = 1.0 if variant == "nog" else sigmoid(pre("o") + peep.get("o", 0.0) * c)
        h = o * (c if variant == "noaf" else math.tanh(c))
        prev = {"i": i, "f": f, "o": o}
        rows.append((h, c, i, f, g, o))
    return rows


def load_unit(cell: LSTMCell, p: dict, peep: dict) -> None:
    """Write one unit's per-gate weights into the cell (its rows hold only the gates it computes)."""
    v = cell.variant
    with torch.no_grad():
        for n, k in enumerate(v.rows):
            w_ih, w_hh, b = p[k]
            cell.weight_ih_l0[n] = torch.tensor(w_ih, dtype=F64)
            cell.weight_hh_l0[n, 0] = w_hh
            cell.bias_ih_l0[n] = b - 0.25  # the two biases add up to b
            cell.bias_hh_l0[n] = 0.25
        for k, param in cell.peephole.items():
            param.fill_(peep[k])
        if cell.weight_gg is not None:
            for a, k in enumerate(v.sigmoid_gates):
                for b_, j in enumerate(v.sigmoid_gates):
                    cell.weight_gg[a, b_] = p["gg"][k][j]


@pytest.mark.parametrize("peephole", [False, True], ids=["", "peephole"])
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_variant_is_the_cell_worked_by_hand(variant, peephole):
    rnd = iter(torch.linspace(-0.9, 1.1, 41, dtype=F64)[torch.randperm(41, generator=torch.Generator().manual_seed(3))])
    draw = lambda: next(rnd).item()  # noqa: E731
    p = {k: ((draw(), draw()), draw(), draw()) for k in "ifgo"}
    p["gg"] = {k: {j: draw() for j in "ifo"} for k in "ifo"}
    cell = LSTMCell(2, 1, variant=variant, peephole=peephole).double()
    peep = {k: draw() for k in cell.peephole}
    load_unit(cell, p, peep)
    xs = [(1.0, -0.5), (0.3, 0.8), (-1.2, 0.4), (0.0, 1.0)]
    want = by_hand(variant, p, xs, peep)

    x = torch.tensor([xs], dtype=F64)  # (1, T, 2)
    out, state = cell(x)
    out_step, state_step, gates = unroll(cell, x)
    for t, (h, c, i, f, g, o) in enumerate(want):
        assert out[0, t, 0].item() == pytest.approx(h, rel=1e-12, abs=1e-14)
        assert out_step[0, t, 0].item() == pytest.approx(h, rel=1e-12, abs=1e-14)
        got = {k: gates[t][k].item() for k in "ifgo"}
        assert got == pytest.approx({"i": i, "f": f, "g": g, "o": o}, rel=1e-12, abs=1e-14)
    assert state[1].item() == pytest.approx(want[-1][1], rel=1e-12)
    for a, b in zip(state, state_step):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)


def copy_kept_blocks(vanilla: LSTMCell, cell: LSTMCell) -> None:
    """Give `cell` the vanilla cell's weights for every block it computes."""
    H = vanilla.hidden_size
    with torch.no_grad():
        for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
            src = dict(zip("ifgo", getattr(vanilla, name).split(H)))
            getattr(cell, name).copy_(torch.cat([src[k] for k in cell.variant.rows]))


@pytest.mark.parametrize("variant", [v for v in VARIANTS if v != "vanilla"])
def test_the_removed_gate_is_exactly_one_and_the_rest_unchanged(variant):
    torch.manual_seed(4)
    I, H, B = 3, 4, 5
    vanilla = LSTMCell(I, H).double()
    cell = LSTMCell(I, H, variant=variant).double()
    copy_kept_blocks(vanilla, cell)
    x = torch.randn(B, I, dtype=F64)
    h0, c0 = torch.randn(B, H, dtype=F64), torch.randn(B, H, dtype=F64)
    extra = cell.init_state(B, dtype=F64)[2:]  # fgr: the previous gates, zero at the start
    (h, c, *prev), g = cell.step(x, (h0, c0, *extra))
    (h_v, c_v), g_v = vanilla.step(x, (h0, c0))

    one = torch.ones(B, H, dtype=F64)
    expect = dict(g_v)
    if variant in ("nig", "nfg", "nog"):
        expect[{"nig": "i", "nfg": "f", "nog": "o"}[variant]] = one
    if variant == "cifg":
        expect["f"] = 1 - g_v["i"]
    if variant == "niaf":
        torch.testing.assert_close(torch.tanh(g["g"]), g_v["g"], rtol=1e-13, atol=1e-15)  # g is unsquashed
        expect["g"] = g["g"]
    for k in "ifgo":
        if variant in ("nig", "nfg", "nog") and expect[k] is one:
            assert torch.equal(g[k], one), k  # exactly 1
        else:
            torch.testing.assert_close(g[k], expect[k], rtol=1e-13, atol=1e-15)
    torch.testing.assert_close(c, expect["f"] * c0 + expect["i"] * expect["g"], rtol=1e-13, atol=1e-15)
    squash = c if variant == "noaf" else torch.tanh(c)
    torch.testing.assert_close(h, expect["o"] * squash, rtol=1e-13, atol=1e-15)
    if variant == "fgr":  # from zero previous gates fgr is vanilla; the next step sees them
        torch.testing.assert_close(h, h_v, rtol=1e-13, atol=1e-15)
        state_f, _ = cell.step(x, (h, c, *prev))
        state_v, _ = vanilla.step(x, (h, c))
        assert not torch.allclose(state_f[0], state_v[0])


def test_peepholes_change_the_output_only_through_c():
    torch.manual_seed(6)
    I, H, B = 3, 4, 5
    plain = LSTMCell(I, H).double()
    peep = LSTMCell(I, H, peephole=True).double()
    peep.load_state_dict(plain.state_dict(), strict=False)  # the same W and b; p_i, p_f, p_o its own
    x, h0 = torch.randn(B, I, dtype=F64), torch.randn(B, H, dtype=F64)
    logit = lambda v: torch.log(v / (1 - v))  # noqa: E731

    # with an empty belt, i and f see nothing more (to rounding: a strided and a contiguous sigmoid); o sees the new c
    (_, c1), g_peep = peep.step(x, (h0, torch.zeros(B, H, dtype=F64)))
    (_, c1_plain), g_plain = plain.step(x, (h0, torch.zeros(B, H, dtype=F64)))
    for k in "ifg":
        torch.testing.assert_close(g_peep[k], g_plain[k], rtol=1e-15, atol=1e-16)
    torch.testing.assert_close(c1, c1_plain, rtol=1e-15, atol=1e-16)
    p = peep.peephole
    torch.testing.assert_close(logit(g_peep["o"]) - logit(g_plain["o"]), p["o"] * c1, rtol=1e-9, atol=1e-12)
    # with a full belt, each gate's pre-activation moves by exactly p * c: c_{t-1} for i and f, c_t for o
    c0 = torch.randn(B, H, dtype=F64)
    (_, c1), g_peep = peep.step(x, (h0, c0))
    _, g_plain = plain.step(x, (h0, c0))
    torch.testing.assert_close(logit(g_peep["i"]) - logit(g_plain["i"]), p["i"] * c0, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(logit(g_peep["f"]) - logit(g_plain["f"]), p["f"] * c0, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(logit(g_peep["o"]) - logit(g_plain["o"]), p["o"] * c1, rtol=1e-9, atol=1e-12)
    assert torch.equal(g_peep["g"], g_plain["g"])  # the candidate never peeks
    # zero peepholes: the plain cell, over a whole sequence
    with torch.no_grad():
        for q in peep.peephole.values():
            q.zero_()
    xs = torch.randn(B, 7, I, dtype=F64)
    torch.testing.assert_close(peep(xs)[0], plain(xs)[0], rtol=1e-14, atol=1e-16)


def test_peephole_gates_by_letter_and_names():
    assert [k for k in LSTMCell(2, 3, variant="nog", peephole=True).peephole] == ["i", "f"]
    assert [k for k in LSTMCell(2, 3, peephole="of").peephole] == ["f", "o"]
    assert [k for k in LSTMCell(2, 3, peephole=["o"]).peephole] == ["o"]
    assert [k for k in LSTMCell(2, 3, variant="cifg", peephole=True).peephole] == ["i", "o"]
    names = {LSTMCell(2, 3).name, LSTMCell(2, 3, variant="nfg").name, LSTMCell(2, 3, peephole=True).name,
             LSTMCell(2, 3, peephole="f").name, LSTMCell(2, 3, init="chrono", chrono_tmax=10).name,
             LSTMCell(2, 3, variant="cifg", init="forget_bias").name, LSTM(2, 3).name,
             LSTM(2, 3, init="chrono", chrono_tmax=10).name, LSTM(2, 3, forget_bias_add=0.5).name,
             LSTM(2, 3, init="forget_bias", forget_bias=2.0).name}
    assert names == {"lstm_cell", "lstm_cell-nfg", "lstm_cell-vanilla+peephole", "lstm_cell-vanilla+peephole_f",
                     "lstm_cell+chrono", "lstm_cell-cifg+forget_bias", "lstm", "lstm+chrono",
                     "lstm+forget_bias_add=0.5", "lstm+forget_bias=2"}


# the sequence Function (lstm_cell_seq) against the per-step twin with autograd: every variant, peepholes
# on every gate, on some, or none, and the initialisations that push gates to saturation
SEQ_CASES = [(v, p, "default") for v in VARIANTS for p in (False, True)] + [
    ("vanilla", "fo", "default"), ("vanilla", "i", "chrono"), ("nog", "f", "default"), ("cifg", "o", "forget_bias"),
    ("nig", True, "chrono"), ("fgr", "io", "default")]


def seq_cell(variant, peephole, init, I, H, dtype, seed):
    torch.manual_seed(seed)
    cell = LSTMCell(I, H, variant=variant, peephole=peephole, init=init, chrono_tmax=20).to(dtype)
    with torch.no_grad():  # peepholes and W_gg as large as the weights, so that a wrong one shows
        for name, q in cell.named_parameters():
            if "bias" not in name:
                q.uniform_(-0.8, 0.8)
    return cell


def carried_state(cell, B, dtype):
    """A state as a stream passes it on: h, c anywhere, fgr's previous gates in (0, 1)."""
    h, c, *prev = (torch.randn(B, cell.hidden_size, dtype=dtype) for _ in cell.init_state(B))
    return (h, c, *(p.sigmoid() for p in prev))


def step_loop(cell, x, state):
    """The per-step twin over x from `state`, autograd recording every operation: the path the cell had."""
    outs = []
    for x_t in x.unbind(1):
        state, _ = cell.step(x_t, state)
        outs.append(state[0])
    return torch.stack(outs, 1), state


@pytest.mark.parametrize("variant, peephole, init", SEQ_CASES, ids=[f"{v}-{p}-{i}" for v, p, i in SEQ_CASES])
def test_sequence_function_passes_gradcheck(variant, peephole, init):
    from lstm_bench.models.lstm_cell_seq import GateSequence

    B, T, I, H = 3, 4, 2, 3  # odd sizes: a mixed-up block or transpose does not line up by chance
    cell = seq_cell(variant, peephole, init, I, H, F64, seed=20)
    x = torch.randn(B, T, I, dtype=F64)
    state = carried_state(cell, B, F64)
    peep = [cell.peephole[k] if k in cell.peephole else None for k in "ifo"]
    params = [cell.weight_ih_l0, cell.weight_hh_l0, cell.bias_ih_l0, cell.bias_hh_l0, cell.weight_gg, *peep]
    inputs = [a.detach().clone().requires_grad_() if a is not None else None for a in (x, *params, *state)]

    def run(*a):
        return GateSequence.apply(cell.plan, *a)

    assert torch.autograd.gradcheck(run, inputs, eps=1e-6, atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize("variant, peephole, init", SEQ_CASES, ids=[f"{v}-{p}-{i}" for v, p, i in SEQ_CASES])
def test_sequence_function_equals_the_step_loop_in_float32(variant, peephole, init):
    B, T, I, H = 5, 23, 4, 7
    cell = seq_cell(variant, peephole, init, I, H, torch.float32, seed=21)
    x = torch.randn(B, T, I, requires_grad=True)
    state = tuple(s.requires_grad_() for s in carried_state(cell, B, torch.float32))
    out, final = cell(x, state)
    out_ref, final_ref = step_loop(cell, x, state)
    torch.testing.assert_close(out, out_ref)
    assert len(final) == len(final_ref) == len(state)
    for a, b in zip(final, final_ref):
        torch.testing.assert_close(a, b)

    weights = [torch.randn_like(a) for a in (out, *final)]  # one loss on the outputs and every state tensor

    def loss(outs):
        return sum((a * w).sum() for a, w in zip(outs, weights))

    wrt = [x, *state, *cell.parameters()]
    grads = torch.autograd.grad(loss((out, *final)), wrt)
    grads_ref = torch.autograd.grad(loss((out_ref, *final_ref)), wrt)
    for name, a, b in zip(["x", *(f"state{k}" for k in range(len(state))), *dict(cell.named_parameters())],
                          grads, grads_ref):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=name)


@pytest.mark.parametrize("variant", ["vanilla", "fgr"])
def test_carried_state_continues_the_sequence_and_truncates_its_gradient(variant):
    B, T, I, H = 2, 9, 3, 4
    cell = seq_cell(variant, True, "default", I, H, F64, seed=22)
    x = torch.randn(B, T, I, dtype=F64)
    whole, _ = cell(x)
    first, state = cell(x[:, :5])
    state = tuple(s.detach() for s in state)  # what train.py does for a stateful task
    second, _ = cell(x[:, 5:], state)
    torch.testing.assert_close(torch.cat([first, second], 1), whole, rtol=1e-13, atol=1e-15)
    with torch.no_grad():  # evaluation: the same numbers without a graph
        torch.testing.assert_close(cell(x[:, 5:], state)[0], second, rtol=0, atol=0)

    # the gradient of the second chunk reaches the weights only through its own steps
    g = torch.autograd.grad(second.sum(), list(cell.parameters()))
    g_ref = torch.autograd.grad(step_loop(cell, x[:, 5:], state)[0].sum(), list(cell.parameters()))
    for a, b in zip(g, g_ref):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("kwargs, key, allowed", [
    ({"variant": "lstm97"}, "model.variant", "one of vanilla, nig, nfg, nog, niaf, noaf, cifg, fgr"),
    ({"variant": "nog", "peephole": "o"}, "model.peephole", "some of the gates variant nog keeps: i, f"),
    ({"variant": "cifg", "peephole": "f"}, "model.peephole", "variant cifg keeps: i, o"),
    ({"peephole": 3}, "model.peephole", "true, false"),
    ({"init": "xavier"}, "model.init", "one of default, forget_bias, chrono"),
    ({"variant": "nfg", "init": "chrono", "chrono_tmax": 10}, "model.init", "it has no forget gate"),
    ({"init": "chrono"}, "model.chrono_tmax", "T_max > 2"),
    ({"init": "chrono", "chrono_tmax": 10, "forget_bias": 1.0}, "model.forget_bias", "null with model.init=chrono"),
    # issue 24: one key, one meaning. A config from before the split (forget_bias added under init=default) is refused
    # in one line that says what to write instead
    ({"forget_bias": 0.5}, "model.forget_bias", "write model.forget_bias_add=0.5"),
    ({"init": "forget_bias", "forget_bias_add": 1.0}, "model.forget_bias_add", "with model.init=default only"),
])
def test_bad_options_are_one_line_config_errors(kwargs, key, allowed):
    with pytest.raises(ConfigError) as err:
        LSTMCell(2, 3, **kwargs)
    msg = str(err.value)
    assert msg.startswith(key + "=") and allowed in msg and "\n" not in msg


def test_unknown_variant_from_the_command_line_is_one_line(tmp_path):
    res = run_cli("model=lstm_cell", "model.variant=foo", "logger=none", cwd=tmp_path)
    assert res.returncode == 2, res.stderr
    assert res.stderr.strip() == ("error: model.variant='foo' is not allowed: "
                                  "one of vanilla, nig, nfg, nog, niaf, noaf, cifg, fgr")


def forget_and_input_bias(rec):
    """(b_f, b_i) as the cell sees them (bias_ih + bias_hh), for nn.LSTM's layout."""
    m = getattr(rec, "lstm", rec)
    b = (m.bias_ih_l0 + m.bias_hh_l0).detach()
    H = rec.hidden_size
    return b[H : 2 * H], b[:H]


@pytest.mark.parametrize("cls", [LSTM, LSTMCell], ids=lambda c: c.name)
def test_chrono_draws_log_uniform_forget_bias_and_opposite_input_bias(cls):
    torch.manual_seed(7)
    T_max, H = 40.0, 4000
    rec = cls(2, H, init="chrono", chrono_tmax=T_max)
    b_f, b_i = forget_and_input_bias(rec)
    assert b_f.min() >= 0 and b_f.max() <= math.log(T_max - 1)  # log U[1, T_max - 1]
    assert torch.equal(b_i, -b_f)
    u = b_f.exp()  # uniform on [1, T_max - 1]: mean T_max/2, and it fills the range
    assert abs(u.mean().item() - T_max / 2) < 0.5
    assert u.min() < 1.1 and u.max() > T_max - 1.1


def test_chrono_in_the_coupled_and_input_less_cells():
    torch.manual_seed(8)
    H = 500
    cifg = LSTMCell(2, H, variant="cifg", init="chrono", chrono_tmax=20)
    b_i = (cifg.bias_ih_l0 + cifg.bias_hh_l0).detach()[:H]  # rows i, g, o: f = 1 - i = sigmoid(-z_i)
    assert b_i.max() <= 0 and b_i.min() >= -math.log(19)  # so f's bias -b_i is log U[1, 19]
    nig = LSTMCell(2, H, variant="nig", init="chrono", chrono_tmax=20)
    b_f = (nig.bias_ih_l0 + nig.bias_hh_l0).detach()[:H]  # rows f, g, o
    assert b_f.min() >= 0 and b_f.max() <= math.log(19)


@pytest.mark.parametrize("cls", [LSTM, LSTMCell], ids=lambda c: c.name)
def test_forget_bias_init_sets_b_f_exactly(cls):
    torch.manual_seed(9)
    H = 6
    base_f, base_i = forget_and_input_bias(cls(2, H))
    torch.manual_seed(9)
    b_f, b_i = forget_and_input_bias(cls(2, H, init="forget_bias"))
    assert torch.equal(b_f, torch.ones(H))  # null: 1.0 (Gers et al. 2000)
    assert torch.equal(b_i, base_i)  # nothing else moved
    b_f, _ = forget_and_input_bias(cls(2, H, init="forget_bias", forget_bias=2.5))
    assert torch.equal(b_f, torch.full((H,), 2.5))
    cifg = LSTMCell(2, H, variant="cifg", init="forget_bias")
    assert torch.equal((cifg.bias_ih_l0 + cifg.bias_hh_l0).detach()[:H], -torch.ones(H))  # f = sigmoid(-z_i)


@pytest.mark.parametrize("task, length, override, T_max", [
    ("copy", 20, None, 30.0), ("adding", 20, None, 20.0), ("adding", 20, 5, 5.0)])
def test_chrono_horizon_comes_from_the_task_unless_set(task, length, override, T_max):
    overrides = [f"task={task}", f"task.length={length}", "model.init=chrono", "model.hidden_size=2000"]
    if override is not None:
        overrides.append(f"model.chrono_tmax={override}")
    torch.manual_seed(10)
    _, model = build(compose_cfg(*overrides), torch.device("cpu"))
    b_f, _ = forget_and_input_bias(model.recurrence)
    assert b_f.max() <= math.log(T_max - 1) < b_f.max() + 0.05


def test_gru_twin_and_its_keep_gate():
    torch.manual_seed(11)
    rec = GRU(3, 4).double()
    x = torch.randn(2, 6, 3, dtype=F64)
    out, state = rec(x)
    out_step, state_step, gates = unroll(rec, x)
    torch.testing.assert_close(out_step, out, rtol=1e-12, atol=1e-13)
    assert set(gates[0]) == {"r", "z", "n"}
    with torch.no_grad():  # z = 1 keeps the old state, as the LSTM's f = 1 keeps the belt
        rec.gru.bias_hh_l0[4:8] = 1e3
    h0 = torch.randn(2, 4, dtype=F64)
    (h1,), g = rec.step(x[:, 0], (h0,))
    assert torch.equal(g["z"], torch.ones(2, 4, dtype=F64)) and torch.equal(h1, h0)


def test_irnn_starts_as_identity_with_small_inputs():
    torch.manual_seed(12)
    rec = IRNN(3, 50).double()
    m = rec.rnn
    assert torch.equal(m.weight_hh_l0, torch.eye(50, dtype=F64))
    assert torch.equal(m.bias_ih_l0, torch.zeros(50, dtype=F64)) and not m.bias_hh_l0.any()
    assert 0.0005 < m.weight_ih_l0.std().item() < 0.002
    x = torch.randn(2, 5, 3, dtype=F64)
    out, _ = rec(x)
    out_step, _, _ = unroll(rec, x)
    torch.testing.assert_close(out_step, out, rtol=1e-12, atol=1e-15)
    assert (out >= 0).all()


# every model and variant through the harness, the tasks taking turns; the diagnostics probe at steps 0 and 3
MODELS = {"rnn": ["model=rnn"], "irnn": ["model=irnn"], "gru": ["model=gru"], "lstm": ["model=lstm"],
          "lstm+chrono": ["model=lstm", "model.init=chrono"],
          "lstm+forget_bias": ["model=lstm", "model.init=forget_bias"],
          "lstm_cell-vanilla+peephole": ["model=lstm_cell", "model.peephole=true"],
          "lstm_cell+chrono": ["model=lstm_cell", "model.init=chrono"], "lstm_cell": ["model=lstm_cell"],
          **{f"lstm_cell-{v}": ["model=lstm_cell", f"model.variant={v}"] for v in VARIANTS if v != "vanilla"}}
CASES = [(name, model, ("adding", "copy")[n % 2]) for n, (name, model) in enumerate(MODELS.items())]


@pytest.mark.parametrize("name, model, task", CASES, ids=[c[0] for c in CASES])
def test_every_model_runs_through_the_harness_with_diagnostics(tmp_path, monkeypatch, name, model, task):
    from lstm_bench import diagnostics

    drawn = []  # the PNGs are the diagnostics' own business (and most of a tiny run's time): note, don't draw
    monkeypatch.setattr(diagnostics.plots, "grad_through_time", lambda rows, path: drawn.append("grad"))
    monkeypatch.setattr(diagnostics.plots, "forget_heatmap", lambda heat, step, path: drawn.append("forget"))
    cfg = compose_cfg(*TINY, *model, f"task={task}", "train.steps=3", "train.eval_every=3", "diag.batch_size=4")
    result = run(cfg, tmp_path)
    assert result == read_result(tmp_path)
    assert (result["model"], result["task"], result["steps"]) == (name, task, 3)
    assert result["status"] in ("solved", "unsolved"), result
    rows = read_jsonl(tmp_path / "diagnostics.jsonl")
    assert [r["step"] for r in rows] == [0, 3]
    assert all(math.isfinite(r["grad_ratio_log10"]) for r in rows)
    assert drawn[0] == "grad"
    if name.startswith("lstm"):
        assert "forget_mean" in rows[-1] and len(rows[-1]["grad_c"]) == len(rows[-1]["grad_h"])
        assert drawn == ["grad", "forget"]
        if "nfg" in name:
            assert rows[-1]["forget_mean"] == 1.0
    json.dumps(result)  # the record is plain JSON
