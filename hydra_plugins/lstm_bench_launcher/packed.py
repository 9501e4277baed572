"""The packed launcher (`hydra/launcher=packed`): the local launcher, with the jobs that differ only in their seed
and optimizer settings trained together on one GPU as packs of at most `pack` members (lstm_bench/train_packed.py).

    python run.py -m hydra/launcher=packed +experiment=fair               # packs of at most 64
    python run.py -m hydra/launcher=packed hydra.launcher.pack=128 ...

Each launch (a sweep's batch, or an adaptive sweeper's round: the T50 search and the frontier sweeper launch
their rounds through the configured launcher, so their probes pack too) is split in two:
- packs: the jobs whose model has a packed form (rnn, irnn, gru, lstm, lstm_cell) and whose optimizer is
  elementwise, grouped by everything in their config but seed, train.lr, train.optimizer and train.clip
  (train_packed.pack_key), in the order the sweep lists them, and cut into packs of at most `pack`;
- everything else (another model, a job alone in its group): one job at a time, as hydra/launcher=local runs it.
Each pack is one unit of joblib's work (`n_jobs` units at once, 1 by default: one pack holds the GPU) and
gives every member the directory, .hydra/ files, records and resume check a job of the local launcher gets;
members that already finished (the resume check) are not trained again. Hydra's per-job log file is not
written for a member: nothing logs to it.

On a CPU packing is refused, in one line that says why, and the launch runs as with hydra/launcher=local:
a pack pays where one step's many small kernels share a GPU, and on a CPU it runs slower than one run at a
time. `test_only_pack_on_cpu=true` packs on a CPU anyway, for the tests that hold a pack to its solo runs.
"""

import copy
import hashlib
import json
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobRuntime, JobStatus, _save_config, setup_globals
from hydra_plugins.hydra_joblib_launcher.config import JobLibLauncherConf
from joblib import delayed
from omegaconf import DictConfig, open_dict, read_write

import hydra_plugins.lstm_bench_launcher.launcher as local
from hydra_plugins.lstm_bench_launcher.launcher import LocalLauncher, _execute


@dataclass
class PackedLauncherConf(JobLibLauncherConf):
    _target_: str = "hydra_plugins.lstm_bench_launcher.packed.PackedLauncher"
    n_jobs: Optional[int] = None  # units of work at once (a pack, or a job not packed); null: 1 packing, else -1
    pack: int = 64  # members of a pack at most (K)
    test_only_pack_on_cpu: bool = False  # tests only: pack on a CPU, where a pack is slower than one run at a time


ConfigStore.instance().store(group="hydra/launcher", name="lstm_bench_packed", node=PackedLauncherConf,
                             provider="lstm_bench")


@dataclass
class Plan:
    packs: List[List[int]]  # the jobs of each pack, by their place in the launch
    alone: List[int]  # the jobs that run one at a time
    refused: Optional[str] = None  # why nothing is packed, in one line


def plan(configs: Sequence[Optional[DictConfig]], size: int, on_cpu_too: bool = False) -> Plan:
    """Which jobs of a launch pack together. configs[i]: job i's composed config (None: it does not compose, and
    runs alone to fail as it would)."""
    from lstm_bench.config import resolve_device
    from lstm_bench.train_packed import pack_key, why_not_packable

    groups: Dict[str, List[int]] = {}
    alone: List[int] = []
    on_cpu = set()  # the device settings of the jobs that would train on the CPU
    for i, cfg in enumerate(configs):
        try:
            if cfg is None or why_not_packable(cfg):
                raise ValueError
            key = pack_key(cfg)
            if resolve_device(cfg.device).type != "cuda":
                on_cpu.add(str(cfg.device))
        except Exception:  # noqa: BLE001: a job that cannot be packed runs as the local launcher runs it
            alone.append(i)
            continue
        groups.setdefault(key, []).append(i)
    if on_cpu and not on_cpu_too:
        why = " and ".join(f"device={d}" + (", and this machine has no CUDA GPU" if d == "auto" else "")
                           for d in sorted(on_cpu))
        n = len(configs)
        return Plan([], list(range(n)), f"packing refused: these runs would train on the CPU ({why}), where a pack "
                                         f"is slower than one run at a time; the {n} job{'s' * (n != 1)} run as with "
                                         f"hydra/launcher=local")
    packs = []
    for jobs in groups.values():
        for start in range(0, len(jobs), size):
            part = jobs[start:start + size]
            (packs.append(part) if len(part) > 1 else alone.extend(part))
    return Plan(packs, sorted(alone))


class PackedLauncher(LocalLauncher):
    def __init__(self, pack: int = 64, test_only_pack_on_cpu: bool = False, **joblib: Any) -> None:
        if not (isinstance(pack, int) and pack >= 1):
            raise ValueError(f"hydra.launcher.pack={pack!r} is not allowed: a positive number of runs per pack")
        super().__init__(**joblib)
        self.pack, self.on_cpu_too = pack, test_only_pack_on_cpu
        self.said = False  # the refusal is said once per sweep, not once per round
        self.plan = Plan([], [])
        self.n_jobs = joblib.get("n_jobs")  # null: chosen per launch

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        assert self.config is not None and self.hydra_context is not None
        configs = []
        for overrides in job_overrides:
            try:
                configs.append(self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides)))
            except Exception:  # noqa: BLE001: the job fails as it would with the local launcher
                configs.append(None)
        self.plan = plan(configs, self.pack, self.on_cpu_too)
        if self.plan.refused and not self.said:
            print(self.plan.refused, flush=True)
            self.said = True
        elif self.plan.packs:
            p = self.plan
            print(f"packed: {sum(map(len, p.packs))} of the {len(job_overrides)} runs in {len(p.packs)} "
                  f"pack{'s' * (len(p.packs) != 1)} ({', '.join(str(len(q)) for q in p.packs)} runs); "
                  f"{len(p.alone)} run{'s' * (len(p.alone) != 1)} one at a time", flush=True)
        if self.n_jobs is None:
            # null: one unit at a time while packing (a pack holds the GPU), else the local launcher's one per
            # core; set where the jobs read it too (the threads per job, lstm_bench/callbacks.py)
            n_jobs = 1 if self.plan.packs else -1
            self.joblib["n_jobs"] = n_jobs
            with read_write(self.config.hydra.launcher), open_dict(self.config.hydra.launcher):
                self.config.hydra.launcher.n_jobs = n_jobs
        return super().launch(job_overrides, initial_job_idx)

    def units(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int, singleton_state) -> list:
        p = self.plan
        units = [delayed(_execute_pack)([(i, initial_job_idx + i, list(job_overrides[i])) for i in q],
                                        self.hydra_context, self.config, singleton_state) for q in p.packs]
        return units + [delayed(_execute)(i, initial_job_idx + i, job_overrides[i], self.hydra_context, self.config,
                                          self.task_function, singleton_state) for i in p.alone]


def _member_start(idx: int, overrides: List[str], hydra_context, config: DictConfig):
    """What Hydra's run_job does before it calls the task function, for one member: its config, run directory and
    .hydra/ files, and the callbacks' on_job_start. Returns (its JobReturn so far, its config, the sweep config)."""
    sweep_config = hydra_context.config_loader.load_sweep_config(config, overrides)
    with open_dict(sweep_config):
        sweep_config.hydra.job.id = f"{sweep_config.hydra.job.name}_{idx}"
        sweep_config.hydra.job.num = idx
    HydraConfig.instance().set_config(sweep_config)
    output_dir = os.path.join(str(sweep_config.hydra.sweep.dir), str(sweep_config.hydra.sweep.subdir))
    with read_write(sweep_config.hydra.runtime), open_dict(sweep_config.hydra.runtime):
        sweep_config.hydra.runtime.output_dir = os.path.abspath(output_dir)
    HydraConfig.instance().set_config(sweep_config)
    task_cfg = copy.deepcopy(sweep_config)
    with read_write(task_cfg), open_dict(task_cfg):
        del task_cfg["hydra"]
    ret = JobReturn(overrides=list(overrides), cfg=task_cfg, hydra_cfg=copy.deepcopy(HydraConfig.instance().cfg),
                    working_dir=os.getcwd())
    Path(output_dir).mkdir(parents=True, exist_ok=True)
    if sweep_config.hydra.output_subdir is not None:
        out = Path(sweep_config.hydra.runtime.output_dir) / str(sweep_config.hydra.output_subdir)
        _save_config(task_cfg, "config.yaml", out)
        _save_config(ret.hydra_cfg, "hydra.yaml", out)
        _save_config(sweep_config.hydra.overrides.task, "overrides.yaml", out)
    hydra_context.callbacks.on_job_start(config=sweep_config, task_function=None)
    return ret, task_cfg, sweep_config


def _execute_pack(members: List[tuple], hydra_context, config: DictConfig, singleton_state) -> list:
    """One pack in a worker, Ctrl-C-aware: [(i, JobReturn or None)] for its members (None: not started)."""
    if local._stopping:
        return [(i, None) for i, _, _ in members]
    setup_globals()
    Singleton.set_state(singleton_state)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # the members in training record themselves
    before = HydraConfig.instance().cfg
    rets: Dict[int, JobReturn] = {}
    try:
        _train_pack(members, hydra_context, config, rets)
    except KeyboardInterrupt:
        local._stopping = True
    finally:
        HydraConfig.instance().cfg = before
        signal.signal(signal.SIGINT, local._idle_sigint)
    for i, _, overrides in members:  # a member the interrupt reached before its pack had its JobReturn
        if i not in rets or rets[i].status == JobStatus.UNKNOWN:
            rets[i] = JobReturn(overrides=overrides, status=JobStatus.FAILED, _return_value=KeyboardInterrupt())
    sys.stdout.flush()
    return [(i, rets[i]) for i, _, _ in members]


def _train_pack(members: List[tuple], hydra_context, config: DictConfig, rets: Dict[int, JobReturn]) -> None:
    """Each member's job begun (or resumed), the pack trained, each member's JobReturn in rets, its job ended."""
    from lstm_bench.config import resolve_device
    from lstm_bench.records import FINISHED, reusable_result, source_hash
    from lstm_bench.train import plain_config
    from lstm_bench.train_packed import Job, run_pack

    jobs, places, sweep_configs = [], [], {}
    for i, idx, overrides in members:
        try:
            ret, cfg, sweep_config = _member_start(idx, overrides, hydra_context, config)
            rets[i], sweep_configs[i] = ret, sweep_config
            run_dir = Path(sweep_config.hydra.runtime.output_dir)
            # run.py's resume check, as the local launcher's job makes it
            done, why = reusable_result(run_dir, plain_config(cfg), source_hash(), str(resolve_device(cfg.device)))
        except Exception as err:  # noqa: BLE001: the job fails as it would alone
            rets[i] = JobReturn(overrides=overrides, status=JobStatus.FAILED, _return_value=err)
            continue
        if done is not None:
            print(f"{run_dir.name}: already {done['status']} with this config, code and device, not run again")
            ret.status, ret.return_value = JobStatus.COMPLETED, {**done, "resumed": True}
            continue
        if why:
            print(f"{run_dir.name}: run again: {why}")
        jobs.append(Job(cfg, run_dir, Path(str(sweep_config.hydra.sweep.dir)).name))
        places.append(i)
    results: list = [None] * len(jobs)
    error: Optional[BaseException] = None
    interrupted = False
    if jobs:
        pack_id = hashlib.sha1(json.dumps([str(j.run_dir) for j in jobs]).encode()).hexdigest()[:12]
        try:
            run_pack(jobs, pack_id, results)
        except KeyboardInterrupt as err:
            error, interrupted = err, True
        except Exception as err:  # noqa: BLE001: each member recorded it; the sweep goes on, as after a crashed job
            error = err
    for i, result in zip(places, results):
        ret = rets[i]
        if result is not None and result["status"] in FINISHED:
            ret.status, ret.return_value = JobStatus.COMPLETED, result
        else:
            ret.status, ret.return_value = JobStatus.FAILED, error or RuntimeError("the pack stopped")
    for i, sweep_config in sweep_configs.items():
        rets[i].task_name = JobRuntime.instance().get("name")
        hydra_context.callbacks.on_job_end(config=sweep_config, job_return=rets[i])
    if interrupted:
        raise KeyboardInterrupt
