"""--tune KEY: per (model, task, T), keep the value of a swept key whose runs did best on validation.

The rule (RULE, which the report's note prints): the highest validation solve rate (the share of runs whose
status is "solved", which the validation split decides), then the fewest median steps to solve, then the lowest
mean final validation loss (`val_loss`; a run without one, diverged or crashed, counts as infinite), then the
smaller value. Only validation numbers choose; the tables then show the chosen runs' test numbers.
"""
from __future__ import annotations

import json
import math
import statistics

from lstm_bench.records import Status
from lstm_bench.report.stats import finite

RULE = ("the one whose runs had the highest validation solve rate, then the fewest median steps to solve, then the "
        "lowest mean validation loss (a run without one counting as infinite), then the smaller value")


def _value_order(text: str) -> tuple:
    """The smaller value first: numbers by size, anything else by its text, numbers before text."""
    v = json.loads(text)
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return 0, float(v), ""
    return 1, 0.0, text


def validation_score(runs) -> tuple:
    """The rule's key (smaller is better) for one value's runs: (−validation solve rate, median steps to
    solve, mean final validation loss). A run without a final validation loss (diverged, crashed) counts as an
    infinite loss, so a value with one ranks below every value whose runs all have finite ones."""
    rate = sum(r.result["status"] == Status.SOLVED for r in runs) / len(runs)
    steps = [v for r in runs if r.result["status"] == Status.SOLVED and (v := finite(r.result.get("steps_to_solve")))
             is not None]
    losses = [finite(r.result.get("val_loss")) for r in runs]
    loss = statistics.fmean(losses) if None not in losses else math.inf
    return (-rate, statistics.median(steps) if steps else math.inf, loss)


def choose(candidates: dict[tuple[str, ...], list]) -> tuple[str, ...]:
    """The tuned keys' values (JSON text, one per key) whose runs the rule ranks first."""
    return min(candidates, key=lambda v: (validation_score(candidates[v]), tuple(_value_order(t) for t in v)))


def unswept(tune: list[str], swept: list[str]) -> str | None:
    """The one-line complaint about --tune keys that no run sweeps, or None."""
    missing = [k for k in tune if k not in swept]
    if not missing:
        return None
    return (f"--tune {missing[0]}: no run sweeps it (the keys whose values differ between runs of the same "
            f"model, task and T: {', '.join(swept) if swept else 'none'})")
