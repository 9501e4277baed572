"""The harness end to end: compose, train, records, W&B mirror, bad input, faults, determinism."""
import glob
import json
import subprocess
import sys

import pytest
import torch

from conftest import TINY, compose_cfg, read_result, run_cli
from lstm_bench.records import read_jsonl
from lstm_bench.train import run

RESULT_KEYS = {"task", "model", "length", "seed", "status", "steps_to_solve", "steps", "test_loss", "test_metric",
               "baseline_loss", "wall_time_s", "steps_per_s", "config"}


def test_defaults_are_the_documented_contract():
    cfg = compose_cfg()
    assert (cfg.task.length, cfg.model.hidden_size, cfg.hydra.runtime.choices.task, cfg.hydra.runtime.choices.model) \
        == (100, 128, "adding", "lstm")
    t = cfg.train
    assert (t.batch_size, t.lr, t.clip, t.steps, t.eval_every) == (64, 1e-3, 1.0, 3000, 100)
    assert cfg.train.optimizer._target_ == "torch.optim.Adam"
    assert (cfg.hydra.runtime.choices.logger, cfg.logger.mode) == ("wandb", "offline")


@pytest.mark.parametrize("model", ["rnn", "lstm", "lstm_cell"])
@pytest.mark.parametrize("task", ["copy", "adding"])
def test_short_run_writes_complete_records(tmp_path, tiny, task, model):
    cfg = compose_cfg(*tiny, f"task={task}", f"model={model}")
    result = run(cfg, tmp_path)
    assert RESULT_KEYS <= result.keys()
    assert result == read_result(tmp_path)
    assert (result["task"], result["length"], result["seed"]) == (task, 6, 0)
    assert result["model"].startswith(model)  # variants add a suffix (lstm_cell-nfg)
    assert result["status"] in ("solved", "unsolved")
    rows = read_jsonl(tmp_path / "metrics.jsonl")
    assert [r["step"] for r in rows] == list(range(10, result["steps"] + 1, 10))
    meta = json.loads((tmp_path / "meta.json").read_text())
    assert meta["versions"]["torch"] == torch.__version__.split("+")[0] or meta["versions"]["torch"]
    assert {"git", "versions", "seed", "device", "start_time", "end_time"} <= meta.keys()


def test_same_seed_same_metrics_number_for_number(tmp_path, tiny):
    cfg = compose_cfg(*tiny, "task=copy")
    run(cfg, tmp_path / "a")
    run(cfg, tmp_path / "b")
    a, b = (tmp_path / "a" / "metrics.jsonl").read_text(), (tmp_path / "b" / "metrics.jsonl").read_text()
    assert a == b and len(a.splitlines()) == 2
    run(compose_cfg(*tiny, "task=copy", "seed=1"), tmp_path / "c")
    assert (tmp_path / "c" / "metrics.jsonl").read_text() != a  # the seed does reach the numbers


def test_lstm_solves_a_short_adding_task(tmp_path):
    """Learning really happens: adding T=10 falls far below the 1/6 baseline within 600 steps."""
    cfg = compose_cfg("logger=none", "task.length=10", "model.hidden_size=32", "train.steps=600",
                      "train.eval_every=50", "train.lr=3e-3", "train.threads=1", "task.threshold=0.02")
    result = run(cfg, tmp_path)
    assert result["status"] == "solved", result
    assert result["test_loss"] < 0.02 < result["baseline_loss"] / 5


def test_nan_loss_is_recorded_as_diverged(tmp_path, tiny, monkeypatch):
    from tasks.adding import Adding

    real_loss = Adding.loss
    monkeypatch.setattr(Adding, "loss", lambda self, out, b: real_loss(self, out, b) * float("nan"))
    result = run(compose_cfg(*tiny), tmp_path)
    assert result["status"] == "diverged" and result["steps_to_solve"] is None
    assert read_result(tmp_path)["status"] == "diverged"


def test_ctrl_c_keeps_records_marked_interrupted(tmp_path, tiny, monkeypatch):
    from tasks.adding import Adding

    real_batch, calls = Adding.batch, []

    def batch(self, *args, **kw):
        calls.append(1)
        if len(calls) == 16:  # the test batch, the diagnostics' probe batch, then 14 training steps
            raise KeyboardInterrupt
        return real_batch(self, *args, **kw)

    monkeypatch.setattr(Adding, "batch", batch)
    with pytest.raises(KeyboardInterrupt):
        run(compose_cfg(*tiny), tmp_path)
    result = read_result(tmp_path)
    assert result["status"] == "interrupted" and result["steps"] == 14
    assert len(read_jsonl(tmp_path / "metrics.jsonl")) == 1  # the evaluation at step 10 is kept


def test_cli_run_prints_outcome_and_mirrors_to_wandb_offline(tmp_path):
    args = ["model.hidden_size=8", "embed_size=4", "task.length=6", "train.steps=20", "train.eval_every=10",
            "train.batch_size=8", "train.eval_batch_size=16", "seed=3", f"hydra.run.dir={tmp_path}/run"]
    proc = run_cli(*args, cwd=tmp_path, env={"WANDB_API_KEY": "secret-key-never-to-be-written"})
    assert proc.returncode == 0, proc.stderr
    assert "adding T=6 lstm seed=3" in proc.stdout
    result = read_result(tmp_path / "run")
    (wandb_dir,) = glob.glob(str(tmp_path / "run" / "wandb" / "offline-run-*"))
    wandb_cli = [sys.executable, "-c", "import sys; from wandb.cli.cli import cli; sys.exit(cli())"]
    out = subprocess.run([*wandb_cli, "leet", "inspect", "--summary", "--json", wandb_dir],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    inspected = json.loads(out.stdout)
    summary, config = inspected["summary"], inspected["config"]
    for key in ("status", "steps", "test_loss", "test_metric", "baseline_loss", "task", "model", "seed"):
        assert summary[key] == pytest.approx(result[key]) if isinstance(result[key], float) else summary[key] == result[key]
    assert config["model"]["hidden_size"] == 8 and config["seed"] == 3
    assert inspected["state"] == "finished"
    # no secret leaves the machine: not in the records, not in the W&B files
    for path in (tmp_path / "run").rglob("*"):
        if path.is_file():
            assert b"secret-key-never-to-be-written" not in path.read_bytes(), path


def test_wandb_failure_warns_and_the_run_goes_on(tmp_path, tiny):
    # an unknown mode makes wandb.init raise: the run must still finish with its records
    cfg = compose_cfg(*[o for o in tiny if not o.startswith("logger")], "logger.mode=no-such-mode")
    result = run(cfg, tmp_path)
    assert result["status"] in ("solved", "unsolved") and (tmp_path / "result.json").exists()


def test_real_two_job_multirun(tmp_path):
    proc = run_cli("-m", "model=rnn,lstm", *TINY, "train.steps=10", "train.eval_every=5",
                   f"hydra.sweep.dir={tmp_path}/sweep", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    results = sorted((json.loads(p.read_text()) for p in (tmp_path / "sweep").glob("*/result.json")),
                     key=lambda r: r["model"])
    assert [r["model"] for r in results] == ["lstm", "rnn"]
    assert all(r["steps"] == 10 for r in results)


BAD = [
    (["model=transformer"], "model='transformer'", "one of gru, irnn, lstm, lstm_cell, lstm_triton, rnn"),
    (["task=parity"], "task='parity'", "adding, assoc_recall, copy"),
    (["-m", "model=rnn,transformer"], "model='transformer'", "lstm_cell"),
    (["+experiment=nope"], "experiment='nope'", "quick"),
    (["task.length=-5"], "task.length=-5", ">= 2"),
    (["task=copy", "task.length=0"], "task.length=0", "positive"),
    (["model.hidden_size=0"], "model.hidden_size=0", "positive"),
    (["train.batch_size=-1"], "train.batch_size=-1", "positive"),
    (["train.steps=0"], "train.steps=0", "positive"),
    (["train.lr=0"], "train.lr=0", "> 0"),
    (["device=tpu"], "device='tpu'", "auto, cpu, cuda"),
]


@pytest.mark.parametrize("args,bad,allowed", BAD, ids=[" ".join(b[0]) for b in BAD])
def test_bad_input_is_one_clear_line(tmp_path, args, bad, allowed):
    proc = run_cli(*args, "logger=none", f"hydra.run.dir={tmp_path}/run", cwd=tmp_path)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert bad in proc.stderr and allowed in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr  # one line, not a page
    assert not (tmp_path / "run" / "result.json").exists()
