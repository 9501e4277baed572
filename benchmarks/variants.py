"""What each LSTM variant costs: forward+backward time of the recurrence, on the CPU by default.

    python benchmarks/variants.py                    # B=64, T=120, H=128, I=32, 1 thread
    python benchmarks/variants.py --threads 2 --rounds 15

Times one forward and backward (sum of the outputs) of `lstm` (nn.LSTM), `lstm_cell` and every
`model.variant`, with and without peepholes. The models take turns, round after round, so
a busy machine slows them all alike; each row is the median over rounds after one warm-up.
Prints one table: ms, and the ratio to nn.LSTM and to the vanilla lstm_cell.
"""
import argparse
import statistics
import time

import torch

from lstm_bench.models.lstm import LSTM
from lstm_bench.models.lstm_cell import VARIANTS, LSTMCell


def parse():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--B", type=int, default=64)
    p.add_argument("--T", type=int, default=120)
    p.add_argument("--H", type=int, default=128)
    p.add_argument("--I", type=int, default=32, help="input size: the harness's embed_size")
    p.add_argument("--threads", type=int, default=1, help="torch threads (1: steadier on a shared machine)")
    p.add_argument("--rounds", type=int, default=9)
    p.add_argument("--device", default="cpu")
    return p.parse_args()


def models(I: int, H: int) -> dict:
    out = {"lstm (nn.LSTM)": LSTM(I, H)}
    for v in VARIANTS:
        out[f"lstm_cell-{v}"] = LSTMCell(I, H, variant=v)
        out[f"lstm_cell-{v}+peephole"] = LSTMCell(I, H, variant=v, peephole=True)
    return out


def fwd_bwd_s(model, x) -> float:
    if x.device.type == "cuda":
        torch.cuda.synchronize()
    tic = time.perf_counter()
    out, _ = model(x)
    out.sum().backward()
    if x.device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - tic


def main():
    a = parse()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    ms = {k: m.to(a.device) for k, m in models(a.I, a.H).items()}
    x = torch.randn(a.B, a.T, a.I, device=a.device)
    times = {k: [] for k in ms}
    for r in range(a.rounds + 1):
        for k, m in ms.items():
            t = fwd_bwd_s(m, x)
            if r:  # round 0 warms up
                times[k].append(t)
    med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
    ref, cell = med["lstm (nn.LSTM)"], med["lstm_cell-vanilla"]
    print(f"forward+backward, B={a.B} T={a.T} H={a.H} I={a.I}, {a.device}, {a.threads} thread(s), "
          f"median of {a.rounds} rounds, torch {torch.__version__}")
    print(f"| {'model':<28} | {'ms':>8} | {'x nn.LSTM':>9} | {'x lstm_cell':>11} |")
    print(f"|{'-' * 30}|{'-' * 10}|{'-' * 11}|{'-' * 13}|")
    for k, t in med.items():
        print(f"| {k:<28} | {t:8.1f} | {t / ref:9.2f} | {t / cell:11.2f} |")


if __name__ == "__main__":
    main()
