"""When a run stops: solved only after `train.confirm` evaluations in a row met the rule on validation, pruned when
still at the memoryless baseline at `train.prune_at` of its budget, interrupted on SIGTERM as on Ctrl-C."""
import json
import os
import signal
import subprocess
import sys
import time

from conftest import ROOT, TINY, compose_cfg, read_result
from lstm_bench.records import read_jsonl
from lstm_bench.train import run

# a tiny lstm on adding T=2 (smoke's sizes) meets MSE 0.05 on validation first at step 70, and again at 80
LEARNS = [*TINY, "model=lstm", "task.length=2", "task.threshold=0.05", "train.lr=1e-2", "train.steps=200",
          "diag.every=0", "embed_size=8", "train.batch_size=16", "train.eval_batch_size=64"]


def test_confirm_stops_at_the_second_evaluation_in_a_row(tmp_path):
    once = run(compose_cfg(*LEARNS, "train.confirm=1"), tmp_path / "once")
    twice = run(compose_cfg(*LEARNS, "train.confirm=2"), tmp_path / "twice")
    assert once["status"] == twice["status"] == "solved"
    # the same trajectory up to the first crossing: the same step met the rule first
    assert once["steps_to_solve"] == twice["steps_to_solve"] == once["steps"]
    rows = read_jsonl(tmp_path / "twice" / "metrics.jsonl")
    met = [r["step"] for r in rows if r["val_mse"] < 0.05]
    # it ran on to the next evaluation, which met the rule too, and its test verdict is taken there
    assert twice["steps"] == once["steps"] + 10 == met[1] and met[0] == once["steps"]
    assert twice["test_metric"] == rows[-1]["test_mse"] and twice["solved_test"] == (rows[-1]["test_mse"] < 0.05)
    assert read_jsonl(tmp_path / "once" / "metrics.jsonl") == rows[:-1]


def test_a_streak_the_budget_cuts_short_is_no_solve(tmp_path):
    first = run(compose_cfg(*LEARNS, "train.confirm=1"), tmp_path / "first")
    # a budget that ends at the first crossing: confirm=2 cannot confirm it
    cut = run(compose_cfg(*LEARNS, f"train.steps={first['steps']}"), tmp_path / "cut")
    assert cut["status"] == "unsolved" and cut["steps_to_solve"] is None and cut["steps"] == first["steps"]


def test_prune_stops_a_run_at_the_baseline_and_keeps_one_that_learns(tmp_path):
    # adding T=30 with 8 hidden units in 40 steps: validation MSE stays at the memoryless 1/6
    stuck = [*TINY, "task.length=30", "train.steps=40", "diag.every=0"]
    pruned = run(compose_cfg(*stuck, "train.prune=true", "train.prune_at=0.5"), tmp_path / "pruned")
    kept = run(compose_cfg(*stuck), tmp_path / "kept")  # TINY: train.prune=false
    assert pruned["status"] == "pruned" and pruned["steps"] == 20 and kept["status"] == "unsolved"
    rows = read_jsonl(tmp_path / "kept" / "metrics.jsonl")
    at_20 = next(r for r in rows if r["step"] == 20)
    assert at_20["val_loss"] >= 0.95 * pruned["baseline_loss"]  # the rule that fired, on the record
    assert read_jsonl(tmp_path / "pruned" / "metrics.jsonl") == rows[:2]  # the same run until it stopped
    # a pruned run has its final numbers (those of the evaluation where it stopped) and counts as unsolved
    assert pruned["test_loss"] == at_20["test_loss"] and pruned["solved_test"] is False
    # one that learns is past the baseline at the check and goes on
    learns = run(compose_cfg(*LEARNS, "train.steps=80", "train.prune=true", "train.prune_at=0.75",
                             "train.confirm=80"), tmp_path / "learns")
    assert learns["status"] == "unsolved" and learns["steps"] == 80  # at step 60 it was at 0.32 of the baseline


def test_sigterm_ends_a_run_as_interrupted(tmp_path):
    """Slurm's scancel sends SIGTERM: the run records itself as interrupted, as on Ctrl-C, and says so in one line."""
    args = [sys.executable, str(ROOT / "run.py"), *TINY, "train.steps=100000", "diag.every=0",
            f"hydra.run.dir={tmp_path}"]
    p = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (tmp_path / "metrics.jsonl").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130 and "Traceback" not in err, err[-2000:]
    assert err.strip().splitlines()[-1].startswith("interrupted")
    result = read_result(tmp_path)
    assert result["status"] == "interrupted" and result["steps"] >= 10 and result["test_loss"] is None
    assert json.loads((tmp_path / "meta.json").read_text()).get("end_time")
