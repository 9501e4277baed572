"""The harness end to end: compose, train, records, W&B mirror, bad input, faults, determinism."""
import glob
import json
import math
import platform
import subprocess
import sys
from importlib import metadata

import pytest
import torch

from conftest import ROOT, TINY, compose_cfg, read_result, run_cli
from lstm_bench.records import PACKAGES, read_jsonl, source_hash
from lstm_bench.train import run
from lstm_bench.errors import config_error
from tasks import TRAIN

RESULT_KEYS = {"task", "model", "length", "seed", "status", "steps_to_solve", "steps", "test_loss", "test_metric",
               "baseline_loss", "baseline_metric", "wall_time_s", "steps_per_s", "config"}


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
    installed = {}
    for name in PACKAGES:
        try:
            installed[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed[name] = None
    assert meta["versions"] == {"python": platform.python_version(), **installed}
    assert meta["versions"]["torch"] == torch.__version__  # the torch that ran is the one installed
    assert (meta["device"], meta["seed"], meta["source_sha256"]) == ("cpu", 0, source_hash())
    assert {"git", "start_time", "end_time"} <= meta.keys()


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
    assert result["baseline_metric"] == result["baseline_loss"]  # adding scores its loss, the squared error


def nan_from_step(monkeypatch, first_bad: int):
    """Training batches from step `first_bad` on hold a NaN input, so the training loss turns NaN there."""
    from tasks.adding import Adding

    real_batch = Adding.batch

    def batch(self, batch_size, seed, step, device="cpu", split=TRAIN):
        b = real_batch(self, batch_size, seed, step, device, split)
        if split == TRAIN and step >= first_bad:
            b.x[0, 0, 0] = float("nan")
        return b

    monkeypatch.setattr(Adding, "batch", batch)


def assert_no_final_test_numbers(result: dict, steps: int, last_eval_step: int) -> None:
    """A run that stopped before its end: the updates it applied, and no test numbers it did not measure."""
    assert (result["steps"], result["last_eval_step"]) == (steps, last_eval_step)
    assert result["test_loss"] is None and result["test_metric"] is None and result["loss_vs_baseline"] is None
    assert result["steps_to_solve"] is None


def test_nan_training_loss_is_recorded_as_diverged(tmp_path, tiny, monkeypatch):
    nan_from_step(monkeypatch, 15)
    result = run(compose_cfg(*tiny), tmp_path)
    assert result["status"] == "diverged"
    assert_no_final_test_numbers(result, steps=14, last_eval_step=10)  # step 15's update never happened
    assert read_result(tmp_path) == json.loads(json.dumps(result))
    assert [r["step"] for r in read_jsonl(tmp_path / "metrics.jsonl")] == [10]
    assert result["steps_per_s"] > 0


def test_nan_test_loss_is_recorded_as_diverged(tmp_path, tiny, monkeypatch):
    """The training loss stays finite, the test loss of the second evaluation (step 10) is NaN."""
    from tasks.adding import Adding

    real_loss, trained = Adding.loss, []

    def loss(self, out, batch):
        if torch.is_grad_enabled():  # a training step; the evaluation runs without autograd
            trained.append(1)
        elif len(trained) >= 10:
            return real_loss(self, out, batch) * float("nan")
        return real_loss(self, out, batch)

    monkeypatch.setattr(Adding, "loss", loss)
    result = run(compose_cfg(*tiny, "diag.every=0"), tmp_path)
    assert result["status"] == "diverged" and len(trained) == 10
    assert_no_final_test_numbers(result, steps=10, last_eval_step=0)  # step 10's update was applied
    (row,) = read_jsonl(tmp_path / "metrics.jsonl")
    assert row["step"] == 10 and row["test_loss"] is None and math.isfinite(row["train_loss"])


def stop_at_batch(monkeypatch, n: int, err: BaseException):
    """The n-th batch the run asks for raises `err`: the test batch, the validation batch, the diagnostics'
    probe batch, then one per training step, so n = 17 stops during step 14."""
    from tasks.adding import Adding

    real_batch, calls = Adding.batch, []

    def batch(self, *args, **kw):
        calls.append(1)
        if len(calls) == n:
            raise err
        return real_batch(self, *args, **kw)

    monkeypatch.setattr(Adding, "batch", batch)


def test_ctrl_c_keeps_records_marked_interrupted(tmp_path, tiny, monkeypatch):
    stop_at_batch(monkeypatch, 17, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        run(compose_cfg(*tiny), tmp_path)
    result = read_result(tmp_path)
    assert result["status"] == "interrupted"
    assert_no_final_test_numbers(result, steps=13, last_eval_step=10)  # 13 updates applied, step 14 cut short
    assert len(read_jsonl(tmp_path / "metrics.jsonl")) == 1  # the evaluation at step 10 is kept


def test_a_crash_is_recorded_with_its_error(tmp_path, tiny, monkeypatch):
    stop_at_batch(monkeypatch, 17, RuntimeError("out of memory\nsecond line"))
    with pytest.raises(RuntimeError):
        run(compose_cfg(*tiny), tmp_path)
    result = read_result(tmp_path)
    assert result["status"] == "crashed" and result["error"] == "RuntimeError: out of memory"
    assert_no_final_test_numbers(result, steps=13, last_eval_step=10)


def test_lstm_triton_trains_as_lstm_does(tmp_path, tiny, monkeypatch):
    """A whole training run of the Triton LSTM (the CPU interpreter here, the GPU kernels on a GPU), state carried
    from batch to batch by the continual Reber stream, against model=lstm with the same seed: the same weights
    at the start (lstm_triton is nn.LSTM's parameters), so the same numbers at every evaluation."""
    pytest.importorskip("triton", reason="model=lstm_triton needs the triton package (Linux wheels only)")
    from kernels.lstm import dispatch

    real_fused, forwards = dispatch.IMPLS["fused"], []

    def fused(x, state=None, *weights, **kw):
        forwards.append(state is not None)
        return real_fused(x, state, *weights, **kw)

    monkeypatch.setitem(dispatch.IMPLS, "fused", fused)
    reber = ["model.hidden_size=5", "task=reber", "task.continual=true", "task.length=6", "task.test_length=40",
             "train.steps=4", "train.eval_every=2", "train.batch_size=3", "diag.every=0"]
    results = {m: run(compose_cfg(*tiny, *reber, f"model={m}"), tmp_path / m) for m in ("lstm", "lstm_triton")}
    # every forward of the run went through the kernel: 4 training steps, all but the first with a carried
    # state, and 5 evaluations from a zero state (test at steps 0, 2, 4; validation at 2, 4)
    assert sorted(forwards) == [False] * 6 + [True] * 3
    rows = {m: read_jsonl(tmp_path / m / "metrics.jsonl") for m in results}
    assert [r["step"] for r in rows["lstm_triton"]] == [r["step"] for r in rows["lstm"]] == [2, 4]
    for got, want in zip(rows["lstm_triton"], rows["lstm"]):
        assert got.keys() == want.keys()
        assert got == pytest.approx(want, rel=1e-4, abs=1e-6)
    got, want = results["lstm_triton"], results["lstm"]
    assert (got["status"], got["steps"]) == (want["status"], want["steps"]) == ("unsolved", 4)
    assert got["test_loss"] == pytest.approx(want["test_loss"], rel=1e-4)


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


def test_wandb_failure_warns_and_the_run_goes_on(tmp_path, tiny, monkeypatch, capsys):
    import wandb

    def init(**kw):
        raise ConnectionError("no network\nsecond line")

    monkeypatch.setattr(wandb, "init", init)
    cfg = compose_cfg(*[o for o in tiny if not o.startswith("logger")])
    result = run(cfg, tmp_path)
    assert result["status"] in ("solved", "unsolved") and (tmp_path / "result.json").exists()
    assert capsys.readouterr().err == ("warning: W&B init failed, continuing with local records only: "
                                       "ConnectionError: no network\n")


def test_a_bad_wandb_mode_is_bad_input_and_nothing_is_written(tmp_path):
    cfg = compose_cfg(*[o for o in TINY if not o.startswith("logger")], "logger.mode=sideways")
    with pytest.raises(Exception) as err:
        run(cfg, tmp_path)
    assert str(config_error(err.value)) == "logger.mode='sideways' is not allowed: one of offline, online, disabled"
    assert list(tmp_path.iterdir()) == []


BAD = [
    (["model=transformer"], "model='transformer'",
     "one of " + ", ".join(sorted(p.stem for p in (ROOT / "conf" / "model").glob("*.yaml")))),
    (["task=sorting"], "task='sorting'", "adding, assoc_recall, copy"),
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
    assert not (tmp_path / "run").exists()  # not even Hydra's own record of a run that never started
