"""The report's statistics, pure functions of numbers: Wilson intervals, median and IQR, and T50 from a logistic fit.

Nothing here reads files or formats tables, so tables.py and plots.py share one definition of each
number. Every random draw comes from a fixed seed: the same records give the same bits.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple, Sequence

import numpy as np
from scipy.stats import binomtest

N_BOOT = 2000  # bootstrap resamples for T50's interval
BOOT_SEED = 0


def wilson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of a proportion k/n; (0, 1) when there are no trials (nothing is known)."""
    if n <= 0:
        return 0.0, 1.0
    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


class MedianIQR(NamedTuple):
    median: float | None
    q1: float | None
    q3: float | None
    n: int


def median_iqr(values) -> MedianIQR:
    """Median and quartiles (linear interpolation between order statistics, numpy's default) of the finite
    values; Nones and an n of 0 when there are none."""
    v = np.asarray([float(x) for x in values if x is not None and math.isfinite(float(x))], dtype=float)
    if not v.size:
        return MedianIQR(None, None, None, 0)
    q1, med, q3 = np.percentile(v, [25, 50, 75])
    return MedianIQR(float(med), float(q1), float(q3), int(v.size))


@dataclass(frozen=True)
class T50:
    """The length at which a model solves a task half the time.

    kind is "fit" (value from the fit, lo/hi its bootstrap interval; hi is inf where over 2.5% of the
    resamples solve every length, lo 0 where they solve none), "above" (every run solved: T50 > lo, the
    longest length run), "below" (no run solved: T50 < hi, the shortest), "between" (the solved and unsolved
    lengths do not overlap, so the fit has no finite slope: lo < T50 < hi, lo the longest length that every
    run solved, hi the shortest that none did; either may be None), or "none" (no finite estimate: a single
    length, or a fitted solve probability that rises with T).
    """
    kind: str
    value: float | None = None
    lo: float | None = None
    hi: float | None = None
    n_runs: int = 0
    n_seeds: int = 0
    longest: dict = field(default_factory=dict)  # seed -> the longest T that seed solved (0: none)
    t_min: float | None = None  # the shortest and longest lengths run: where an interval runs off them
    t_max: float | None = None

    @property
    def censored(self) -> bool:
        return self.kind != "fit"

    def text(self) -> str:
        """`140 [120, 170]`, `> 400`, `< 50`, `in (100, 200)`, or `n/a`."""
        if self.kind == "fit":
            hi = f"> {fmt_length(self.t_max)}" if self.hi == math.inf else fmt_length(self.hi)
            lo = f"< {fmt_length(self.t_min)}" if self.lo == 0 else fmt_length(self.lo)
            return f"{fmt_length(self.value)} [{lo}, {hi}]"
        if self.kind == "above":
            return f"> {fmt_length(self.lo)}"
        if self.kind == "below":
            return f"< {fmt_length(self.hi)}"
        if self.kind == "between" and (self.lo is not None or self.hi is not None):
            if self.lo is None:
                return f"< {fmt_length(self.hi)}"
            if self.hi is None:
                return f"> {fmt_length(self.lo)}"
            return f"in ({fmt_length(self.lo)}, {fmt_length(self.hi)})"
        return "n/a"


def fmt_length(x: float | None) -> str:
    """A length as an integer where it is one (200), else three significant digits, no exponent: 1432, 22.4."""
    if x is None or not math.isfinite(x):
        return "-"
    if float(x).is_integer() or x >= 1000:
        return f"{x:.0f}"
    return f"{x:.{max(0, 2 - math.floor(math.log10(x)))}f}"


def _fit(x: np.ndarray, k: np.ndarray, n: np.ndarray, iters: int = 50) -> np.ndarray:
    """T50 of many data sets at once by maximum likelihood: row r has k[r, j] solves in n[r, j] runs at
    log length x[j], P(solved) = sigmoid(a + b·(x − mean x)). Newton's method with step halving per row.
    A row whose fit does not settle (separation) or whose slope is not negative gets nan."""
    xc = x - x.mean()  # centred: a better-conditioned Hessian
    rate = np.clip(k.sum(1) / n.sum(1), 1e-3, 1 - 1e-3)
    a, b = np.log(rate / (1 - rate)), np.zeros(len(k))

    def nll(a, b):
        z = a[:, None] + b[:, None] * xc
        return np.sum(n * np.logaddexp(0.0, z) - k * z, axis=1)

    f = nll(a, b)
    done = np.zeros(len(k), bool)
    for _ in range(iters):
        p = 1 / (1 + np.exp(-(a[:, None] + b[:, None] * xc)))
        r, w = n * p - k, n * p * (1 - p)
        ga, gb = r.sum(1), (r * xc).sum(1)
        haa, hab, hbb = w.sum(1), (w * xc).sum(1), (w * xc * xc).sum(1)
        det = haa * hbb - hab * hab
        ok = ~done & (det > 1e-300)
        safe = np.where(ok, det, 1.0)
        da, db = (hbb * ga - hab * gb) / safe, (haa * gb - hab * ga) / safe
        t = np.where(ok, 1.0, 0.0)
        f_new = nll(a - t * da, b - t * db)
        for _ in range(40):  # halve the step where it did not lower the loss
            worse = ok & (f_new > f + 1e-12)
            if not worse.any():
                break
            t = np.where(worse, t / 2, t)
            f_new = nll(a - t * da, b - t * db)
        a, b = a - t * da, b - t * db
        done |= ~ok | (np.abs(f - f_new) < 1e-10 * np.maximum(1.0, np.abs(f)))
        f = f_new
        if done.all():
            break
    # a runaway slope is separation, not an estimate; a slope >= 0 has no T50 where solving gets harder
    good = done & (b < 0) & (np.abs(b) < 1e3)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(good, np.exp(x.mean() - a / np.where(good, b, -1.0)), np.nan)


def _t50s(x: np.ndarray, k: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Each row's T50 (see _fit), with the limits where the fit has none: inf when every run solved, 0 when none
    did, and for separated data (no solved run longer than an unsolved one) the geometric middle of the gap
    between the longest solved and the shortest unsolved length, the limit of a fit whose slope carries a
    vanishing penalty."""
    solved, failed = k > 0, (n - k) > 0
    top = np.where(solved, x, -np.inf).max(1)  # the longest log length solved
    bottom = np.where(failed, x, np.inf).min(1)  # the shortest not solved
    out = np.full(len(k), np.nan)
    out[~failed.any(1)] = np.inf
    out[~solved.any(1)] = 0.0
    sep = solved.any(1) & failed.any(1) & (top <= bottom)
    out[sep] = np.exp((top[sep] + bottom[sep]) / 2)
    rest = solved.any(1) & failed.any(1) & ~sep
    if rest.any():
        out[rest] = _fit(x, k[rest], n[rest])
    return out


def fit_t50(points: Sequence[tuple[float, bool]], seeds: Sequence, n_boot: int = N_BOOT,
            confidence: float = 0.95, rng_seed: int = BOOT_SEED) -> T50:
    """T50 of (length, solved) points, one per run, `seeds[i]` the seed of points[i].

    The fit: P(solved | T) = sigmoid(a + b·log T) by maximum likelihood over every point; T50 = exp(−a/b).
    The interval: the percentile interval of T50 over `n_boot` resamples of the seeds with replacement (each
    resample keeps all the runs of the seeds it draws, and is refitted), from a fixed RNG seed; resamples that
    solve every length count as T50 = inf, those that solve none as 0, so an interval can run off the lengths run.
    """
    if len(points) != len(seeds):
        raise ValueError(f"{len(points)} points but {len(seeds)} seeds")
    if not points:
        return T50("none")
    uniq = sorted(set(seeds), key=lambda s: (str(type(s)), s))
    levels = sorted({float(L) for L, _ in points})
    S, N = np.zeros((len(uniq), len(levels))), np.zeros((len(uniq), len(levels)))  # solves and runs per seed
    longest = {s: 0 for s in uniq}
    for (L, solved), s in zip(points, seeds):
        i, j = uniq.index(s), levels.index(float(L))
        N[i, j] += 1
        if solved:
            S[i, j] += 1
            longest[s] = max(longest[s], L)
    x, k, n = np.log(np.array(levels)), S.sum(0), N.sum(0)
    common = dict(n_runs=len(points), n_seeds=len(uniq), longest=longest, t_min=levels[0], t_max=levels[-1])
    if k.sum() == n.sum():
        return T50("above", lo=levels[-1], **common)
    if k.sum() == 0:
        return T50("below", hi=levels[0], **common)
    if len(levels) < 2:
        return T50("none", **common)
    if max(L for L, kk in zip(levels, k) if kk) <= min(L for L, kk, nn in zip(levels, k, n) if nn > kk):
        rate = k / n  # separated: the longest length every run solved, the shortest none did
        lo, hi = [L for L, r in zip(levels, rate) if r == 1], [L for L, r in zip(levels, rate) if r == 0]
        return T50("between", lo=max(lo) if lo else None, hi=min(hi) if hi else None, **common)
    value = float(_t50s(x, k[None], n[None])[0])
    if not math.isfinite(value):
        return T50("none", **common)
    draws = np.random.default_rng(rng_seed).integers(0, len(uniq), (n_boot, len(uniq)))
    counts = np.stack([np.bincount(d, minlength=len(uniq)) for d in draws])  # how often each seed was drawn
    boot = _t50s(x, counts @ S, counts @ N)
    boot = np.sort(boot[~np.isnan(boot)])
    if not boot.size:
        return T50("fit", value=value, lo=value, hi=value, **common)
    alpha = (1 - confidence) / 2  # the order statistics just outside the central share: never narrower
    lo, hi = boot[math.floor(alpha * (boot.size - 1))], boot[math.ceil((1 - alpha) * (boot.size - 1))]
    return T50("fit", value=value, lo=float(lo), hi=float(hi), **common)
