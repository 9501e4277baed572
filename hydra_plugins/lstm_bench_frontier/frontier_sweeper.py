"""The frontier sweeper: for every combination of the other overrides (model, task, seed, ...), the
longest `task.length` solved within the step budget, searched by doubling then bisection (search.py).

    python run.py -m hydra/sweeper=frontier model=rnn,lstm task=copy,adding seed=0,1,2
    python run.py -m hydra/sweeper=frontier hydra.sweeper.start=20 hydra.sweeper.resolution=10 ...

Each round launches one probe per unfinished search (hydra_plugins/lstm_bench_sweeper/rounds.py: the checks,
crashed probes and resume it shares with the T50 sweeper). The sweep directory gets frontier.json, rewritten
after every round. A probe counts as solved when the job returns a dict whose `status` is "solved" (or returns
True): validation's verdict, which stops a run; the report counts the test's (lstm_bench/report/tables.py).
"""

from dataclasses import dataclass
from typing import Dict, List, Optional

from hydra.core.config_store import ConfigStore

from hydra_plugins.lstm_bench_frontier.search import LengthSearch
from hydra_plugins.lstm_bench_sweeper.checks import CheckedSweep
from hydra_plugins.lstm_bench_sweeper.rounds import RoundSweeper


@dataclass
class FrontierSweeperConf:
    _target_: str = "hydra_plugins.lstm_bench_frontier.frontier_sweeper.FrontierSweeper"
    length_key: str = "task.length"  # the override the search sets
    start: int = 10  # the first length probed
    resolution: int = 5  # bisect until the longest solved and the shortest failed are this close
    rel_resolution: float = 0.0  # ... or this fraction of the longest solved apart (0.25: 25%), if wider
    max_length: int = 1000  # doubling stops here: solved at max_length is reported as ">= max_length"
    min_length: int = 2  # bisection never probes below it (the adding task needs T >= 2)
    max_batch_size: Optional[int] = None  # probes launched at once; null: a round's probes all at once
    params: Optional[Dict[str, str]] = None  # sweep parameters, as for the basic sweeper (experiment files)
    check: Optional[str] = CheckedSweep.check  # judges each probe's config before a round starts; null: compose only


ConfigStore.instance().store(group="hydra/sweeper", name="frontier", node=FrontierSweeperConf,
                             provider="lstm_bench")

KEPT = ("status", "steps_to_solve", "steps", "model", "task", "seed", "error")  # of a probe's result, in frontier.json


class FrontierSweeper(RoundSweeper):
    name = "frontier"
    json_name = "frontier.json"
    owned_hint = "; set where it starts with hydra.sweeper.start=N"

    def __init__(self, length_key: str = "task.length", start: int = 10, resolution: int = 5,
                 rel_resolution: float = 0.0, max_length: int = 1000, min_length: int = 2,
                 max_batch_size: Optional[int] = None, params: Optional[Dict[str, str]] = None,
                 check: Optional[str] = CheckedSweep.check) -> None:
        super().__init__(params, check, max_batch_size)
        self.settings = dict(start=start, resolution=resolution, max_length=max_length, min_length=min_length,
                             rel_resolution=rel_resolution)
        self.new_search()  # checks the settings now
        self.length_key, self.owned = length_key, (length_key,)
        self.probes_of: Dict[int, List[dict]] = {}  # id(search) -> its probes' records

    def new_search(self, group=None) -> LengthSearch:
        return LengthSearch(**self.settings)

    def probes(self, search: LengthSearch) -> list:
        T = search.next()
        return [] if T is None else [T]

    def probe_overrides(self, T) -> List[str]:
        return [f"{self.length_key}={T}"]

    def record(self, search, T, result, error, run_dir) -> None:
        if error is not None:
            solved, info = False, {"status": "failed", "error": error}
        else:
            solved, info = result.get("status") == "solved", {k: result[k] for k in KEPT if k in result}
        search.record(T, solved)
        self.probes_of.setdefault(id(search), []).append({"length": T, "solved": solved, "run_dir": run_dir, **info})

    def describe(self, group, search) -> str:
        lo, hi = search.solved_max, search.failed_min
        return f"longest solved {lo}, shortest failed {hi}" + (" (done)" if search.done else "")

    def summary(self, searches, groups, complete: bool) -> dict:
        records = []
        for g, s in zip(groups, searches):
            probes = self.probes_of.get(id(s), [])
            rec = {"overrides": g, "probes": probes, "frontier": s.solved_max, "first_failure": s.failed_min,
                   "capped": s.capped, "done": s.done}
            for k in ("model", "task", "seed"):
                for pr in probes:
                    if pr.get(k) is not None:
                        rec[k] = pr[k]
            records.append(rec)
        return {"length_key": self.length_key, **self.settings, "complete": complete, "searches": records}
