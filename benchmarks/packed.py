#!/usr/bin/env python3
"""Packed runs on one GPU (issue 28): runs per hour with K members a pack, against one run at a time and against
4 processes sharing the GPU. One table; needs torch only (no Hydra, no W&B).

    OUT=/tmp/packed bash benchmarks/packed.sh      # on the GPU machine: $OUT/packed.md, $OUT/packed.jsonl
    python benchmarks/packed.py --smoke            # on a CPU at tiny sizes: checks the script; its numbers mean nothing
    python benchmarks/packed.py --device cpu --threads 1 --T 100 --K 4 16 --shared 0   # the CPU, for comparison

A run is the fair preset's LSTM on the adding task (Le et al.'s, lstm_bench's default style): H = 64, embed 32,
B = 64, Adam at lr 1e-3, clipping at norm 1, `--steps` 2000 steps (the adding budget of +experiment=compare and
fair) with an evaluation (validation and test, 512 sequences each) every 100 steps; diagnostics off, as they are
per member and not packed. Each mode takes the steps the harness takes, from the tree's torch-only modules:
  one at a time  lstm_bench/train.py's step: nn.LSTM (cuDNN), the loss checked, clip_grad_norm_, Adam, .item()s
  4 processes    the same, in 4 processes started together (the GPU time-sliced between them)
  pack of K      lstm_bench/train_packed.py's step: K batches, one vmapped forward (lstm_bench/models/packed.py),
                 K losses, one backward, per-member clipping and Adam (lstm_bench/packed_optim.py); each member
                 evaluated on its own nn.LSTM model, as train_packed.py does
Step time and evaluation time are measured apart (a pack's step is shared by its K members, its evaluations
are not) and combined: runs/hour = 3600 * K / (steps * step_s + steps / 100 * eval_s), eval_s the time to evaluate
all K members once. The 4 processes take their steps together for a window, then their evaluations together.
Each cell stops after --seconds of timed steps (at least 3); a cell that runs out of GPU memory says so.
"""
import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import torch  # noqa: E402

from lstm_bench.models import SeqModel  # noqa: E402
from lstm_bench.models.lstm import LSTM  # noqa: E402
from lstm_bench.models.packed import PackedModel  # noqa: E402
from lstm_bench.packed_optim import PackedOptimizer, clip_per_member  # noqa: E402
from tasks import TEST, VAL  # noqa: E402
from tasks.adding import Adding  # noqa: E402

EMBED, LR, CLIP, EVAL_EVERY, EVAL_BATCH = 32, 1e-3, 1.0, 100, 512


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def solo(T, H, B, seed, device):
    """One run's model, optimizer and step (lstm_bench/train.py's), and its evaluation."""
    task = Adding(length=T)
    torch.manual_seed(seed)
    model = SeqModel(LSTM(EMBED, H), task, EMBED).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    held_out = [task.batch(EVAL_BATCH, seed, 0, device, split=s) for s in (VAL, TEST)]

    def step(i):
        batch = task.batch(B, seed, i, device)
        out, _ = model(batch.x)
        loss = task.loss(out, batch)
        if not torch.isfinite(loss):
            raise FloatingPointError("the loss diverged")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        optimizer.step()
        loss.item(), norm.item()

    @torch.no_grad()
    def evaluate():
        model.eval()
        for b in held_out:
            out, _ = model(b.x)
            task.loss(out, b).item(), task.metric(out, b)
        model.train()

    return step, evaluate


def pack(T, H, B, K, device):
    """A pack of K runs (seeds 0..K-1): its step (lstm_bench/train_packed.py's), and its members' evaluation."""
    task = Adding(length=T)
    models = []
    for seed in range(K):
        torch.manual_seed(seed)
        models.append(SeqModel(LSTM(EMBED, H), task, EMBED).to(device))
    packed = PackedModel(models)
    optimizer = PackedOptimizer(packed, [lambda p: torch.optim.Adam(p, lr=LR)] * K, ["adam"] * K)
    max_norm = torch.full((K,), CLIP, device=device)
    held_out = [[task.batch(EVAL_BATCH, seed, 0, device, split=s) for s in (VAL, TEST)] for seed in range(K)]

    def step(i):
        batches = [task.batch(B, seed, i, device) for seed in range(K)]
        out, _ = packed(torch.stack([b.x for b in batches]))  # (K, B, 1)
        losses = torch.stack([task.loss(out[k], b) for k, b in enumerate(batches)])
        losses.tolist()
        optimizer.zero_grad()
        losses.sum().backward()
        clip_per_member([p.grad for p in packed.stacked().values()], max_norm).tolist()
        optimizer.step()

    @torch.no_grad()
    def evaluate():
        for k, model in enumerate(models):
            packed.load_into(k, model)
            model.eval()
            for b in held_out[k]:
                out, _ = model(b.x)
                task.loss(out, b).item(), task.metric(out, b)
            model.train()

    return step, evaluate


def timed(fn, device, seconds, at_least=3, warmup=2, start_at=None):
    """Seconds per call of fn(i), after `warmup` calls; from `start_at` (a time.time()) if given."""
    for i in range(1, warmup + 1):
        fn(i)
    sync(device)
    if start_at is not None:
        time.sleep(max(0.0, start_at - time.time()))
    n, t0 = 0, time.perf_counter()
    while n < at_least or time.perf_counter() - t0 < seconds:
        n += 1
        fn(warmup + n)
    sync(device)
    return (time.perf_counter() - t0) / n, n


def runs_per_hour(K, steps, step_s, eval_s):
    return 3600 * K / (steps * step_s + steps / EVAL_EVERY * eval_s)


def worker(args):
    """One of the 4 processes: steps from args.start_at for args.seconds, then evaluations from args.eval_at."""
    device = torch.device(args.device)
    step, evaluate = solo(args.T[0], args.hidden, args.batch, args.seed, device)
    step_s, n = timed(step, device, args.seconds, start_at=args.start_at)
    eval_s, m = timed(lambda i: evaluate(), device, args.seconds / 2, at_least=2, warmup=1, start_at=args.eval_at)
    print(json.dumps({"step_s": step_s, "steps": n, "eval_s": eval_s, "evals": m}), flush=True)


def shared(args, T, n_proc=4):
    """n_proc solo runs in n_proc processes at once: (their total runs per hour, the mean step and eval seconds)."""
    settle = 25.0 if args.device == "cuda" else 5.0  # each process starts CUDA and warms up before the window
    start_at = time.time() + settle
    eval_at = start_at + args.seconds * 3 + 5.0  # after every process's steps (a slow process takes longer)
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--device", args.device, "--T", str(T),
           *(["--threads", str(args.threads)] if args.threads else []),
           "--hidden", str(args.hidden), "--batch", str(args.batch), "--seconds", str(args.seconds),
           "--start-at", str(start_at), "--eval-at", str(eval_at)]
    procs = [subprocess.Popen(cmd + ["--seed", str(p)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for p in range(n_proc)]
    found = []
    for p in procs:
        out, err = p.communicate(timeout=600)
        if p.returncode != 0:
            raise RuntimeError(f"a worker failed: {err.strip().splitlines()[-1] if err.strip() else p.returncode}")
        found.append(json.loads(out.strip().splitlines()[-1]))
    total = sum(runs_per_hour(1, args.steps, f["step_s"], f["eval_s"]) for f in found)
    return total, sum(f["step_s"] for f in found) / n_proc, sum(f["eval_s"] for f in found) / n_proc


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--smoke", action="store_true", help="CPU, tiny sizes: checks the script only")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--device", default=None)
    p.add_argument("--T", type=int, nargs="+", default=[100, 1000])
    p.add_argument("--K", type=int, nargs="+", default=[1, 8, 32, 64, 128])
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=2000, help="a run's step budget")
    p.add_argument("--seconds", type=float, default=4.0, help="timed steps per cell, at least 3 steps")
    p.add_argument("--budget", type=float, default=420.0, help="cells left after this many seconds are skipped")
    p.add_argument("--shared", type=int, default=4, help="processes sharing the device in that row (0: no such row)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (a CPU measurement)")
    p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--start-at", type=float, default=None, help=argparse.SUPPRESS)
    p.add_argument("--eval-at", type=float, default=None, help=argparse.SUPPRESS)
    p.add_argument("--out", default=os.environ.get("OUT"))
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.worker:
        return worker(args)
    if args.smoke:
        args.device = args.device or "cpu"
        args.T, args.K, args.hidden, args.batch, args.seconds = [10, 20], [1, 2, 4], 8, 4, 0.3
    args.device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU (smoke: not a measurement)" \
        if args.smoke else f"CPU, {torch.get_num_threads()} torch threads"
    print(f"# packed runs: {name}, torch {torch.__version__}; LSTM H={args.hidden}, B={args.batch}, adding; a run "
          f"= {args.steps} steps + an evaluation every {EVAL_EVERY}", flush=True)
    rows, t_start = [], time.perf_counter()
    out_dir = args.out
    if out_dir:
        os.makedirs(out_dir, exist_ok=True)

    def emit(row):
        rows.append(row)
        if out_dir:
            with open(os.path.join(out_dir, "packed.jsonl"), "a") as f:
                f.write(json.dumps({**row, "device": name, "smoke": args.smoke}) + "\n")
        cells = [row["T"], row["mode"], row.get("K", ""), fmt(row.get("step_ms")), fmt(row.get("eval_ms")),
                 fmt(row.get("runs_per_hour"), 0), fmt(row.get("x_one"), 2), fmt(row.get("mem_gb"), 2),
                 row.get("note", "")]
        print("| " + " | ".join(map(str, cells)) + " |", flush=True)

    # the first calls pay once for what every later one reuses (CUDA context, cuDNN plans, vmap's first trace)
    for make in (lambda: solo(min(args.T), args.hidden, args.batch, 0, device),
                 lambda: pack(min(args.T), args.hidden, args.batch, 2, device)):
        step, evaluate = make()
        timed(step, device, 0.0, at_least=1, warmup=5)
        evaluate()
    print("\n| T | mode | K | step ms | eval ms (all members) | runs/hour | x one at a time | peak GiB | note |\n"
          "|--:|---|--:|--:|--:|--:|--:|--:|---|", flush=True)
    for T in args.T:
        base = None
        cells = [("one", 1), *([(f"{args.shared} processes", args.shared)] if args.shared else []),
                 *(("pack", K) for K in args.K)]
        for mode, K in cells:
            row = {"T": T, "mode": mode, "K": K}
            if time.perf_counter() - t_start > args.budget:
                emit({**row, "note": "not measured (time budget spent)"})
                continue
            try:
                if device.type == "cuda":
                    torch.cuda.empty_cache()
                    torch.cuda.reset_peak_memory_stats(device)
                if mode.endswith("processes"):
                    rate, step_s, eval_s = shared(args, T, args.shared)
                    row.update(step_ms=step_s * 1e3, eval_ms=eval_s * 1e3, runs_per_hour=rate)
                else:
                    step, evaluate = solo(T, args.hidden, args.batch, 0, device) if mode == "one" else \
                        pack(T, args.hidden, args.batch, K, device)
                    step_s, n = timed(step, device, args.seconds)
                    eval_s, _ = timed(lambda i: evaluate(), device, 0.0, at_least=1, warmup=1)
                    row.update(step_ms=step_s * 1e3, eval_ms=eval_s * 1e3, steps_timed=n,
                               runs_per_hour=runs_per_hour(K, args.steps, step_s, eval_s))
                    if device.type == "cuda":
                        row["mem_gb"] = torch.cuda.max_memory_allocated(device) / 2**30
                    del step, evaluate
                if mode == "one":
                    base = row["runs_per_hour"]
                if base:
                    row["x_one"] = row["runs_per_hour"] / base
            except torch.cuda.OutOfMemoryError:
                row["note"] = "out of GPU memory"
            except Exception as err:  # noqa: BLE001: one cell's failure costs that cell
                row["note"] = f"failed: {type(err).__name__}: {err}".splitlines()[0][:200]
            emit(row)
    took = time.perf_counter() - t_start
    print(f"\n({took:.0f} s{'; smoke: CPU at tiny sizes, not a measurement' if args.smoke else ''})", flush=True)
    if out_dir:
        with open(os.path.join(out_dir, "packed.md"), "w") as f:
            f.write(f"packed runs on {name}, torch {torch.__version__}: `python benchmarks/packed.py` "
                    f"({took:.0f} s)\n\n")
            f.write("| T | mode | K | step ms | eval ms (all members) | runs/hour | x one at a time | peak GiB | note |\n"
                    "|--:|---|--:|--:|--:|--:|--:|--:|---|\n")
            for r in rows:
                f.write("| " + " | ".join(map(str, [r["T"], r["mode"], r.get("K", ""), fmt(r.get("step_ms")),
                                                    fmt(r.get("eval_ms")), fmt(r.get("runs_per_hour"), 0),
                                                    fmt(r.get("x_one"), 2), fmt(r.get("mem_gb"), 2),
                                                    r.get("note", "")])) + " |\n")


def fmt(v, digits=1):
    return "" if v is None else f"{v:.{digits}f}"


if __name__ == "__main__":
    main()
