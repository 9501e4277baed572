"""Forward+backward time of every model against the sequence length, on the CPU, as one table.

    python benchmarks/models.py [--lengths 100 300 1000 3000 5000] [--repeats 3] [--threads N]
    python benchmarks/models.py --hidden 64 --lengths 100 1000 --models lstm mlstm deltanet s6 lru exprnn

Each model (conf/model/, lstm_triton aside: on a CPU it runs Triton's interpreter) is built as a run
builds it (lstm_bench.train.build: the embedding, the recurrence, the readout) at H=--hidden (128) on the
adding task, and timed on one training batch of B=64: the forward pass, the loss and the backward pass, the
best of --repeats rounds after one warm-up, every round timing each model in turn (a shared machine's load
then slows them alike). Cells are milliseconds per batch, with the ratio to nn.LSTM's time (model=lstm,
measured in the same rounds) where lstm is among the models.
"""
import argparse
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir

from lstm_bench.train import build

ROOT = Path(__file__).resolve().parent.parent
B = 64
CPU_ONLY_SKIP = {"lstm_triton"}
MODELS = sorted(p.stem for p in (ROOT / "conf" / "model").glob("*.yaml") if p.stem not in CPU_ONLY_SKIP)


def build_model(model_name: str, T: int, H: int):
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base=None):
        cfg = compose("config", overrides=[f"model={model_name}", f"model.hidden_size={H}", "task=adding",
                                           f"task.length={T}", "logger=none"])
    torch.manual_seed(0)
    task, model = build(cfg, torch.device("cpu"))
    return task, model, task.batch(B, 0, 0)


def seconds(task, model, batch) -> float:
    t0 = time.perf_counter()
    out, _ = model(batch.x)
    task.loss(out, batch).backward()
    model.zero_grad(set_to_none=True)
    return time.perf_counter() - t0


def step_ms(names: list[str], T: int, repeats: int, H: int) -> dict[str, float]:
    """Each model's best time of `repeats` rounds, in ms; every round times every model once, in turn, so that a
    machine whose load comes and goes slows each model alike (the ratios are of the same moments)."""
    runs = {name: build_model(name, T, H) for name in names}
    for run in runs.values():  # the warm-up, not counted
        seconds(*run)
    best = dict.fromkeys(names, float("inf"))
    for _ in range(repeats):
        for name, run in runs.items():
            best[name] = min(best[name], seconds(*run))
    return {name: 1000 * v for name, v in best.items()}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lengths", type=int, nargs="+", default=[100, 300, 1000, 3000, 5000])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    p.add_argument("--hidden", type=int, default=128, help="model.hidden_size of every model (default 128)")
    p.add_argument("--models", nargs="+", choices=MODELS, default=MODELS, metavar="MODEL",
                   help=f"these models only, in this order (default: all: {', '.join(MODELS)})")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"forward+backward, ms per batch (B={B}, H={args.hidden}, CPU, {torch.get_num_threads()} threads, "
          f"best of {args.repeats}{'; x nn.LSTM: the ratio to model=lstm' if 'lstm' in args.models else ''})\n")
    print("| model | " + " | ".join(f"T={T}" for T in args.lengths) + " |")
    print("|---|" + "--:|" * len(args.lengths))
    times = {T: step_ms(args.models, T, args.repeats, args.hidden) for T in args.lengths}
    for name in args.models:
        cells = [f"{times[T][name]:.1f}" + (f" ({times[T][name] / times[T]['lstm']:.2f}x)" if "lstm" in times[T] else "")
                 for T in args.lengths]
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
