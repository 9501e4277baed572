"""Capacity: the parameter counts and state size a run records, and the hidden size `model.param_budget` buys,
against nn.RNN's and nn.LSTM's parameter formulas and against a brute-force count over every model in conf/."""
import pytest
import torch

from conftest import ROOT, TINY, compose_cfg, read_result
from lstm_bench.config import validate
from lstm_bench.errors import ConfigError
from lstm_bench.models.capacity import n_params, state_size
from lstm_bench.train import build, run

I = 4  # embed_size: the recurrence's input size
MODELS = sorted(p.stem for p in (ROOT / "conf" / "model").glob("*.yaml"))


def config(model: str, *overrides: str):
    return compose_cfg(f"model={model}", f"embed_size={I}", "task=copy", "task.length=6", *overrides)


def built(model: str, *overrides: str, **keys):
    """The model a run of `model` builds; `keys` set model config keys on the composed config (faster than
    composing again)."""
    cfg = config(model, *overrides) if isinstance(model, str) else model
    for k, v in keys.items():
        cfg.model[k] = v
    return build(cfg, torch.device("cpu"))[1]


def chosen(model, budget: int) -> int:
    return built(model, param_budget=budget).recurrence.hidden_size


def rnn_params(H: int) -> int:  # nn.RNN: W_ih (H, I), W_hh (H, H), b_ih, b_hh (H each)
    return H * (I + H) + 2 * H


def slstm_params(H: int) -> int:  # 4 gates' input weights and biases, 4 block-diagonal recurrent matrices, 4 heads
    return 4 * H * I + 4 * H + 4 * 4 * (H // 4) ** 2


def largest(formula, budget: int) -> int:
    return max(h for h in range(1, 200) if formula(h) <= budget)


@pytest.mark.parametrize("model, gates", [("rnn", 1), ("irnn", 1), ("gru", 3), ("lstm", 4), ("lstm_cell", 4)])
def test_recurrence_counts_follow_the_formula(model, gates):
    cfg = config(model)
    for H in (1, 5, 8):
        assert n_params(built(cfg, hidden_size=H).recurrence) == gates * rnn_params(H)


@pytest.mark.parametrize("model, gates", [("rnn", 1), ("lstm", 4)])
def test_the_budget_buys_the_largest_hidden_size_the_formula_allows(model, gates):
    def formula(h):
        return gates * rnn_params(h)

    cfg = config(model)
    for budget in (50, 333, 1000, 4321):
        assert chosen(cfg, budget) == largest(formula, budget)
    for H in (3, 10):  # a budget of exactly H's count takes H; one parameter fewer, the size below
        assert chosen(cfg, formula(H)) == H
        assert chosen(cfg, formula(H) - 1) == H - 1


def test_a_model_that_refuses_some_sizes_gets_the_largest_it_takes():
    slstm = slstm_params
    cfg = config("slstm")
    budget = slstm(12) + 20  # more than 12 costs, less than 16
    assert slstm(16) > budget and chosen(cfg, budget) == 12  # 13-15 do not divide into 4 heads
    assert chosen(cfg, slstm(12)) == 12 and chosen(cfg, slstm(12) - 1) == 8


@pytest.mark.parametrize("model", MODELS)
def test_every_model_takes_a_budget_by_counting(model):
    cfg = config(model)

    def count(h):  # None: the model refuses h
        try:
            return n_params(built(cfg, hidden_size=h).recurrence)
        except ConfigError:
            return None

    exact = count(8)
    below = max(h for h in range(1, 8) if count(h) is not None)
    assert chosen(cfg, exact) == 8 and chosen(cfg, exact - 1) == below


def test_a_budget_below_the_smallest_model_is_refused_in_one_line():
    with pytest.raises(ConfigError, match=r"^model.param_budget=6 is not allowed: at least 7: the recurrence has 7 "
                                          r"parameters at its smallest hidden size, H=1$"):
        chosen("rnn", 6)
    with pytest.raises(ConfigError, match=f"=95 .* at least 96: .* H=4$"):  # 4 heads: the sLSTM's smallest H is 4
        chosen("slstm", slstm_params(4) - 1)


@pytest.mark.parametrize("bad", ["1.5", "0", "true"])
def test_a_budget_that_is_no_count_is_refused_before_anything_runs(bad):
    with pytest.raises(ConfigError, match=f"^model.param_budget={bad.title() if bad == 'true' else bad} is not "
                                          "allowed: a positive number of recurrence parameters, or null"):
        validate(config("rnn", f"model.param_budget={bad}"))


def test_the_budget_search_leaves_the_weights_alone():
    torch.manual_seed(0)
    with_budget = built("lstm", param_budget=4 * rnn_params(6)).state_dict()
    torch.manual_seed(0)
    without = built("lstm", "model.hidden_size=6").state_dict()
    assert with_budget.keys() == without.keys() and all(torch.equal(with_budget[k], without[k]) for k in without)


@pytest.mark.parametrize("model, per_h", [("rnn", 1), ("gru", 1), ("irnn", 1), ("lstm", 2), ("lstm_cell", 2),
                                          ("lstm_triton", 2), ("minlstm", 1), ("mingru", 1), ("slstm", 4)])
def test_state_size_is_what_the_state_carries(model, per_h):
    rec = built(model, "model.hidden_size=8").recurrence
    assert state_size(rec) == per_h * 8  # h; h and c; the sLSTM's h, c, n, m
    _, final = rec(torch.zeros(2, 3, I))
    assert sum(s.shape[-1] for s in final) == per_h * 8  # the state forward hands on is the one counted


def test_a_run_records_its_capacity(tmp_path):
    cfg = compose_cfg(*TINY, "model=lstm", "task=copy", f"model.param_budget={4 * rnn_params(5)}", "train.steps=2",
                      "diag.every=0")
    result = run(cfg, tmp_path)
    assert result == read_result(tmp_path)
    # copy: 8 symbols + blank + delimiter embedded (10 x 4), a readout to 9 classes from H=5
    assert {k: result[k] for k in ("hidden_size", "n_params_recurrence", "state_size", "n_params")} == \
        {"hidden_size": 5, "n_params_recurrence": 4 * rnn_params(5), "state_size": 10,
         "n_params": 4 * rnn_params(5) + 10 * I + 5 * 9 + 9}
    assert result["config"]["model"]["param_budget"] == 4 * rnn_params(5)
