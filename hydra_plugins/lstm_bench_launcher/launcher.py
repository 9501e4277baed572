"""The local launcher of every multirun (`hydra/launcher=local`): joblib's, as Hydra's plugin runs it, with two
changes a long sweep on a workstation needs.

- A line per finished job, as it finishes:
  `[37/96] lstm adding T=200 seed=3: solved at 1400 (52 s); elapsed 21 min, about 34 min left`.
- Ctrl-C ends the sweep within seconds, in one line. A terminal's Ctrl-C reaches every process of the group:
  a running job's run records itself as `interrupted` (lstm_bench/train.py) and its worker returns quietly, an
  idle worker starts nothing more, and the launcher waits a few seconds for the records, stops the workers and
  prints `interrupted: 12 of 96 runs finished, ...; resume with the same command and hydra.sweep.dir=...`,
  exit status 130. Started again so, the sweep reruns only what did not finish (run.py's resume check).
"""
import logging
import os
import shutil
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, configure_log, filter_overrides, setup_globals
from hydra_plugins.hydra_joblib_launcher._core import execute_job, process_joblib_cfg
from hydra_plugins.hydra_joblib_launcher.joblib_launcher import JoblibLauncher
from joblib import Parallel, delayed

log = logging.getLogger(__name__)

GRACE_S = 10.0  # how long an interrupted sweep waits for its running jobs to write their records
INTERRUPTED = 130  # a shell's exit status for a process ended by SIGINT

_stopping = False  # in a worker: Ctrl-C was pressed, start no more jobs


def _idle_sigint(signum, frame) -> None:
    global _stopping
    _stopping = True


def _worker_start() -> None:
    """A worker between jobs (and before its first) remembers a Ctrl-C instead of dying of it."""
    signal.signal(signal.SIGINT, _idle_sigint)


def _execute(i: int, idx: int, overrides, hydra_context, config, task_function, singleton_state):
    """execute_job in a worker, Ctrl-C-aware: [(i, JobReturn)], or [(i, None)] for a job that did not start (a
    list: a unit of work may run several jobs, hydra_plugins/lstm_bench_launcher/packed.py)."""
    global _stopping
    if _stopping:
        return [(i, None)]
    signal.signal(signal.SIGINT, signal.default_int_handler)  # a run in progress records itself as interrupted
    try:
        return [(i, execute_job(idx, overrides, hydra_context, config, task_function, singleton_state))]
    except KeyboardInterrupt:
        _stopping = True
        return [(i, JobReturn(overrides=list(overrides), status=JobStatus.FAILED, _return_value=KeyboardInterrupt()))]
    finally:
        signal.signal(signal.SIGINT, _idle_sigint)  # between jobs: remember it, raise nothing


def _minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


SHOWN = ("model", "+model", "task", "+task", "task.length", "seed")  # said by the line's own words


def varying(job_overrides: Sequence[Sequence[str]]) -> set:
    """The overrides that set a launch's jobs apart: a key with one value in every job says nothing about any."""
    values: Dict[str, set] = {}
    for overrides in job_overrides:
        for o in filter_overrides(overrides):
            values.setdefault(o.split("=", 1)[0], set()).add(o)
    return {o for vs in values.values() if len(vs) > 1 for o in vs}


def describe(overrides: Sequence[str], ret: Optional[JobReturn], shown: Optional[set] = None) -> str:
    """`lstm adding T=200 seed=3 train.lr=0.01: solved at 1400 (52 s)`, from the job's result; of the other
    overrides only those in `shown` (the ones that vary between the launch's jobs)."""
    other = [o for o in filter_overrides(overrides) if o.split("=", 1)[0] not in SHOWN
             and not o.lstrip("+~").startswith("experiment") and (shown is None or o in shown)]
    value = ret.return_value if ret is not None and ret.status == JobStatus.COMPLETED else None
    if isinstance(value, dict) and "status" in value:
        name = f"{value.get('model')} {value.get('task')} T={value.get('length')} seed={value.get('seed')}"
        status = value["status"]
        if value.get("resumed"):
            what = f"{status}, as recorded before"
        elif status == "solved":
            what = (f"solved at {value.get('steps_to_solve')}" if value.get("solved_test") is not False else
                    f"met the solved rule on validation at {value.get('steps_to_solve')}, but not on test")
        else:
            what = f"{status} after {value.get('steps')} steps"
        if not value.get("resumed") and isinstance(value.get("wall_time_s"), (int, float)):
            what += f" ({_minutes(value['wall_time_s'])})"
    else:
        name = " ".join(filter_overrides(overrides))
        other = []
        if ret is None:
            what = "not started"
        elif isinstance(getattr(ret, "_return_value", None), KeyboardInterrupt):
            what = "interrupted"
        elif ret.status != JobStatus.COMPLETED:
            err = getattr(ret, "_return_value", None)
            what = "crashed: " + (f"{type(err).__name__}: {err}".splitlines()[0] if err is not None else "?")
        else:
            what = "done"
    return f"{name}{''.join(' ' + o for o in other)}: {what}"


class _CtrlC:
    """The launcher's SIGINT handler while jobs run: the first Ctrl-C is passed on to the workers (a signal sent to
    this process alone must reach them too) and a watchdog kills what has not stopped after GRACE_S; the
    records are the workers' to write, so nothing is raised here."""

    def __init__(self) -> None:
        self.hit = False
        self.watchdog: Optional[threading.Timer] = None

    def __call__(self, signum, frame) -> None:
        if self.hit:
            return
        self.hit = True
        for pid in _workers():
            _signal(pid, signal.SIGINT)
        self.watchdog = threading.Timer(GRACE_S, lambda: [_signal(pid, signal.SIGKILL) for pid in _workers()])
        self.watchdog.daemon = True
        self.watchdog.start()


def _interrupted(ret: Optional[JobReturn]) -> bool:
    return ret is None or isinstance(getattr(ret, "_return_value", None), KeyboardInterrupt)


class LocalLauncher(JoblibLauncher):
    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        setup_globals()
        assert self.config is not None and self.task_function is not None and self.hydra_context is not None
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        joblib_cfg: Dict[str, Any] = dict(self.joblib)
        joblib_cfg["backend"] = "loky"  # the threading backend is incompatible with Hydra
        process_joblib_cfg(joblib_cfg)
        log.info(f"Launching {len(job_overrides)} jobs, sweep output dir: {sweep_dir}")

        n, t0 = len(job_overrides), time.perf_counter()
        results: List[Optional[JobReturn]] = [None] * n
        returned: set = set()
        done = 0
        jobs = self.units(job_overrides, initial_job_idx, Singleton.get_state())
        shown = varying(job_overrides)
        ctrl_c = _CtrlC()
        previous = signal.signal(signal.SIGINT, ctrl_c)
        try:
            for unit in Parallel(**joblib_cfg, return_as="generator_unordered", initializer=_worker_start)(jobs):
                for i, ret in unit:
                    results[i] = ret
                    returned.add(i)
                    if _interrupted(ret):  # a worker was told before this process was (or instead of it)
                        ctrl_c(signal.SIGINT, None)
                    if ctrl_c.hit:
                        continue  # the rest return at once: they will not start
                    done += 1
                    elapsed = time.perf_counter() - t0
                    left = f", about {_minutes(elapsed / done * (n - done))} left" if done < n else ""
                    print(f"[{done}/{n}] {describe(job_overrides[i], ret, shown)}; elapsed {_minutes(elapsed)}{left}",
                          flush=True)
        except Exception:  # noqa: BLE001: joblib's complaint about the workers the watchdog killed
            if not ctrl_c.hit:
                raise
        finally:
            signal.signal(signal.SIGINT, previous)
        if ctrl_c.hit:
            stopped = sum(1 for r in results if r is not None and _interrupted(r))
            killed = n - len(returned)
            _shutdown()
            for pid in _workers():  # loky's resource tracker too: it would warn of the folders left below
                _signal(pid, signal.SIGKILL)
            for folder in Path("/dev/shm").glob(f"joblib_memmapping_folder_{os.getpid()}_*"):
                shutil.rmtree(folder, ignore_errors=True)
            print(f"interrupted: {done} of {n} runs of this launch finished, {stopped} stopped and recorded as "
                  f"interrupted, " + (f"{killed} killed before they could record it, " if killed else "")
                  + f"{len(returned) - done - stopped} not started; resume with the same command and "
                  f"hydra.sweep.dir={sweep_dir}", file=sys.stderr, flush=True)
            os._exit(INTERRUPTED)  # Hydra and joblib would each add their own tracebacks on the way out
        return results  # type: ignore[return-value]

    def units(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int, singleton_state) -> list:
        """The units of work joblib runs, each returning [(i, JobReturn or None)] for the jobs it ran: one per job."""
        return [delayed(_execute)(i, initial_job_idx + i, o, self.hydra_context, self.config, self.task_function,
                                  singleton_state) for i, o in enumerate(job_overrides)]


def _workers() -> List[int]:
    """The pids of this process's children (joblib's workers), from /proc."""
    me, kids = os.getpid(), []
    try:
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                try:
                    with open(f"/proc/{entry.name}/stat") as f:
                        if int(f.read().rsplit(")", 1)[1].split()[1]) == me:
                            kids.append(int(entry.name))
                except (OSError, ValueError, IndexError):
                    continue
    except OSError:
        pass
    return kids


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except OSError:
        pass


def _shutdown() -> None:
    try:
        from joblib.externals.loky import get_reusable_executor

        get_reusable_executor().shutdown(wait=False, kill_workers=True)
    except Exception:  # noqa: BLE001
        pass
