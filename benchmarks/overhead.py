"""What the harness costs per training step, against a bare nn.LSTM training loop.

    python benchmarks/overhead.py [--steps 300] [--repeats 3]

Both train the same shapes (adding task, B=64, T=120, H=128, Adam, clip 1.0) in this
process; the harness row includes everything a real run does per step (batch building,
evaluation every 100 steps, metrics.jsonl, the W&B offline mirror), and the diagnostics
row adds the probe at its default cadence. Target: harness / bare <= 1.10.
"""
import argparse
import tempfile
import time
from pathlib import Path

import torch
import torch.nn as nn
from hydra import compose, initialize_config_dir

from lstm_bench.train import run

ROOT = Path(__file__).resolve().parent.parent

B, T, H = 64, 120, 128


def bare_loop(steps: int) -> float:
    """Seconds per step of the plainest loop we could write by hand."""
    torch.manual_seed(0)
    enc, lstm, head = nn.Linear(2, 32), nn.LSTM(32, H, batch_first=True), nn.Linear(H, 1)
    params = [*enc.parameters(), *lstm.parameters(), *head.parameters()]
    opt = torch.optim.Adam(params, lr=1e-3)
    t0 = time.perf_counter()
    for _ in range(steps):
        values = torch.rand(B, T)
        marker = torch.zeros(B, T)
        rows = torch.arange(B)
        marker[rows, torch.randint(0, T // 2, (B,))] = 1.0
        marker[rows, torch.randint(T // 2, T, (B,))] = 1.0
        x = torch.stack([values, marker], dim=-1)  # (B, T, 2)
        y = (values * marker).sum(1, keepdim=True)  # (B, 1)
        out, _ = lstm(enc(x))  # (B, T, H)
        loss = nn.functional.mse_loss(head(out[:, -1]), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
    return (time.perf_counter() - t0) / steps


def harness(steps: int, *overrides: str) -> float:
    """Seconds per step of a real harness run (W&B offline), start-up excluded."""
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base=None):
        cfg = compose("config", overrides=[f"task.length={T}", f"train.steps={steps}", "task.threshold=1e-9",
                                           *overrides])
    with tempfile.TemporaryDirectory() as d:
        result = run(cfg, Path(d), interactive=False)
    return result["wall_time_s"] / result["steps"]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    rows = {"bare nn.LSTM loop": [], "harness, diagnostics off": [], "harness, diagnostics on": []}
    for _ in range(args.repeats):  # interleaved, so drifts in machine load hit every row alike
        rows["bare nn.LSTM loop"].append(bare_loop(args.steps))
        rows["harness, diagnostics off"].append(harness(args.steps, "diag.every=0"))
        rows["harness, diagnostics on"].append(harness(args.steps))
    base = min(rows["bare nn.LSTM loop"])
    print(f"adding T={T}, B={B}, H={H}, {args.steps} steps x {args.repeats} repeats, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads (best of repeats)")
    print(f"| {'loop':<26} | {'ms / step':>9} | {'vs bare':>7} |")
    print(f"|{'-' * 28}|{'-' * 11}|{'-' * 9}|")
    for name, times in rows.items():
        print(f"| {name:<26} | {1e3 * min(times):9.2f} | {min(times) / base:7.3f} |")


if __name__ == "__main__":
    main()
