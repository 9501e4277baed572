"""The cluster path against a live Slurm (tests/slurm/local_cluster.sh: one node, this machine), marked `slurm`
and skipped where sbatch is not on the PATH: a sweep through hydra/launcher=slurm runs each job as a Slurm job
and prints its table; a job cancelled with scancel is recorded `interrupted` and the same command reruns it
alone; a job whose environment is broken is one line naming it and its log, and jobs that sbatch refuses one
line for the sweep; the claims runner's Slurm command; Ctrl-C cancels the sweep's jobs.
The runs are the smoke size of conftest.TINY; each job's time is mostly Python starting up."""
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from conftest import ROOT, TINY, run_python, terminal_sigint
from lstm_bench.records import FINISHED

CLUSTER = ROOT / "tests" / "slurm" / "local_cluster.sh"
CLUSTER_DIR = Path(os.environ.get("LSTM_BENCH_SLURM_DIR", "/tmp/lstm-bench-slurm"))
# the local cluster's partition; one CPU a job, so its two-core node runs two at once
SLURM = ["hydra/launcher=slurm", "hydra.launcher.partition=cpu", "hydra.launcher.cpus_per_task=1"]

# the commands docs/cluster.md shows, as these tests run them (each test adds where its output goes)
SWEEP_COMMAND = ["run.py", "-m", *SLURM, "+experiment=smoke"]
CLAIMS_COMMAND = ["-m", "lstm_bench.claims", "run", "--only", "hochreiter1997_adding", "hydra/launcher=slurm",
                  "hydra.launcher.partition=cpu", 'hydra.launcher.setup=["source .venv/bin/activate"]',
                  "hydra.launcher.timeout_min=240", "hydra.launcher.cpus_per_task=1", "train.steps=20",
                  "train.eval_every=10"]

def slurm_test(test):
    """Marked `slurm`, and skipped with the reason where sbatch is not on the PATH; all in one pytest-xdist worker,
    which brings the cluster up once (slurm_env)."""
    return pytest.mark.slurm(pytest.mark.xdist_group("slurm")(pytest.mark.skipif(
        shutil.which("sbatch") is None, reason="sbatch is not on the PATH (Slurm: apt-get install -y slurm-wlm munge "
                                               "slurmdbd mariadb-server; then tests/slurm/local_cluster.sh up)")(test)))


def tiny(*drop: str) -> list[str]:
    """conftest.TINY without the keys a test sweeps or sets itself (a sweep takes a key once)."""
    return [o for o in TINY if o.split("=")[0] not in drop]


@pytest.fixture(scope="module")
def slurm_env():
    """The local cluster's client environment. The cluster is brought up here if it is not up yet (.ci/run
    brings it up before the suite), and down again after the module only if this fixture started it."""
    env = {"SLURM_CONF": str(CLUSTER_DIR / "slurm.conf")}
    # (no config, no question: without one, sinfo looks for a controller in DNS, which can take a minute to fail)
    was_up = (CLUSTER_DIR / "slurm.conf").is_file() and subprocess.run(
        ["sinfo", "--noheader"], env={**os.environ, **env}, capture_output=True, timeout=60).returncode == 0
    up = subprocess.run([str(CLUSTER), "up"], capture_output=True, text=True, timeout=180)
    if up.returncode != 0:
        pytest.fail(f"the local Slurm cluster did not come up: {up.stderr.strip() or up.stdout.strip()}")
    yield env
    if not was_up:
        subprocess.run([str(CLUSTER), "down"], capture_output=True, timeout=120)


def run_dirs(sweep: Path) -> list[Path]:
    return sorted(d for d in sweep.iterdir() if d.is_dir() and d.name not in (".submitit", "report"))


def results(sweep: Path) -> dict:
    return {d.name: json.loads((d / "result.json").read_text()) for d in run_dirs(sweep)
            if (d / "result.json").exists()}


def slurm_id(run_dir: Path) -> str:
    """The Slurm job that ran this run: submitit's job id, which the launcher hands to hydra.job.id."""
    return str(OmegaConf.load(run_dir / ".hydra" / "hydra.yaml").hydra.job.id)


def slurm_states(env: dict, ids: list[str]) -> dict:
    """Slurm's own record of these jobs (accounting: sacct), job id -> state."""
    out = subprocess.run(["sacct", "--noheader", "--parsable2", "--allocations", "--format=JobID,State",
                          f"--jobs={','.join(ids)}"], env={**os.environ, **env}, capture_output=True, text=True,
                         check=True).stdout
    return dict(line.split("|", 1) for line in out.splitlines())


def job_logs(sweep: Path, array: str) -> dict:
    """The stdout logs of one job array's tasks: array index -> text."""
    return {p.parent.name.split("_")[1]: p.read_text() for p in (sweep / ".submitit").glob(f"{array}_*/*_log.out")}


def wait_for_training(proc: subprocess.Popen, sweep: Path, pattern: str) -> Path:
    """The run directory matching `pattern`, once its job has trained and evaluated (it is running)."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        found = [d for d in sweep.glob(pattern) if (d / "metrics.jsonl").exists()]
        if found:
            return found[0]
        time.sleep(0.2)
    raise AssertionError(f"no job {pattern} started training (sweep exit status {proc.poll()})")


@slurm_test
def test_a_sweep_runs_every_job_as_a_slurm_job(slurm_env, tmp_path):
    sweep = tmp_path / "sweep"
    # the smoke preset: conftest.TINY's size, 4 jobs (rnn, lstm; seeds 0, 1), and train.threads=null, so each
    # job's torch threads come from cpus_per_task (lstm_bench/callbacks.py)
    p = run_python(*SWEEP_COMMAND, f"hydra.sweep.dir={sweep}", env=slurm_env, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]

    dirs = run_dirs(sweep)
    assert len(dirs) == 4
    ids = [slurm_id(d) for d in dirs]
    # one job array, one task per job, and Slurm saw each of them complete
    arrays = {i.split("_")[0] for i in ids}
    assert len(arrays) == 1 and sorted(i.split("_")[1] for i in ids) == ["0", "1", "2", "3"], ids
    assert slurm_states(slurm_env, ids) == {i: "COMPLETED" for i in ids}
    logs = job_logs(sweep, arrays.pop())
    for d, i in zip(dirs, ids):
        result = json.loads((d / "result.json").read_text())
        meta = json.loads((d / "meta.json").read_text())
        assert result["status"] in FINISHED and result["steps"] >= 10, d.name
        assert meta["torch_threads"] == 1 and meta["end_time"] >= meta["start_time"]
        # the job's own log holds run.py's summary line of this very run
        assert f"-> {d}" in logs[i.split("_")[1]], d.name
    # the end-of-sweep table, printed by the sweep's process from the records the jobs left
    assert "4 runs of `python run.py -m hydra/launcher=slurm" in p.stdout
    assert "| rnn | adding | 10 |" in p.stdout and "| lstm | adding | 10 |" in p.stdout
    assert (sweep / "report").is_dir()


@slurm_test
def test_b_a_cancelled_job_is_interrupted_and_only_it_runs_again(slurm_env, tmp_path):
    sweep = tmp_path / "sweep"
    # two short jobs and two long ones (a few seconds of training); seed 0's long one gets cancelled
    argv = [sys.executable, "run.py", "-m", *SLURM, *tiny("train.steps"), "diag.every=0", "model=rnn",
            "train.steps=20,2000", "seed=0,1", f"hydra.sweep.dir={sweep}"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **slurm_env}
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        target = wait_for_training(proc, sweep, "*seed=0*train.steps=2000*")
        subprocess.run(["scancel", slurm_id(target)], env=env, check=True)
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, err[-3000:]

    first = results(sweep)
    assert len(run_dirs(sweep)) == 4 and set(first) == {d.name for d in run_dirs(sweep)}
    assert first[target.name]["status"] == "interrupted" and first[target.name]["steps"] < 2000
    assert all(r["status"] in FINISHED for name, r in first.items() if name != target.name)
    assert slurm_states(slurm_env, [slurm_id(target)])[slurm_id(target)].startswith("CANCELLED")
    # the table of the others first, then one line for the cancelled job naming it and its log
    assert "1 interrupted" in out
    lines = [line for line in err.splitlines() if "CANCELLED" in line]
    assert len(lines) == 1 and "seed=0" in lines[0] and "train.steps=2000" in lines[0]
    assert f"{sweep}/.submitit/{slurm_id(target)}/" in lines[0] and "Traceback" not in err

    # the same command again: a new job array in which the three finished jobs return their records and only
    # the cancelled one trains, in the same directory, its logs begun afresh
    before = {d.name: ((d / "result.json").read_bytes(), (d / "meta.json").read_bytes()) for d in run_dirs(sweep)}
    p = run_python(*argv[1:], env=slurm_env, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    assert [d.name for d in run_dirs(sweep)] == sorted(before)
    for d in run_dirs(sweep):
        now = ((d / "result.json").read_bytes(), (d / "meta.json").read_bytes())
        assert (now == before[d.name]) == (d.name != target.name), d.name
    rerun = json.loads((target / "result.json").read_text())
    assert rerun["status"] in FINISHED
    steps = [json.loads(line)["step"] for line in (target / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(10, rerun["steps"] + 1, 10)) + ([rerun["steps"]] if rerun["steps"] % 10 else [])
    logs = job_logs(sweep, slurm_id(target).split("_")[0])
    assert len(logs) == 4 and sum("not run again" in text for text in logs.values()) == 3
    assert f"{target.name}: run again: it interrupted before the end" in logs[slurm_id(target).split("_")[1]]
    assert "interrupted" not in p.stdout and "n=2" in p.stdout


@slurm_test
def test_c_a_job_whose_environment_fails_is_one_line_with_its_log(slurm_env, tmp_path):
    # one job (each job without a result costs the sweep submitit's 15 s wait for a result file)
    sweep = tmp_path / "sweep"
    p = run_python("run.py", "-m", *SLURM, 'hydra.launcher.setup=["source /nonexistent/venv/bin/activate"]',
                   *tiny(), "seed=3", f"hydra.sweep.dir={sweep}", env=slurm_env, timeout=600)
    assert p.returncode == 1, p.stderr[-3000:]
    assert "Traceback" not in p.stderr and "1 of the 1 jobs crashed" in p.stderr
    assert not results(sweep)
    lines = [line for line in p.stderr.splitlines() if "seed=3:" in line]
    assert len(lines) == 1, p.stderr
    assert "ended FAILED without a result; its log: " in lines[0]
    log = Path(lines[0].split("its log: ")[1])
    assert log.is_relative_to(sweep / ".submitit") and log.is_file()
    assert "/nonexistent/venv/bin/activate: No such file or directory" in log.read_text()


@slurm_test
def test_d_the_claims_runner_submits_a_claim_to_slurm(slurm_env, tmp_path):
    # the README's command (Claims), on the cheapest claim (5 runs), with 20 steps for its 2000; its setup line
    # activates the venv the jobs run in, where there is one at .venv (as CI's)
    command = [w for w in CLAIMS_COMMAND if "setup=" not in w or (ROOT / ".venv" / "bin" / "activate").is_file()]
    root = tmp_path / "claims"
    p = run_python(*command, "--root", str(root), env=slurm_env, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "claim hochreiter1997_adding: done in" in p.stdout
    sweep = root / "hochreiter1997_adding"
    runs = results(sweep)
    assert len(runs) == 5 and {r["seed"] for r in runs.values()} == {0, 1, 2, 3, 4}
    assert all(r["status"] in FINISHED and r["steps"] <= 20 and r["length"] == 100 for r in runs.values())
    ids = [slurm_id(d) for d in run_dirs(sweep)]
    assert slurm_states(slurm_env, ids) == {i: "COMPLETED" for i in ids}
    # the verdict table reads the records the Slurm jobs left: all five runs the claim expects
    report = run_python("-m", "lstm_bench.claims", "report", str(root))
    assert report.returncode == 0, report.stderr[-3000:]
    row = [line for line in report.stdout.splitlines() if line.startswith("| hochreiter1997_adding |")]
    assert len(row) == 1 and row[0].endswith("| 5/5 |"), report.stdout


@slurm_test
def test_e_ctrl_c_cancels_the_sweeps_jobs(slurm_env, tmp_path):
    # left running, the jobs of an interrupted sweep would race those of the same command started again. Jobs
    # that cannot solve (an unreachable threshold), so that none ends before the interrupt lands
    sweep = tmp_path / "sweep"
    env = {**os.environ, **slurm_env}
    proc = subprocess.Popen([sys.executable, "run.py", "-m", *SLURM, *tiny("train.steps"), "diag.every=0",
                             "model=rnn", "train.steps=1000000", "task.threshold=0.0001", "seed=0,1",
                             f"hydra.sweep.dir={sweep}"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=terminal_sigint)
    try:
        deadline = time.monotonic() + 300
        while not list(sweep.glob(".submitit/*/*_log.out")):  # a job has started
            assert time.monotonic() < deadline and proc.poll() is None, "no job of the sweep started"
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        t0 = time.monotonic()
        _, err = proc.communicate(timeout=60)
        stopped_in = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and stopped_in < 15 and "Traceback" not in err, err[-3000:]
    array = next(sweep.glob(".submitit/*/*_log.out")).parent.name.split("_")[0]
    assert f"interrupted: cancelled the sweep's Slurm jobs ({array})" in err
    # none of its jobs is left queued or running (the job that was running records itself `interrupted`,
    # as test_b's does, where it got as far as training)
    squeue = subprocess.run(["squeue", "--noheader", f"--jobs={array}"], env=env, capture_output=True, text=True)
    assert squeue.returncode == 0 and squeue.stdout.strip() == "", squeue.stdout + squeue.stderr


@slurm_test
def test_f_jobs_that_sbatch_refuses_are_one_line_and_nothing_runs(slurm_env, tmp_path):
    sweep = tmp_path / "sweep"
    p = run_python("run.py", "-m", *SLURM, "hydra.launcher.partition=gpu", *tiny(), "seed=0,1",
                   f"hydra.sweep.dir={sweep}", env=slurm_env, timeout=600)
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr[-3000:]
    assert p.stderr.splitlines()[-1] == (
        "error: Slurm refused the sweep's jobs: invalid partition specified: gpu (the keys: hydra.launcher.partition, "
        "cpus_per_task, mem_gb, timeout_min; sinfo shows what the partitions allow)")
    assert not run_dirs(sweep)


def test_the_cluster_page_shows_the_commands_these_tests_run():
    """docs/cluster.md's commands are the ones above, word for word (as a shell splits them)."""
    text = (ROOT / "docs" / "cluster.md").read_text()
    shown = [shlex.split(line.replace("\\\n", " "), comments=True)
             for line in re.findall(r"^python (?:run\.py|-m lstm_bench\.claims) .*?(?<!\\)$", text, re.M | re.S)]
    assert ["python", *SWEEP_COMMAND] in shown
    assert ["python", *CLAIMS_COMMAND] in shown
