"""Sweep throughput: the same jobs one at a time, and two at a time on the joblib launcher.

    python benchmarks/parallel.py [--jobs 4] [--steps 300] [--length 100]

Each variant is one real `python run.py -m` sweep (logger=none, diagnostics off) of `--jobs` identical
lstm runs on adding (different seeds). Throughput counts training steps of all jobs over the sweep's wall
time, from the first job's start to the last job's end (meta.json), so the fixed cost of starting Python
is left out and each job's own start-up is counted. "one at a time" gives each job every core (what a user
running jobs in a row gets); "... 1 thread" pins it to one. Prints one table; the load average before and
after says whether other work on the machine shared the cores; CPU ms/step (user + system time of
the whole sweep per training step) compares the work itself.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def sweep(out: Path, jobs: int, steps: int, length: int, n_jobs: int, threads: int | None) -> dict:
    args = [sys.executable, str(REPO / "run.py"), "-m", "logger=none", "diag.every=0", "model=lstm", "task=adding",
            f"task.length={length}", "model.hidden_size=64", f"train.steps={steps}", "train.eval_every=100000",
            f"seed=range(0,{jobs})", f"hydra.launcher.n_jobs={n_jobs}", f"hydra.sweep.dir={out}"]
    if threads:
        args.append(f"train.threads={threads}")
    tic, cpu0 = time.perf_counter(), _children_cpu()
    subprocess.run(args, cwd=REPO, check=True, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - tic, _children_cpu() - cpu0
    starts, ends, total_steps, torch_threads = [], [], 0, set()
    for meta_path in out.glob("*/meta.json"):
        meta = json.loads(meta_path.read_text())
        result = json.loads((meta_path.parent / "result.json").read_text())
        starts.append(datetime.fromisoformat(meta["start_time"]))
        ends.append(datetime.fromisoformat(meta["end_time"]))
        total_steps += result["steps"]
        torch_threads.add(meta.get("torch_threads"))
    if len(starts) != jobs:
        raise SystemExit(f"{out}: {len(starts)} of {jobs} jobs finished")
    span = (max(ends) - min(starts)).total_seconds()
    return {"steps_per_s": total_steps / span, "span_s": span, "wall_s": wall, "threads": sorted(torch_threads),
            "cpu_ms_per_step": 1000 * cpu / total_steps}


def _children_cpu() -> float:
    """CPU seconds (user + system) of the finished child processes: the sweep and its workers."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--jobs", type=int, default=4)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--length", type=int, default=100)
    args = p.parse_args()
    cores = len(os.sched_getaffinity(0))
    load_before = os.getloadavg()[0]
    variants = [("one at a time", 1, None), ("one at a time, 1 thread", 1, 1), ("two at a time", 2, None)]
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, n_jobs, threads in variants:
            rows[name] = sweep(Path(tmp) / f"n{n_jobs}-t{threads}", args.jobs, args.steps, args.length, n_jobs, threads)
    base = rows["one at a time"]["steps_per_s"]
    load_after = os.getloadavg()[0]
    print(f"{args.jobs} jobs: lstm, adding T={args.length}, hidden 64, {args.steps} steps each; {cores} cores; "
          f"load average {load_before:.2f} before, {load_after:.2f} after")
    print(f"| {'variant':<24} | torch threads | sweep span (s) | steps/s | vs one at a time | CPU ms/step |")
    print(f"|{'-' * 26}|--------------:|---------------:|--------:|-----------------:|------------:|")
    for name, r in rows.items():
        print(f"| {name:<24} | {','.join(map(str, r['threads'])):>13} | {r['span_s']:14.1f} | {r['steps_per_s']:7.1f} "
              f"| {r['steps_per_s'] / base:15.2f}x | {r['cpu_ms_per_step']:11.1f} |")
    if max(load_before, load_after) > 0.5 * cores:
        print(f"warning: other work kept the load average above {0.5 * cores:g} on {cores} cores: the wall-clock "
              f"figures measure the sharing, not lstm-bench. CPU ms/step (all processes of the sweep, start-up "
              f"included) still compares the variants' work.")


if __name__ == "__main__":
    main()
