"""What a task's batch builder costs next to the training step it feeds.

    python benchmarks/batches.py                    # every task, B=64, T=200, lstm H=128, CPU
    python benchmarks/batches.py --device cuda --T 1000

For each task (default options, `task.length` = T) it times, on consecutive training steps
(so a stream task's block generation is amortised as in a run; its worst step is shown too):
  build   task.batch(B, seed, step)
  step    one training step of model=lstm (nn.LSTM, hidden H, embed 32) on that batch:
          forward, the task's loss, backward, gradient clipping, Adam
and prints one table, with build / step in percent (the goal: under 5%).
"""
import argparse
import statistics
import time

import torch

from lstm_bench.models import SeqModel
from lstm_bench.models.lstm import LSTM
from tasks.adding import Adding
from tasks.assoc_recall import AssocRecall
from tasks.copy_memory import Copy
from tasks.multiplication import Multiplication
from tasks.reber import Reber
from tasks.selective_copy import SelectiveCopy
from tasks.temporal_order import TemporalOrder

TASKS = {
    "copy": lambda T: Copy(length=T),
    "copy variable=true": lambda T: Copy(length=T, variable=True),
    "adding": lambda T: Adding(length=T),
    "adding style=hochreiter": lambda T: Adding(length=T, style="hochreiter"),
    "multiplication": lambda T: Multiplication(length=T),
    "temporal_order": lambda T: TemporalOrder(length=T),
    "temporal_order n_relevant=3": lambda T: TemporalOrder(length=T, n_relevant=3),
    "selective_copy": lambda T: SelectiveCopy(length=T),
    "assoc_recall": lambda T: AssocRecall(length=T),
    "reber": lambda T: Reber(length=T),
    "reber continual=true": lambda T: Reber(length=T, continual=True),
}


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def bench(task, B: int, H: int, steps: int, device) -> dict:
    seed = 1  # a fresh seed: nothing memoised from an earlier row
    builds = []
    for step in range(1, steps + 1):
        sync(device)
        tic = time.perf_counter()
        batch = task.batch(B, seed, step, device)
        sync(device)
        builds.append(time.perf_counter() - tic)
    torch.manual_seed(0)
    model = SeqModel(LSTM(32, H), task, 32).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    state, times = None, []
    for i in range(steps // 4 + 3):
        batch = task.batch(B, seed, i + 1, device)
        sync(device)
        tic = time.perf_counter()
        out, state = model(batch.x, state)
        state = tuple(s.detach() for s in state) if task.stateful else None
        loss = task.loss(out, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sync(device)
        if i >= 3:  # warm-up
            times.append(time.perf_counter() - tic)
    return {"shape": tuple(batch.x.shape), "build": statistics.mean(builds), "build_max": max(builds),
            "step": statistics.median(times)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--B", type=int, default=64)
    ap.add_argument("--T", type=int, default=200)
    ap.add_argument("--H", type=int, default=128)
    ap.add_argument("--steps", type=int, default=100, help="consecutive batches timed per task")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(f"B={args.B} T={args.T} lstm H={args.H} on {device} ({torch.get_num_threads()} threads), "
          f"build = mean over {args.steps} consecutive steps")
    heads = f"{'batch x':>14} | {'build ms':>8} | {'worst ms':>8} | {'step ms':>8} | {'build/step':>10}"
    print(f"| {'task':<28} | {heads} |")
    print(f"|{'-' * 30}|{'-' * 16}|{'-' * 10}|{'-' * 10}|{'-' * 10}|{'-' * 12}|")
    for name, make in TASKS.items():
        r = bench(make(args.T), args.B, args.H, args.steps, device)
        print(f"| {name:<28} | {str(r['shape']):>14} | {r['build'] * 1e3:8.3f} | {r['build_max'] * 1e3:8.3f} | "
              f"{r['step'] * 1e3:8.1f} | {100 * r['build'] / r['step']:9.2f}% |")


if __name__ == "__main__":
    main()
