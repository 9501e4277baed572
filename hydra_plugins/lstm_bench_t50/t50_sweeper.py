"""The T50 sweeper: for every combination of the other overrides (model, task, ...), the length that the model
solves half the time, with its 95% credible interval, searched adaptively (search.py says how).

    python run.py -m hydra/sweeper=t50 model=rnn,lstm +experiment/compare=adding,copy
    python run.py -m +experiment=headline                 # the preset: four models, two tasks, matched capacity

It sets `task.length`, the tuned key (`train.lr`) and `seed` of every run itself. Each round launches every
unfinished search's probes together (hydra_plugins/lstm_bench_sweeper/rounds.py: checks, crashed probes,
resume) and prints one line per search: the tuning ladder, or the bracket and the current T50. The sweep
directory gets t50.json, rewritten after every round: each search's probes (phase, length, value, seed,
verdicts, run directory), the chosen value and the bracket. The report recomputes T50 from the runs'
result.json files, which t50.json names (lstm_bench/report/tables.py).
"""

import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from hydra_plugins.lstm_bench_sweeper.checks import CheckedSweep
from hydra_plugins.lstm_bench_sweeper.rounds import RoundSweeper
from hydra_plugins.lstm_bench_t50.search import Outcome, Probe, T50Search


@dataclass
class T50SweeperConf:
    _target_: str = "hydra_plugins.lstm_bench_t50.t50_sweeper.T50Sweeper"
    length_key: str = "task.length"  # the override the search sets
    tune_key: str = "train.lr"  # the key tuned on validation, one value chosen per search
    tune_values: List[Any] = field(default_factory=lambda: [1e-3, 3e-3, 1e-2])
    start: int = 25  # the first rung of the tuning ladder, unless start_key names a config key that gives it
    start_key: Optional[str] = None  # e.g. ladder.long: each search reads its start from its own config
    min_length: int = 2  # the shortest length a search may run, unless min_length_key names a config key that gives it
    min_length_key: Optional[str] = None  # e.g. ladder.floor: a task's own shortest (copy 1, adding 2)
    max_length: int = 8192
    per_round: int = 2  # measurement runs per search per round
    n_min: int = 8  # measurement runs before the search may stop
    n_max: int = 24  # measurement runs at most
    rel_width: float = 1.0  # stop once the 95% interval's hi/lo <= 1 + rel_width (and its ends are finite)
    max_batch_size: Optional[int] = None  # jobs launched at once; a larger round launches in parts
    params: Optional[Dict[str, str]] = None  # sweep parameters (the presets' lists)
    check: Optional[str] = CheckedSweep.check  # judges each probe's config before a round starts; null: compose only


ConfigStore.instance().store(group="hydra/sweeper", name="t50", node=T50SweeperConf, provider="lstm_bench")

KEPT = ("status", "steps_to_solve", "steps", "model", "task", "error")  # of a probe's result, in t50.json


def _number(v, default: float = math.inf) -> float:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else default


class T50Sweeper(RoundSweeper):
    name = "T50"
    json_name = "t50.json"

    def __init__(self, length_key: str = "task.length", tune_key: str = "train.lr", tune_values=(1e-3, 3e-3, 1e-2),
                 start: int = 25, start_key: Optional[str] = None, min_length: int = 2,
                 min_length_key: Optional[str] = None, max_length: int = 8192,
                 per_round: int = 2, n_min: int = 8, n_max: int = 24, rel_width: float = 1.0,
                 max_batch_size: Optional[int] = None, params: Optional[Dict[str, str]] = None,
                 check: Optional[str] = CheckedSweep.check) -> None:
        super().__init__(params, check, max_batch_size)
        self.length_key, self.tune_key, self.start_key = length_key, tune_key, start_key
        self.keys = {k: v for k, v in (("start", start_key), ("min_length", min_length_key)) if v}
        self.tune_values = list(OmegaConf.to_container(tune_values) if OmegaConf.is_config(tune_values) else tune_values)
        self.owned = (length_key, tune_key, "seed")
        self.settings = dict(start=start, n_choices=len(self.tune_values), min_length=min_length,
                             max_length=max_length, per_round=per_round, n_min=n_min, n_max=n_max, rel_width=rel_width)
        T50Search(**self.settings)  # checks the settings now
        self.info: Dict[int, Dict[Probe, dict]] = {}  # id(search) -> probe -> what t50.json keeps of its run
        self._own: Dict[str, Dict[str, int]] = {}  # a search's start and min_length read from its own config

    def groups(self, arguments: List[str]) -> List[List[str]]:
        groups = super().groups(arguments)
        if self.keys:  # each search's start and shortest length from its own config (a task's ladder)
            loader = self.hydra_context.config_loader  # type: ignore[union-attr]
            for g in groups:
                cfg = loader.load_sweep_config(self.config, list(g))
                for name, key in self.keys.items():
                    value = OmegaConf.select(cfg, key)
                    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                        raise ConfigCompositionException(f"hydra.sweeper.{name}_key={key}: "
                                                         f"{' '.join(g) or 'the config'} gives {value!r}, not a length")
                    self._own.setdefault(" ".join(g), {})[name] = value
        return groups

    def new_search(self, group=None) -> T50Search:
        s = {**self.settings, **self._own.get(" ".join(group or []), {})}
        return T50Search(**{**s, "start": min(max(s["start"], s["min_length"]), s["max_length"])})

    def probes(self, search: T50Search) -> list:
        return search.next_round()

    def probe_overrides(self, probe: Probe) -> List[str]:
        return [f"{self.length_key}={probe.length}", f"{self.tune_key}={self.tune_values[probe.choice]}",
                f"seed={probe.seed}"]

    def record(self, search: T50Search, probe: Probe, result: dict, error, run_dir) -> None:
        info = {"run_dir": run_dir, "value": self.tune_values[probe.choice],
                **({"status": "failed", "error": error} if error else {k: result[k] for k in KEPT if k in result})}
        search.record(Outcome(probe, result.get("status") == "solved", result.get("solved_test") is True,
                              _number(result.get("val_loss")), _number(result.get("steps_to_solve")), info))

    def describe(self, group, search: T50Search) -> str:
        what = search.status()
        if search.chosen is not None:
            what = f"{self.tune_key}={self.tune_values[search.chosen]} chosen; {what}"
        return what + (" (done)" if search.done else "")

    def summary(self, searches, groups, complete: bool) -> dict:
        records = []
        for g, s in zip(groups, searches):
            fit = s.fit()
            d = s.to_dict()
            first = next((o.extra for o in s.outcomes if o.extra.get("model")), {})
            records.append({"overrides": g, "model": first.get("model"), "task": first.get("task"),
                            "chosen": None if s.chosen is None else self.tune_values[s.chosen],
                            "start": s.start, "min_length": s.min_length, **{
                                k: d[k] for k in ("bracket", "capped", "done")},
                            "t50": {"text": fit.text(), "kind": fit.kind, "value": fit.value, "lo": fit.lo,
                                    "hi": fit.hi, "runs": len(s.measured)},
                            "probes": d["outcomes"]})
        return {"length_key": self.length_key, "tune_key": self.tune_key, "tune_values": self.tune_values,
                "start_key": self.start_key, **self.settings, "complete": complete, "searches": records}
