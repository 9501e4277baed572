"""What the adaptive sweepers share (the frontier's and the T50 search's): one search per combination of the
other overrides, each asking for probes round by round; a round's probes of every search launch together
through the configured launcher (joblib, Slurm), so the searches run side by side.

Each round's probes are checked before any of them starts (checks.py): a bad one refuses the sweep, one line
per bad probe. A probe whose job crashed is recorded with its error and counts as not solved; the searches go
on, and after the table the sweep exits with status 1. The subclass's JSON file is rewritten after every
round (atomically), and run again with the same hydra.sweep.dir a search replays: finished probes are not run
again (run.py's resume check) and the search goes on from where it stopped. Run again with fewer searches (one
model of four), the file keeps the searches it held that this run leaves out.
"""

import itertools
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import ConfigCompositionException
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from hydra_plugins.lstm_bench_sweeper.checks import CheckedSweep, failure
from lstm_bench.records import read_json, write_json


def parse_overrides(hydra_context: Optional[HydraContext], params: Optional[Dict[str, str]], arguments: Sequence[str]):
    """A sweep's overrides as Hydra parses them: the preset's `hydra.sweeper.params` first, then the command
    line's (a later override of a key replaces an earlier one). The one parse of every sweeper (and of the tests
    that check what a preset sweeps); without a context, sweep functions that need the config loader are not
    available (glob)."""
    parser = OverridesParser.create(config_loader=hydra_context.config_loader if hydra_context else None)
    return parser.parse_overrides([f"{k}={v}" for k, v in (params or {}).items()] + list(arguments))


def combinations(overrides, owned: Sequence[str], owner: str, hint: str = "") -> List[List[str]]:
    """Every combination of the overrides' values, each a list of override strings; a key in `owned` (which
    the sweeper sets itself) is refused with one line, `hint` its end."""
    choices: Dict[str, List[str]] = {}  # by key: a later override of a key replaces an earlier one
    for o in overrides:
        key = o.get_key_element()
        if o.key_or_group in owned:
            raise ConfigCompositionException(f"{key}: the {owner} sweeper searches {', '.join(owned)} itself{hint}")
        if o.is_sweep_override():
            if not o.is_discrete_sweep():
                raise ConfigCompositionException(f"{key}: the {owner} sweeper takes lists (a,b,c) and range(), "
                                                 f"not intervals")
            choices[key] = [f"{key}={v}" for v in o.sweep_string_iterator()]
        else:
            choices[key] = [f"{key}={o.get_value_element_as_str()}"]
    return [list(c) for c in itertools.product(*choices.values())]


def job_result(job_return) -> tuple[dict, Optional[str]]:
    """(the run's result dict, or {} where there is none; why the job failed, or None). The job's status is
    checked before its return value: a failed job's return_value re-raises its exception."""
    if (why := failure(job_return)) is not None:
        return {}, why
    value = job_return.return_value
    return (value, None) if isinstance(value, dict) else ({}, f"the job returned {type(value).__name__}, not a result dict")


class RoundSweeper(CheckedSweep, Sweeper):
    """Subclasses say what a search is: `owned` (the override keys the searches set), `json_name`, and
    new_search, probes, probe_overrides, record, describe and summary."""

    owned: Sequence[str] = ()
    owned_hint = ""  # the end of the line that refuses an owned key: what to set instead
    json_name = "search.json"
    name = "round"

    def __init__(self, params: Optional[Dict[str, str]] = None, check: Optional[str] = CheckedSweep.check,
                 max_batch_size: Optional[int] = None) -> None:
        super().__init__()
        self.check = check
        self.max_batch_size = max_batch_size  # jobs launched at once; a larger round launches in parts
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
        """Every combination of the sweep's overrides: one search each."""
        assert self.hydra_context is not None
        return combinations(parse_overrides(self.hydra_context, self.params, arguments), self.owned, self.name,
                            self.owned_hint)

    # ---- what a subclass defines

    def new_search(self, group: Optional[List[str]] = None):
        """A fresh search for one combination of the other overrides (None: to check the settings)."""
        raise NotImplementedError

    def probes(self, search) -> list:
        """The search's probes for this round ([] when it is done)."""
        raise NotImplementedError

    def probe_overrides(self, probe) -> List[str]:
        raise NotImplementedError

    def record(self, search, probe, result: dict, error: Optional[str], run_dir: Optional[str]) -> None:
        raise NotImplementedError

    def describe(self, group: List[str], search) -> str:
        """One line on where a search stands, logged after every round."""
        raise NotImplementedError

    def summary(self, searches, groups, complete: bool) -> dict:
        """The JSON file's content."""
        raise NotImplementedError

    # ---- the loop

    def earlier(self, path: Path, groups: List[List[str]]) -> list:
        """The searches that `path`, the file an earlier sweep in this directory wrote, holds and this sweep does
        not run: a resume with fewer overrides must not drop the others' records. [] where there is no such file."""
        try:
            found = read_json(path).get("searches")
        except (OSError, ValueError, AttributeError):
            return []
        mine = {frozenset(g) for g in groups}
        return [s for s in found or [] if isinstance(s, dict) and frozenset(s.get("overrides") or []) not in mine]

    def planned_jobs(self, arguments: List[str]) -> List[List[str]]:
        """The first round's probes: the later ones depend on the results."""
        return [[*g, *self.probe_overrides(p)] for g in self.groups(arguments) for p in self.probes(self.new_search(g))]

    def sweep(self, arguments: List[str]) -> Any:
        assert self.config is not None and self.launcher is not None
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        groups = self.groups(arguments)
        searches = [self.new_search(g) for g in groups]
        kept = self.earlier(sweep_dir / self.json_name, groups)

        def write(complete: bool) -> None:
            doc = self.summary(searches, groups, complete=complete and all(s.get("done") for s in kept))
            write_json(sweep_dir / self.json_name, {**doc, "searches": [*kept, *doc["searches"]]})

        returns, failed, job_idx, round_no = [], [], 0, 0
        while True:
            todo = [(i, p) for i, s in enumerate(searches) for p in self.probes(s)]
            if not todo:
                break
            round_no += 1
            batch = [[*groups[i], *self.probe_overrides(p)] for i, p in todo]
            self.refuse_bad(batch)  # the first round's before anything is written
            if job_idx == 0:
                sweep_dir.mkdir(parents=True, exist_ok=True)
                OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
            print(f"round {round_no}: {len(batch)} run{'s' * (len(batch) != 1)}", flush=True)
            size = self.max_batch_size or len(batch)
            results = []
            for part in range(0, len(batch), size):
                results += self.launcher.launch(batch[part:part + size], initial_job_idx=job_idx)
                job_idx += len(batch[part:part + size])
            returns.append(results)
            for (i, p), overrides, r in zip(todo, batch, results):
                result, why = job_result(r)
                if why is not None:
                    failed.append((overrides, why))
                run_dir = OmegaConf.select(r.hydra_cfg, "hydra.runtime.output_dir") if r.hydra_cfg else None
                self.record(searches[i], p, result, why, os.path.relpath(str(run_dir), str(sweep_dir)) if run_dir else None)
            for g, s in zip(groups, searches):
                print(f"  {' '.join(g)}: {self.describe(g, s)}", flush=True)
            write(complete=False)
        write(complete=True)
        self.end(failed, job_idx)
        return returns
