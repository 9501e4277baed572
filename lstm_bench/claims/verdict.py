"""A claim's verdict, and what every criterion shares: the arms it counts and the rule that combines verdicts."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lstm_bench.claims.select import Selector
from lstm_bench.errors import require
from lstm_bench.report.stats import finite

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE)


@dataclass(frozen=True)
class Verdict:
    verdict: str
    measured: str
    detail: str
    finished: int = 0  # finished runs counted, summed over the distinct arms
    expected: int = 0  # runs asked for, summed over the distinct arms


def combine(verdicts) -> str:
    """Every part reproduced: reproduced; any part not reproduced: not reproduced; else inconclusive."""
    verdicts = list(verdicts)
    if any(v == NOT_REPRODUCED for v in verdicts):
        return NOT_REPRODUCED
    return REPRODUCED if verdicts and all(v == REPRODUCED for v in verdicts) else INCONCLUSIVE


def required_number(v, key: str) -> float:
    """A criterion's numeric kwarg (a threshold, a margin, a factor), checked: one ConfigError line unless finite."""
    require(finite(v) is not None, key, v, "a finite number")
    return float(v)


def runs_missing(sel: Selector, m: int) -> str:
    """The suffix a measured cell gets when an arm has fewer finished runs than it expects: ` (3 of 5 runs)`."""
    return f" ({m} of {sel.of} runs)" if m < sel.of else ""


class Criterion:
    """The common part: the arms (selector, runs expected) that say how many runs the criterion counts."""

    def arms(self) -> list[Selector]:
        raise NotImplementedError

    def judge(self, runs, root: Path | None) -> tuple[str, str, str]:
        raise NotImplementedError

    def __call__(self, runs, root: Path | None = None) -> Verdict:
        verdict, measured, detail = self.judge(list(runs), None if root is None else Path(root))
        distinct = {}  # two arms over the same runs (rules of All's parts) count them once
        for sel in self.arms():
            if sel.identity not in distinct or sel.of > distinct[sel.identity].of:
                distinct[sel.identity] = sel
        finished = sum(len(sel.pick(runs)) for sel in distinct.values())
        return Verdict(verdict, measured, detail, finished, sum(sel.of for sel in distinct.values()))
