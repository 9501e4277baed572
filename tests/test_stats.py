"""lstm_bench.report.stats against known answers: Wilson's closed form, quartiles by hand, T50 of data whose
maximum-likelihood fit is known exactly, T50 recovered from a known logistic curve, and the censored cases."""
import math
import random

import pytest

from lstm_bench.report.stats import fit_t50, fmt_length, median_iqr, wilson

Z = 1.959963984540054  # the 97.5% point of the standard normal


def wilson_closed_form(k, n, z=Z):
    centre = (k + z * z / 2) / (n + z * z)
    half = z / (n + z * z) * math.sqrt(k * (n - k) / n + z * z / 4)
    return centre - half, centre + half


@pytest.mark.parametrize("k", [0, 3, 5])
def test_wilson_matches_the_closed_form(k):
    lo, hi = wilson(k, 5)
    want_lo, want_hi = wilson_closed_form(k, 5)
    assert lo == pytest.approx(max(want_lo, 0.0), abs=1e-12) and hi == pytest.approx(min(want_hi, 1.0), abs=1e-12)


def test_wilson_known_values():
    assert wilson(0, 5) == pytest.approx((0.0, 0.43448246478317476), abs=1e-9)
    assert wilson(3, 5) == pytest.approx((0.2307242812760130, 0.8823792257673521), abs=1e-9)
    assert wilson(5, 5) == pytest.approx((0.5655175352168249, 1.0), abs=1e-9)
    assert wilson(0, 0) == (0.0, 1.0)  # no trials: nothing is known


def test_median_iqr():
    assert tuple(median_iqr([4, 1, 3, 2])) == (2.5, 1.75, 3.25, 4)
    assert tuple(median_iqr([1000, None, float("nan"), 1200, 1400])) == (1200, 1100, 1300, 3)
    assert tuple(median_iqr([])) == (None, None, None, 0)


def two_lengths(solved_short, solved_long, seeds=15):
    """Every seed runs T=10 and T=40; the first solved_short (solved_long) seeds solve it."""
    points, ids = [], []
    for s in range(seeds):
        points += [(10, s < solved_short), (40, s < solved_long)]
        ids += [s, s]
    return points, ids


def test_t50_is_the_maximum_likelihood_answer():
    # with two lengths the logistic fits both solve rates exactly: logit(12/15) = ln 4 at T=10 and
    # logit(5/15) = -ln 2 at T=40, so log T50 = ln 10 + ln 4 · ln 4 / (ln 4 + ln 2): T50 = 10 · 4^(2/3)
    points, ids = two_lengths(12, 5)
    t = fit_t50(points, ids)
    assert t.kind == "fit" and t.value == pytest.approx(10 * 4 ** (2 / 3), rel=1e-7)
    assert t.lo < t.value < t.hi
    assert t.longest == {**{s: 40 for s in range(5)}, **{s: 10 for s in range(5, 12)}, 12: 0, 13: 0, 14: 0}
    assert t.n_runs == 30 and t.n_seeds == 15


def test_t50_recovered_from_a_known_curve():
    truth, width = 150.0, 0.5  # P(solved | T) = 1 / (1 + exp((ln T - ln 150) / 0.5))
    rng = random.Random(7)
    points, ids = [], []
    for seed in range(60):
        for length in (25, 50, 100, 200, 400, 800):
            p = 1 / (1 + math.exp((math.log(length) - math.log(truth)) / width))
            points.append((length, rng.random() < p))
            ids.append(seed)
    t = fit_t50(points, ids)
    assert t.kind == "fit" and t.lo < truth < t.hi
    assert abs(math.log(t.value / truth)) < 0.15
    assert t.hi / t.lo < 2  # 360 runs pin it down


def test_t50_is_deterministic_and_independent_of_order():
    points, ids = two_lengths(12, 5)
    a = fit_t50(points, ids)
    b = fit_t50(points[::-1], ids[::-1])
    assert (a.value, a.lo, a.hi) == (b.value, b.lo, b.hi)


def test_censored_t50():
    every = fit_t50([(L, True) for L in (25, 50, 100)] * 3, [0, 0, 0, 1, 1, 1, 2, 2, 2])
    assert every.kind == "above" and every.value is None and every.text() == "> 100"
    none = fit_t50([(L, False) for L in (25, 50, 100)] * 3, [0, 0, 0, 1, 1, 1, 2, 2, 2])
    assert none.kind == "below" and none.text() == "< 25" and none.longest == {0: 0, 1: 0, 2: 0}
    # solved at 25 and 50, never at 100: no finite fit; T50 lies between 50 and 100
    clean = fit_t50([(25, True), (50, True), (100, False)] * 2, [0, 0, 0, 1, 1, 1])
    assert clean.kind == "between" and clean.text() == "in (50, 100)"
    # one seed of two solves 100 and none solves a longer length: still no overlap, so still separated
    edge = fit_t50([(50, True), (100, True), (200, False), (50, True), (100, False), (200, False)],
                   [0, 0, 0, 1, 1, 1])
    assert edge.kind == "between" and (edge.lo, edge.hi) == (50, 200) and edge.text() == "in (50, 200)"
    assert edge.longest == {0: 100, 1: 50}
    assert fit_t50([(100, True), (100, False)], [0, 1]).text() == "n/a"  # one length: no slope to fit


def test_interval_runs_off_the_lengths_when_resamples_solve_everything():
    # one seed of five fails beyond T=10: a third of the resamples (0.8^5) never draw it and solve everything
    points = [(L, True) for L in (10, 20, 40)] * 4 + [(10, True), (20, False), (40, False)]
    t = fit_t50(points, [s for s in range(5) for _ in range(3)])
    assert t.kind == "fit" and t.hi == math.inf and t.text().endswith("> 40]")


def test_fmt_length():
    assert [fmt_length(x) for x in (200, 200.0, 1432.4, 22.37, 3.1749, None)] == ["200", "200", "1432", "22.4",
                                                                                 "3.17", "-"]
