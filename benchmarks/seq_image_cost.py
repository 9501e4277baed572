"""What +experiment=seq_image costs: seconds per training step and per evaluated image, per model, to estimate a
sweep from a short probe before running it.

    python benchmarks/seq_image_cost.py                          # T=784 (the preset), CPU, one thread
    python benchmarks/seq_image_cost.py --pixels-per-step 28     # rows, T=28 (the short CPU version)
    python benchmarks/seq_image_cost.py --device cuda --threads 0

Each model is built as the preset builds it (lstm_bench.train.build on its composed config: H=128, embed 32, the
data of task.path, Debian's Fashion-MNIST by default) and timed over --steps training steps after one warm-up
(forward, loss, backward, clipping, Adam on batches of --batch) and one evaluation of --eval images of the test
set. The last column multiplies these out to the preset's budget for one run that never stops early (with the same
overrides): 20000 steps plus 20 evaluations of every validation and test image (5000 and 10000), diagnostics
left out.
"""
import argparse
import time

import torch
from hydra import compose, initialize_config_dir

from lstm_bench.records import REPO
from lstm_bench.train import build, evaluate

MODELS = ("rnn", "irnn", "gru", "lstm")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pixels-per-step", type=int, default=1)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--eval", type=int, default=200, help="test images in the timed evaluation")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's default)")
    p.add_argument("--path", default=None, help="task.path (default: the task's own default)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    overrides = [f"task.pixels_per_step={args.pixels_per_step}"] + ([f"task.path={args.path}"] if args.path else [])
    print(f"| model | T | train s/step (B={args.batch}) | eval ms/image | one run of the preset, h |")
    print("|---|--:|--:|--:|--:|")
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base=None):
        for name in MODELS:
            cfg = compose("config", overrides=["+experiment=seq_image", f"model={name}", *overrides])
            torch.manual_seed(0)
            task, model = build(cfg, device)
            opt = torch.optim.Adam(model.parameters(), lr=cfg.train.lr)
            for step in range(args.steps + 1):  # step 0 warms up
                if step == 1:
                    sync()
                    tic = time.perf_counter()
                batch = task.batch(args.batch, 0, step + 1, device)
                out, _ = model(batch.x)
                loss = task.loss(out, batch)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.train.clip)
                opt.step()
            sync()
            per_step = (time.perf_counter() - tic) / args.steps
            test = task.test_batch(args.eval, 0, device)
            tic = time.perf_counter()
            evaluate(model, task, test)
            sync()
            per_image = (time.perf_counter() - tic) / len(test.y)
            t = cfg.train
            held_out = min(t.eval_batch_size, task.val_size) + min(t.eval_batch_size, len(task.parts["test"][1]))
            run_h = (t.steps * per_step + t.steps // t.eval_every * held_out * per_image) / 3600
            print(f"| {name} | {task.length} | {per_step:.3f} | {per_image * 1e3:.2f} | {run_h:.1f} |", flush=True)


if __name__ == "__main__":
    main()
