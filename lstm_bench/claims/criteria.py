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
    `faster` needs fewer steps to solve than `slower`. Each run's value is its steps_to_solve where the test
    counts it solved, or infinity where not (censored: it needed more than its budget; Run.steps_to_solve);
    the median and quartiles [q1, q3] are lstm_bench.report.stats.quartiles (numpy's linear ones, a quartile
    that leans on an infinite value infinite), the report's own. Reproduced iff factor * q3(faster) < q1(slower)
    (the middle halves are apart, faster below, by the factor); not reproduced iff q3(slower) is finite and
    factor * q1(faster) >= q3(slower) (two censored quartiles cannot be ordered: neither arm solving is
    inconclusive); inconclusive otherwise, or when an arm has fewer finished runs than its `of`. The quartiles are not a confidence interval: the rule asks
    the two middle halves of the runs not to overlap.
    Measured: `lstm b=1 1100 [1000, 1200] (5/5 solved), lstm b=0 inf [3000, inf] (2/5 solved)`.
MeanBound(arm, key, below: x | above: x, probe: "last", confidence: 0.95)
    The mean over the arm's runs of a number each run records, with its t interval (mean ± t·s/√n).
    steps_to_solve is read as the tables read it (Run.steps_to_solve): a run the test does not count as solved
    is censored, infinite; then the mean is only known to exceed the mean with each censored run at the step it
    stopped, and the interval is that mean's t interval's lower end to infinity.
    `below`: reproduced iff the interval's upper end < x, not reproduced iff its lower end >= x;
    `above`: reproduced iff its lower end > x, not reproduced iff its upper end <= x; inconclusive otherwise
    (the interval straddles x), or when fewer runs than `of` record a finite value. probe "last" reads
    result.json[key] (the end of training: the trained model's probe for diagnostics), or a dotted key into
    it (test_metric_by_length.64: the final test metric at test length 64); probe "first"
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
                                       required_number, runs_missing)
from lstm_bench.errors import ConfigError, require
from lstm_bench.report.stats import finite, quartiles, solve_rate_text, wilson

__all__ = ["All", "BeatsBaseline", "CompareRates", "CompareSteps", "Criterion", "GradDecay", "INCONCLUSIVE",
           "MeanBound", "NOT_REPRODUCED", "REPRODUCED", "SolveCounts", "VERDICTS", "Verdict", "combine", "quartiles"]


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
        v = finite(run.result.get("loss_vs_baseline"))
        return v is not None and v < self.below

    def judge(self, runs, root):
        verdicts, cells, why = [], [], []
        for sel, at_least, at_most in self.rules:
            picked = sel.pick(runs)
            m, n = len(picked), sel.of
            k = sum(self.hit(r) for r in picked)
            what = "" if self.below is None else f" under {self.below:g}x baseline"
            cells.append(f"{sel.label} {solve_rate_text(k, m)}{what}{runs_missing(sel, m)}")
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
        self.below = required_number(below, "below")


class CompareRates(Criterion):
    def __init__(self, better, worse, margin: float = 0.0):
        self.better, _ = Selector.parse(better, "better")
        self.worse, _ = Selector.parse(worse, "worse")
        self.margin = required_number(margin, "margin")

    def arms(self) -> list[Selector]:
        return [self.better, self.worse]

    def judge(self, runs, root):
        counts = []
        for sel in self.arms():
            picked = sel.pick(runs)
            counts.append((sum(r.solved for r in picked), len(picked)))
        cells = ", ".join(f"{sel.label} {solve_rate_text(k, m)}{runs_missing(sel, m)}" for sel, (k, m) in zip(self.arms(), counts))
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


def _steps(x: float) -> str:
    return "inf" if math.isinf(x) else f"{x:.0f}"


class CompareSteps(Criterion):
    def __init__(self, faster, slower, factor: float = 1.0):
        self.faster, _ = Selector.parse(faster, "faster")
        self.slower, _ = Selector.parse(slower, "slower")
        self.factor = required_number(factor, "factor")
        require(self.factor > 0, "factor", factor, "a number > 0")

    def arms(self) -> list[Selector]:
        return [self.faster, self.slower]

    def judge(self, runs, root):
        cells, qs, few = [], [], []
        for sel in self.arms():
            picked = sel.pick(runs)
            if len(picked) < sel.of:
                few.append(sel.label)
            if not picked:
                cells.append(f"{sel.label} no finished run{runs_missing(sel, 0)}")
                continue
            m = quartiles(r.steps_to_solve for r in picked)
            qs.append((m.q1, m.q3))
            cells.append(f"{sel.label} {_steps(m.median)} [{_steps(m.q1)}, {_steps(m.q3)}] "
                         f"({sum(r.solved for r in picked)}/{len(picked)} solved){runs_missing(sel, len(picked))}")
        cells = ", ".join(cells)
        if few:
            return INCONCLUSIVE, cells, f"too few finished runs: {', '.join(few)}"
        (f1, f3), (s1, s3) = qs
        f = f" x{self.factor:g}" if self.factor != 1 else ""
        if self.factor * f3 < s1:
            return REPRODUCED, cells, f"q3 of {self.faster.label}{f} < q1 of {self.slower.label}"
        # censored times cannot be ordered: "slower" must be known to solve (a finite q3) to be no slower
        if math.isfinite(s3) and self.factor * f1 >= s3:
            return NOT_REPRODUCED, cells, f"q1 of {self.faster.label}{f} >= q3 of {self.slower.label}"
        if not math.isfinite(s3) and not math.isfinite(f1):
            return INCONCLUSIVE, cells, "too few runs solve for the quartiles to be ordered (unsolved runs are censored)"
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
