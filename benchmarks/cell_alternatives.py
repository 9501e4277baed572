"""The ways to run the gate-by-gate LSTM on the CPU that were measured before lstm_cell_seq was chosen.

    python benchmarks/cell_alternatives.py                     # H=8, T=50, B=64, 1 thread
    python benchmarks/cell_alternatives.py --H 64 --T 100 --no-compile

Forward and backward (the sum of the last output) of the vanilla cell with the same weights, five ways:
    nn.LSTM    oneDNN's fused LSTM, the yardstick
    autograd   the loop in Python, autograd recording every operation (lstm_cell's path before)
    script     the same loop as a TorchScript function, autograd through the scripted graph
    compile    torch.compile of the same loop (inductor's C++ on the CPU), its compile time printed apart
               (inductor keeps compiled code on disk: a second run of this script compiles in seconds)
    sequence   LSTMCell.forward: lstm_cell_seq's autograd.Function and its hand-written backward
Each is checked against nn.LSTM first. They take turns, round after round; each row is the median and
the least CPU time of the process (waiting for a busy core does not count) over the rounds.
"""
import argparse
import statistics
import time

import torch

from lstm_bench.models.lstm_cell import LSTMCell


def loop(x, h, c, w_ih, w_hh, b):
    """The cell as a plain loop over time (batch-first x): what autograd, TorchScript and the compiler get."""
    zx = x @ w_ih.t() + b
    outs = []
    for t in range(zx.shape[1]):
        i, f, g, o = (zx[:, t] + h @ w_hh.t()).chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        outs.append(h)
    return torch.stack(outs, 1)


def parse():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--B", type=int, default=64)
    p.add_argument("--T", type=int, default=50)
    p.add_argument("--H", type=int, default=8)
    p.add_argument("--E", type=int, default=32, help="input size: the harness's embed_size")
    p.add_argument("--rounds", type=int, default=9)
    p.add_argument("--no-compile", action="store_true", help="skip torch.compile (minutes of compiling)")
    return p.parse_args()


def main():
    a = parse()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    ref = torch.nn.LSTM(a.E, a.H, batch_first=True)
    cell = LSTMCell(a.E, a.H)
    cell.load_state_dict(ref.state_dict())
    x = torch.randn(a.B, a.T, a.E, requires_grad=True)
    zero = torch.zeros(a.B, a.H)
    weights = (cell.weight_ih_l0, cell.weight_hh_l0, cell.bias_ih_l0 + cell.bias_hh_l0)
    ways = {"nn.LSTM": lambda: ref(x)[0], "autograd": lambda: loop(x, zero, zero, *weights),
            "script": lambda: scripted(x, zero, zero, *weights), "sequence": lambda: cell(x)[0]}
    scripted = torch.jit.script(loop)
    compile_s = None
    if not a.no_compile:
        compiled = torch.compile(loop, dynamic=False)
        tic = time.perf_counter()
        compiled(x, zero, zero, *weights)[:, -1].sum().backward()
        compile_s = time.perf_counter() - tic
        ways["compile"] = lambda: compiled(x, zero, zero, *weights)
    want = ref(x)[0]
    for name, way in ways.items():
        torch.testing.assert_close(way(), want, msg=name)

    times = {k: [] for k in ways}
    for r in range(a.rounds + 1):
        for name, way in ways.items():
            tic = time.process_time()
            way()[:, -1].sum().backward()
            if r:  # round 0 warms up (and lets TorchScript profile its graph)
                times[name].append((time.process_time() - tic) * 1e3)
    print(f"forward+backward, vanilla cell, B={a.B} T={a.T} H={a.H} E={a.E}, cpu, 1 thread, {a.rounds} rounds, "
          f"torch {torch.__version__}" + (f"; torch.compile took {compile_s:.0f} s" if compile_s else ""))
    print(f"| {'way':<9} | {'median ms':>9} | {'least ms':>8} | {'x nn.LSTM':>9} |\n|{'-' * 11}|{'-' * 11}|{'-' * 10}|{'-' * 11}|")
    base = statistics.median(times["nn.LSTM"])
    for name, v in times.items():
        m = statistics.median(v)
        print(f"| {name:<9} | {m:9.2f} | {min(v):8.2f} | {m / base:9.2f} |")


if __name__ == "__main__":
    main()
