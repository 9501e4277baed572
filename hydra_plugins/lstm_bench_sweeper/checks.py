"""What both of lstm-bench's sweepers do around their launcher: check every job's config before any job of
it starts (a bad one refuses the sweep, one line per bad job, before anything is written), and end a sweep
whose jobs crashed with its table first and a non-zero exit after it.
"""
from __future__ import annotations

import sys
from typing import Callable, List, Optional, Sequence

from hydra.core.utils import JobReturn, JobStatus
from omegaconf import DictConfig

from lstm_bench.errors import config_error

BAD_INPUT = 2  # run.py's exit status for bad input: a refused sweep is bad input too
CRASHED = 1

Check = Callable[[DictConfig], Optional[str]]


def one_line(text: str) -> str:
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def describe(err: BaseException) -> str:
    """One line for what stopped a job: the ConfigError behind `err` if there is one (hydra.utils.instantiate
    wraps what it calls, and its message is the one line naming the key), else `err` itself."""
    bad = config_error(err)
    return str(bad) if bad is not None else one_line(f"{type(err).__name__}: {err}")


def job_problem(cfg: DictConfig) -> Optional[str]:
    """What would stop run.py's job with this config before it trains, or None: the checks lstm_bench.train.run
    makes before it writes anything (the harness's keys, the task, the model, the optimiser, diag.*, logger.*).
    The device is the CPU here: a job may run on another machine than the sweep (Slurm), so whether CUDA
    is there is the job's to find out."""
    import torch

    from lstm_bench.config import validate
    from lstm_bench.train import prepare

    try:
        validate(cfg)
        prepare(cfg, torch.device("cpu"))
    except Exception as err:  # noqa: BLE001: whatever stops the build would stop the job
        return describe(err)
    return None


def bad_jobs(jobs: Sequence[Sequence[str]], compose: Callable[[List[str]], DictConfig],
             check: Optional[Check]) -> List[str]:
    """One line per job that would stop on bad input: its overrides, and the key, value and what is allowed."""
    lines = []
    for job in jobs:
        try:
            cfg = compose(list(job))
            problem = check(cfg) if check is not None else None
        except Exception as err:  # noqa: BLE001: the overrides do not compose (a key the config lacks, ...)
            problem = describe(err)
        if problem:
            lines.append(f"  {' '.join(job)}: {problem}")
    return lines


def refusal(lines: Sequence[str], n_jobs: int) -> str:
    """What a refused sweep prints: a line of count, then one line per bad job."""
    return "\n".join([f"error: {len(lines)} of the {n_jobs} jobs would stop on bad input, so none was launched:",
                      *lines])


def failure(job: JobReturn) -> Optional[str]:
    """One line for a job that failed (its exception, which reading return_value would re-raise), else None."""
    if job.status == JobStatus.COMPLETED:
        return None
    err = getattr(job, "_return_value", None)
    return describe(err) if isinstance(err, BaseException) else "the job failed"


class CheckedSweep:
    """Mixed into a Hydra sweeper (which sets self.config and self.hydra_context in setup): `refuse_bad` before
    a launch, `end` after the last one. `check` is the dotted path of the function that judges one job's
    config (job_problem by default; null: the overrides need only compose, as in Hydra's own sweeper)."""

    check: Optional[str] = f"{__name__}.job_problem"

    def refuse_bad(self, jobs: Sequence[Sequence[str]]) -> None:
        """Exit (status 2) with one line per bad job unless every job of `jobs` composes and passes the check."""
        import hydra

        check = hydra.utils.get_method(self.check) if self.check else None
        loader = self.hydra_context.config_loader  # type: ignore[attr-defined]
        lines = bad_jobs(jobs, lambda overrides: loader.load_sweep_config(self.config, overrides), check)
        if lines:
            print(refusal(lines, len(jobs)), file=sys.stderr, flush=True)
            sys.exit(BAD_INPUT)

    def end(self, failed: Sequence[tuple[Sequence[str], str]], n_jobs: int) -> None:
        """After the last of `n_jobs` jobs: if any failed, run the multirun-end callbacks (the table) now, then
        exit with status 1 and one line per failed job; Hydra runs those callbacks itself only when a sweep
        returns."""
        if not failed:
            return
        config = self.config  # type: ignore[attr-defined]
        self.hydra_context.callbacks.on_multirun_end(  # type: ignore[attr-defined]
            config=config, config_name=config.hydra.job.config_name)
        print(f"error: {len(failed)} of the {n_jobs} jobs crashed (`python run.py` with a job's overrides runs it "
              f"alone, with its traceback):", *(f"  {' '.join(o)}: {why}" for o, why in failed),
              sep="\n", file=sys.stderr, flush=True)
        sys.exit(CRASHED)
