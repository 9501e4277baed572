"""How often the T50 search's 95% credible interval holds a known T50: synthetic runs from known curves, the
search's own code, one table.

    python benchmarks/t50_coverage.py                       # the headline design, 400 searches per curve
    python benchmarks/t50_coverage.py --sims 100 --curves 30:15 300:5
    python benchmarks/t50_coverage.py --design grid         # a fixed grid: 5 seeds at 4 lengths (fair's shape)

Each simulated run of a search (hydra_plugins/lstm_bench_t50/search.py, the very class the sweeper drives)
solves with probability sigmoid(b * (ln T50_c - ln T)) for the tuned value c it runs with: three values,
whose T50s are T50, 0.7 T50 and 0.4 T50 (the second and third are worse learning rates), one slope b; the
validation and test verdicts of a run are the same draw. Coverage is counted for the chosen value's T50.
Columns: the curve (T50, slope b, and w = T10/T90, how many times longer the length that 10% of runs solve is
than the one 90% solve), searches, coverage with its Wilson interval, the share whose interval has two finite
ends (the headline's requirement), median hi/lo of those, measurement runs (median, max), tuning runs (median),
and the summed length of all runs (median, a proxy of the cost). `--lapse P` makes every run fail with
probability P whatever its length (a curve that is not the model's: the copy task's failures at short T).
"""
from __future__ import annotations

import argparse
import math
import statistics
import time

import numpy as np

from hydra_plugins.lstm_bench_t50.search import TUNE, T50Search, run_search
from lstm_bench.report.stats import fit_t50, wilson

MULTIPLIERS = (1.0, 0.7, 0.4)  # the tuned values' T50s, relative to the best one's
HEADLINE = dict(per_round=2, n_min=8, n_max=24, rel_width=1.0, min_length=2, max_length=8192)
# the default curves: T50s across the headline's range, slopes from shallow to a near-step
CURVES = ((30, 3), (30, 15), (300, 5), (300, 30), (3000, 10), (80, 100))


def p_solve(T: float, t50: float, slope: float, lapse: float = 0.0) -> float:
    return (1 - lapse) / (1 + math.exp(-slope * (math.log(t50) - math.log(T))))


def start_for(t50: float) -> int:
    """Where the headline preset starts a ladder (a task's ladder.long: adding 100, copy 20), whatever the truth."""
    return 100 if t50 >= 100 else 20


def one_search(t50: float, slope: float, rng: np.random.Generator, lapse: float = 0.0, **design) -> dict:
    search = T50Search(start_for(t50), n_choices=len(MULTIPLIERS), **{**HEADLINE, **design})

    def trial(probe):
        solved = bool(rng.random() < p_solve(probe.length, t50 * MULTIPLIERS[probe.choice], slope, lapse))
        return solved, solved, float(rng.random()), float(rng.integers(1, 20) * 100) if solved else math.inf

    run_search(search, trial)
    truth = t50 * MULTIPLIERS[search.chosen]
    return outcome(search.fit(), truth) | {
        "measured": len(search.measured), "tuned": sum(o.probe.phase == TUNE for o in search.outcomes),
        "length_sum": sum(o.probe.length for o in search.outcomes)}


def one_grid(t50: float, slope: float, rng: np.random.Generator, lapse: float = 0.0, seeds: int = 5,
             lengths=(0.25, 0.5, 1.0, 2.0)) -> dict:
    """A fixed design: `seeds` runs at each of four lengths around the truth (offset at random, so the
    truth falls anywhere between them), every one counted."""
    shift = math.exp(rng.uniform(-math.log(2), math.log(2)))
    Ts = [max(2, round(t50 * m * shift)) for m in lengths]
    points = [(T, bool(rng.random() < p_solve(T, t50, slope, lapse))) for T in Ts for _ in range(seeds)]
    return outcome(fit_t50(points, list(range(len(points)))), t50) | {
        "measured": len(points), "tuned": 0, "length_sum": sum(T for T, _ in points)}


def outcome(fit, truth: float) -> dict:
    """Did the printed statement hold the truth? A fit's interval (an end run off the lengths is 0 or inf),
    a bound (> lo, < hi), or no statement at all (n/a holds anything)."""
    if fit.kind == "fit":
        covered = fit.lo <= truth <= fit.hi
    elif fit.kind == "above":
        covered = truth > fit.lo
    elif fit.kind == "below":
        covered = truth < fit.hi
    else:
        covered = True
    return {"covered": covered, "finite": fit.finite, "ratio": fit.hi / fit.lo if fit.finite else None}


def coverage(t50: float, slope: float, sims: int, seed: int = 0, design: str = "headline", lapse: float = 0.0,
             **kwargs) -> dict:
    """One table row: `sims` searches (or grids) against the curve (t50, slope)."""
    rng = np.random.default_rng([seed, int(t50 * 1000), int(slope * 1000)])
    runs = [(one_search if design == "headline" else one_grid)(t50, slope, rng, lapse, **kwargs) for _ in range(sims)]
    k = sum(r["covered"] for r in runs)
    lo, hi = wilson(k, sims)
    ratios = [r["ratio"] for r in runs if r["ratio"] is not None]
    return {"t50": t50, "slope": slope, "w": math.exp(2 * math.log(9) / slope), "sims": sims, "covered": k,
            "coverage": k / sims, "lo": lo, "hi": hi, "finite": sum(r["finite"] for r in runs) / sims,
            "ratio": statistics.median(ratios) if ratios else None,
            "measured": statistics.median(r["measured"] for r in runs), "measured_max": max(r["measured"] for r in runs),
            "tuned": statistics.median(r["tuned"] for r in runs),
            "length_sum": statistics.median(r["length_sum"] for r in runs)}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sims", type=int, default=400, help="searches per curve")
    p.add_argument("--curves", nargs="+", default=[f"{t}:{b}" for t, b in CURVES], help="T50:slope pairs")
    p.add_argument("--design", choices=("headline", "grid"), default="headline")
    p.add_argument("--seeds", type=int, default=5, help="grid design: runs per length")
    p.add_argument("--lapse", type=float, default=0.0, help="every run fails with this probability too")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    extra = {"seeds": args.seeds} if args.design == "grid" else {}
    what = (f"the headline search ({', '.join(f'{k}={v}' for k, v in HEADLINE.items())}, three tuned values at "
            f"T50 x {MULTIPLIERS})" if args.design == "headline" else
            f"a fixed grid: {args.seeds} runs at each of 4 lengths (x0.25, 0.5, 1, 2 of T50, shifted at random)")
    print(f"coverage of the 95% credible interval of T50: {what}; lapse {args.lapse:g}; seed {args.seed}\n")
    print("| T50 | slope b | w = T10/T90 | searches | coverage [95% Wilson] | finite ends | hi/lo (median) "
          "| measurement runs: median (max) | tuning runs | summed T (median) | s |")
    print("|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    total_k = total_n = 0
    for curve in args.curves:
        t50, slope = (float(x) for x in curve.split(":"))
        t0 = time.perf_counter()
        r = coverage(t50, slope, args.sims, args.seed, args.design, args.lapse, **extra)
        total_k, total_n = total_k + r["covered"], total_n + r["sims"]
        ratio = f"{r['ratio']:.2f}" if r["ratio"] is not None else "-"
        print(f"| {t50:g} | {slope:g} | {r['w']:.3g} | {r['sims']} | {r['coverage']:.3f} [{r['lo']:.3f}, {r['hi']:.3f}] "
              f"| {r['finite']:.2f} | {ratio} | {r['measured']:g} ({r['measured_max']}) | {r['tuned']:g} "
              f"| {r['length_sum']:.0f} | {time.perf_counter() - t0:.0f} |", flush=True)
    lo, hi = wilson(total_k, total_n)
    print(f"\nall curves: {total_k}/{total_n} = {total_k / total_n:.3f} [{lo:.3f}, {hi:.3f}]")


if __name__ == "__main__":
    main()
