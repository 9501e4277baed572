"""Forward+backward time of every model against the sequence length, on the CPU, as one table.

    python benchmarks/models.py [--lengths 100 300 1000 3000 5000] [--repeats 3] [--threads N]

Each model (conf/model/, lstm_triton aside: on a CPU it runs Triton's interpreter) is built as a run
builds it (lstm_bench.train.build: the embedding, the recurrence, the readout) at H=128 on the adding
task, and timed on one training batch of B=64: the forward pass, the loss and the backward pass, the
best of --repeats after one warm-up. Cells are milliseconds per batch.
"""
import argparse
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir

from lstm_bench.train import build

ROOT = Path(__file__).resolve().parent.parent
B, H = 64, 128
CPU_ONLY_SKIP = {"lstm_triton"}
MODELS = sorted(p.stem for p in (ROOT / "conf" / "model").glob("*.yaml") if p.stem not in CPU_ONLY_SKIP)


def step_ms(model_name: str, T: int, repeats: int) -> float:
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base=None):
        cfg = compose("config", overrides=[f"model={model_name}", f"model.hidden_size={H}", "task=adding",
                                           f"task.length={T}", "logger=none"])
    torch.manual_seed(0)
    task, model = build(cfg, torch.device("cpu"))
    batch = task.batch(B, 0, 0)
    best = float("inf")
    for i in range(repeats + 1):  # the first pass warms up and is not counted
        t0 = time.perf_counter()
        out, _ = model(batch.x)
        task.loss(out, batch).backward()
        model.zero_grad(set_to_none=True)
        if i:
            best = min(best, time.perf_counter() - t0)
    return 1000 * best


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lengths", type=int, nargs="+", default=[100, 300, 1000, 3000, 5000])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"forward+backward, ms per batch (B={B}, H={H}, CPU, {torch.get_num_threads()} threads, "
          f"best of {args.repeats})\n")
    print("| model | " + " | ".join(f"T={T}" for T in args.lengths) + " |")
    print("|---|" + "--:|" * len(args.lengths))
    for name in MODELS:
        cells = [f"{step_ms(name, T, args.repeats):.1f}" for T in args.lengths]
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
