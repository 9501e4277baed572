"""The criteria on a number each run records (a diagnostic, say): its mean over the runs with a t interval."""
from __future__ import annotations

import math
from pathlib import Path

from scipy.stats import t as student_t

from lstm_bench.claims.select import Selector, lookup
from lstm_bench.claims.verdict import INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED, Criterion, required_number, runs_missing
from lstm_bench.errors import require
from lstm_bench.records import read_jsonl
from lstm_bench.report.stats import finite

def first_probe(run, root: Path | None, key: str) -> float | None:
    """`key` in the first diagnostics.jsonl record that holds it (the fresh model's probe)."""
    if root is None:
        return None
    try:
        rows = read_jsonl(root / run.path / "diagnostics.jsonl")
    except (OSError, ValueError):
        return None
    for row in rows:
        if isinstance(row, dict) and key in row:
            return finite(row[key])
    return None


class MeanBound(Criterion):
    PROBES = ("last", "first")

    def __init__(self, arm, key: str, below: float | None = None, above: float | None = None,
                 probe: str = "last", confidence: float = 0.95):
        self.arm, _ = Selector.parse(arm, "arm")
        require(isinstance(key, str) and key, "key", key, "the name of a number in result.json")
        require((below is None) != (above is None), "below/above", (below, above), "exactly one of below and above")
        require(probe in self.PROBES, "probe", probe, "last (result.json) or first (the first diagnostics record)")
        require(finite(confidence) is not None and 0 < confidence < 1, "confidence", confidence, "in (0, 1)")
        self.key, self.probe, self.confidence = key, probe, float(confidence)
        self.below = None if below is None else required_number(below, "below")
        self.above = None if above is None else required_number(above, "above")

    def arms(self) -> list[Selector]:
        return [self.arm]

    def value(self, run, root):
        if self.probe == "first":
            return first_probe(run, root, self.key)
        if self.key == "steps_to_solve":  # a time to an event: censored where the test says it did not happen
            return run.steps_to_solve
        v = lookup(run.result, self.key)  # a dotted key reads into result.json: test_metric_by_length.64
        return finite(v) if not isinstance(v, dict) else None

    def interval(self, values: list[float], stopped: list[float] | None = None) -> tuple[float, float, float]:
        """mean, and the t interval mean ± t_{(1+c)/2, n-1}·s/√n ((-inf, inf) for one value). Infinite (censored)
        values count at `stopped`, the step each run stopped, and the mean and upper end are then infinite."""
        if stopped is not None and any(math.isinf(v) for v in values):
            _, lo, _ = self.interval([s if math.isinf(v) else v for v, s in zip(values, stopped)])
            return math.inf, lo, math.inf
        n = len(values)
        mean = sum(values) / n
        if n < 2:
            return mean, -math.inf, math.inf
        s = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
        half = float(student_t.ppf((1 + self.confidence) / 2, n - 1)) * s / math.sqrt(n)
        return mean, mean - half, mean + half

    def what(self) -> str:
        return f"{self.key} ({self.probe} probe)"

    def judge(self, runs, root):
        found = [(v, r) for r in self.arm.pick(runs) if (v := self.value(r, root)) is not None]
        values = [v for v, _ in found]
        n = len(values)
        if not n:
            return INCONCLUSIVE, f"{self.arm.label} {self.what()}: none recorded (0 of {self.arm.of} runs)", \
                "no run records the value"
        stopped = [finite(r.result.get("steps")) or 0.0 for _, r in found]
        mean, lo, hi = self.interval(values, stopped)
        censored = sum(math.isinf(v) for v in values)
        at_least = sum(s if math.isinf(v) else v for v, s in zip(values, stopped)) / n  # each censored run at its stop
        shown = f"> {at_least:.3g}" if math.isinf(mean) else f"{mean:.3g}"
        cell = (f"{self.arm.label} {self.what()} {shown} [{lo:.3g}, {hi:.3g}] (n={n}"
                + (f", {censored} unsolved" if censored else "") + ")" + runs_missing(self.arm, n))
        if n < self.arm.of:
            return INCONCLUSIVE, cell, f"{n} of {self.arm.of} runs record {self.key}"
        ci = f"{self.confidence:.0%} interval [{lo:.3g}, {hi:.3g}]"
        if self.below is not None:
            if hi < self.below:
                return REPRODUCED, cell, f"{ci} below {self.below:g}"
            if lo >= self.below:
                return NOT_REPRODUCED, cell, f"{ci} not below {self.below:g}"
            return INCONCLUSIVE, cell, f"{ci} straddles {self.below:g}"
        if lo > self.above:
            return REPRODUCED, cell, f"{ci} above {self.above:g}"
        if hi <= self.above:
            return NOT_REPRODUCED, cell, f"{ci} not above {self.above:g}"
        return INCONCLUSIVE, cell, f"{ci} straddles {self.above:g}"


class GradDecay(MeanBound):
    def __init__(self, arm, below: float | None = None, above: float | None = None, trained: bool = True,
                 confidence: float = 0.95):
        require(isinstance(trained, bool), "trained", trained, "true (the final probe) or false (the fresh model's)")
        super().__init__(arm, "grad_decay_per_step", below, above, "last" if trained else "first", confidence)
        self.trained = trained

    def what(self) -> str:
        return f"{self.key} ({'trained' if self.trained else 'fresh'})"
