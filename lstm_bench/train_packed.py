"""Packed training: the runs of one pack trained as one batched model, each member exactly its solo run.

A pack is up to K jobs that differ only in their seed and optimizer settings (`train.lr`, `train.optimizer`,
`train.clip`): one model, task, length, shape and step budget (`pack_key`). Their K models are stacked into
one (lstm_bench/models/packed.py) and step together; everything else is each member's own, and is the solo
run's code (lstm_bench/train.py), member by member:
- its seed: its initial weights (built as its solo run builds them), its batch stream, its validation and test
  sets, all drawn from its own seed;
- its optimizer state and learning rate, and its gradient clipped to its own norm (lstm_bench/packed_optim.py);
- its evaluations, stopping rules and diagnostics, on a plain SeqModel holding its current weights (the solo
  run's evaluation code: cuDNN's kernels where the solo run has them);
- its stop: a member that is solved, pruned or diverges leaves the pack (the others go on, in a smaller pack),
  and its records are final then;
- its run directory: metrics.jsonl, diagnostics.jsonl, result.json and meta.json as a solo run writes them, and
  its own W&B run, with one addition in result.json and meta.json: `packed: {k, K, pack_id}` (its place in the
  pack, the pack's size, and a name shared by the pack's members).
The config, and so the resume check (lstm_bench/records.py: reusable_result), is the solo job's: a sweep resumed
with or without packing reuses what either finished. A member's `wall_time_s` and `steps_per_s` are the pack's
(its K members share each step).
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig

from lstm_bench.config import resolve_device, validate
from lstm_bench.models.packed import PackedModel, packable
from lstm_bench.packed_optim import PackedOptimizer, clip_per_member, elementwise, inf_or
from lstm_bench.records import Status
from lstm_bench.train import (HeldOut, Interrupt, LoopEnd, Rules, Window, evaluate, evaluation, finish, loop_end,
                              open_run, plain_config, prepare, result_record, stopped)

# what may differ between the members of a pack: their seed and optimizer settings
MEMBER_KEYS = ("seed", "train.lr", "train.optimizer", "train.clip")


def _drop(config: dict, dotted: str) -> None:
    *parents, last = dotted.split(".")
    for p in parents:
        config = config.get(p, {})
    config.pop(last, None)


def pack_key(cfg: DictConfig) -> str:
    """What the members of a pack share: the job's whole config but MEMBER_KEYS, as one string."""
    config = plain_config(cfg)
    for key in MEMBER_KEYS:
        _drop(config, key)
    return json.dumps(config, sort_keys=True)


def optimizer_key(cfg: DictConfig) -> str:
    """Members with equal keys share one optimizer over their rows (lstm_bench/packed_optim.py)."""
    return json.dumps({"optimizer": plain_config(cfg)["train"]["optimizer"], "lr": cfg.train.lr}, sort_keys=True)


def why_not_packable(cfg: DictConfig) -> str | None:
    """Why a job's run cannot be a pack's member whatever the device, in a few words, or None."""
    why = packable(hydra.utils.get_class(cfg.model._target_))
    if why is None:
        optimizer = cfg.train.optimizer.get("_target_")
        why = elementwise(hydra.utils.get_class(optimizer)) if optimizer else "train.optimizer has no _target_"
    return why


@dataclass
class Job:
    """One member's job: its config, run directory and W&B group."""
    cfg: DictConfig
    run_dir: Path
    group: str | None = None


@dataclass(eq=False)
class Member:
    """Everything one member's solo run would hold."""
    index: int  # its job's place in run_pack's list
    cfg: DictConfig
    task: object
    model: object  # a plain SeqModel: the member's weights are loaded into it to evaluate, probe and record
    diag: object
    logger: object
    sets: HeldOut
    records: object
    meta: dict
    note: dict
    rules: Rules
    end: LoopEnd = field(default_factory=LoopEnd)
    window: Window = field(default_factory=Window)
    closed: bool = False


def _optimizer(cfg: DictConfig):
    make = hydra.utils.instantiate(cfg.train.optimizer)
    return lambda params: make(params, lr=cfg.train.lr)


def _stack(batches) -> torch.Tensor:
    shapes = {tuple(b.x.shape) for b in batches}
    if len(shapes) != 1:
        raise ValueError(f"the members' batches differ in shape ({', '.join(map(str, sorted(shapes)))}): "
                         f"a task whose batch shape depends on the seed cannot be packed")
    return torch.stack([b.x for b in batches])  # (K, B, T) or (K, B, T, F)


def run_pack(jobs: list[Job], pack_id: str, results: list) -> None:
    """Train the jobs as one pack. results[i] becomes job i's result (also in its run directory's result.json) as
    the member stops. An exception (Ctrl-C, a crash) first records every member still training as interrupted
    or crashed, as a solo run does, then goes on up."""
    cfgs = [j.cfg for j in jobs]
    for cfg in cfgs:
        validate(cfg)
    if len({pack_key(c) for c in cfgs}) != 1:
        raise ValueError("a pack's jobs may differ only in " + ", ".join(MEMBER_KEYS))
    if (why := why_not_packable(cfgs[0])) is not None:
        raise ValueError(f"cannot pack: {why}")
    t = cfgs[0].train  # the budget, batch sizes and evaluation cadence: every member's
    if t.threads:
        torch.set_num_threads(t.threads)
    device = resolve_device(cfgs[0].device)
    K = len(jobs)
    order = sorted(range(K), key=lambda i: optimizer_key(cfgs[i]))  # equal optimizer settings next to each other
    members = []
    for k, i in enumerate(order):
        cfg = cfgs[i]
        torch.manual_seed(cfg.seed)  # the weights, as the solo run draws them
        task, model, _, diag, logger = prepare(cfg, device)
        sets = HeldOut.of(task, cfg, device)
        note = {"packed": {"k": k, "K": K, "pack_id": pack_id}}
        records, meta = open_run(cfg, jobs[i].run_dir, device, task, model, diag, logger, jobs[i].group, note,
                                 alongside=True)
        members.append(Member(i, cfg, task, model, diag, logger, sets, records, meta, note, Rules.of(cfg.train)))
    packed = PackedModel([m.model for m in members])
    optimizer = PackedOptimizer(packed, [_optimizer(m.cfg) for m in members], [optimizer_key(m.cfg) for m in members])
    dtype = next(iter(packed.stacked().values())).dtype
    max_norm = torch.tensor([inf_or(m.cfg.train.clip) for m in members], dtype=dtype, device=device)
    stateful = members[0].task.stateful
    t0 = time.perf_counter()

    def close(m: Member) -> None:
        """The member's loop is over (its weights are in m.model): its probe, curves and records."""
        loop_end(m.end, m.model, m.diag)
        record(m)

    def record(m: Member) -> None:
        result = {**result_record(m.cfg, m.task, m.model, m.end, m.sets.test_length, m.sets.chance,
                                  time.perf_counter() - t0, m.diag), **m.note}
        m.closed = True
        finish(m.records, m.meta, m.logger, result)
        results[m.index] = result

    active = list(members)
    state = None  # carried across batches only by a stateful task, a (K, B, H) tensor per state element

    def keep(rows: list[int]) -> None:
        nonlocal active, state, max_norm
        if len(rows) == len(active):
            return
        active = [active[j] for j in rows]
        if rows:
            packed.keep(rows)
            optimizer.keep(rows)
            index = torch.tensor(rows, device=device)
            max_norm = max_norm.index_select(0, index)
            state = None if state is None else tuple(s.index_select(0, index) for s in state)

    with Interrupt() as interrupt:
        try:
            for m in active:
                m.end.test = evaluate(m.model, m.task, m.sets.test_batch)
                m.diag.at_eval(m.model, 0)  # the fresh model: the "before" of every curve
            for step in range(1, t.steps + 1):
                tic = time.perf_counter()
                batches = [m.task.batch(t.batch_size, m.cfg.seed, step, device) for m in active]
                out, state = packed(_stack(batches), state)  # (K, B, ...)
                state = tuple(s.detach() for s in state) if stateful else None  # truncated BPTT
                losses = torch.stack([m.task.loss(out[j], b) for j, (m, b) in enumerate(zip(active, batches))])
                values = losses.tolist()
                going = [j for j, v in enumerate(values) if math.isfinite(v)]
                optimizer.zero_grad()
                if going:  # each member's gradient is its own loss's: no operation mixes members
                    (losses if len(going) == len(values) else losses[going]).sum().backward()
                diverged = [active[j] for j in range(len(active)) if j not in going]
                for j, m in enumerate(active):
                    if m in diverged:  # as alone: stopped before this step's update, with the weights it had
                        m.end.status = Status.DIVERGED
                        packed.load_into(j, m.model)
                keep(going)
                if active:
                    norms = clip_per_member([p.grad for p in packed.stacked().values()], max_norm).tolist()
                    optimizer.step()
                    dt = time.perf_counter() - tic
                    for m, j, norm in zip(active, going, norms):
                        m.end.steps = step
                        m.end.train_time += dt
                        m.window.add(values[j], norm)
                for m in diverged:
                    close(m)
                if not active:
                    break
                if step % t.eval_every and step != t.steps:
                    continue

                going = []
                for j, m in enumerate(active):
                    packed.load_into(j, m.model)
                    evaluation(m.end, m.rules, m.window, step, m.cfg, m.task, m.model, m.sets.val_batch,
                               m.sets.test_batch, m.sets.test_sets, m.sets.chance, m.records, m.logger, m.diag)
                    if m.end.status == Status.UNSOLVED:
                        going.append(j)
                done = [m for j, m in enumerate(active) if j not in going]
                keep(going)
                for m in done:
                    close(m)
                if not active:
                    break
            for j, m in enumerate(active):  # the budget is spent: the last step was evaluated, weights loaded
                close(m)
        except BaseException as err:
            interrupt.stopping()
            for m in members:
                if not m.closed:
                    stopped(m.end, err)
                    record(m)
            raise
