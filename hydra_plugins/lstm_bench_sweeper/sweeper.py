"""The default sweeper of every lstm-bench multirun (`hydra/sweeper=lstm_bench`, chosen in conf/sweeps.yaml):
Hydra's basic sweeper (every combination of the overrides, `hydra.sweeper.params` from the presets,
batches of `max_batch_size`) with two changes.

- Every job's config is composed and checked (checks.job_problem) before any job starts: a bad one refuses
  the sweep with one line per bad job, exit status 2, and nothing written.
- A job that crashes does not end the sweep: every other job runs, the multirun-end callback prints and
  writes the table, and then the sweep exits with status 1 and one line per crashed job.
"""
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

from hydra_plugins.lstm_bench_sweeper.checks import CheckedSweep, failure
from hydra_plugins.lstm_bench_sweeper.rounds import parse_overrides


@dataclass
class LstmBenchSweeperConf:
    _target_: str = "hydra_plugins.lstm_bench_sweeper.sweeper.LstmBenchSweeper"
    max_batch_size: Optional[int] = None  # jobs launched at once; null: all
    params: Optional[Dict[str, str]] = None  # sweep parameters (the presets' lists)
    check: Optional[str] = CheckedSweep.check  # judges each job's config before any starts; null: compose only


ConfigStore.instance().store(group="hydra/sweeper", name="lstm_bench", node=LstmBenchSweeperConf,
                             provider="lstm_bench")


class LstmBenchSweeper(CheckedSweep, BasicSweeper):
    def __init__(self, max_batch_size: Optional[int] = None, params: Optional[Dict[str, str]] = None,
                 check: Optional[str] = CheckedSweep.check) -> None:
        super().__init__(max_batch_size=max_batch_size, params=params)
        self.check = check

    def batches(self, arguments: List[str]) -> List[List[List[str]]]:
        """The sweep's batches of jobs, each job a list of overrides: the presets' params, then the command line."""
        assert self.hydra_context is not None
        return self.split_arguments(parse_overrides(self.hydra_context, self.params, arguments), self.max_batch_size)

    def planned_jobs(self, arguments: List[str]) -> List[List[str]]:
        """Every job of the sweep, in launch order."""
        return [job for batch in self.batches(arguments) for job in batch]

    def validate_batch_is_legal(self, batch: Sequence[Sequence[str]]) -> None:
        pass  # refuse_bad composed every job of the sweep before the first launch

    def sweep(self, arguments: List[str]) -> Any:
        assert self.config is not None and self.launcher is not None
        self.overrides = self.batches(arguments)
        self.refuse_bad([job for batch in self.overrides for job in batch])

        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        returns, failed, job_idx = [], [], 0
        while not self.is_done():
            batch = self.get_job_batch()
            results = self.launcher.launch(batch, initial_job_idx=job_idx)
            job_idx += len(batch)
            returns.append(results)
            failed += [(overrides, why) for overrides, r in zip(batch, results) if (why := failure(r))]
        self.end(failed, job_idx)
        return returns
