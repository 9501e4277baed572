"""docs/extend.md's worked examples stay true. The page's files (each named in a line before its code block) are
written into a copy of the project's config and two package folders; the task then keeps its word (its batches, its
baseline against the predictor that achieves it, its refusal of a threshold the baseline meets), the model is its own
per-step twin and, with leak 0, nn.RNN; a tiny run trains both and its diagnostics read the frozen forget gate; the
example claim composes and each arm picks the runs its sweep makes; the page's run.py commands compose."""
import itertools
import math
import re
import shutil
import sys

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.utils import instantiate
from omegaconf import OmegaConf

from conftest import ROOT, TINY, unroll
from lstm_bench.errors import ConfigError

PAGE = ROOT / "docs" / "extend.md"
FILE = re.compile(r"^`([\w/.]+\.(?:py|yaml))`[^\n]*:\n\n```\w*\n(.*?)^```", re.M | re.S)
EXAMPLES = {"tasks/first_symbol.py", "conf/task/first_symbol.yaml", "lstm_bench/models/leaky_rnn.py",
            "conf/model/leaky_rnn.yaml", "conf/experiment/claims/example_leak.yaml"}


@pytest.fixture
def project(tmp_path, monkeypatch):
    """The page's files beside the project's: a copy of conf/ with them, and the two packages looking in tmp too."""
    import lstm_bench.models
    import tasks

    files = dict(FILE.findall(PAGE.read_text()))
    assert set(files) == EXAMPLES
    shutil.copytree(ROOT / "conf", tmp_path / "conf")
    for path, text in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    monkeypatch.setattr(tasks, "__path__", [*tasks.__path__, str(tmp_path / "tasks")])
    monkeypatch.setattr(lstm_bench.models, "__path__", [*lstm_bench.models.__path__, str(tmp_path / "lstm_bench" / "models")])
    yield tmp_path
    for module in ("tasks.first_symbol", "lstm_bench.models.leaky_rnn"):
        sys.modules.pop(module, None)


def config(project, *overrides):
    with initialize_config_dir(config_dir=str(project / "conf"), version_base=None):
        return compose("config", overrides=list(overrides), return_hydra_config=True)


def test_the_task_keeps_its_word(project):
    task = instantiate(config(project, "task=first_symbol", "task.length=6").task)
    b = task.batch(8, seed=0, step=3)
    assert b.x.shape == (8, 6) and torch.equal(b.y, b.x[:, 0]) and int(b.x.max()) < 4
    assert torch.equal(task.batch(8, 0, 3).x, b.x) and not torch.equal(task.test_batch(8, 0).x, task.batch(8, 0, 0).x)
    start, end = task.dependency(b)
    assert start.tolist() == [0] * 8 and end.tolist() == [5] * 8
    big = task.batch(4096, seed=1, step=0)
    uniform = torch.zeros(4096, 4)  # the memoryless predictor: every symbol alike
    assert task.loss(uniform, big).item() == pytest.approx(task.baseline_loss) == pytest.approx(math.log(4))
    oracle = torch.nn.functional.one_hot(big.y, 4).float() * 10
    assert task.metric(oracle, big) == 1.0 and task.solved(1.0) and not task.solved(task.baseline_metric)
    with pytest.raises(ConfigError, match=r"task.threshold=0.2 is not allowed: .*memoryless baseline scores 0.25"):
        type(task)(length=6, threshold=0.2)


def test_the_model_is_its_twin_and_with_leak_0_nn_rnn(project):
    from lstm_bench.train import build

    def recurrence(*overrides):
        cfg = config(project, "model=leaky_rnn", "model.hidden_size=7", "embed_size=5", *overrides)
        return build(cfg, torch.device("cpu"))[1].recurrence.double()

    torch.manual_seed(0)
    x = torch.randn(3, 11, 5, dtype=torch.float64)
    leaky = recurrence()
    out, (h,) = leaky(x)
    twin, (h_twin,), gates = unroll(leaky, x)
    assert torch.allclose(out, twin) and torch.equal(h, out[:, -1]) and torch.allclose(h_twin, h)
    assert all(torch.all(g["f"] == 0.9) for g in gates)
    vanilla = recurrence("model.leak=0.0")
    rnn = torch.nn.RNN(5, 7, batch_first=True).double()
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        getattr(rnn, f"{name}_l0").data.copy_(getattr(vanilla.cell, name))
    assert torch.allclose(vanilla(x)[0], rnn(x)[0])
    with pytest.raises(ConfigError, match=r"model.leak=1.0 is not allowed"):
        type(leaky)(5, 7, leak=1.0)


def test_a_tiny_run_trains_both_and_reads_the_frozen_gate(project, tmp_path):
    from lstm_bench.train import run

    cfg = config(project, *TINY, "task=first_symbol", "model=leaky_rnn", "model.leak=0.9")
    result = run(cfg, tmp_path / "run")
    assert (result["task"], result["model"], result["length"]) == ("first_symbol", "leaky_rnn", 6)
    assert result["status"] in ("solved", "unsolved") and result["baseline_loss"] == pytest.approx(math.log(4))
    assert result["forget_mean"] == pytest.approx(0.9)
    assert result["forget_timescale_median"] == pytest.approx(-1 / math.log(0.9))


def test_the_claim_composes_and_each_arm_picks_its_runs(project):
    from lstm_bench.report.load import Run
    from lstm_bench.train import build

    cfg = config(project, "+experiment/claims=example_leak")
    assert cfg.claim.id == "example_leak"
    criterion = instantiate(cfg.claim.criterion)
    parser = OverridesParser.create()
    swept = {k: parser.parse_override(f"{k}={v}") for k, v in cfg.hydra.sweeper.params.items()}
    runs = []
    for combo in itertools.product(*(list(o.sweep_iterator()) for o in swept.values())):
        job = config(project, "+experiment/claims=example_leak", *(f"{k}={v}" for k, v in zip(swept, combo)))
        task, model = build(job, torch.device("meta"))
        plain = OmegaConf.to_container(OmegaConf.masked_copy(job, [k for k in job if k != "hydra"]), resolve=True)
        runs.append(Run(str(len(runs)), {"task": task.name, "model": model.recurrence.name, "length": task.length,
                                         "seed": plain["seed"], "status": "solved", "config": plain}, {}))
    assert len(runs) == 10
    assert [len(sel.pick(runs)) for sel in criterion.arms()] == [sel.of for sel in criterion.arms()] == [5, 5]


def test_the_pages_commands_compose(project):
    from hydra_plugins.lstm_bench_sweeper.checks import job_problem
    from test_commands import arguments, shown_in

    commands = [arguments(c) for c, _ in shown_in(PAGE.read_text())]
    assert ["-m", "+experiment/claims=example_leak"] in commands  # composed above, arm by arm
    single = [c for c in commands if "-m" not in c]
    assert single
    for args in single:
        assert job_problem(config(project, *args)) is None, args
