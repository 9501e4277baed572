"""The training loop: step, clip, evaluate, stop when solved or diverged.

It never branches on a model's or a task's name: the task says how to batch and score,
the model how to recur. Records on disk are the source of truth; the logger mirrors them.
"""
from __future__ import annotations

import math
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from lstm_bench.config import resolve_device, validate
from lstm_bench.diagnostics import Diagnostics
from lstm_bench.models import SeqModel
from lstm_bench.models.capacity import capacity, largest_hidden_size
from lstm_bench.records import RunRecords, git_state, source_hash, versions


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def build(cfg: DictConfig, device: torch.device):
    """Config -> (task, model). Hydra's `_target_` is the registry; `model.param_budget`, when set, picks
    the hidden size (the largest whose recurrence fits it) in place of `model.hidden_size`."""
    task = hydra.utils.instantiate(cfg.task)
    # a model with a chrono init takes the horizon T_max; the task knows it, unless the config sets one
    horizon = {}
    if "chrono_tmax" in cfg.model and cfg.model.chrono_tmax is None:
        horizon["chrono_tmax"] = getattr(task, "chrono_tmax", None)
    constructor = OmegaConf.masked_copy(cfg.model, [k for k in cfg.model if k != "param_budget"])
    make = hydra.utils.instantiate(constructor, input_size=cfg.embed_size, _partial_=True, **horizon)
    budget = cfg.model.get("param_budget")
    hidden = cfg.model.hidden_size if budget is None else largest_hidden_size(budget, lambda h: make(hidden_size=h))
    return task, SeqModel(make(hidden_size=hidden), task, cfg.embed_size).to(device)


def prepare(cfg: DictConfig, device: torch.device):
    """Everything a run builds before it writes a file: (task, model, optimizer, diagnostics, logger). Each
    checks its own options, so bad input stops here; the sweepers call it to check a job before launching."""
    task, model = build(cfg, device)
    optimizer = hydra.utils.instantiate(cfg.train.optimizer)(model.parameters(), lr=cfg.train.lr)
    diag = Diagnostics(cfg.get("diag"), task, cfg.seed, device)
    logger = hydra.utils.instantiate(cfg.logger)
    return task, model, optimizer, diag, logger


def plain_config(cfg: DictConfig) -> dict:
    """The resolved run config as plain data, without Hydra's own node (present under compose)."""
    return OmegaConf.to_container(OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]), resolve=True)


@torch.no_grad()
def evaluate(model, task, batch) -> tuple[float, float, dict]:
    """(loss, metric, the task's extra metrics) on a whole held-out batch (validation or test), from a zero state."""
    model.eval()
    out, _ = model(batch.x)
    model.train()
    return task.loss(out, batch).item(), task.metric(out, batch), task.extra_metrics(out, batch)


def run(cfg: DictConfig, run_dir: Path, group: str | None = None, interactive: bool | None = None) -> dict:
    """One (task, model, seed) run. Returns the result, also written to run_dir/result.json."""
    validate(cfg)
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    device = resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)  # the weights; batches have their own (seed, step) streams
    task, model, optimizer, diag, logger = prepare(cfg, device)
    # from seeds training never uses; the first is the primary test; the solved rule reads its validation twin
    test_sets = task.test_batches(cfg.train.eval_batch_size, cfg.seed, device)
    val_batch = task.val_batch(cfg.train.eval_batch_size, cfg.seed, device)
    test_length = next(iter(test_sets))
    test_batch = test_sets.pop(test_length)  # the rest: the other lengths, scored beside it
    memoryless = task.at_length(test_length)  # the memoryless predictor's scores on the primary test's sequences
    baseline_loss, baseline_metric = memoryless.baseline_loss, memoryless.baseline_metric

    records = RunRecords(run_dir)
    records.start()
    config = plain_config(cfg)
    meta = {"seed": cfg.seed, "device": str(device), "start_time": now(), "git": git_state(),
            "source_sha256": source_hash(), "versions": versions(), "torch_threads": torch.get_num_threads()}
    records.meta(meta)
    name = f"{task.name}-T{task.length}-{model.recurrence.name}-s{cfg.seed}"
    logger.start(run_dir, config, name, group)
    diag.start(records, logger)

    t = cfg.train
    # steps: optimizer updates applied; last_eval: the step of the last evaluation with finite numbers
    status, error, steps_to_solve, steps, last_eval = "unsolved", None, None, 0, 0
    test_loss, test_metric, _ = evaluate(model, task, test_batch)
    val_loss = val_metric = math.nan
    by_length = {}
    loss_sum = norm_sum = 0.0
    n_in_window = 0
    train_time = 0.0
    state = None  # carried across batches only by a stateful task (a stream that never resets)
    t0 = time.perf_counter()
    show_bar = sys.stderr.isatty() if interactive is None else interactive
    bar = tqdm(total=t.steps, disable=not show_bar, file=sys.stderr, dynamic_ncols=True, leave=False)
    try:
        diag.at_eval(model, 0)  # the fresh model: the "before" of every curve
        for step in range(1, t.steps + 1):
            tic = time.perf_counter()
            batch = task.batch(t.batch_size, cfg.seed, step, device)
            out, state = model(batch.x, state)
            state = tuple(s.detach() for s in state) if task.stateful else None  # truncated BPTT
            loss = task.loss(out, batch)
            if not torch.isfinite(loss):
                status = "diverged"
                break
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), t.clip if t.clip else math.inf)
            optimizer.step()
            steps = step
            train_time += time.perf_counter() - tic
            loss_sum += loss.item()
            norm_sum += grad_norm.item()
            n_in_window += 1
            bar.update(1)

            if step % t.eval_every == 0 or step == t.steps:
                val_loss, val_metric, _ = evaluate(model, task, val_batch)
                test_loss, test_metric, extra = evaluate(model, task, test_batch)  # recorded, never read to stop
                by_length = {n: evaluate(model, task, b)[1] for n, b in test_sets.items()}
                row = {"step": step, "train_loss": loss_sum / n_in_window, "grad_norm": norm_sum / n_in_window,
                       "val_loss": val_loss, f"val_{task.metric_name}": val_metric,
                       "test_loss": test_loss, f"test_{task.metric_name}": test_metric,
                       **{f"test_{k}": v for k, v in extra.items()},
                       **{f"test_{task.metric_name}_T{n}": v for n, v in by_length.items()}}
                records.metric(row)  # no timings here: the same seed gives the same file
                logger.log({**row, "steps_per_s": step / train_time}, step=step)
                diag.at_eval(model, step)  # on a float64 copy: training is untouched
                bar.set_postfix(loss=f"{row['train_loss']:.4f}", **{task.metric_name: f"{test_metric:.4f}"})
                loss_sum = norm_sum = 0.0
                n_in_window = 0
                if not all(map(math.isfinite, (val_loss, val_metric, test_loss, test_metric))):
                    status = "diverged"
                    break
                last_eval = step
                if task.solved(val_metric):
                    status, steps_to_solve = "solved", step
                    break
        diag.finish(model, steps)  # the trained model's probe, the curves and the PNGs
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    except Exception as err:
        status, error = "crashed", f"{type(err).__name__}: {err}".splitlines()[0]
        raise
    finally:
        bar.close()
        wall = time.perf_counter() - t0
        # final numbers only where the run's last step was evaluated: a diverged, crashed or interrupted
        # run has none (metrics.jsonl keeps every evaluation that did happen). "solved" is selection on
        # validation; solved_test is what the test says at that same step
        final = status in ("solved", "unsolved")
        result = {
            "task": task.name, "model": model.recurrence.name, "length": task.length, "test_length": test_length,
            "seed": cfg.seed, **capacity(model),
            "status": status, "error": error, "steps_to_solve": steps_to_solve, "steps": steps,
            "last_eval_step": last_eval, "val_loss": val_loss if final else None,
            "val_metric": val_metric if final else None, "test_loss": test_loss if final else None,
            "test_metric": test_metric if final else None, "solved_test": task.solved(test_metric) if final else None,
            "metric_name": task.metric_name,
            "test_metric_by_length": {str(n): v for n, v in {test_length: test_metric, **by_length}.items()}
            if final else None,
            "baseline_loss": baseline_loss, "baseline_metric": baseline_metric,
            "loss_vs_baseline": test_loss / baseline_loss if final else None,
            "wall_time_s": wall, "steps_per_s": steps / train_time if train_time > 0 else None,
            **diag.result(), "config": config,
        }
        records.result(result)
        records.meta({**meta, "end_time": now()})
        logger.finish(result)
    return result
