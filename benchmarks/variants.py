"""What a training step of each LSTM variant costs next to nn.LSTM, on the CPU by default.

    python benchmarks/variants.py                          # the grid: H in 8, 64, 128; T in 50, 100, 200
    python benchmarks/variants.py --H 64 --T 100 --rounds 15
    python benchmarks/variants.py --models lstm lstm_cell  # nn.LSTM and the plain cell only

One training step as the harness takes it (lstm_bench/train.py) on the adding task: forward
through the shared wrapper, the loss, backward, gradient clipping and the Adam step; the batch
is drawn once, outside the clock. Models: `lstm` (nn.LSTM), `lstm_cell` through its sequence
Function (lstm_bench/models/lstm_cell_seq.py), `autograd` (the same cell run through its
per-step twin, autograd recording every operation: the path the cell had before), and every
`model.variant` with and without peepholes. The models take turns, a few steps each, round
after round, so a busy machine slows them all alike; each cell is the median over rounds (each
of at least --steps steps and --min-ms) after one warm-up round. Prints one table per (H, T): ms per step, and the ratio to nn.LSTM and to the
plain cell, then a summary of the grid. On the CPU the time is the process's CPU time (one
thread: waiting for a core that others hold does not count, which steadies a shared machine).
"""
import argparse
import math
import statistics
import sys
import time

import torch

from lstm_bench.models.lstm import LSTM
from lstm_bench.models.lstm_cell import VARIANTS, LSTMCell
from lstm_bench.models.wrapper import SeqModel
from tasks.adding import Adding


def parse():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--B", type=int, default=64)
    p.add_argument("--T", type=int, nargs="+", default=[50, 100, 200])
    p.add_argument("--H", type=int, nargs="+", default=[8, 64, 128])
    p.add_argument("--E", type=int, default=32, help="input size of the recurrence: the harness's embed_size")
    p.add_argument("--threads", type=int, default=1, help="torch threads (1: steadier on a shared machine)")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--steps", type=int, default=3, help="the least training steps per model per round")
    p.add_argument("--min-ms", type=float, default=60, help="more steps per round where one step is shorter")
    p.add_argument("--models", nargs="+", default=None, help="a subset of the rows, by name (default: all)")
    p.add_argument("--device", default="cpu")
    return p.parse_args()


class Unrolled(torch.nn.Module):
    """The cell run through its per-step twin: autograd records each step's operations."""

    def __init__(self, cell: LSTMCell):
        super().__init__()
        self.cell, self.hidden_size = cell, cell.hidden_size

    def forward(self, x, state=None):
        state = state if state is not None else self.cell.init_state(x.shape[0], x.device, x.dtype)
        outs = []
        for x_t in x.unbind(1):
            state, _ = self.cell.step(x_t, state)
            outs.append(state[0])
        return torch.stack(outs, 1), state


# the rows: nn.LSTM, the plain cell, its per-step autograd twin, every variant without and with peepholes
VARIANT_ROWS = [r for v in VARIANTS for r in ([v] if v != "vanilla" else []) + [f"{v}+peephole"]]
ROWS = ["lstm", "lstm_cell", "autograd", *VARIANT_ROWS]


def recurrence(name: str, E: int, H: int) -> torch.nn.Module:
    if name == "lstm":
        return LSTM(E, H)
    if name in ("lstm_cell", "autograd"):
        return LSTMCell(E, H) if name == "lstm_cell" else Unrolled(LSTMCell(E, H))
    variant, peephole = name.removesuffix("+peephole"), name.endswith("+peephole")
    return LSTMCell(E, H, variant=variant, peephole=peephole)


def trainer(recurrence, task, batch, E: int):
    """A closure that takes one training step as train.py does, clipping included."""
    model = SeqModel(recurrence, task, E).to(batch.x.device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        out, _ = model(batch.x)
        loss = task.loss(out, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    return step


def main():
    a = parse()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    cuda = a.device.startswith("cuda")
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    clock = time.perf_counter if cuda else time.process_time  # on the CPU, time spent waiting for a core is not ours
    steps = {}
    for H in a.H:
        for T in a.T:
            task = Adding(length=T)
            batch = task.batch(a.B, 0, 1, torch.device(a.device))
            for name in ROWS:
                if a.models is None or name in a.models:
                    steps[H, T, name] = trainer(recurrence(name, a.E, H), task, batch, a.E)
    times = {k: [] for k in steps}
    n = dict.fromkeys(steps, a.steps)
    for r in range(a.rounds + 1):
        for k, step in steps.items():
            sync()
            tic = clock()
            for _ in range(n[k]):
                step()
            sync()
            took = (clock() - tic) / n[k]
            if r:
                times[k].append(took)
            else:  # round 0 warms up, and sets how many steps make a round long enough to time
                n[k] = max(a.steps, math.ceil(a.min_ms / 1e3 / max(took, 1e-6)))
    med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
    print(f"load average {' '.join(open('/proc/loadavg').read().split()[:3])}" if sys.platform == "linux" else "")
    print_tables(a, med)
    print_summary(a, med)


def print_tables(a, med: dict):
    print(f"training step (forward, backward, clip, Adam), adding task, B={a.B} E={a.E}, {a.device}, "
          f"{a.threads} thread(s), median of {a.rounds} rounds of >= {a.steps} steps and >= {a.min_ms:g} ms, torch {torch.__version__}")
    for H in a.H:
        for T in a.T:
            ref, cell = med.get((H, T, "lstm")), med.get((H, T, "lstm_cell"))
            print(f"\nH={H} T={T}\n| {'model':<16} | {'ms/step':>8} | {'x nn.LSTM':>9} | {'x lstm_cell':>11} |")
            print(f"|{'-' * 18}|{'-' * 10}|{'-' * 11}|{'-' * 13}|")
            for (h, t, name), ms in med.items():
                if (h, t) == (H, T):
                    x_ref = f"{ms / ref:9.2f}" if ref else f"{'-':>9}"
                    x_cell = f"{ms / cell:11.2f}" if cell else f"{'-':>11}"
                    print(f"| {name:<16} | {ms:8.2f} | {x_ref} | {x_cell} |")


def print_summary(a, med: dict):
    """The grid at a glance: lstm_cell (and autograd) per nn.LSTM by (H, T); each variant per lstm_cell."""
    def ratio(H, T, name, ref):
        return med[H, T, name] / med[H, T, ref] if (H, T, name) in med and (H, T, ref) in med else None

    print(f"\nlstm_cell / nn.LSTM (autograd / nn.LSTM)\n| H \\ T | " + " | ".join(map(str, a.T)) + " |")
    print("|---|" + "--:|" * len(a.T))
    for H in a.H:
        cells = [(ratio(H, T, "lstm_cell", "lstm"), ratio(H, T, "autograd", "lstm")) for T in a.T]
        print(f"| {H} | " + " | ".join("-" if r is None else f"{r:.2f}" + (f" ({q:.1f})" if q else "")
                                      for r, q in cells) + " |")
    names = [n for n in VARIANT_ROWS if any(k[2] == n for k in med)]
    if names:
        print("\nvariant / lstm_cell over the grid\n| model | median | least | most |\n|---|--:|--:|--:|")
        for name in names:
            r = [ratio(H, T, name, "lstm_cell") for H in a.H for T in a.T]
            r = [v for v in r if v is not None]
            if not r:  # the plain cell was not timed
                continue
            print(f"| {name} | {statistics.median(r):.2f} | {min(r):.2f} | {max(r):.2f} |")


if __name__ == "__main__":
    main()
