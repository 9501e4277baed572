"""The verdict rules of the claims suite: each claim preset's `claim.criterion` names one of these classes.

Hydra instantiates the criterion from the config recorded in the claim's result.json files, and calls it
on the claim's runs (lstm_bench.report.load Run objects). Each call returns a Verdict: `verdict`, one of
"reproduced", "not reproduced", "inconclusive"; `measured`, the one-line cell "we measured" of the table;
`detail`, why that verdict; and `finished` / `expected`, the runs the criterion counted and asked for.

An ARM is a selector mapping (lstm_bench/claims/select.py): `model`, `task`, `length`, `where: {dotted
config key: value}`, `label` (all optional) and `of` (required): how many finished runs the arm expects.
Finished = status solved, unsolved or diverged; a solve is `Run.solved` (the test-set verdict,
solved_test, where recorded). Confidence intervals are 95%.

The criteria, with their kwargs:

SolveCounts(rules: list of arms, each with at_least: a and/or at_most: b)
    The paper's own kind of statement, "lstm solves T=100 in >= 4 of 5 seeds, rnn in <= 1 of 5". An arm
    with k solves in m finished runs, of n expected: with m >= n the rule holds iff k/m >= a/n (at_least)
    and k/m <= b/n (at_most) (more runs than expected: the same share); with m < n it has failed already
    iff k + (n - m) < a or k > b (the missing runs cannot save it), else it is still open.
    Reproduced iff every rule holds; not reproduced iff some rule failed; else inconclusive (too few runs).
    Measured: `lstm T=100 5/5 [0.57, 1.00], rnn T=100 0/5 [0.00, 0.43]`: solves/finished and the Wilson
    interval of the solve rate (lstm_bench.report.stats.wilson), for the reader; the verdict is the count's.
BeatsBaseline(rules: list of arms, each with at_least / at_most as above; below: 1.0)
    SolveCounts counting instead the runs whose test loss is under `below` times the task's memoryless
    baseline (result.json loss_vs_baseline < below; a diverged run, with none, does not count).
    Measured: `lstm T=100 5/5 [0.57, 1.00] under 1x baseline`.
CompareRates(better: arm, worse: arm, margin: 0.0)
    `better` solves more often than `worse`. With Wilson intervals [lo, hi] of both solve rates:
    reproduced iff lo(better) - hi(worse) > margin (the intervals are apart, better above);
    not reproduced iff hi(better) - lo(worse) <= margin (even the most favourable rates give no gain);
    inconclusive otherwise (the intervals straddle the margin), or when an arm has fewer finished runs
    than its `of`. With 5 runs each: 5/5 against 0/5 is reproduced, 4/5 against 0/5 inconclusive.
CompareSteps(faster: arm, slower: arm, factor: 1.0)
    `faster` needs fewer steps to solve than `slower`. Each run's value is its steps_to_solve, or infinity
    where it did not solve (censored: it needed more than its budget); the median and quartiles [q1, q3]
    are numpy's linear ones over the values, and a quartile that leans on an infinite value is infinite.
    Reproduced iff factor * q3(faster) < q1(slower) (the middle halves are apart, faster below, by the
    factor); not reproduced iff factor * q1(faster) >= q3(slower); inconclusive otherwise, or when an arm
    has fewer finished runs than its `of`. The quartiles are not a confidence interval: the rule asks
    the two middle halves of the runs not to overlap.
    Measured: `lstm b=1 1100 [1000, 1200] (5/5 solved), lstm b=0 inf [3000, inf] (2/5 solved)`.
MeanBound(arm, key, below: x | above: x, probe: "last", confidence: 0.95)
    The mean over the arm's runs of a number each run records, with its t interval (mean ± t·s/√n):
    `below`: reproduced iff the interval's upper end < x, not reproduced iff its lower end >= x;
    `above`: reproduced iff its lower end > x, not reproduced iff its upper end <= x; inconclusive otherwise
    (the interval straddles x), or when fewer runs than `of` record a finite value. probe "last" reads
    result.json[key] (the end of training: the trained model's probe for diagnostics); probe "first"
    reads the first diagnostics.jsonl record holding the key (the fresh model's probe, step 0).
    Measured: `rnn T=100 grad_decay_per_step (trained) -0.31 [-0.35, -0.27] (n=5)`.
GradDecay(arm, below: x | above: x, trained: true, confidence: 0.95)
    MeanBound of grad_decay_per_step, the slope of ln ‖∂l/∂h‖ per step back (lstm_bench/diagnostics/probe.py:
    negative = the gradient vanishes): trained true reads the final probe, false the fresh model's.
    "The gradient vanishes": below: 0.0. "It does not vanish": above: -0.01, say (a stated threshold).
All(criteria: list of criteria)
    Reproduced iff every one is; not reproduced iff any one is not; inconclusive otherwise.
    Measured: the parts' measured cells joined by "; ".

Every kwarg is checked when the criterion is built: a bad one is one ConfigError line naming it.
The shared parts live in verdict.py (Verdict, the base class, combine) and MeanBound and GradDecay in
means.py; this module re-exports them, so every `_target_` can name lstm_bench.claims.criteria.
"""
from __future__ import annotations

import math

from lstm_bench.claims.means import GradDecay, MeanBound
from lstm_bench.claims.select import Selector, plain
from lstm_bench.claims.verdict import (INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED, VERDICTS, Criterion, Verdict, combine,
                                       number, rate, short, threshold)
from lstm_bench.errors import ConfigError, require
from lstm_bench.report.stats import wilson

__all__ = ["All", "BeatsBaseline", "CompareRates", "CompareSteps", "Criterion", "GradDecay", "INCONCLUSIVE",
           "MeanBound", "NOT_REPRODUCED", "REPRODUCED", "SolveCounts", "VERDICTS", "Verdict", "combine"]


class SolveCounts(Criterion):
    below = None  # BeatsBaseline's threshold; None: count solves

    def __init__(self, rules):
        rules = plain(rules)
        require(isinstance(rules, list) and rules, "rules", rules, "a non-empty list of arms with at_least/at_most")
        self.rules = []
        for i, spec in enumerate(rules):
            sel, bounds = Selector.parse(spec, f"rules[{i}]", extra=("at_least", "at_most"))
            if not bounds:
                raise ConfigError(f"rules[{i}] has neither at_least nor at_most: give one or both")
            for key, v in bounds.items():
                require(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= sel.of, f"rules[{i}].{key}",
                        v, f"a count between 0 and of={sel.of}")
            self.rules.append((sel, bounds.get("at_least"), bounds.get("at_most")))

    def arms(self) -> list[Selector]:
        return [sel for sel, _, _ in self.rules]

    def hit(self, run) -> bool:
        if self.below is None:
            return run.solved
        v = number(run.result.get("loss_vs_baseline"))
        return v is not None and v < self.below

    def judge(self, runs, root):
        verdicts, cells, why = [], [], []
        for sel, at_least, at_most in self.rules:
            picked = sel.pick(runs)
            m, n = len(picked), sel.of
            k = sum(self.hit(r) for r in picked)
            what = "" if self.below is None else f" under {self.below:g}x baseline"
            cells.append(f"{sel.label} {rate(k, m)}{what}{short(sel, m)}")
            rule = " and ".join(([f">= {at_least}"] if at_least is not None else [])
                                + ([f"<= {at_most}"] if at_most is not None else [])) + f" of {n}"
            if m >= n:
                ok = (at_least is None or k * n >= at_least * m) and (at_most is None or k * n <= at_most * m)
                verdicts.append(REPRODUCED if ok else NOT_REPRODUCED)
                why.append(f"{sel.label}: {k}/{m} {'meets' if ok else 'fails'} {rule}")
            elif (at_least is not None and k + n - m < at_least) or (at_most is not None and k > at_most):
                verdicts.append(NOT_REPRODUCED)
                why.append(f"{sel.label}: {k}/{m} fails {rule} whatever the {n - m} missing runs do")
            else:
                verdicts.append(INCONCLUSIVE)
                why.append(f"{sel.label}: {m} of {n} runs finished, {rule} still open")
        return combine(verdicts), ", ".join(cells), "; ".join(why)


class BeatsBaseline(SolveCounts):
    def __init__(self, rules, below: float = 1.0):
        super().__init__(rules)
        self.below = threshold(below, "below")


class CompareRates(Criterion):
    def __init__(self, better, worse, margin: float = 0.0):
        self.better, _ = Selector.parse(better, "better")
        self.worse, _ = Selector.parse(worse, "worse")
        self.margin = threshold(margin, "margin")

    def arms(self) -> list[Selector]:
        return [self.better, self.worse]

    def judge(self, runs, root):
        counts = []
        for sel in self.arms():
            picked = sel.pick(runs)
            counts.append((sum(r.solved for r in picked), len(picked)))
        cells = ", ".join(f"{sel.label} {rate(k, m)}{short(sel, m)}" for sel, (k, m) in zip(self.arms(), counts))
        few = [sel.label for sel, (_, m) in zip(self.arms(), counts) if m < sel.of]
        if few:
            return INCONCLUSIVE, cells, f"too few finished runs: {', '.join(few)}"
        (lo_b, hi_b), (lo_w, hi_w) = (wilson(k, m) for k, m in counts)
        gap = f"difference of the solve rates in [{lo_b - hi_w:.2f}, {hi_b - lo_w:.2f}], margin {self.margin:g}"
        if lo_b - hi_w > self.margin:
            return REPRODUCED, cells, gap
        if hi_b - lo_w <= self.margin:
            return NOT_REPRODUCED, cells, gap
        return INCONCLUSIVE, cells, gap + ": the intervals straddle the margin"


def quartiles(values: list[float]) -> tuple[float, float, float]:
    """q1, median, q3 by linear interpolation between order statistics (numpy's default), where infinity
    is a value like any other: a quantile that interpolates towards an infinite one is infinite."""
    v = sorted(values)
    out = []
    for q in (0.25, 0.5, 0.75):
        pos = q * (len(v) - 1)
        i, frac = int(math.floor(pos)), pos - math.floor(pos)
        if frac == 0:
            out.append(v[i])
        else:
            out.append(math.inf if math.isinf(v[i + 1]) else v[i] + frac * (v[i + 1] - v[i]))
    return out[0], out[1], out[2]


def _steps(x: float) -> str:
    return "inf" if math.isinf(x) else f"{x:.0f}"


class CompareSteps(Criterion):
    def __init__(self, faster, slower, factor: float = 1.0):
        self.faster, _ = Selector.parse(faster, "faster")
        self.slower, _ = Selector.parse(slower, "slower")
        self.factor = threshold(factor, "factor")
        require(self.factor > 0, "factor", factor, "a number > 0")

    def arms(self) -> list[Selector]:
        return [self.faster, self.slower]

    @staticmethod
    def steps(run) -> float:
        v = number(run.result.get("steps_to_solve"))
        return v if run.solved and v is not None else math.inf

    def judge(self, runs, root):
        cells, qs, few = [], [], []
        for sel in self.arms():
            picked = sel.pick(runs)
            if len(picked) < sel.of:
                few.append(sel.label)
            if not picked:
                cells.append(f"{sel.label} no finished run{short(sel, 0)}")
                continue
            q1, med, q3 = quartiles([self.steps(r) for r in picked])
            qs.append((q1, q3))
            cells.append(f"{sel.label} {_steps(med)} [{_steps(q1)}, {_steps(q3)}] "
                         f"({sum(r.solved for r in picked)}/{len(picked)} solved){short(sel, len(picked))}")
        cells = ", ".join(cells)
        if few:
            return INCONCLUSIVE, cells, f"too few finished runs: {', '.join(few)}"
        (f1, f3), (s1, s3) = qs
        f = f" x{self.factor:g}" if self.factor != 1 else ""
        if self.factor * f3 < s1:
            return REPRODUCED, cells, f"q3 of {self.faster.label}{f} < q1 of {self.slower.label}"
        if self.factor * f1 >= s3:
            return NOT_REPRODUCED, cells, f"q1 of {self.faster.label}{f} >= q3 of {self.slower.label}"
        return INCONCLUSIVE, cells, "the interquartile ranges overlap"


class All(Criterion):
    def __init__(self, criteria):
        parts = list(criteria) if criteria is not None else []
        require(parts and all(isinstance(c, Criterion) for c in parts), "criteria", criteria,
                "a non-empty list of criteria, each with a _target_")
        self.parts = parts

    def arms(self) -> list[Selector]:
        return [sel for c in self.parts for sel in c.arms()]

    def judge(self, runs, root):
        results = [c.judge(runs, root) for c in self.parts]
        return (combine(v for v, _, _ in results), "; ".join(m for _, m, _ in results),
                "; ".join(d for _, _, d in results))
