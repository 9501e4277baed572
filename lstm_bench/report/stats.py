"""The report's statistics, pure functions of numbers: Wilson intervals, median and IQR, and T50 with its
credible interval.

Nothing here reads files or formats tables, so tables.py, plots.py, the claims' criteria and the headline
search share one definition of each number. Nothing is random: the same records give the same bits.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple, Sequence

import numpy as np


def finite(v) -> float | None:
    """A record's number as a float where it is a finite number (not a bool), else None: the one reading of a
    number from result.json, metrics.jsonl and the like."""
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def wilson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of a proportion k/n; (0, 1) when there are no trials (nothing is known)."""
    if n <= 0:
        return 0.0, 1.0
    # here, not at the top: every process imports this module (Hydra's plugin scan reaches it through the T50
    # sweeper), and scipy.stats would add most of a second to each start
    from scipy.stats import binomtest

    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def solve_rate_text(k: int, n: int) -> str:
    """`3/5 [0.23, 0.88]`: k of n with the 95% Wilson interval, the one way every table and verdict writes it."""
    lo, hi = wilson(k, n)
    return f"{k}/{n} [{lo:.2f}, {hi:.2f}]"


class MedianIQR(NamedTuple):
    median: float | None
    q1: float | None
    q3: float | None
    n: int  # the values counted: every run, an unsolved one as infinity


def quartiles(values) -> MedianIQR:
    """Median and quartiles by linear interpolation between order statistics (numpy's default), with infinity a
    value like any other: an unsolved run's steps to solve are censored (more than its budget), so they sort
    last, and a quantile that leans on one is infinite. NaN and None are not values; with none left, Nones.
    The one definition of steps-to-solve quartiles: the report's tables and figures and the claims'
    CompareSteps both read it."""
    v = sorted(float(x) for x in values if x is not None and not math.isnan(float(x)))
    if not v:
        return MedianIQR(None, None, None, 0)
    out = []
    for q in (0.5, 0.25, 0.75):
        pos = q * (len(v) - 1)
        i, frac = int(math.floor(pos)), pos - math.floor(pos)
        out.append(v[i] if frac == 0 else math.inf if math.isinf(v[i + 1]) else v[i] + frac * (v[i + 1] - v[i]))
    return MedianIQR(*out, len(v))


# ----------------------------------------------------------------------------- T50

# The model behind every T50: run i (length T_i) solves with probability sigmoid(b * (ln T50 - ln T_i)), runs
# independent. The prior: ln T50 uniform over [ln T_LOW, ln T_HIGH] and ln b uniform over [ln B_LOW, ln B_HIGH]:
# b = 0.5 is a curve that takes a factor of 6600 in T to fall from 90% to 10% solved, b = 50 one that takes 9%:
# broad enough that a shallow curve (b = 3) is not squeezed into a steep one, which made 95% intervals cover
# 91% of the time in benchmarks/t50_coverage.py with slopes 1-100.
# The posterior is computed on a grid (STEP apart in ln T50): exact up to the grid, and deterministic.
T_LOW, T_HIGH = 1.0, 1e5
B_LOW, B_HIGH = 0.5, 50.0
STEP = 0.02  # 2% in T: finer than any interval it reports
N_SLOPES = 21
T50_INTERVAL = "95% credible interval"
T50_MODEL = (f"T50 is the posterior median, its interval the central {T50_INTERVAL} of a logistic solve rate in "
             f"ln T (flat prior on ln T50 over {T_LOW:g}-{T_HIGH:g}, log-uniform slope {B_LOW:g}-{B_HIGH:g})")


@dataclass(frozen=True)
class T50:
    """The length at which a model solves a task half the time, with its 95% credible interval.

    kind "fit": value is the posterior median, inside the lengths that ran; lo and hi the 2.5% and 97.5%
    posterior quantiles, except that lo is 0 where that quantile lies below the shortest length in the fit,
    and hi is inf where it lies above the longest (the interval runs off the lengths: prior, not data, would
    place that end). kind "above": T50 > lo (every run solved: lo is the longest length; or the median lies
    beyond the lengths and lo is the 2.5% quantile); kind "below": T50 < hi, likewise; kind "none": no runs.
    fitted_from: where the solve rate rises with T before it falls (a length solved less often than a longer
    one that is the most solved), the fit starts at that most-solved length; None where it did not need to.
    """
    kind: str
    value: float | None = None
    lo: float | None = None
    hi: float | None = None
    n_runs: int = 0
    n_seeds: int = 0
    longest: dict = field(default_factory=dict)  # seed -> the longest T that seed solved (0: none)
    t_min: float | None = None  # the shortest and longest lengths in the fit: where an interval runs off them
    t_max: float | None = None
    fitted_from: float | None = None
    weights: np.ndarray | None = field(default=None, compare=False, repr=False)  # the posterior on the grid

    @property
    def censored(self) -> bool:
        return self.kind != "fit"

    @property
    def finite(self) -> bool:
        """A value and an interval with two ends inside the lengths that ran: what the headline asks for."""
        return self.kind == "fit" and bool(self.lo) and self.hi is not None and math.isfinite(self.hi)

    def text(self) -> str:
        """`140 [120, 170]`, `140 [< 100, 170]`, `> 400`, `< 50`, or `n/a`."""
        if self.kind == "fit":
            hi = f"> {fmt_length(self.t_max)}" if self.hi == math.inf else fmt_length(self.hi)
            lo = f"< {fmt_length(self.t_min)}" if self.lo == 0 else fmt_length(self.lo)
            return f"{fmt_length(self.value)} [{lo}, {hi}]"
        if self.kind == "above":
            return f"> {fmt_length(self.lo)}"
        if self.kind == "below":
            return f"< {fmt_length(self.hi)}"
        return "n/a"

    def note(self) -> str | None:
        """What the fit did to the data, in words, when it did anything."""
        if self.fitted_from is None:
            return None
        return (f"fitted from T = {fmt_length(self.fitted_from)}, the most solved length: shorter lengths were "
                f"solved less often (the solve rate rises there before it falls)")


def fmt_length(x: float | None) -> str:
    """A length as an integer where it is one (200), else three significant digits, no exponent: 1432, 22.4."""
    if x is None or not math.isfinite(x):
        return "-"
    if float(x).is_integer() or x >= 1000:
        return f"{x:.0f}"
    return f"{x:.{max(0, 2 - math.floor(math.log10(x)))}f}"


_U = np.arange(math.log(T_LOW), math.log(T_HIGH) + STEP / 2, STEP)  # the grid of ln T50
_B = np.exp(np.linspace(math.log(B_LOW), math.log(B_HIGH), N_SLOPES))  # the grid of slopes


class Posterior:
    """The posterior of ln T50 on the grid, run by run: `add` a length's solves, read `weights` or `quantiles`."""

    def __init__(self) -> None:
        self.loglik = np.zeros((len(_U), len(_B)))  # (U, B): the log likelihood of every (ln T50, slope)

    def add(self, length: float, solved: float, runs: float = 1) -> Posterior:
        """`solved` solves of `runs` runs at `length`."""
        z = _B[None, :] * (_U[:, None] - math.log(length))  # (U, B)
        log_sigmoid = -np.logaddexp(0.0, -z)  # log sigmoid(z), stable for either sign (scipy's log_expit, bit for bit)
        self.loglik += runs * log_sigmoid - (runs - solved) * z  # log sigmoid(-z) = log sigmoid(z) - z
        return self

    def weights(self) -> np.ndarray:
        """(U,) the posterior of ln T50 on the grid, summing to 1; the slope's prior is uniform on its grid."""
        w = np.exp(self.loglik - self.loglik.max()).sum(1)
        return w / w.sum()

    def quantiles(self, qs: Sequence[float]) -> list[float]:
        """Quantiles of T50: each grid point's mass spread evenly over its cell in ln T."""
        edges = np.concatenate([[_U[0] - STEP / 2], _U + STEP / 2])
        cdf = np.concatenate([[0.0], np.cumsum(self.weights())])
        return [float(math.exp(np.interp(q, cdf, edges))) for q in qs]


def rising_start(levels: Sequence[float], k: Sequence[float], n: Sequence[float]) -> int:
    """The index of the first length the fit keeps: the most solved length (the shortest of equals) where a
    shorter length was solved less often and that length's rate is over 1/2, else 0 (keep them all).
    A solve rate that rises with T before it falls (copy at short delays) is not the falling curve that T50
    locates; below the most-solved length the data say nothing about where it falls through 1/2."""
    rate = np.asarray(k, dtype=float) / np.asarray(n, dtype=float)
    peak = int(np.argmax(rate))  # argmax takes the first of equals: the shortest
    return peak if rate[peak] > 0.5 and (rate[:peak] < rate[peak]).any() else 0


def fit_t50(points: Sequence[tuple[float, bool]], seeds: Sequence, confidence: float = 0.95) -> T50:
    """T50 of (length, solved) points, one per run, `seeds[i]` the seed of points[i] (for the per-seed longest
    solved length only: every run is one independent trial). See T50 and T50_MODEL for what it computes."""
    if len(points) != len(seeds):
        raise ValueError(f"{len(points)} points but {len(seeds)} seeds")
    if not points:
        return T50("none")
    longest: dict = {}
    for (L, solved), s in zip(points, seeds):
        longest[s] = max(longest.get(s, 0), L if solved else 0)
    longest = dict(sorted(longest.items(), key=lambda kv: (str(type(kv[0])), kv[0])))
    levels = sorted({float(L) for L, _ in points})
    k = np.array([sum(bool(s) for L, s in points if float(L) == T) for T in levels], dtype=float)
    n = np.array([sum(1 for L, _ in points if float(L) == T) for T in levels], dtype=float)
    start = rising_start(levels, k, n)
    levels, k, n = levels[start:], k[start:], n[start:]
    common = dict(n_runs=len(points), n_seeds=len(longest), longest=longest, t_min=levels[0], t_max=levels[-1],
                  fitted_from=levels[0] if start else None)
    if k.sum() == n.sum():
        return T50("above", lo=levels[-1], **common)
    if k.sum() == 0:
        return T50("below", hi=levels[0], **common)
    alpha = (1 - confidence) / 2
    post = Posterior()
    for T, kk, nn in zip(levels, k, n):
        post.add(T, kk, nn)
    lo, median, hi = post.quantiles((alpha, 0.5, 1 - alpha))
    common["weights"] = post.weights()
    inside = lambda x: levels[0] <= x <= levels[-1]  # noqa: E731
    if median > levels[-1]:  # more likely beyond every length than not: a lower bound is all there is to say
        return T50("above", lo=lo, **common)
    if median < levels[0]:
        return T50("below", hi=hi, **common)
    return T50("fit", value=median, lo=lo if inside(lo) else 0.0, hi=hi if inside(hi) else math.inf, **common)


def ratio(a: T50, b: T50, confidence: float = 0.95) -> tuple[float, float, float] | None:
    """T50 of `a` over T50 of `b`: (posterior median, lo, hi) of the ratio, the central `confidence` credible
    interval, the two searches' runs independent; None where either has no posterior (all or none solved)."""
    if a.weights is None or b.weights is None:
        return None
    w = np.convolve(a.weights, b.weights[::-1])  # ln a - ln b on a grid STEP apart, from -(U - 1) STEP up
    offsets = (np.arange(len(w)) - (len(b.weights) - 1)) * STEP
    edges = np.concatenate([[offsets[0] - STEP / 2], offsets + STEP / 2])
    cdf = np.concatenate([[0.0], np.cumsum(w / w.sum())])
    alpha = (1 - confidence) / 2
    return tuple(float(math.exp(np.interp(q, cdf, edges))) for q in (0.5, alpha, 1 - alpha))
