"""A real multirun on the joblib launcher (the smoke preset): killed half-way, started again in the same
sweep directory, reported in all three formats; threads per parallel job; the launcher configs compose."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from omegaconf import OmegaConf

from conftest import ROOT, compose_cfg, run_python

FINISHED = ("solved", "unsolved", "diverged")
SMOKE_DIRS = {f"+experiment=smoke,model={m},seed={s}" for m in ("rnn", "lstm") for s in (0, 1)}


def results(sweep: Path) -> dict:
    return {d.name: (d / "result.json").read_bytes() for d in sweep.iterdir() if (d / "result.json").exists()}


def test_sweep_killed_resumed_and_reported(tmp_path):
    sweep = tmp_path / "sweep"
    args = ["run.py", "-m", "+experiment=smoke", f"hydra.sweep.dir={sweep}"]

    # a sweep killed half-way: one job at a time, killed (SIGKILL, the whole process group) after the first result
    proc = subprocess.Popen([sys.executable, *args, "hydra.launcher.n_jobs=1"], cwd=ROOT, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 150
    while not (sweep.exists() and results(sweep)) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = results(sweep)
    assert 1 <= len(before) < len(SMOKE_DIRS), "the sweep should have been caught half-way"

    # the same command again finishes the rest: nothing re-run, nothing lost, nothing duplicated
    p = run_python(*args)
    assert p.returncode == 0, p.stderr[-3000:]
    after = results(sweep)
    assert {d.name for d in sweep.iterdir() if d.is_dir() and not d.name.startswith(".")} == SMOKE_DIRS | {"report"}
    assert set(after) == SMOKE_DIRS
    assert all(after[name] == data for name, data in before.items())
    assert p.stdout.count("not run again") == len(before)
    for name in SMOKE_DIRS:
        assert json.loads(after[name])["status"] in FINISHED
    # threads: a job alone had every core, two parallel jobs on this machine share them
    cores = len(os.sched_getaffinity(0))
    for name in SMOKE_DIRS:
        threads = json.loads((sweep / name / "meta.json").read_text())["torch_threads"]
        assert threads == (cores if name in before else 1)

    # the table printed at the end, and written with the plots
    assert "Results: sweep" in p.stdout and "| lstm | adding | 10 |" in p.stdout and "| rnn | adding | 10 |" in p.stdout
    assert "`python run.py -m +experiment=smoke`" in p.stdout
    assert {f.name for f in (sweep / "report").iterdir()} >= {"results.md", "results.csv", "solve_rate.png",
                                                               "steps_to_solve.png"}

    # the report in all three formats, byte-identical from one call to the next
    for fmt, marker in (("md", "| model | task | T |"), ("csv", "model,task,length,"), ("latex", r"\begin{tabular}")):
        first = run_python("-m", "lstm_bench.report", str(sweep), "--format", fmt)
        assert first.returncode == 0 and marker in first.stdout, first.stderr
        assert run_python("-m", "lstm_bench.report", str(sweep), "--format", fmt).stdout == first.stdout
    assert (sweep / "report" / "results.md").read_text() == run_python("-m", "lstm_bench.report", str(sweep)).stdout


def test_launcher_configs_compose():
    for launcher, key, value in (("local", "n_jobs", -1), ("local_submitit", "cpus_per_task", 1),
                                 ("slurm", "cpus_per_task", 2)):
        cfg = compose_cfg(f"hydra/launcher={launcher}")
        assert cfg.hydra.launcher[key] == value and "_target_" in cfg.hydra.launcher
    cfg = compose_cfg()
    assert "JoblibLauncher" in cfg.hydra.launcher._target_  # multirun is parallel by default
    assert OmegaConf.to_container(cfg.hydra.sweep)["subdir"] == "${hydra.job.override_dirname}"  # unresolved
