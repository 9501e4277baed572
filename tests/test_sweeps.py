"""Real multiruns on the joblib launcher (the smoke preset): killed while a job runs, started again in the
same sweep directory and reported in all three formats; a bad job refuses the whole sweep before anything
starts; a crashed job leaves the others and the table standing. Threads per parallel job; the launcher
configs compose; the check each job's config gets before a sweep launches anything."""
import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import hydra
from hydra_plugins.hydra_joblib_launcher.joblib_launcher import JoblibLauncher
from omegaconf import OmegaConf

from conftest import ROOT, TINY, compose_cfg, run_python
from hydra_plugins.lstm_bench_sweeper.checks import job_problem
from lstm_bench.models.lstm_cell import VARIANTS

FINISHED = ("solved", "unsolved", "diverged")
SMOKE_DIRS = {f"+experiment=smoke,model={m},seed={s}" for m in ("rnn", "lstm") for s in (0, 1)}


def results(sweep: Path) -> dict:
    return {d.name: (d / "result.json").read_bytes() for d in sweep.iterdir() if (d / "result.json").exists()}


def start_times(sweep: Path) -> dict:
    return {d.name: json.loads((d / "meta.json").read_text())["start_time"] for d in sweep.iterdir()
            if (d / "meta.json").exists()}


def test_sweep_killed_resumed_and_reported(tmp_path):
    sweep = tmp_path / "sweep"
    args = ["run.py", "-m", "+experiment=smoke", f"hydra.sweep.dir={sweep}"]

    # one job at a time, killed (SIGKILL, the whole process group) while a job runs: one has a result, the
    # next has started (its meta.json is written first) and has none
    proc = subprocess.Popen([sys.executable, *args, "hydra.launcher.n_jobs=1"], cwd=ROOT, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 150
    while proc.poll() is None and time.monotonic() < deadline:
        if sweep.exists() and results(sweep) and set(start_times(sweep)) - set(results(sweep)):
            break
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before, started = results(sweep), start_times(sweep)
    killed = set(started) - set(before)
    assert 1 <= len(before) < len(SMOKE_DIRS) and len(killed) == 1, "the sweep should be caught in a job"

    # the same command again: each job that finished is not run again, each other one runs once
    restart = datetime.now(timezone.utc).isoformat(timespec="microseconds")
    p = run_python(*args)
    assert p.returncode == 0, p.stderr[-3000:]
    after = results(sweep)
    assert {d.name for d in sweep.iterdir() if d.is_dir() and not d.name.startswith(".")} == SMOKE_DIRS | {"report"}
    assert set(after) == SMOKE_DIRS
    assert all(after[name] == data for name, data in before.items())
    assert p.stdout.count("not run again") == len(before)
    # one line per job from the launcher: the killed job and the rest ran, once each; the finished ones say so
    lines = [line.split("] ", 1)[1] for line in p.stdout.splitlines() if re.match(r"\[\d+/\d+\] ", line)]
    name = lambda line: "+experiment=smoke,model={},seed={}".format(line.split()[0], line.split()[3][5:-1])  # noqa: E731
    assert sorted(name(line) for line in lines if "as recorded before" not in line) == sorted(SMOKE_DIRS - set(before))
    assert sorted(name(line) for line in lines if "as recorded before" in line) == sorted(before)
    for name, start in start_times(sweep).items():  # a run's start time is in its meta.json, rewritten by a rerun
        assert start == started[name] if name in before else start > restart, name
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

    # the report command reads the same table back from the records (its three formats, byte for byte from one
    # call to the next: tests/test_report.py)
    assert (sweep / "report" / "results.md").read_text() == run_python("-m", "lstm_bench.report", str(sweep)).stdout


def test_launcher_configs_compose():
    for launcher, key, value in (("local", "n_jobs", -1), ("local_submitit", "cpus_per_task", 1),
                                 ("slurm", "cpus_per_task", 2)):
        cfg = compose_cfg(f"hydra/launcher={launcher}")
        assert cfg.hydra.launcher[key] == value and "_target_" in cfg.hydra.launcher
        if launcher != "local":  # submitit's launchers, as lstm-bench's subclasses (tests/test_slurm.py runs them)
            assert cfg.hydra.launcher._target_.startswith("hydra_plugins.lstm_bench_submitit.launcher.")
    cfg = compose_cfg()
    # multirun is parallel by default: joblib's launcher, with a line per job and a Ctrl-C that ends the sweep
    assert issubclass(hydra.utils.get_class(cfg.hydra.launcher._target_), JoblibLauncher)
    # every multirun checks its jobs first; a preset that chooses another sweeper still gets it
    assert cfg.hydra.sweeper._target_.endswith(".LstmBenchSweeper")
    assert compose_cfg("+experiment=frontier").hydra.sweeper._target_.endswith(".FrontierSweeper")
    assert OmegaConf.to_container(cfg.hydra.sweep)["subdir"] == "${hydra.job.override_dirname}"  # unresolved


def test_a_bad_job_refuses_the_whole_sweep_and_nothing_is_written(tmp_path):
    sweep = tmp_path / "sweep"
    p = run_python("run.py", "-m", "+experiment=smoke", "model=lstm_cell", "model.variant=vanilla,bogus",
                   "train.steps=20,0", f"hydra.sweep.dir={sweep}", "hydra.run.dir=" + str(tmp_path / "run"))
    assert p.returncode == 2, p.stderr[-3000:]
    lines = p.stderr.strip().splitlines()
    assert lines[0] == "error: 6 of the 8 jobs would stop on bad input, so none was launched:"
    variant = f"model.variant='bogus' is not allowed: one of {', '.join(VARIANTS)}"
    steps = "train.steps=0 is not allowed: a positive integer"
    expected = {f"  model=lstm_cell seed={s} +experiment=smoke model.variant={v} train.steps={n}: {why}"
                for s in (0, 1) for v, n, why in (("vanilla", 0, steps), ("bogus", 20, variant), ("bogus", 0, steps))}
    assert set(lines[1:]) == expected and len(lines) == 7
    assert not sweep.exists() and list(tmp_path.iterdir()) == []
    assert "adding T=" not in p.stdout  # no job ran


CRASHY = '''
from tasks.adding import Adding


class Crashy(Adding):
    """The adding task, except that seed 1's training stops at step 5."""

    def batch(self, batch_size, seed, step, *args, **kwargs):
        if seed == 1 and step == 5:
            raise RuntimeError("a job that crashes")
        return super().batch(batch_size, seed, step, *args, **kwargs)
'''


def test_a_crashed_job_leaves_the_other_jobs_and_the_table(tmp_path):
    """Seed 1 crashes in training; seed -1 is bad input that only the job sees (hydra.sweeper.check=null: the
    sweep does not check it first), where run.py raises instead of exiting, which would end the sweep."""
    (tmp_path / "crashy.py").write_text(CRASHY)
    sweep = tmp_path / "sweep"
    p = run_python("run.py", "-m", "+experiment=smoke", "model=lstm", "seed=1,-1,0", "task._target_=crashy.Crashy",
                   "diag.every=0", "hydra/launcher=basic", "hydra.sweeper.max_batch_size=1",
                   "hydra.sweeper.check=null", f"hydra.sweep.dir={sweep}", env={"PYTHONPATH": str(tmp_path)})
    assert p.returncode == 1, p.stderr[-3000:]
    # one job per batch, in this process (Hydra's basic launcher): seed 1 crashed first, and seed 0 ran all the same
    status = {r["seed"]: r["status"] for r in map(json.loads, map(Path.read_text, sweep.glob("*/result.json")))}
    assert status == {0: "unsolved", 1: "crashed"}  # the bad job stopped before writing anything
    row = next(line for line in p.stdout.splitlines() if line.startswith("| lstm | adding | 10 |"))
    assert "| 0/1 [0.00, 0.79] |" in row and row.endswith("| 1 crashed |")  # counted in its column, not in the rate
    assert "1 crashed" in (sweep / "report" / "results.md").read_text()
    job = "  model=lstm seed={} +experiment=smoke task._target_=crashy.Crashy diag.every=0: "
    assert p.stderr.strip().splitlines()[-3:] == [
        "error: 2 of the 3 jobs crashed (`python run.py` with a job's overrides runs it alone, with its traceback):",
        job.format(1) + "RuntimeError: a job that crashes",
        job.format(-1) + "seed=-1 is not allowed: an integer in [0, 2^31)"]


def test_job_problem_is_the_line_the_job_would_stop_at():
    assert job_problem(compose_cfg(*TINY)) is None
    assert job_problem(compose_cfg(*TINY, "model=lstm_cell", "model.variant=bogus")) == (
        f"model.variant='bogus' is not allowed: one of {', '.join(VARIANTS)}")
    assert job_problem(compose_cfg(*TINY, "diag.every=-1")).startswith("diag.every=-1 is not allowed")
    assert job_problem(compose_cfg(*TINY, "task.length=0")).startswith("task.length=0 is not allowed")
    # not bad input by the harness's rules, but the job would crash on it before training: refused too
    assert job_problem(compose_cfg(*TINY, "train/optimizer=rmsprop", "+train.optimizer.momentum=-1")) == (
        "ValueError: Invalid momentum value: -1")
