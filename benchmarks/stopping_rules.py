"""The stopping rules checked on real learning curves: how often validation and test disagree at the step a run
stops (train.confirm), and how often pruning would stop a run that later solves (train.prune), as one table.

    python benchmarks/stopping_rules.py SWEEP_DIR [SWEEP_DIR ...]        # runs made with train.prune=false
    python benchmarks/stopping_rules.py SWEEP_DIR --prune-at 0.25 0.5 --margin 0.05 0.1

Every run directory under the given folders with a result.json and a metrics.jsonl counts (the report's loader).
A run's curve is its metrics.jsonl: the validation and test metric and loss at every evaluation, which do not
depend on where the run stopped afterwards, so each rule can be replayed on it:

- confirm K: the run stops at the first evaluation that ends K in a row meeting the solved rule on validation;
  `disagree` counts the stops whose test metric at that step misses the rule (the table counts solved_test).
  K = 1 is the rule before this one; a run made with K = 2 holds, at its first crossing, exactly the curve a
  K = 1 run would have stopped on.
- prune F M: at the first evaluation at or after F x the step budget, a run whose validation loss is at least
  (1 - M) x the memoryless baseline stops; `later solved` counts the stopped runs that the curve shows solved
  (confirmed on validation) later, the false stops. Only runs made with train.prune=false (or not stopped by
  it) can show what would have come after; the rest are left out and counted.
`steps saved` is the share of the training steps the rule would have spared, over the runs it stopped.
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

from lstm_bench.report.curves import read_rows
from lstm_bench.report.load import load
from lstm_bench.report.stats import wilson


def meets(value, threshold: float, lower: bool) -> bool:
    return isinstance(value, (int, float)) and (value < threshold if lower else value >= threshold)


def curves(dirs: list[Path]):
    """(result, metrics rows) of every run with both, and how many runs were left out for lack of them."""
    out, missing = [], 0
    for d in dirs:
        sweep = load(d)
        for run in sweep.runs:
            rows = read_rows(sweep.root / run.path / "metrics.jsonl")
            r = run.result
            if rows and isinstance(r.get("threshold"), (int, float)) and isinstance(r.get("lower_is_better"), bool):
                out.append((r, rows))
            else:
                missing += 1
    return out, missing


def confirm_row(runs, k: int) -> list:
    stops = disagree = 0
    for r, rows in runs:
        name, thr, lower = r["metric_name"], r["threshold"], r["lower_is_better"]
        streak = 0
        for row in rows:
            streak = streak + 1 if meets(row.get(f"val_{name}"), thr, lower) else 0
            if streak == k:
                stops += 1
                disagree += not meets(row.get(f"test_{name}"), thr, lower)
                break
    lo, hi = wilson(disagree, stops)
    return [f"confirm {k}", len(runs), stops, f"{disagree} disagree on test", f"{disagree / max(stops, 1):.3f} "
            f"[{lo:.3f}, {hi:.3f}]", "-"]


def prune_row(runs, at: float, margin: float, confirm: int) -> list:
    considered = fired = false = 0
    saved = spent = 0.0
    for r, rows in runs:
        if r["status"] == "pruned":
            continue  # stopped by the rule it ran with: what came after is unknown
        budget = (r.get("config") or {}).get("train", {}).get("steps")
        if not isinstance(budget, int):
            continue
        considered += 1
        name, thr, lower = r["metric_name"], r["threshold"], r["lower_is_better"]
        check = next((row for row in rows if row["step"] >= math.ceil(at * budget)), None)
        streak, solved_before = 0, False
        for row in rows:
            streak = streak + 1 if meets(row.get(f"val_{name}"), thr, lower) else 0
            if check is not None and row["step"] >= check["step"]:
                break
            solved_before |= streak >= confirm
        if check is None or solved_before or streak > 0:
            continue  # stopped solved before the check, or meeting the rule at it: not the rule's to stop
        if check["val_loss"] >= (1 - margin) * r["baseline_loss"]:
            fired += 1
            later = [row for row in rows if row["step"] > check["step"]]
            streak, solved_later = 0, False
            for row in later:
                streak = streak + 1 if meets(row.get(f"val_{name}"), thr, lower) else 0
                solved_later |= streak >= confirm
            false += solved_later
            saved += r["steps"] - check["step"]
            spent += r["steps"]
    lo, hi = wilson(false, fired)
    return [f"prune at {at:g}, margin {margin:g}", considered, fired, f"{false} later solved",
            f"{false / max(fired, 1):.3f} [{lo:.3f}, {hi:.3f}]", f"{saved / spent:.0%}" if spent else "-"]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("sweeps", nargs="+", type=Path)
    p.add_argument("--prune-at", nargs="+", type=float, default=[0.25, 0.5])
    p.add_argument("--margin", nargs="+", type=float, default=[0.05, 0.1])
    p.add_argument("--confirm", type=int, default=2, help="the confirm rule pruning is replayed with")
    args = p.parse_args()
    runs, missing = curves(args.sweeps)
    print(f"stopping rules replayed on {len(runs)} runs' curves from {', '.join(map(str, args.sweeps))} "
          f"({missing} left out: no metrics.jsonl or no recorded solved rule)\n")
    print("| rule | runs | stops | of which | share [95% Wilson] | steps saved |")
    print("|---|--:|--:|--:|--:|--:|")
    for row in [confirm_row(runs, 1), confirm_row(runs, 2),
                *(prune_row(runs, at, m, args.confirm) for at in args.prune_at for m in args.margin)]:
        print("| " + " | ".join(map(str, row)) + " |")


if __name__ == "__main__":
    main()
