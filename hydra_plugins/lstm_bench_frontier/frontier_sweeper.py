"""The frontier sweeper: for every combination of the other overrides (model, task, seed, ...), the
longest `task.length` solved within the step budget, searched by doubling then bisection (search.py).

    python run.py -m hydra/sweeper=frontier model=rnn,lstm task=copy,adding seed=0,1,2
    python run.py -m hydra/sweeper=frontier hydra.sweeper.start=20 hydra.sweeper.resolution=10 ...

Each round launches one probe per unfinished search through the configured launcher (joblib, Slurm),
so the searches run side by side. Every probe is an ordinary job with its own run directory; the sweep
directory gets frontier.json (rewritten after every round, atomically). Each round's probes are checked
before any of them starts, as the lstm_bench sweeper checks its jobs (hydra_plugins/lstm_bench_sweeper/
checks.py): a bad one refuses the sweep, one line per bad probe. A probe whose job crashed counts as not
solved, with its error kept; the searches go on, and after the table the sweep exits with status 1. Run
again with the same hydra.sweep.dir, a search replays: the finished probes are not run again (run.py's
resume check) and the search goes on from where it stopped.
A probe counts as solved when the job returns a dict whose `status` is "solved" (or returns True).
"""

import itertools
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from hydra.core.config_store import ConfigStore
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import ConfigCompositionException
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from hydra_plugins.lstm_bench_frontier.search import LengthSearch
from hydra_plugins.lstm_bench_sweeper.checks import CheckedSweep, failure
from lstm_bench.records import write_json

log = logging.getLogger(__name__)


@dataclass
class FrontierSweeperConf:
    _target_: str = "hydra_plugins.lstm_bench_frontier.frontier_sweeper.FrontierSweeper"
    length_key: str = "task.length"  # the override the search sets
    start: int = 10  # the first length probed
    resolution: int = 5  # bisect until the longest solved and the shortest failed are this close
    rel_resolution: float = 0.0  # ... or this fraction of the longest solved apart (0.25: 25%), if wider
    max_length: int = 1000  # doubling stops here: solved at max_length is reported as ">= max_length"
    min_length: int = 2  # bisection never probes below it (the adding task needs T >= 2)
    max_batch_size: Optional[int] = None  # probes launched at once; null: one per unfinished search
    params: Optional[Dict[str, str]] = None  # sweep parameters, as for the basic sweeper (experiment files)
    check: Optional[str] = CheckedSweep.check  # judges each probe's config before a round starts; null: compose only


ConfigStore.instance().store(group="hydra/sweeper", name="frontier", node=FrontierSweeperConf,
                             provider="lstm_bench")


def outcome(job_return) -> tuple[bool, dict]:
    """(solved?, what to record) of one probe. The job's status is checked before its return value:
    a failed job's return_value re-raises its exception."""
    if (why := failure(job_return)) is not None:
        return False, {"status": "failed", "error": why}
    value = job_return.return_value
    if isinstance(value, bool):
        return value, {"status": "solved" if value else "unsolved"}
    if isinstance(value, dict):
        info = {k: value.get(k) for k in ("status", "steps_to_solve", "steps", "model", "task", "seed", "error")
                if k in value}
        return value.get("status") == "solved", info
    return False, {"status": "unknown", "error": f"the job returned {type(value).__name__}, not a result dict"}


class FrontierSweeper(CheckedSweep, Sweeper):
    def __init__(self, length_key: str = "task.length", start: int = 10, resolution: int = 5,
                 rel_resolution: float = 0.0, max_length: int = 1000, min_length: int = 2,
                 max_batch_size: Optional[int] = None, params: Optional[Dict[str, str]] = None,
                 check: Optional[str] = CheckedSweep.check) -> None:
        super().__init__()
        self.check = check
        LengthSearch(start, resolution, max_length, min_length, rel_resolution)  # checks the settings now
        self.length_key, self.start = length_key, start
        self.resolution, self.rel_resolution = resolution, rel_resolution
        self.max_length, self.min_length = max_length, min_length
        self.max_batch_size = max_batch_size
        self.params = dict(params or {})
        self.hydra_context: Optional[HydraContext] = None
        self.config: Optional[DictConfig] = None
        self.launcher = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        from hydra.core.plugins import Plugins

        self.hydra_context, self.config = hydra_context, config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config)

    def groups(self, arguments: List[str]) -> List[List[str]]:
        """Every combination of the sweep's overrides, each a list of override strings."""
        assert self.hydra_context is not None
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        overrides = parser.parse_overrides([f"{k}={v}" for k, v in self.params.items()] + list(arguments))
        choices: Dict[str, List[str]] = {}  # by key: a later override of a key replaces an earlier one
        for o in overrides:
            key = o.get_key_element()
            if o.key_or_group == self.length_key:
                raise ConfigCompositionException(
                    f"{key}: the frontier sweeper searches {self.length_key} itself; "
                    f"set where it starts with hydra.sweeper.start=N")
            if o.is_sweep_override():
                if not o.is_discrete_sweep():
                    raise ConfigCompositionException(f"{key}: the frontier sweeper takes lists (a,b,c) and range(), "
                                                     f"not intervals")
                choices[key] = [f"{key}={v}" for v in o.sweep_string_iterator()]
            else:
                choices[key] = [f"{key}={o.get_value_element_as_str()}"]
        return [list(c) for c in itertools.product(*choices.values())]

    def planned_jobs(self, arguments: List[str]) -> List[List[str]]:
        """The first round's probes, one per search, at the start length: the later ones depend on the results."""
        return [[*g, f"{self.length_key}={self.start}"] for g in self.groups(arguments)]

    def sweep(self, arguments: List[str]) -> Any:
        assert self.config is not None and self.launcher is not None
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        groups = self.groups(arguments)
        searches = [LengthSearch(self.start, self.resolution, self.max_length, self.min_length, self.rel_resolution)
                    for _ in groups]
        records: List[dict] = [{"overrides": g, "probes": []} for g in groups]
        returns: List[Sequence[Any]] = []
        failed: List[tuple] = []
        job_idx = 0
        log.info(f"Frontier of {self.length_key} for {len(groups)} searches, from {self.start} "
                 f"(doubling up to {self.max_length}, then bisection to {self.resolution}) -> {sweep_dir}")
        while True:
            todo = [(i, s.next()) for i, s in enumerate(searches) if s.next() is not None]
            if not todo:
                break
            if self.max_batch_size:
                todo = todo[: self.max_batch_size]
            batch = [[*groups[i], f"{self.length_key}={T}"] for i, T in todo]
            self.refuse_bad(batch)  # the first round's before anything is written
            if job_idx == 0:
                sweep_dir.mkdir(parents=True, exist_ok=True)
                OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
            results = self.launcher.launch(batch, initial_job_idx=job_idx)
            job_idx += len(batch)
            returns.append(results)
            for (i, T), overrides, r in zip(todo, batch, results):
                solved, info = outcome(r)
                if info["status"] == "failed":
                    failed.append((overrides, info["error"]))
                searches[i].record(T, solved)
                run_dir = OmegaConf.select(r.hydra_cfg, "hydra.runtime.output_dir") if r.hydra_cfg else None
                if run_dir:
                    run_dir = os.path.relpath(str(run_dir), str(sweep_dir))
                records[i]["probes"].append({"length": T, "solved": solved, "run_dir": run_dir, **info})
                for k in ("model", "task", "seed"):
                    if info.get(k) is not None:
                        records[i][k] = info[k]
                log.info(f"  {' '.join(groups[i])} {self.length_key}={T}: {info.get('status')}")
            self.save(sweep_dir, searches, records, complete=False)
        self.save(sweep_dir, searches, records, complete=True)
        for rec in records:
            capped = " (capped at max_length)" if rec["capped"] else ""
            log.info(f"Frontier {' '.join(rec['overrides'])}: {rec['frontier']}{capped}")
        self.end(failed, job_idx)
        return returns

    def save(self, sweep_dir: Path, searches: List[LengthSearch], records: List[dict], complete: bool) -> None:
        for s, rec in zip(searches, records):
            rec.update(frontier=s.solved_max, first_failure=s.failed_min, capped=s.capped, done=s.done)
        write_json(sweep_dir / "frontier.json", {
            "length_key": self.length_key, "start": self.start, "resolution": self.resolution,
            "rel_resolution": self.rel_resolution,
            "max_length": self.max_length, "min_length": self.min_length, "complete": complete,
            "searches": records,
        })
