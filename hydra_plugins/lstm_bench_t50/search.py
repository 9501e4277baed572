"""The T50 search on its own (no Hydra): where one model's solve rate on one task falls through 1/2, with its
95% credible interval (lstm_bench.report.stats), spending runs where they inform it.

Two phases, each a sequence of rounds; a round is a list of Probes that can run side by side.

1. Tune, on validation only. A ladder of lengths doubling from `start` (halving first if nothing solves
   there): every value of the tuned key still in the race runs once per rung, all with the rung's tuning seed
   (TUNE_SEED + T), and a value stays in the race while validation calls it solved. At the first rung where
   no value does, the chosen value is the one that solved the rung below with the lowest validation loss at the
   rung that none solved (then the fewest steps to solve below it, then the first value listed). Its bracket,
   (the longest rung it solved, the rung none did), is where the measurement starts.
2. Measure, on test verdicts. Fresh seeds 0, 1, 2, ..., the chosen value only, `per_round` runs a round at
   the quantiles j/(per_round + 1) of the placement posterior: the measurement runs' likelihood times a normal
   prior on ln T50 centred on the bracket's geometric middle with sd PLACEMENT_SD (a probabilistic bisection:
   each run goes where T50 is as likely above as below; while an end of the credible interval lies beyond every
   length run, the outermost probe on that side goes to that end). It stops once at least `n_min` runs made the 95%
   credible interval finite (both ends inside the lengths run) and hi/lo <= 1 + rel_width, or after `n_max`.

T50 and its interval come from the measurement runs alone, under the flat prior that stats.fit_t50 states:
the tuning runs chose the value on validation and so stay out of the estimate, and where the runs were placed
changes what is learnt, not what the posterior means. benchmarks/t50_coverage.py measures how often this very
procedure's interval holds a known T50.
"""

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from lstm_bench.report.stats import T50, Posterior, _U, fit_t50

TUNE, MEASURE = "tune", "measure"
TUNE_SEED = 1000  # a rung's tuning seed is 1000 + T: never a measurement seed (those count up from 0 to n_max)
PLACEMENT_SD = math.log(3)  # how far from the tuning bracket the first measurement runs may land


@dataclass(frozen=True)
class Probe:
    phase: str  # TUNE or MEASURE
    length: int
    choice: int  # index into the tuned values
    seed: int


@dataclass
class Outcome:
    probe: Probe
    solved_val: bool  # validation met the solved rule (the run's status), what tuning reads
    solved_test: bool  # the test verdict at the same step, what the measurement counts
    val_loss: float = math.inf  # final validation loss: tuning's tie-break (inf: none, a diverged run)
    steps_to_solve: float = math.inf  # where validation met the rule (inf: never)
    extra: dict = field(default_factory=dict)  # whatever the caller keeps with it (the run directory, ...)


class T50Search:
    def __init__(self, start: int, n_choices: int = 1, min_length: int = 2, max_length: int = 8192,
                 per_round: int = 2, n_min: int = 8, n_max: int = 24, rel_width: float = 1.0,
                 confidence: float = 0.95):
        if not (1 <= min_length <= start <= max_length):
            raise ValueError(f"need 1 <= min_length ({min_length}) <= start ({start}) <= max_length ({max_length})")
        if not (n_choices >= 1 and per_round >= 1 and 1 <= n_min <= n_max and rel_width > 0):
            raise ValueError(f"need n_choices >= 1, per_round >= 1, 1 <= n_min <= n_max, rel_width > 0; got "
                             f"{n_choices}, {per_round}, {n_min}, {n_max}, {rel_width}")
        self.start, self.n_choices = start, n_choices
        self.min_length, self.max_length = min_length, max_length
        self.per_round, self.n_min, self.n_max, self.rel_width = per_round, n_min, n_max, rel_width
        self.confidence = confidence
        self.outcomes: list[Outcome] = []
        self.chosen: Optional[int] = None
        self.bracket: tuple[Optional[int], Optional[int]] = (None, None)  # (solved, failed) on validation
        self.capped = False  # a value solved max_length in tuning: T50 may lie beyond what may be run
        self._pending: list[Probe] = []

    # ---- tuning

    def _rungs(self) -> dict[int, list[Outcome]]:
        rungs: dict[int, list[Outcome]] = {}
        for o in self.outcomes:
            if o.probe.phase == TUNE:
                rungs.setdefault(o.probe.length, []).append(o)
        return rungs

    def _next_rung(self) -> Optional[list[Probe]]:
        """The next tuning rung's probes, or None once tuning is over (self.chosen and self.bracket set)."""
        rungs = self._rungs()
        if not rungs:
            return self._rung(self.start, range(self.n_choices))
        solved = {T: [o for o in os if o.solved_val] for T, os in rungs.items()}
        top = max(rungs)
        if solved[top]:  # climbing: the values that solved the top rung go on up
            if top >= self.max_length:
                self.capped = True
                return self._finish_tuning(solved[top], [], top, None)
            return self._rung(min(2 * top, self.max_length), [o.probe.choice for o in solved[top]])
        below = [T for T in rungs if T < top and solved[T]]
        if below:  # the climb ended at `top`, or the descent at the rung below the last it failed
            T = max(below)
            failed = min(R for R in rungs if R > T)
            return self._finish_tuning(solved[T], rungs[failed], T, failed)
        bottom = min(rungs)  # nothing solved yet: go down
        if bottom <= self.min_length:
            return self._finish_tuning([], rungs[bottom], None, bottom)
        return self._rung(max(bottom // 2, self.min_length), range(self.n_choices))

    def _rung(self, length: int, choices) -> list[Probe]:
        return [Probe(TUNE, length, c, TUNE_SEED + length) for c in choices]

    def _finish_tuning(self, solved_below: list[Outcome], at_failed: list[Outcome], solved_len, failed_len) -> None:
        failed_loss = {o.probe.choice: o.val_loss for o in at_failed}
        steps = {o.probe.choice: o.steps_to_solve for o in solved_below}
        pool = [o.probe.choice for o in solved_below] or list(failed_loss)
        self.chosen = min(pool, key=lambda c: (failed_loss.get(c, math.inf), steps.get(c, math.inf), c))
        self.bracket = (solved_len, failed_len)
        return None

    # ---- measurement

    @property
    def measured(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.probe.phase == MEASURE]

    def fit(self) -> T50:
        """T50 from the measurement runs' test verdicts (stats.fit_t50)."""
        runs = self.measured
        return fit_t50([(o.probe.length, o.solved_test) for o in runs], [o.probe.seed for o in runs], self.confidence)

    def _placement(self) -> Posterior:
        post = Posterior()
        lo, hi = self.bracket
        lo = lo if lo is not None else self.min_length
        hi = hi if hi is not None else self.max_length
        centre = 0.5 * (math.log(lo) + math.log(hi))
        post.loglik += (-0.5 * ((_U - centre) / PLACEMENT_SD) ** 2)[:, None]
        for o in self.measured:
            post.add(o.probe.length, float(o.solved_test))
        return post

    def _settled(self) -> bool:
        runs = self.measured
        if len(runs) >= self.n_max:
            return True
        if len(runs) < self.n_min:
            return False
        t = self.fit()
        return t.finite and t.hi / t.lo <= 1 + self.rel_width

    def _next_measure(self) -> Optional[list[Probe]]:
        if self._settled():
            return None
        n = len(self.measured)
        k = min(self.per_round, self.n_max - n)
        qs = [(j + 1) / (k + 1) for j in range(k)]
        # an interval end beyond every length run rests on the prior: the outermost probe on that side goes there
        t = self.fit() if n else None
        if t is not None and t.kind == "fit":
            if not t.lo:
                qs[0] = (1 - self.confidence) / 2
            if k > 1 and not math.isfinite(t.hi):
                qs[-1] = (1 + self.confidence) / 2
        lengths = [int(min(max(round(T), self.min_length), self.max_length)) for T in self._placement().quantiles(qs)]
        return [Probe(MEASURE, T, self.chosen, n + j) for j, T in enumerate(lengths)]

    # ---- the driver's interface

    def next_round(self) -> list[Probe]:
        """The probes to run now (all of them before the next call), or [] when the search is over."""
        if self._pending:
            raise RuntimeError("record every probe of the last round before asking for the next")
        probes = self._next_rung() if self.chosen is None else None
        if probes is None:
            probes = self._next_measure() or []
        self._pending = list(probes)
        return probes

    def record(self, outcome: Outcome) -> None:
        self._pending.remove(outcome.probe)
        self.outcomes.append(outcome)

    @property
    def phase(self) -> str:
        return TUNE if self.chosen is None else MEASURE

    @property
    def done(self) -> bool:
        return self.chosen is not None and not self._pending and self._settled()

    def status(self) -> str:
        """One line on where the search stands: the tuning ladder, or the measurement's current T50."""
        if self.chosen is None:
            rungs = self._rungs()
            if not rungs:
                return "tuning: not started"
            return "tuning: " + ", ".join(f"T={T} {sum(o.solved_val for o in os)}/{len(os)} solved on validation"
                                          for T, os in sorted(rungs.items()))
        lo, hi = self.bracket
        n = len(self.measured)
        return (f"bracket ({lo}, {hi}) from tuning; measuring: {n} run{'s' * (n != 1)}, T50 {self.fit().text()}"
                if n else f"bracket ({lo}, {hi}) from tuning; measuring: no runs yet")

    def to_dict(self) -> dict[str, Any]:
        return {"chosen": self.chosen, "bracket": list(self.bracket), "capped": self.capped, "done": self.done,
                "outcomes": [{**asdict(o.probe), "solved_val": o.solved_val, "solved_test": o.solved_test,
                              "val_loss": o.val_loss, "steps_to_solve": o.steps_to_solve, **o.extra}
                             for o in self.outcomes]}


def run_search(search: T50Search, trial) -> T50Search:
    """Run a search to the end against `trial(probe) -> (solved_val, solved_test, val_loss, steps_to_solve)`
    (the coverage simulation and the tests)."""
    while probes := search.next_round():
        for p in probes:
            search.record(Outcome(p, *trial(p)))
    return search

