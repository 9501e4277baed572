"""A real multirun on the local launcher: a line per finished job, and Ctrl-C (SIGINT to the process group, as a
terminal sends it) ends it within seconds in one line, the runs in progress recorded as interrupted (which the same
command runs again), no worker left behind."""
import json
import re
import sys
import time
from pathlib import Path

from conftest import TINY, ctrl_c_once_running, run_python
from lstm_bench.records import reusable_result, source_hash

SWEEP = ["run.py", "-m", *TINY, "diag.every=0", "model=rnn,lstm", "seed=0,1"]


def test_a_line_per_finished_job(tmp_path):
    p = run_python(*SWEEP, f"hydra.sweep.dir={tmp_path}")
    assert p.returncode == 0, p.stderr[-3000:]
    lines = [line for line in p.stdout.splitlines() if re.match(r"\[\d+/\d+\] ", line)]
    assert [line.split("]")[0] for line in lines] == ["[1/4", "[2/4", "[3/4", "[4/4"]
    results = {(r["model"], r["seed"]): r for d in tmp_path.iterdir() if (d / "result.json").exists()
               for r in [json.loads((d / "result.json").read_text())]}
    for line in lines:
        model, task, length, seed = line.split("] ", 1)[1].split(":")[0].split()
        r = results[model, int(seed.split("=")[1])]
        assert (task, length) == ("adding", "T=6")
        assert f": {r['status']} after {r['steps']} steps (" in line and "; elapsed " in line
    assert "about" in lines[0] and "left" not in lines[-1]


def alive(pgid: int) -> list[int]:
    """The processes of a group that still run (zombies, waiting to be reaped, do not)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                pids.append(int(entry.name))
    return pids


def test_ctrl_c_ends_a_multirun_in_seconds_and_the_same_command_resumes(tmp_path):
    sweep = tmp_path / "sweep"
    args = [sys.executable, *SWEEP, "train.steps=100000", f"hydra.sweep.dir={sweep}"]
    p, out, err, took = ctrl_c_once_running(args, sweep)
    assert p.returncode == 130 and took < 20, (took, err[-3000:])
    assert "Traceback" not in err and "Traceback" not in out, err[-3000:]
    last = err.strip().splitlines()[-1]
    assert last.startswith("interrupted: 0 of 4 runs of this launch finished, 2 stopped and recorded as interrupted")
    assert last.endswith(f"hydra.sweep.dir={sweep}")
    time.sleep(1)
    assert alive(p.pid) == []  # no worker left behind
    started = [d for d in sweep.iterdir() if (d / "meta.json").exists()]
    assert len(started) == 2
    for d in started:
        result = json.loads((d / "result.json").read_text())
        assert result["status"] == "interrupted"
        # what the same command finds there: a run to start again (run.py's resume check)
        assert reusable_result(d, result["config"], source_hash(), "cpu") == (None, "it interrupted before the end")
