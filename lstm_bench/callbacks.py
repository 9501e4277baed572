"""Hydra callbacks of a sweep (registered in conf/config.yaml under hydra.callbacks).

SweepCallback
    on_job_start     in a multirun with train.threads=null, sets torch's threads so that parallel jobs
                     share the cores instead of fighting over them: cores // n_jobs on the joblib
                     launcher, cpus_per_task on submitit; the sequential basic launcher keeps torch's default
    on_multirun_end  reads the sweep directory's records (Hydra hands this hook only the config), prints the
                     results table, writes it and the plots into SWEEP_DIR/report/, and, with W&B on,
                     logs the table to a summary run in the sweep's group
"""
from __future__ import annotations

import os
import sys
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def threads_per_job(launcher: DictConfig | dict | None, cores: int) -> int | None:
    """torch threads for one job of a multirun on `launcher`, or None to keep torch's default."""
    launcher = launcher or {}
    cpus = launcher.get("cpus_per_task")
    if cpus:  # submitit: the job owns the CPUs it asked for
        return int(cpus)
    n_jobs = launcher.get("n_jobs")
    if n_jobs:  # joblib: n_jobs run at once; -1 means one per core, -2 all but one, ...
        n_jobs = int(n_jobs)
        parallel = n_jobs if n_jobs > 0 else max(cores + 1 + n_jobs, 1)
        return max(cores // min(parallel, cores), 1)
    return None


class SweepCallback(Callback):
    def __init__(self, tune: list[str] | tuple[str, ...] = ()) -> None:
        # the keys whose values the end-of-sweep table chooses per row on validation (report --tune)
        self.tune = tuple(tune or ())

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        hc = HydraConfig.get()
        if hc.mode != RunMode.MULTIRUN or OmegaConf.select(config, "train.threads") is not None:
            return
        threads = threads_per_job(hc.launcher, available_cores())
        if threads is not None:
            import torch  # only here: the report side of this module never needs it

            torch.set_num_threads(threads)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from pathlib import Path

        sweep_dir = Path(str(config.hydra.sweep.dir))
        try:
            from lstm_bench import report

            sweep = report.load(sweep_dir)
            for note in sweep.notes:
                print(f"note: {note}", file=sys.stderr)
            if not sweep.runs:
                print(f"note: no finished run in {sweep_dir}: no results table", file=sys.stderr)
                return
            try:
                tables = report.build(sweep, self.tune)
            except report.ReportError as err:  # a tuned key the command line fixed to one value: no choice
                print(f"note: {err}; the table keeps a row per value", file=sys.stderr)
                tables = report.build(sweep)
            text = report.write_sweep_report(tables, sweep_dir / "report")
            print(f"\n{text}\n(written to {sweep_dir / 'report'}; `python -m lstm_bench.report {sweep_dir}` "
                  f"prints it again)", flush=True)
            if OmegaConf.select(config, "logger") is not None:
                import hydra

                from lstm_bench.wandb_logger import log_sweep_table

                header, rows = report.results_numbers(tables.results)
                log_sweep_table(hydra.utils.instantiate(config.logger), sweep_dir.name, "results", header, rows,
                                sweep_dir / "report")
        except Exception as err:  # noqa: BLE001: the runs are on disk whatever happens here
            print(f"warning: the sweep's report failed ({type(err).__name__}: {err}); "
                  f"run `python -m lstm_bench.report {sweep_dir}` by hand".splitlines()[0], file=sys.stderr)
