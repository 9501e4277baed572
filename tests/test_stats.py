"""lstm_bench.report.stats against known answers: Wilson's closed form, quartiles by hand, T50 of data whose
maximum-likelihood fit is known exactly, T50 recovered from a known logistic curve, and the censored cases."""
import math
import random

import pytest

from lstm_bench.report.stats import _B, _U, STEP, Posterior, fit_t50, fmt_length, quartiles, ratio, rising_start, wilson

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


def test_quartiles():
    assert tuple(quartiles([4, 1, 3, 2])) == (2.5, 1.75, 3.25, 4)
    assert tuple(quartiles([1000, None, float("nan"), 1200, 1400])) == (1200, 1100, 1300, 3)
    assert tuple(quartiles([])) == (None, None, None, 0)
    # censored (unsolved) runs are infinite values: they sort last, and a quantile leaning on one is infinite
    assert tuple(quartiles([1000, math.inf, 1200, math.inf])) == (math.inf, 1150, math.inf, 4)
    assert tuple(quartiles([1000, 1200, 1400, math.inf, 900])) == (1200, 1000, 1400, 5)


def reference_posterior(counts, u_grid, b_grid):
    """The T50 model's posterior of ln T50 written out longhand (math only, a double loop): the prior flat in ln T50
    and in ln b, every run an independent Bernoulli trial."""
    weights = []
    for u in u_grid:
        total = 0.0
        for b in b_grid:
            loglik = 0.0
            for T, k, n in counts:
                z = b * (u - math.log(T))
                log_p = -math.log1p(math.exp(-z)) if z > 0 else z - math.log1p(math.exp(z))  # ln sigmoid(z)
                loglik += k * log_p + (n - k) * (log_p - z)  # ln(1 - sigmoid(z)) = ln sigmoid(z) - z
            total += math.exp(loglik)
        weights.append(total)
    z = sum(weights)
    return [w / z for w in weights]


def test_posterior_matches_a_longhand_reference():
    counts = [(30, 3, 3), (60, 2, 3), (120, 1, 3), (240, 0, 2)]
    post = Posterior()
    for T, k, n in counts:
        post.add(T, k, n)
    u = list(_U)
    b = list(_B)
    want = reference_posterior(counts, u, b)
    got = post.weights()
    assert max(abs(g - w) for g, w in zip(got, want)) < 1e-9
    # its median: where the longhand CDF crosses 1/2, each grid point's mass spread over its cell
    cdf, acc = [], 0.0
    for w in want:
        acc += w
        cdf.append(acc)
    j = next(i for i, c in enumerate(cdf) if c >= 0.5)
    below = cdf[j - 1] if j else 0.0
    median = math.exp(u[j] - STEP / 2 + STEP * (0.5 - below) / want[j])
    assert post.quantiles([0.5])[0] == pytest.approx(median, rel=1e-9)


def symmetric(t0: float, k: int = 16, n: int = 20):
    """Runs placed symmetrically about t0 in ln T with mirrored outcomes: k of n solve at 0.8 t0, n - k at 1.25 t0,
    and so on. The posterior is symmetric about ln t0, so T50 = t0 and lo * hi = t0^2 exactly (but for the
    prior's far ends, whose mass is negligible with 80 runs)."""
    points = []
    for f, kk in ((0.5, n - 1), (0.8, k), (1.25, n - k), (2.0, 1)):  # falling with T: nothing cut off
        points += [(t0 * f, i < kk) for i in range(n)]
    return points, list(range(len(points)))


def test_t50_of_mirrored_runs_is_their_centre():
    t0 = math.exp(_U[len(_U) // 2])  # the middle of the grid (and of the prior): symmetric both ways
    t = fit_t50(*symmetric(t0))
    assert t.kind == "fit" and t.finite
    assert t.value == pytest.approx(t0, rel=1e-6)
    assert t.lo * t.hi == pytest.approx(t0 * t0, rel=1e-6) and t.lo < t0 < t.hi


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
    assert t.hi / t.lo < 1.5  # 360 runs pin it down
    assert t.longest[0] in (0, 25, 50, 100, 200, 400, 800) and t.n_runs == 360 and t.n_seeds == 60


def test_t50_is_deterministic_and_independent_of_order():
    points, ids = symmetric(100.0)
    a = fit_t50(points, ids)
    b = fit_t50(points[::-1], ids[::-1])
    assert (a.value, a.lo, a.hi) == (b.value, b.lo, b.hi)


def test_censored_t50():
    every = fit_t50([(L, True) for L in (25, 50, 100)] * 3, [0, 0, 0, 1, 1, 1, 2, 2, 2])
    assert every.kind == "above" and every.value is None and every.text() == "> 100"
    none = fit_t50([(L, False) for L in (25, 50, 100)] * 3, [0, 0, 0, 1, 1, 1, 2, 2, 2])
    assert none.kind == "below" and none.text() == "< 25" and none.longest == {0: 0, 1: 0, 2: 0}
    assert fit_t50([], []).text() == "n/a"


def test_separated_runs_get_an_interval_in_the_gap():
    """Every run at 25 and 50 solved, none at 100: the likelihood has no finite maximum (the slope runs away), but the
    posterior does: T50 lies in the gap, and its interval is wider than the gap by what so few runs cannot exclude."""
    t = fit_t50([(25, True), (50, True), (100, False)] * 2, [0, 0, 0, 1, 1, 1])
    assert t.kind == "fit" and 50 < t.value < 100 and t.lo < 50 and t.hi == math.inf
    many = fit_t50([(25, True), (50, True), (100, False)] * 12, [s for s in range(12) for _ in range(3)])
    assert many.finite and 50 < many.lo < many.value < many.hi < 100  # twelve runs each side: inside the gap


def test_a_flat_fit_is_no_t50_of_zero():
    """Issue 23, defect 1: one solve in six runs, at the middle length. The bootstrap fit's slope was -1e-17, passed
    `b < 0`, and exp(-a/b) underflowed to T50 = 0 ("0 [< 25, 0]"). The posterior puts T50 below the lengths that
    ran: the statement is an upper bound, inside the lengths that ran."""
    t = fit_t50([(25, False), (50, False), (100, False), (25, False), (50, True), (100, False)], [0, 0, 0, 1, 1, 1])
    assert t.kind == "below" and 25 < t.hi < 100 and t.text() == f"< {t.hi:.1f}"
    assert t.value is None


def test_a_rise_at_the_short_end_is_cut_off_and_said():
    """Copy at short delays: T=10 solved 2 of 3, T=20 3 of 3, then falling. The fit starts at the most-solved length,
    as if T=10 had not run, and says so."""
    rising = [(10, True), (10, True), (10, False), (20, True), (20, True), (20, True), (40, True), (40, False),
              (40, False), (80, False), (80, False), (80, False)]
    t = fit_t50(rising, list(range(12)))
    cut = fit_t50(rising[3:], list(range(3, 12)))
    assert t.fitted_from == 20 and cut.fitted_from is None
    assert (t.value, t.lo, t.hi) == (cut.value, cut.lo, cut.hi) and t.note().startswith("fitted from T = 20")
    monotone = fit_t50([(10, True)] * 3 + rising[3:], list(range(12)))
    assert monotone.fitted_from is None  # nothing rises: every length is used
    assert rising_start([10, 20, 40], [1, 1, 1], [2, 2, 2]) == 0  # a peak at 1/2 is no evidence of a rise


def test_interval_end_beyond_the_lengths_is_a_bound():
    # 5/5 solved at T=10, 3/5 at 20, 2/5 at 40: T50 near 30, but what lies beyond 40 only the prior could say
    points = [(T, i < k) for T, k in ((10, 5), (20, 3), (40, 2)) for i in range(5)]
    t = fit_t50(points, list(range(15)))
    assert t.kind == "fit" and t.hi == math.inf and t.text().endswith("> 40]") and not t.finite


def test_ratio_of_two_mirrored_searches():
    mid = len(_U) // 2
    a, b = fit_t50(*symmetric(math.exp(_U[mid]))), fit_t50(*symmetric(math.exp(_U[mid])))
    median, lo, hi = ratio(a, b)  # the difference of two copies of one symmetric posterior: symmetric about 0
    assert median == pytest.approx(1, rel=1e-9) and lo * hi == pytest.approx(1, rel=1e-9) and lo < 1 < hi
    # two searches 2 x 10 grid steps apart: their ratio is e^0.4, but for the prior's ends
    a, b = fit_t50(*symmetric(math.exp(_U[mid + 10]))), fit_t50(*symmetric(math.exp(_U[mid - 10])))
    assert ratio(a, b)[0] == pytest.approx(math.exp(20 * STEP), rel=1e-3)
    assert ratio(a, fit_t50([(10, True)], [0])) is None  # all solved: no posterior to divide by


def test_fmt_length():
    assert [fmt_length(x) for x in (200, 200.0, 1432.4, 22.37, 3.1749, None)] == ["200", "200", "1432", "22.4",
                                                                                 "3.17", "-"]
