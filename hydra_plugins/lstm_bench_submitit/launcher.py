"""hydra-submitit-launcher's launchers with four changes, each for what a real cluster showed.

- A job that ends without a result (cancelled with scancel, timed out, killed for memory, or its environment
  broken before run.py could start) is a failed job of the sweep, with one line naming its Slurm job, its
  state and its log; the sweeper then reports it with the crashed jobs. The plugin's own launcher raised at
  the first such job and ended the sweep with a traceback, its table unprinted, while later jobs still ran.
- A sweep whose jobs sbatch refuses (a partition that does not exist, more memory than a node has) ends with
  one line and exit status 2, as bad input does, instead of a traceback.
- Ctrl-C while the sweep waits cancels its jobs: left running, they would race the jobs of the same command
  started again (resume), in the same run directories.
- A setup line that fails stops its job: the plugin runs `hydra.launcher.setup` in the job script without
  `set -e`, so `source` of a venv that does not exist printed an error and the job ran on anyway.

conf/hydra/launcher/slurm.yaml and local_submitit.yaml name these classes as their `_target_`.
"""
from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path
from typing import Any, List, Sequence

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from hydra_plugins.hydra_submitit_launcher import submitit_launcher
from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
from omegaconf import OmegaConf

log = logging.getLogger(__name__)


class JobFailed(Exception):
    """A job of the sweep that returned nothing: what Slurm says of it, and where its log is."""


def lost(job: Any, overrides: Sequence[str]) -> JobReturn:
    """The failed JobReturn of a submitit job that did not return run_job's JobReturn: it left no result at all
    (cancelled, killed, its environment broken), or submitit's own wrapper raised around it. Its log says why."""
    ret = JobReturn(overrides=list(overrides), status=JobStatus.FAILED)
    ret.return_value = JobFailed(f"Slurm job {job.job_id} ended {job.state} without a result; its log: "
                                 f"{job.paths.stderr}")
    return ret


class CollectEveryJob:
    """The launch of hydra-submitit-launcher 1.2's BaseSubmititLauncher, but every job's outcome collected."""

    _EXECUTOR: str
    params: dict

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)  # type: ignore[call-arg]
        if self.params.get("setup"):
            self.params["setup"] = ["set -e  # lstm-bench: a setup line that fails stops the job",
                                    *self.params["setup"], "set +e"]

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        import submitit

        assert self.config is not None  # type: ignore[attr-defined]
        assert len(job_overrides) > 0
        # as the plugin builds its executor: its own keys at init, the queue's keys under their names
        init_keys = {"max_num_timeout"}
        executor = submitit.AutoExecutor(
            cluster=self._EXECUTOR, folder=self.params["submitit_folder"],
            **{f"{self._EXECUTOR}_{k}": v for k, v in self.params.items() if k in init_keys})
        base = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(**{k if k in base else f"{self._EXECUTOR}_{k}": v
                                      for k, v in self.params.items() if k not in init_keys | {"submitit_folder"}})

        sweep_dir = Path(str(self.config.hydra.sweep.dir))  # type: ignore[attr-defined]
        log.info(f"Submitit '{self._EXECUTOR}' sweep output dir : {sweep_dir}")
        sweep_dir.mkdir(parents=True, exist_ok=True)
        if "mode" in self.config.hydra.sweep:  # type: ignore[attr-defined]
            sweep_dir.chmod(int(str(self.config.hydra.sweep.mode), 8))  # type: ignore[attr-defined]
        job_params: List[Any] = []
        for idx, overrides in enumerate(job_overrides, start=initial_job_idx):
            log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
            job_params.append((list(overrides), "hydra.sweep.dir", idx, f"job_id_for_{idx}", Singleton.get_state()))
        try:
            jobs = executor.map_array(self, *zip(*job_params))
        except submitit.core.utils.FailedJobError as err:  # sbatch refused the array: bad input, nothing ran
            # sbatch's first line names what it refused ("invalid partition specified: gpu")
            why = next((line.strip() for line in str(err).splitlines() if line.strip()), "no reason given")
            print(f"error: Slurm refused the sweep's jobs: {why.removeprefix('sbatch: error: ')} (the keys: "
                  f"hydra.launcher.partition, cpus_per_task, mem_gb, timeout_min; sinfo shows what the partitions "
                  f"allow)", file=sys.stderr)
            sys.exit(2)

        try:
            # job.exception() waits for the job, and is None when it returned run_job's JobReturn
            return [job.results()[0] if job.exception() is None else lost(job, overrides)
                    for job, overrides in zip(jobs, job_overrides)]
        except KeyboardInterrupt:
            self.cancel(jobs)
            raise

    def cancel(self, jobs: Sequence[Any]) -> None:
        for job in jobs:
            job.cancel(check=False)
        print("interrupted: cancelled the sweep's jobs, so that none outlives it", file=sys.stderr)


class SlurmLauncher(CollectEveryJob, submitit_launcher.SlurmLauncher):
    def cancel(self, jobs: Sequence[Any]) -> None:
        """One scancel for the whole batch (a job array): a sweep of hundreds stops at once."""
        arrays = sorted({job.job_id.split("_")[0] for job in jobs})
        subprocess.run(["scancel", *arrays], capture_output=True)
        print(f"interrupted: cancelled the sweep's Slurm jobs ({' '.join(arrays)}), so that none outlives it",
              file=sys.stderr)


class LocalLauncher(CollectEveryJob, submitit_launcher.LocalLauncher):
    pass
