"""What a run's records vouch for: the code version (a hash of the source files, with or without git; git's
dirty flag counting untracked source files), the resume check that reuses a result only for the same config,
code and device, and the report that keeps devices apart and averages the final loss over finished runs."""
import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from conftest import TINY, compose_cfg, read_result, run_cli
from lstm_bench import report, train
from lstm_bench.records import git_state, read_jsonl, reusable_result, source_files, source_hash, write_text

SOURCES = {"run.py": "print('run')\n", "lstm_bench/__init__.py": "", "lstm_bench/train.py": "STEPS = 1\n",
           "tasks/copy_memory.py": "T = 5\n", "kernels/lstm/fused.py": "", "hydra_plugins/p/sweeper.py": "",
           "conf/config.yaml": "seed: 0\n", "conf/model/lstm.yaml": "hidden_size: 8\n"}
OTHERS = {"README.md": "# x\n", "notes.txt": "", "tests/test_x.py": "", "lstm_bench/__pycache__/train.pyc": "",
          "conf/README.md": ""}


def project(root: Path) -> Path:
    for rel, text in {**SOURCES, **OTHERS}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t", *args], check=True,
                   capture_output=True)


def test_the_source_files_are_the_code_and_nothing_else(tmp_path):
    root = project(tmp_path)
    assert source_files(root) == sorted(SOURCES)
    before = source_hash(root)
    assert len(before) == 64 and source_hash(root) == before  # no git here: the hash needs none
    (root / "README.md").write_text("# changed\n")
    (root / "tests" / "test_y.py").write_text("")
    assert source_hash(root) == before  # documentation and tests are not the code that runs
    (root / "tasks" / "copy.py").write_text("T = 6\n")
    changed = source_hash(root)
    assert changed != before
    (root / "tasks" / "new_task.py").write_text("")  # a new file, tracked or not, is new code
    assert source_hash(root) not in (before, changed)
    (root / "tasks" / "new_task.py").unlink()
    (root / "tasks" / "copy.py").rename(root / "tasks" / "kopy.py")  # same bytes, another module
    assert source_hash(root) not in (before, changed)


def test_an_experiment_preset_is_config_not_code(tmp_path):
    """A preset's values land in the job's recorded config, which the resume check compares whole: editing or
    adding one (a claim's header, say) leaves the hash alone, where a config group file changes it."""
    root = project(tmp_path)
    (root / "conf" / "experiment").mkdir()
    (root / "conf" / "experiment" / "quick.yaml").write_text("# @package _global_\nseed: 1\n")
    before = source_hash(root)
    assert "conf/experiment/quick.yaml" in source_files(root)  # still a source file: git's dirty flag counts it
    (root / "conf" / "experiment" / "quick.yaml").write_text("# @package _global_\n# a new header\nseed: 2\n")
    (root / "conf" / "experiment" / "claims").mkdir()
    (root / "conf" / "experiment" / "claims" / "x.yaml").write_text("seed: 3\n")
    assert source_hash(root) == before
    (root / "conf" / "model" / "lstm.yaml").write_text("hidden_size: 9\n")
    assert source_hash(root) != before


def test_a_copied_folder_hashes_as_its_original(tmp_path):
    a = project(tmp_path / "a")
    git(a, "init", "-q")
    b = tmp_path / "b"
    shutil.copytree(a, b, ignore=shutil.ignore_patterns(".git"))
    assert source_hash(b) == source_hash(a)
    assert git_state(b) == {"commit": None, "dirty": None}  # what resume once compared, equal for any code


def test_no_package_files_no_code_version(tmp_path):
    (tmp_path / "run.py").write_text("")
    assert source_hash(tmp_path) is None


def test_git_dirty_counts_untracked_source_files(tmp_path):
    root = project(tmp_path)
    git(root, "init", "-q")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "x")
    state = git_state(root)
    assert len(state["commit"]) == 40 and state["dirty"] is False
    (root / "notes2.txt").write_text("")
    (root / "outputs").mkdir()
    (root / "outputs" / "result.json").write_text("{}")
    assert git_state(root)["dirty"] is False  # files that are not code leave the tree clean
    (root / "tasks" / "brand_new.py").write_text("")
    assert git_state(root) == {"commit": state["commit"], "dirty": True}  # an untracked module runs too
    (root / "tasks" / "brand_new.py").unlink()
    (root / "conf" / "task").mkdir()
    (root / "conf" / "task" / "new.yaml").write_text("")
    assert git_state(root)["dirty"] is True
    (root / "conf" / "task" / "new.yaml").unlink()
    (root / "README.md").write_text("# edited\n")
    assert git_state(root)["dirty"] is True  # a tracked file changed: as before


CONFIG = {"seed": 0, "device": "auto", "model": {"hidden_size": 8}}
SOURCE = "f" * 64


def recorded(run_dir: Path, status="solved", config=CONFIG, source=SOURCE, device="cpu", meta=True) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    result = {"task": "adding", "model": "lstm", "length": 6, "seed": 0, "status": status, "config": config}
    (run_dir / "result.json").write_text(json.dumps(result))
    if meta:
        m = {"git": {"commit": None, "dirty": None}, "device": device, "seed": 0}
        if source is not None:
            m["source_sha256"] = source
        (run_dir / "meta.json").write_text(json.dumps(m))
    return run_dir


@pytest.mark.parametrize("record, now, why", [
    ({}, {}, None),
    ({"status": "diverged"}, {}, None),
    ({"status": "crashed"}, {}, "it crashed before the end"),
    ({"status": "interrupted"}, {}, "it interrupted before the end"),
    ({"config": {**CONFIG, "seed": 1}}, {}, "its config differs from this job's"),
    ({"source": "e" * 64}, {}, "the code changed since it ran (another source hash)"),
    # a record from before source hashes, or made without git: its null commit says nothing of its code
    ({"source": None}, {}, "the code version it ran with is unknown (meta.json holds no source hash)"),
    ({"meta": False}, {}, "the code version it ran with is unknown (meta.json holds no source hash)"),
    ({}, {"source": None}, "the version of this code cannot be established (its source files are unreadable)"),
    ({"device": "cuda"}, {}, "it ran on cuda, this job runs on cpu"),
    ({}, {"device": "cuda"}, "it ran on cpu, this job runs on cuda"),
])
def test_resume_reuses_only_what_it_can_vouch_for(tmp_path, record, now, why):
    run_dir = recorded(tmp_path / "job", **record)
    done, reason = reusable_result(run_dir, now.get("config", CONFIG), now.get("source", SOURCE),
                                   now.get("device", "cpu"))
    assert reason == why
    assert (done == read_result(run_dir)) if why is None else done is None


def test_resume_without_a_result_says_nothing(tmp_path):
    assert reusable_result(tmp_path, CONFIG, SOURCE, "cpu") == (None, None)
    (tmp_path / "result.json").write_text('{"task": "add')
    assert reusable_result(tmp_path, CONFIG, SOURCE, "cpu") == (None, "its result.json is unreadable")


def test_a_diverged_job_then_resumed_on_another_device(tmp_path):
    # Adam's first step at lr 1e30 blows the weights up: the second step's loss is not finite
    args = ["-m", *TINY, "train.steps=10", "train.lr=1e30", "train.clip=null", "diag.every=0",
            "hydra/launcher=basic", f"hydra.sweep.dir={tmp_path}/sweep"]
    first = run_cli(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    (job,) = [d for d in (tmp_path / "sweep").iterdir() if (d / "result.json").exists()]
    result = read_result(job)
    assert (result["status"], result["steps"], result["last_eval_step"], result["test_loss"]) == \
        ("diverged", 1, 0, None)
    assert (result["val_loss"], result["val_metric"], result["solved_test"]) == (None, None, None)
    assert "diverged after 1 step; no final test numbers (last good evaluation at step 0)" in first.stdout
    meta = json.loads((job / "meta.json").read_text())
    assert meta["source_sha256"] == source_hash() and meta["device"] == "cpu"
    (job / "meta.json").write_text(json.dumps({**meta, "device": "cuda"}))  # as if it had run on a GPU
    again = run_cli(*args, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert f"{job.name}: run again: it ran on cuda, this job runs on cpu" in again.stdout
    assert "not run again" not in again.stdout
    assert json.loads((job / "meta.json").read_text())["device"] == "cpu"


# ------------------------------------------------------------------- the report reads what the records say

def report_run(root: Path, name: str, status="solved", device="cpu", loss_vs_baseline=0.02, seed=0) -> None:
    d = root / name
    d.mkdir(parents=True)
    config = {"seed": seed, "device": "auto", "task": {"length": 100}, "model": {"hidden_size": 64}}
    result = {"task": "adding", "model": "lstm", "length": 100, "seed": seed, "status": status,
              "steps_to_solve": 1000 if status == "solved" else None, "loss_vs_baseline": loss_vs_baseline,
              "metric_name": "mse", "config": config}
    (d / "result.json").write_text(json.dumps(result))
    (d / "meta.json").write_text(json.dumps({"device": device, "git": {"commit": "a" * 40, "dirty": False}}))


def rows(root: Path) -> dict:
    res = report.tables.results(report.load(root).runs)
    return res.keys, {row.setting: row for row in res.rows}


def test_the_report_keeps_devices_apart(tmp_path):
    """Both configs say device=auto; one ran on the CPU, one on a GPU: two rows, not one average."""
    report_run(tmp_path, "cpu0", device="cpu", loss_vs_baseline=0.02)
    report_run(tmp_path, "cpu1", device="cpu", loss_vs_baseline=0.04, seed=1)
    report_run(tmp_path, "gpu0", device="cuda", loss_vs_baseline=0.5)
    keys, by_setting = rows(tmp_path)
    assert keys == ["device"]
    assert set(by_setting) == {('"cpu"',), ('"cuda"',)}
    assert by_setting[('"cpu"',)].stats["loss_vs_baseline"].mean == pytest.approx(0.03)
    assert by_setting[('"cuda"',)].stats["loss_vs_baseline"].values == (0.5,)
    assert "| lstm | adding | 100 | \"cpu\" | 64 | 2/2 [0.34, 1.00] |" in report.render(report.load(tmp_path), "md")


def test_the_loss_column_averages_runs_that_reached_their_end(tmp_path):
    """A diverged run from before null test numbers still holds the stale loss of its last evaluation."""
    report_run(tmp_path, "s0", status="solved", loss_vs_baseline=0.02)
    report_run(tmp_path, "s1", status="unsolved", loss_vs_baseline=0.5, seed=1)
    report_run(tmp_path, "s2", status="diverged", loss_vs_baseline=11.2, seed=2)
    report_run(tmp_path, "s3", status="interrupted", loss_vs_baseline=3.0, seed=3)
    keys, by_setting = rows(tmp_path)
    (row,) = by_setting.values()
    assert keys == [] and row.stats["loss_vs_baseline"].values == (0.02, 0.5)
    text = report.render(report.load(tmp_path), "md")
    assert "loss / baseline (solved, unsolved, pruned runs)" in text and "0.260 ± 0.339 (n=2)" in text
    assert "1 diverged, 1 interrupted" in text


# ------------------------------------------------------------------- validation selects, the test reports

def test_the_stopping_rule_reads_validation_and_the_test_is_recorded_beside_it(tmp_path, monkeypatch):
    """The first solved() call says yes: the run stops there, on whatever metric that call was given. The call
    must have been given the validation metric, and the test metric at that same step must be what result.json
    records, with its own verdict in solved_test."""
    from tasks import Task

    calls = []

    def solved(self, metric):
        calls.append(metric)
        return len(calls) == 1

    cfg = compose_cfg(*TINY, "diag.every=0", "train.confirm=1")  # adding: the metric is the MSE
    monkeypatch.setattr(Task, "solved", solved)
    monkeypatch.setattr(Task, "check_threshold", lambda self: None)  # it asks solved() about the baseline
    result = train.run(cfg, tmp_path)
    (row,) = read_jsonl(tmp_path / "metrics.jsonl")
    assert (result["status"], result["steps_to_solve"], row["step"]) == ("solved", 10, 10)
    assert row["val_mse"] != row["test_mse"]  # two batches, two numbers: which one stopped the run is visible
    assert calls == [row["val_mse"], row["test_mse"]]
    assert (result["val_loss"], result["val_metric"]) == (row["val_loss"], row["val_mse"])
    assert (result["test_loss"], result["test_metric"], result["solved_test"]) == \
        (row["test_loss"], row["test_mse"], False)


def test_an_unsolved_run_records_validation_and_test_at_its_last_step(tmp_path):
    result = train.run(compose_cfg(*TINY, "diag.every=0", "task=copy"), tmp_path)
    rows = read_jsonl(tmp_path / "metrics.jsonl")
    assert result["status"] == "unsolved" and [r["step"] for r in rows] == [10, 20]
    assert (result["val_metric"], result["test_metric"]) == (rows[-1]["val_recall_acc"], rows[-1]["test_recall_acc"])
    assert result["val_loss"] == rows[-1]["val_loss"] and result["solved_test"] is False


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_an_atomic_write_gets_the_mode_a_plain_open_would(tmp_path, umask):
    """The temporary file behind an atomic write is 0600; the file it becomes follows the umask like any other."""
    old = os.umask(umask)
    try:
        write_text(tmp_path / "result.json", "{}\n")
        (tmp_path / "plain.json").write_text("{}\n")
    finally:
        os.umask(old)
    mode = lambda name: stat.S_IMODE((tmp_path / name).stat().st_mode)  # noqa: E731
    assert mode("result.json") == mode("plain.json") == 0o666 & ~umask
    assert (tmp_path / "result.json").read_text() == "{}\n" and len(list(tmp_path.iterdir())) == 2


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the umask from /proc (Linux)")
def test_an_atomic_write_reads_the_umask_without_setting_it(tmp_path, monkeypatch):
    """Setting the umask to read it would give a thread that creates a file in that instant umask 0."""
    calls, real = [], os.umask
    umask = real(0o027)
    try:
        monkeypatch.setattr(os, "umask", lambda mask: calls.append(mask) or real(mask))
        write_text(tmp_path / "result.json", "{}\n")
    finally:
        real(umask)
    assert calls == [] and stat.S_IMODE((tmp_path / "result.json").stat().st_mode) == 0o640
