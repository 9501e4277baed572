"""The tables of a sweep, built once as numbers: results (a row per model, task, T), frontier and test lengths.

render.py formats these rows as markdown, LaTeX or CSV and plots.py draws them; neither computes a
statistic of its own, so every format shows the same numbers.
"""
from __future__ import annotations

import json
import math
import posixpath
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import NamedTuple

from lstm_bench.records import EVALUATED, FINISHED, Status
from lstm_bench.report.load import ReportError, Run, Sweep, provenance
from lstm_bench.report.stats import T50, MedianIQR, finite, fit_t50, quartiles, solve_rate_text, wilson
from lstm_bench.report.tune import choose, unswept

# what does not make two runs different experiments: the seed is averaged over, the rest is bookkeeping.
# The device is a setting (CPU and GPU numbers differ), read as the device the run resolved (meta.json)
NOT_A_SETTING = ("seed", "task.length", "logger", "diag", "train.threads")
OTHER_OUTCOMES = (Status.PRUNED, Status.DIVERGED, Status.CRASHED, Status.INTERRUPTED)  # besides solved, unsolved
DIAGNOSTICS = ("grad_ratio_log10", "forget_mean", "forget_timescale_median")
STATS = ("loss_vs_baseline", *DIAGNOSTICS)  # the result.json numbers averaged over seeds (steps to solve: Row.steps)
# the runs each statistic averages over: a final test loss only for runs that reached their last evaluation (older
# records of a diverged run still hold a stale one)
AVERAGED_OVER = {"loss_vs_baseline": EVALUATED}
# what a run's model holds, from result.json where it records it (H from the config for older records)
CAPACITY = ("hidden_size", "n_params", "n_params_recurrence", "state_size")


@dataclass(frozen=True)
class Stat:
    """The values of one number over a row's runs: finite, or infinite where a run flags it (_value)."""
    values: tuple[float, ...]

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.values) if self.values else None

    @property
    def std(self) -> float | None:
        """None for one value, and where a value is infinite: no spread is defined (statistics.stdev raises)."""
        if len(self.values) < 2 or not all(map(math.isfinite, self.values)):
            return None
        return statistics.stdev(self.values)


def _value(result: dict, key: str) -> float | None:
    """A finite number of result.json, or infinity where the result flags it (JSON has no infinity: a forget
    gate that never forgets writes null with KEY_infinite), else None."""
    if result.get(f"{key}_infinite") is True:
        return math.inf
    return finite(result.get(key))


def _stat(runs: list[Run], key: str) -> Stat:
    if key in AVERAGED_OVER:
        runs = [r for r in runs if r.result["status"] in AVERAGED_OVER[key]]
    return Stat(tuple(v for v in (_value(r.result, key) for r in runs) if v is not None))


@dataclass
class Row:
    """The runs of one (task, model, T, setting) and their statistics."""
    task: str
    model: str
    length: int
    setting: tuple[str, ...]  # the values of the table's split keys, as JSON text
    runs: list[Run]
    stats: dict[str, Stat]  # one per STATS key
    outcomes: Counter  # status -> number of runs
    chosen: tuple[str, ...] = ()  # with --tune: the tuned keys' values whose runs these are, as JSON text
    candidates: int = 1  # with --tune: how many values there were to choose from

    @property
    def label(self) -> str:
        return self.model + "".join(f" {v}" for v in self.setting)

    @property
    def counted(self) -> list[Run]:
        """The runs a solve rate counts: those that reached their end. A crashed or interrupted run, which the same
        command runs again, is no verdict on the model: the outcomes column counts it, the rate's n does not."""
        return [r for r in self.runs if r.result["status"] in FINISHED]

    @property
    def n_solved(self) -> int:
        return sum(r.solved for r in self.counted)

    @property
    def solve_ci(self) -> tuple[float, float]:
        return wilson(self.n_solved, len(self.counted))

    @property
    def solve_text(self) -> str:
        """`3/5 [0.23, 0.88]`: the row's solve rate over its counted runs, as every table and findings line writes it."""
        return solve_rate_text(self.n_solved, len(self.counted))

    @property
    def steps(self) -> MedianIQR:
        """Steps to solve (the step validation met the threshold) over every counted run, an unsolved one censored
        (infinite)."""
        return quartiles(r.steps_to_solve for r in self.counted)

    def capacity(self, key: str) -> tuple[int, ...]:
        """The distinct values of a CAPACITY key over the row's runs (none: not recorded)."""
        return tuple(sorted({v for v in (_capacity(r, key) for r in self.runs) if v is not None}))

    @property
    def solve_rate(self) -> float | None:
        return self.n_solved / len(self.counted) if self.counted else None


def _capacity(run: Run, key: str) -> int | None:
    v = run.result.get(key)
    if v is None and key == "hidden_size":
        v = (run.result.get("config") or {}).get("model", {}).get("hidden_size")
    return v if isinstance(v, int) and not isinstance(v, bool) else None


@dataclass
class Results:
    keys: list[str]  # config keys whose values split a (model, task, T) into rows
    rows: list[Row]
    tuned: list[str] = field(default_factory=list)  # --tune keys: one value chosen per row on validation

    @property
    def capacity(self) -> list[str]:
        """The CAPACITY keys that some run records."""
        return [k for k in CAPACITY if any(row.capacity(k) for row in self.rows)]

    @property
    def diagnostics(self) -> list[str]:
        """The DIAGNOSTICS that some row has a value of."""
        return [k for k in DIAGNOSTICS if any(row.stats[k].n for row in self.rows)]


def _settings(run: Run) -> dict:
    """The run's config, flat, with `device` the device it ran on (the config may say only "auto")."""
    flat = _flat(run.result.get("config") or {})
    if isinstance(run.meta.get("device"), str):
        flat["device"] = json.dumps(run.meta["device"])
    return flat


def _flat(cfg, prefix="") -> dict:
    if isinstance(cfg, dict):
        out = {}
        for k, v in cfg.items():
            out.update(_flat(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: json.dumps(cfg, sort_keys=True)}


def _is_setting(key: str) -> bool:
    return not any(key == k or key.startswith(k + ".") for k in NOT_A_SETTING)


def _split_keys(runs: list[Run]) -> list[str]:
    """Config keys that differ between runs of the same (task, model, T) other than by seed: each value
    of them gets its own row, so that no row mixes two experiments."""
    groups = defaultdict(list)
    for r in runs:
        groups[r.key].append({k: v for k, v in _settings(r).items() if _is_setting(k)})
    keys = set()
    for flats in groups.values():
        for k in set().union(*flats):
            if len({f.get(k) for f in flats}) > 1:
                keys.add(k)
    return sorted(keys)


def results(runs: list[Run], tune: tuple[str, ...] = ()) -> Results:
    """A row per (task, model, T, setting); with `tune`, those keys' values compete per row (tune.py's rule,
    on validation numbers) and the row holds the chosen value's runs."""
    swept = _split_keys(runs)
    why = unswept(list(tune), swept)
    if why:
        raise ReportError(why, code=2)
    tuned = list(dict.fromkeys(tune))
    keys = [k for k in swept if k not in tuned]
    groups = defaultdict(lambda: defaultdict(list))
    for r in runs:
        flat = _settings(r)
        groups[(*r.key, tuple(flat.get(k, "null") for k in keys))][tuple(flat.get(k, "null") for k in tuned)].append(r)
    rows = []
    for (t, m, L, s), candidates in sorted(groups.items(), key=lambda kv: kv[0]):
        chosen = choose(candidates) if tuned else ()
        rs = candidates[chosen]
        rows.append(Row(t, m, L, s, rs, {k: _stat(rs, k) for k in STATS}, Counter(r.result["status"] for r in rs),
                        chosen, len(candidates)))
    return Results(keys, rows, tuned)


def setting_text(keys: list[str], setting: tuple[str, ...]) -> str:
    return " ".join(f"{k}={v}" for k, v in zip(keys, setting))


def fits(res: Results) -> dict[tuple[str, str, str], T50]:
    """T50 per (task, model, setting) over every run of every length (with --tune, the chosen value's runs at
    each length)."""
    groups = defaultdict(list)
    for row in res.rows:
        groups[(row.task, row.model, setting_text(res.keys, row.setting))] += row.counted
    return {g: fit_t50([(r.result["length"], r.solved) for r in rs], [r.result["seed"] for r in rs])
            for g, rs in sorted(groups.items())}


class SeedFrontier(NamedTuple):
    seed: int | None
    longest: int  # the longest T solved, 0 when none was
    capped: bool  # solved at the search's max_length: the true frontier may lie beyond
    done: bool  # False when the search stopped before it had bracketed the frontier


@dataclass
class Frontier:
    task: str
    model: str
    setting: str  # the overrides that set these searches apart from the others ("" when none do)
    seeds: list[SeedFrontier]
    t50: T50 | None = None  # None where the runs cannot be matched to this row

    @property
    def lengths(self) -> list[int]:
        return [s.longest for s in self.seeds]

    @property
    def median(self) -> float:
        return statistics.median(self.lengths)


@dataclass
class FrontierTable:
    rows: list[Frontier]
    source: str  # where the lengths come from: a frontier search, or the grid that ran

    @property
    def with_setting(self) -> bool:
        return any(f.setting for f in self.rows)


def probe_run(runs: dict[str, Run], where: str, probe: dict) -> Run | None:
    """The run a probe of a search file (frontier.json, t50.json in directory `where`) names, if it left a record."""
    rel = probe.get("run_dir")
    return runs.get(posixpath.normpath(posixpath.join(where, rel))) if isinstance(rel, str) else None


def _own_setting(overrides: list[str], common: set) -> str:
    """The overrides that set a search apart from the others, its model, task and seed aside."""
    return " ".join(sorted(o for o in overrides if o not in common
                           and o.split("=", 1)[0].lstrip("+~") not in ("seed", "model", "task")))


def _settings_within(found: list[tuple], key) -> list[str]:
    """Per search (the third item of each tuple in `found`), what sets it apart from the other searches of the same
    `key(search)` (its task and model): the overrides they do not all share. The override that chose the task
    (`task=...`, `+experiment/compare=adding`) is then no setting: every search of that task has it."""
    groups = defaultdict(list)
    for item in found:
        groups[key(item[2])].append(set(item[2].get("overrides") or []))
    common = {k: set.intersection(*v) for k, v in groups.items()}
    return [_own_setting(item[2].get("overrides") or [], common[key(item[2])]) for item in found]


def _from_searches(sweep: Sweep, t50s: dict) -> FrontierTable | None:
    """Each seed's longest T solved, by the test's verdict (the run's solved_test, as every other table counts):
    frontier.json's status is validation's, which steered the search."""
    found = [(where, f, s) for where, f in sweep.frontiers for s in f["searches"] if isinstance(s, dict)]
    if not found:
        return None
    runs = {r.path: r for r in sweep.runs}
    settings = _settings_within(found, lambda s: (s.get("task"), s.get("model"), s.get("seed")))
    groups = defaultdict(list)
    for (where, f, s), setting in zip(found, settings):
        solved = [pr["length"] for pr in s.get("probes") or [] if (r := probe_run(runs, where, pr)) and r.solved]
        longest = max(solved, default=0)
        capped = isinstance(f.get("max_length"), int) and longest >= f["max_length"]
        groups[(s.get("task") or "?", s.get("model") or "?", setting)].append(
            SeedFrontier(s.get("seed"), longest, capped, bool(s.get("done"))))
    settings = sorted({(f.get("resolution"), f.get("max_length")) for _, f in sweep.frontiers})
    source = "frontier search, resolution " + ", ".join(f"{r} up to T={m}" for r, m in settings)
    rows = [Frontier(t, m, s, sorted(v, key=lambda x: (x.seed is None, x.seed or 0, x.longest)), _match(t50s, t, m, groups))
            for (t, m, s), v in sorted(groups.items())]
    return FrontierTable(rows, source)


def _match(t50s: dict, task: str, model: str, searches: dict) -> T50 | None:
    """The T50 of a search's runs: the searches name their settings by override and the runs by config, so
    only a (task, model) with one group on each side is matched."""
    mine = [fit for (t, m, _), fit in t50s.items() if (t, m) == (task, model)]
    theirs = [g for g in searches if g[:2] == (task, model)]
    return mine[0] if len(mine) == 1 and len(theirs) == 1 else None


def _from_grid(t50s: dict) -> FrontierTable | None:
    if not any(fit.t_min != fit.t_max for fit in t50s.values()):
        return None  # one length per model and task: no frontier to speak of
    rows = [Frontier(t, m, s, [SeedFrontier(seed, T, False, True) for seed, T in sorted(fit.longest.items())], fit)
            for (t, m, s), fit in t50s.items()]
    return FrontierTable(rows, "the grid of lengths that ran (not a search)")


def frontier(sweep: Sweep, res: Results) -> FrontierTable | None:
    """The longest T solved per seed, from the frontier sweeper's frontier.json or else from the grid of lengths
    that ran (the results' rows), beside T50; None when neither has more than one length to compare."""
    t50s = fits(res)
    return _from_searches(sweep, t50s) or _from_grid(t50s)


def by_length(run: Run) -> dict[int, float]:
    """A finished run's test metric per test length; a record from before test lengths: its own length."""
    r = run.result
    if r.get("test_metric_by_length"):
        return {int(n): v for n, v in r["test_metric_by_length"].items() if isinstance(v, (int, float))}
    return {r["length"]: r["test_metric"]} if isinstance(r.get("test_metric"), (int, float)) else {}


@dataclass
class LengthTable:
    """Train short, test long: per results row, the test metric at each test length over its finished runs."""
    lengths: list[int]  # every test length of any row, ascending: the columns
    rows: list[tuple[Row, str, dict[int, Stat]]]  # (results row, metric name, test length -> stat)


def length_table(res: Results) -> LengthTable | None:
    """None unless some run was tested at a length other than the one it trained at."""
    if not any(set(by_length(r)) - {r.result["length"]} for row in res.rows for r in row.runs):
        return None
    rows = []
    for row in res.rows:
        per_run = [by_length(r) for r in row.runs]
        lengths = sorted(set().union(*per_run))
        rows.append((row, row.runs[0].result.get("metric_name", "metric"),
                     {n: Stat(tuple(v[n] for v in per_run if n in v and math.isfinite(v[n]))) for n in lengths}))
    return LengthTable(sorted({n for _, _, st in rows for n in st}), rows)


@dataclass
class SearchRow:
    """One T50 search (hydra_plugins/lstm_bench_t50): its measurement runs' T50 and what it cost."""
    task: str
    model: str
    setting: str  # the overrides that set it apart from the sweep's other searches ("" when none do)
    tune_key: str
    chosen: object  # the tuned value validation chose, None while tuning
    bracket: tuple  # tuning's (longest length solved, shortest none solved), on validation
    measured: list[Run]  # the measurement runs, whose test verdicts T50 is fitted to
    tuned: list[Run]  # the tuning runs
    missing: int  # probes t50.json names whose run left no readable result.json
    done: bool

    @property
    def fit(self) -> T50:
        return fit_t50([(r.result["length"], r.solved) for r in self.measured],
                       [r.result["seed"] for r in self.measured])

    @property
    def runs(self) -> list[Run]:
        return self.tuned + self.measured

    @property
    def pruned(self) -> int:
        return sum(r.result["status"] == Status.PRUNED for r in self.runs)

    @property
    def wall_time_s(self) -> float:
        return sum(_value(r.result, "wall_time_s") or 0.0 for r in self.runs)


def searches(sweep: Sweep) -> list[SearchRow]:
    """A row per T50 search of the sweep's t50.json files, its runs found by the run directories they name."""
    found = [(where, f, s) for where, f in sweep.searches for s in f["searches"] if isinstance(s, dict)]
    if not found:
        return []
    runs = {r.path: r for r in sweep.runs}
    named = []
    for where, f, s in found:
        probes = [pr for pr in s.get("probes") or [] if isinstance(pr, dict)]
        picked = {phase: [r for pr in probes if pr.get("phase") == phase and (r := probe_run(runs, where, pr))]
                  for phase in ("tune", "measure")}
        model = next((r.result["model"] for rs in picked.values() for r in rs), s.get("model") or "?")
        task = next((r.result["task"] for rs in picked.values() for r in rs), s.get("task") or "?")
        named.append((where, f, {**s, "model": model, "task": task}, probes, picked))
    settings = _settings_within(named, lambda s: (s["task"], s["model"]))
    rows = []
    for (where, f, s, probes, picked), setting in zip(named, settings):
        task, model = s["task"], s["model"]
        rows.append(SearchRow(task, model, setting, str(f.get("tune_key")),
                              s.get("chosen"), tuple(s.get("bracket") or (None, None)), picked["measure"],
                              picked["tune"], len(probes) - len(picked["tune"]) - len(picked["measure"]),
                              bool(s.get("done"))))
    return sorted(rows, key=lambda r: (r.task, r.model, r.setting))


@dataclass
class Tables:
    sweep: Sweep
    provenance: list[str]
    results: Results
    frontier: FrontierTable | None
    lengths: LengthTable | None = None
    searches: list[SearchRow] = field(default_factory=list)


def build(sweep: Sweep, tune: tuple[str, ...] = ()) -> Tables:
    res = results(sweep.runs, tune)
    found = searches(sweep)
    # a T50 search's table replaces the grid's frontier: its runs are placed to measure T50, not laid on a grid
    return Tables(sweep, provenance(sweep), res, None if found else frontier(sweep, res), length_table(res), found)
