"""The group word problems (Zm, S3, S4, S5, A4, A5), cycle_navigation and even_pairs: the docstrings' worked examples,
the multiplication tables against composing the permutations by hand, the exact memoryless baselines against the
predictor that achieves them, test lengths, bad options, purity, and runs through the harness."""
import itertools
import math

import pytest
import torch
from conftest import TINY, compose_cfg, read_result
from test_tasks import assert_pure_and_disjoint, table

import lstm_bench.train as train
from lstm_bench.errors import ConfigError
from tasks import cycle_navigation, even_pairs, word_problem
from tasks.cycle_navigation import CycleNavigation
from tasks.even_pairs import EvenPairs
from tasks.word_problem import WordProblem, elements, multiplication_table, running_product

INSTANCES = {
    "word_Z5": lambda **kw: WordProblem(length=8, group="Z5", **kw),
    "word_S3": lambda **kw: WordProblem(length=8, group="S3", **kw),
    "word_A5": lambda **kw: WordProblem(length=8, group="A5", **kw),
    "cycle_navigation": lambda **kw: CycleNavigation(length=8, **kw),
    "even_pairs": lambda **kw: EvenPairs(length=8, **kw),
}


def example(module):
    return torch.tensor([[int(v) for v in table(module, "input")]]), [int(v) for v in table(module, "target")]


@pytest.mark.parametrize("module,make", [(word_problem, lambda r: WordProblem(length=8, group="S3", readout=r)),
                                         (cycle_navigation, lambda r: CycleNavigation(length=8, readout=r)),
                                         (even_pairs, lambda r: EvenPairs(length=8, readout=r))],
                         ids=["word_S3", "cycle_navigation", "even_pairs"])
def test_worked_examples(module, make, monkeypatch):
    x, target = example(module)
    for readout in ("all", "last"):
        task = make(readout)
        monkeypatch.setattr(torch, "randint", lambda *a, **kw: x.clone())  # the batch of the example's input
        b = task.batch(1, 0, 1)
        monkeypatch.undo()
        assert b.y.tolist() == ([target] if readout == "all" else [target[-1]])
    assert f"the last column, {target[-1]})" in module.__doc__


def compose(a: tuple, b: tuple) -> tuple:
    """a, then b."""
    return tuple(b[a[i]] for i in range(len(a)))


@pytest.mark.parametrize("group,size", [("Z5", 5), ("Z60", 60), ("S3", 6), ("S4", 24), ("S5", 120), ("A4", 12), ("A5", 60)])
def test_multiplication_tables_are_the_groups(group, size):
    els, tab = elements(group), multiplication_table(group)
    assert len(els) == size == tab.shape[0] and len(set(els)) == size
    assert torch.equal(tab[0], torch.arange(size)) and torch.equal(tab[:, 0], torch.arange(size))  # 0 = identity
    assert all(sorted(row) == list(range(size)) for row in tab.tolist())  # a Latin square: every a has an inverse
    g = torch.Generator().manual_seed(0)
    a, b, c = (torch.randint(0, size, (500,), generator=g) for _ in range(3))
    assert torch.equal(tab[tab[a, b], c], tab[a, tab[b, c]])  # associative
    if group[0] == "Z":
        assert torch.equal(tab[a, b], (a + b) % size)
    else:
        for i, j in zip(a.tolist()[:100], b.tolist()[:100]):
            assert els[tab[i, j]] == compose(els[i], els[j])
    if group[0] == "A":  # every element even: closed under products, and half of S_n
        assert size * 2 == math.factorial(int(group[1]))
    commutative = bool((tab == tab.T).all())
    assert commutative == (group[0] == "Z")


@pytest.mark.parametrize("group", ["S3", "A5"])
def test_running_product_is_the_left_to_right_product(group):
    els, tab = elements(group), multiplication_table(group)
    x = torch.randint(0, len(els), (4, 37), generator=torch.Generator().manual_seed(1))
    y = running_product(x, tab)
    for row, out in zip(x.tolist(), y.tolist()):
        acc = els[row[0]]
        want = [row[0]]
        for v in row[1:]:
            acc = compose(acc, els[v])
            want.append(els.index(acc))
        assert out == want


@pytest.mark.parametrize("name", INSTANCES)
@pytest.mark.parametrize("readout", ["all", "last"])
def test_baseline_is_the_best_memoryless_predictor(name, readout):
    """The predictor that sees x_t alone, at its best, scores the analytic loss; its accuracy, the baseline metric."""
    task = INSTANCES[name](readout=readout)
    n, T = task.n_out, 8
    b = task.batch(20000, 0, 1)
    steps = range(T) if readout == "all" else [T - 1]
    logits = []
    for t in steps:
        if isinstance(task, CycleNavigation):  # the earlier moves' sum has law p_t; the target is it plus x_t's move
            p = torch.tensor(cycle_navigation.sum_laws(t)[-1], dtype=torch.float64)
            shift = (b.x[:, t] - 1) % n
            idx = (torch.arange(n)[None, :] - shift[:, None]) % n
            lp = p.log()[idx] + 1e-9 * (idx == 0)  # ties broken towards a sum of 0
        elif t == 0:  # the target is a function of x_0 alone
            first = b.x[:, 0] if not isinstance(task, EvenPairs) else torch.zeros_like(b.x[:, 0])
            lp = torch.where(torch.arange(n) == first[:, None], 0.0, -math.inf).double()
        else:  # uniform, ties broken towards class 0
            lp = torch.zeros(len(b.x), n, dtype=torch.float64)
            lp[:, 0] = 1e-9
        logits.append(lp)
    out = torch.stack(logits, 1) if readout == "all" else logits[0]
    assert task.loss(out, b).item() == pytest.approx(task.baseline_loss, rel=1e-3, abs=1e-6)
    assert task.metric(out, b) == pytest.approx(task.baseline_metric, abs=0.015)  # 20000 draws: sd below 0.004
    if isinstance(task, WordProblem):  # mod_add's formula with m = |G|
        m = task.n_out
        want = (1 + (T - 1) / m) / T if readout == "all" else 1 / m
        assert task.baseline_metric == pytest.approx(want, rel=1e-12)


def test_cycle_navigation_baseline_tends_to_uniform():
    laws = cycle_navigation.sum_laws(400)
    assert laws[1] == pytest.approx([1 / 3, 1 / 3, 0, 0, 1 / 3])
    assert all(sum(p) == pytest.approx(1) for p in laws)
    assert max(laws[-1]) == pytest.approx(0.2, abs=1e-6) and cycle_navigation.entropy(laws[-1]) == pytest.approx(math.log(5))
    assert CycleNavigation(length=2).baseline_metric == pytest.approx(1 / 3)  # the last move seen, the first unknown


@pytest.mark.parametrize("name", INSTANCES)
def test_test_lengths_give_an_entry_each(name):
    task = INSTANCES[name](test_lengths=[16, 64])
    sets = task.test_batches(32, 0)
    assert list(sets) == [8, 16, 64] and all(s.x.shape == (32, n) for n, s in sets.items())
    assert all(0 <= s.x.min() and s.x.max() < task.vocab_size for s in sets.values())
    assert task.at_length(64).baseline_metric == pytest.approx(INSTANCES[name]().at_length(64).baseline_metric)


@pytest.mark.parametrize("make,key,allowed", [
    (lambda: WordProblem(group="Q8"), "task.group='Q8'", "S3, S4, S5, A4, A5"),
    (lambda: WordProblem(group="Z1"), "task.group='Z1'", "Zm (m >= 2"),
    (lambda: WordProblem(group="S6"), "task.group='S6'", "S5"),
    (lambda: WordProblem(group=5), "task.group=5", "A5"),
    (lambda: CycleNavigation(readout="first"), "task.readout='first'", "all | last"),
    (lambda: EvenPairs(length=1), "task.length=1", "an integer >= 2"),
    (lambda: EvenPairs(length=8, readout="last", threshold=0.5), "task.threshold=0.5", "above 0.5"),
])
def test_bad_options(make, key, allowed):
    with pytest.raises(ConfigError, match=rf"^{key} is not allowed: ") as err:
        make()
    assert allowed in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("name", INSTANCES)
def test_batches_are_pure_and_train_test_disjoint(name):
    assert_pure_and_disjoint(INSTANCES[name]())


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("overrides,name", [
    (["task=word_problem", "task.group=A5"], "word_A5"), (["task=word_problem", "task.group=Z3"], "word_Z3"),
    (["task=cycle_navigation"], "cycle_navigation"), (["task=even_pairs", "task.readout=all"], "even_pairs")])
def test_runs_through_the_harness_at_every_test_length(tmp_path, overrides, name):
    cfg = compose_cfg(*TINY, *overrides, "model=deltanet", "model.heads=2", "task.test_lengths=[12,24]",
                      "train.steps=3", "train.eval_every=3", "train.batch_size=4", "train.eval_batch_size=8",
                      "diag.batch_size=2")
    train.run(cfg, tmp_path)
    result = read_result(tmp_path)
    assert result["task"] == name and result["status"] in ("solved", "unsolved")
    assert set(result["test_metric_by_length"]) == {"6", "12", "24"}
    assert result["dependency_length"] == 5  # TINY's T = 6: the first input to the last step
    assert result["baseline_metric"] == pytest.approx(train.build(cfg, torch.device("cpu"))[0].baseline_metric)


def test_groups_listed_in_the_task_config_are_the_known_ones():
    assert all(word_problem.known_group(g) for g in ("Z2", "Z60", "S3", "S4", "S5", "A4", "A5"))
    assert not any(word_problem.known_group(g) for g in ("Z1", "S2", "S6", "A3", "D4", "s3", ""))
    assert list(itertools.islice(elements("A4"), 1)) == [(0, 1, 2, 3)]
