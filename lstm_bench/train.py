"""The training loop: step, clip, evaluate, stop when solved or diverged.

It never branches on a model's or a task's name: the task says how to batch and score,
the model how to recur. Records on disk are the source of truth; the logger mirrors them.
"""
from __future__ import annotations

import math
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import NamedTuple

import hydra
import torch
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from lstm_bench.config import resolve_device, validate
from lstm_bench.diagnostics import Diagnostics
from lstm_bench.models import SeqModel
from lstm_bench.models.capacity import capacity, largest_hidden_size
from lstm_bench.records import EVALUATED, RunRecords, Status, git_state, source_hash, versions


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


class Eval(NamedTuple):
    """One evaluation on a held-out batch."""
    loss: float
    metric: float
    extra: dict  # the task's extra metrics (per-gap accuracy, ...)

    @property
    def finite(self) -> bool:
        return math.isfinite(self.loss) and math.isfinite(self.metric)


@torch.no_grad()
def evaluate(model, task, batch) -> Eval:
    """The loss, metric and extra metrics on a whole held-out batch (validation or test), from a zero state."""
    model.eval()
    out, _ = model(batch.x)
    model.train()
    return Eval(task.loss(out, batch).item(), task.metric(out, batch), task.extra_metrics(out, batch))


@dataclass
class LoopEnd:
    """Where the loop stopped: what the result record is built from."""
    status: Status = Status.UNSOLVED
    error: str | None = None
    steps: int = 0  # optimizer updates applied
    steps_to_solve: int | None = None  # the first evaluation of the streak that met the solved rule
    last_eval: int = 0  # the step of the last evaluation with finite numbers (0: the fresh model)
    val: Eval | None = None  # the last evaluation's, taken after the last step
    test: Eval | None = None
    by_length: dict = field(default_factory=dict)  # the other test lengths' metrics at that evaluation
    train_time: float = 0.0  # seconds spent in optimizer steps

    @property
    def evaluated(self) -> bool:
        """Final numbers exist: the run's last step was evaluated (solved, unsolved or pruned)."""
        return self.status in EVALUATED


def result_record(cfg, task, model, end: LoopEnd, test_length: int, chance, wall: float, diag) -> dict:
    """result.json from the loop's end. Final numbers only where the last step was evaluated: a diverged, crashed or
    interrupted run has none (metrics.jsonl keeps every evaluation that did happen). "solved" is selection on
    validation; solved_test is what the test says at the same step."""
    ok = end.evaluated
    return {
        "task": task.name, "model": model.recurrence.name, "length": task.length, "test_length": test_length,
        "seed": cfg.seed, **capacity(model),
        "status": end.status.value, "error": end.error, "steps_to_solve": end.steps_to_solve, "steps": end.steps,
        "last_eval_step": end.last_eval, "val_loss": end.val.loss if ok else None,
        "val_metric": end.val.metric if ok else None, "test_loss": end.test.loss if ok else None,
        "test_metric": end.test.metric if ok else None, "solved_test": task.solved(end.test.metric) if ok else None,
        "metric_name": task.metric_name, "threshold": task.threshold, "lower_is_better": task.lower_is_better,
        "test_metric_by_length": {str(n): v for n, v in {test_length: end.test.metric, **end.by_length}.items()}
        if ok else None,
        "baseline_loss": chance.baseline_loss, "baseline_metric": chance.baseline_metric,
        "loss_vs_baseline": end.test.loss / chance.baseline_loss if ok else None,
        "wall_time_s": wall, "steps_per_s": end.steps / end.train_time if end.train_time > 0 else None,
        **diag.result(), "config": plain_config(cfg),
    }


class Interrupt:
    """SIGTERM (Slurm's scancel, a killed job) ends a run as Ctrl-C does; once a run is stopping, further signals
    wait, so its records are written whole."""

    def __enter__(self):
        self.main = threading.current_thread() is threading.main_thread()  # signals belong to the main thread
        if self.main:
            self.old = signal.getsignal(signal.SIGINT), signal.signal(signal.SIGTERM, signal.default_int_handler)
        return self

    def stopping(self) -> None:
        if self.main:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)

    def __exit__(self, *exc):
        if self.main:
            signal.signal(signal.SIGINT, self.old[0])
            signal.signal(signal.SIGTERM, self.old[1])


@dataclass
class Window:
    """The training steps since the last evaluation: their mean loss and gradient norm go in its row."""
    loss_sum: float = 0.0
    norm_sum: float = 0.0
    n: int = 0

    def add(self, loss: float, grad_norm: float) -> None:
        self.loss_sum += loss
        self.norm_sum += grad_norm
        self.n += 1


@dataclass
class Rules:
    """What the stopping rules remember between evaluations."""
    prune_step: int | None  # the step from which the one prune check is made; None: no (more) check
    streak: int = 0  # evaluations in a row that met the solved rule on validation

    @classmethod
    def of(cls, t) -> "Rules":
        return cls(math.ceil(t.prune_at * t.steps) if t.prune else None)


def evaluation(end: LoopEnd, rules: Rules, window: Window, step: int, cfg, task, model, val_batch, test_batch,
               test_sets, chance, records, logger, diag) -> dict:
    """The evaluation after `step`: the row of metrics.jsonl and the logger, the probe, and the stopping rules,
    which set `end.status` when the run stops here (it stays UNSOLVED while the run goes on). Returns the row."""
    t = cfg.train
    val = evaluate(model, task, val_batch)
    test = evaluate(model, task, test_batch)  # recorded, never read to stop
    by_length = {n: evaluate(model, task, b).metric for n, b in test_sets.items()}
    row = {"step": step, "train_loss": window.loss_sum / window.n, "grad_norm": window.norm_sum / window.n,
           "val_loss": val.loss, f"val_{task.metric_name}": val.metric,
           "test_loss": test.loss, f"test_{task.metric_name}": test.metric,
           **{f"test_{k}": v for k, v in test.extra.items()},
           **{f"test_{task.metric_name}_T{n}": v for n, v in by_length.items()}}
    records.metric(row)  # no timings here: the same seed gives the same file
    logger.log({**row, "steps_per_s": step / end.train_time}, step=step)
    diag.at_eval(model, step)  # on a float64 copy: training is untouched
    window.loss_sum = window.norm_sum = 0.0
    window.n = 0
    if not (val.finite and test.finite):
        end.status = Status.DIVERGED
        return row
    end.val, end.test, end.by_length, end.last_eval = val, test, by_length, step
    rules.streak = rules.streak + 1 if task.solved(val.metric) else 0
    if rules.streak == 1:
        end.steps_to_solve = step
    if rules.streak >= t.confirm:
        end.status = Status.SOLVED
        return row
    # a run still at the memoryless baseline this far into its budget will not solve: the rule's false
    # stops were counted on real runs (docs/sweeps.md: stopping) before it was turned on
    if rules.prune_step is not None and step >= rules.prune_step and rules.streak == 0:
        if val.loss >= (1 - t.prune_margin) * chance.baseline_loss:
            end.status = Status.PRUNED
            return row
        rules.prune_step = None  # checked once, at the first evaluation past prune_at
    return row


def loop_end(end: LoopEnd, model, diag) -> None:
    """What follows the last step, however the loop stopped short of an exception."""
    if end.status != Status.SOLVED:
        end.steps_to_solve = None  # a streak cut short by the budget, a prune or a divergence is no solve
    diag.finish(model, end.steps)  # the trained model's probe, the curves and the PNGs


def train_loop(end: LoopEnd, cfg, task, model, optimizer, val_batch, test_batch, test_sets, chance, records, logger,
               diag, interactive: bool) -> None:
    """Step, clip, evaluate, into `end`; stop when validation says solved (`train.confirm` evaluations in a row),
    when the run is still at the memoryless baseline at `train.prune_at` of its budget (`train.prune`), when it
    diverges, or at the end of the budget. An exception leaves `end` where the loop was."""
    t = cfg.train
    end.test = evaluate(model, task, test_batch)
    rules, window = Rules.of(t), Window()
    state = None  # carried across batches only by a stateful task (a stream that never resets)
    bar = tqdm(total=t.steps, disable=not interactive, file=sys.stderr, dynamic_ncols=True, leave=False)
    try:
        diag.at_eval(model, 0)  # the fresh model: the "before" of every curve
        for step in range(1, t.steps + 1):
            tic = time.perf_counter()
            batch = task.batch(t.batch_size, cfg.seed, step, model_device(model))
            out, state = model(batch.x, state)
            state = tuple(s.detach() for s in state) if task.stateful else None  # truncated BPTT
            loss = task.loss(out, batch)
            if not torch.isfinite(loss):
                end.status = Status.DIVERGED
                break
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), t.clip if t.clip else math.inf)
            optimizer.step()
            end.steps = step
            end.train_time += time.perf_counter() - tic
            window.add(loss.item(), grad_norm.item())
            bar.update(1)
            if step % t.eval_every and step != t.steps:
                continue

            row = evaluation(end, rules, window, step, cfg, task, model, val_batch, test_batch, test_sets, chance,
                             records, logger, diag)
            bar.set_postfix(loss=f"{row['train_loss']:.4f}",
                            **{task.metric_name: f"{row[f'test_{task.metric_name}']:.4f}"})
            if end.status != Status.UNSOLVED:
                break
        loop_end(end, model, diag)
    finally:
        bar.close()


def model_device(model) -> torch.device:
    return next(model.parameters()).device


@dataclass
class HeldOut:
    """A run's fixed held-out sets, from seeds training never uses: the primary test, its validation twin (which the
    solved rule reads), the other test lengths scored beside it, and the memoryless predictor on the primary test."""
    val_batch: object
    test_batch: object
    test_sets: dict  # the other lengths' test sets
    test_length: int
    chance: object  # the task at the primary test's length: its baseline_loss and baseline_metric

    @classmethod
    def of(cls, task, cfg, device) -> "HeldOut":
        test_sets = task.test_batches(cfg.train.eval_batch_size, cfg.seed, device)
        val_batch = task.val_batch(cfg.train.eval_batch_size, cfg.seed, device)
        test_length = next(iter(test_sets))
        test_batch = test_sets.pop(test_length)  # the rest: the other lengths, scored beside it
        return cls(val_batch, test_batch, test_sets, test_length, task.at_length(test_length))


def open_run(cfg, run_dir: Path, device, task, model, diag, logger, group: str | None, note: dict | None = None,
             alongside: bool = False):
    """The run directory's records begun (meta.json, with `note` added), the logger's run started (`alongside`
    the other runs this process has open: a pack's members), the probe pointed at both. Returns (records, meta)."""
    records = RunRecords(run_dir)
    records.start()
    meta = {"seed": cfg.seed, "device": str(device), "start_time": now(), "git": git_state(),
            "source_sha256": source_hash(), "versions": versions(), "torch_threads": torch.get_num_threads(),
            **(note or {})}
    records.meta(meta)
    logger.start(run_dir, plain_config(cfg), f"{task.name}-T{task.length}-{model.recurrence.name}-s{cfg.seed}", group,
                 alongside=alongside)
    diag.start(records, logger)
    return records, meta


def run(cfg: DictConfig, run_dir: Path, group: str | None = None, interactive: bool | None = None) -> dict:
    """One (task, model, seed) run. Returns the result, also written to run_dir/result.json."""
    validate(cfg)
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    device = resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)  # the weights; batches have their own (seed, step) streams
    task, model, optimizer, diag, logger = prepare(cfg, device)
    sets = HeldOut.of(task, cfg, device)
    records, meta = open_run(cfg, run_dir, device, task, model, diag, logger, group)

    show_bar = sys.stderr.isatty() if interactive is None else interactive
    t0 = time.perf_counter()
    end = LoopEnd()
    with Interrupt() as interrupt:
        try:
            train_loop(end, cfg, task, model, optimizer, sets.val_batch, sets.test_batch, sets.test_sets, sets.chance,
                       records, logger, diag, show_bar)
        except BaseException as err:
            interrupt.stopping()
            stopped(end, err)
            finish(records, meta, logger, result_record(cfg, task, model, end, sets.test_length, sets.chance,
                                                        time.perf_counter() - t0, diag))
            raise
    result = result_record(cfg, task, model, end, sets.test_length, sets.chance, time.perf_counter() - t0, diag)
    finish(records, meta, logger, result)
    return result


def stopped(end: LoopEnd, err: BaseException) -> None:
    """The loop ended by an exception: interrupted (Ctrl-C, SIGTERM) or crashed, with its error in one line."""
    end.status = Status.INTERRUPTED if isinstance(err, KeyboardInterrupt) else Status.CRASHED
    end.error = None if isinstance(err, KeyboardInterrupt) else f"{type(err).__name__}: {err}".splitlines()[0]


def finish(records, meta: dict, logger, result: dict) -> None:
    records.result(result)
    records.meta({**meta, "end_time": now()})
    logger.finish(result)
