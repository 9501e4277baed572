"""The line per task under each table that says what it found, in words, with its intervals and the conditions
the records show (matched parameters or not, what was tuned and on what, how many seeds), never assumed."""
from __future__ import annotations

import json
from collections import defaultdict

from lstm_bench.report.load import Run
from lstm_bench.report.stats import T50_INTERVAL, fmt_length, ratio
from lstm_bench.report.tables import FrontierTable, Results, SearchRow


def _budget(run: Run):
    return ((run.result.get("config") or {}).get("model") or {}).get("param_budget")


def _params(runs: list[Run]) -> str:
    budgets = {json.dumps(_budget(r)) for r in runs}
    if budgets == {"null"}:
        return "parameters not matched: model.param_budget unset"
    if "null" in budgets:
        return "parameters matched for some runs only: model.param_budget unset in others"
    if len(budgets) > 1:
        return "parameter budgets differ: " + ", ".join(sorted(budgets, key=float))
    return f"matched parameters: model.param_budget={budgets.pop()}"


def _seeds(res: Results, task: str) -> str:
    # seeds per (model, setting) across lengths: what one T50 rests on
    per_model = defaultdict(set)
    for row in res.rows:
        if row.task == task:
            per_model[(row.model, row.setting)] |= {r.result["seed"] for r in row.counted}
    counts = sorted({len(s) for s in per_model.values()})
    n = str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
    return f"{n} seed{'s' if n != '1' else ''}"


def conditions(res: Results, task: str, t50: bool = False) -> str:
    """`(matched parameters: model.param_budget=20000, train.lr tuned per model and T on validation, 5 seeds)`."""
    runs = [r for row in res.rows if row.task == task for r in row.runs]
    parts = [_params(runs)]
    if res.tuned:
        keys = ", ".join(res.tuned)
        parts.append(f"{keys} tuned per model and T on validation"
                     + ("; T50 fitted to the chosen value's runs at each T" if t50 else ""))
    else:  # a swept key that nothing chose between gives each value its own row: say so, or a T50 sweep's
        # rows (its tuning runs beside its measurement runs) would read as one setting
        parts.append(f"no tuning: a row per {', '.join(res.keys)} value" if res.keys else "no tuning")
    parts.append(_seeds(res, task))
    old = sum(r.counted_by_status for r in runs)
    if old:
        parts.append(f"{old} of {len(runs)} runs without a test verdict counted by status")
    return "(" + ", ".join(parts) + ")"


def results_lines(res: Results) -> list[str]:
    """`adding, solved on test [95% Wilson]: T=100 lstm 5/5 [0.57, 1.00], rnn 0/5 [0.00, 0.43]; T=200 ... (...)`."""
    lines = []
    for task in sorted({row.task for row in res.rows}):
        by_length = defaultdict(list)
        for row in res.rows:
            if row.task == task:
                by_length[row.length].append(f"{row.label} {row.solve_text}")
        lines.append(f"{task}, solved on test [95% Wilson]: "
                     + "; ".join(f"T={L} " + ", ".join(cells) for L, cells in sorted(by_length.items()))
                     + " " + conditions(res, task))
    return lines


def t50_lines(front: FrontierTable, res: Results) -> list[str]:
    """`adding: lstm T50 = 140 [120, 170], rnn T50 = 22 [18, 27] (...)`."""
    lines = []  # `T50 = 140 [120, 170]` for a fit; a bound reads `T50 > 400`, `T50 in (100, 200)`, `T50 n/a`
    for task in sorted({f.task for f in front.rows}):
        cells = [f"{f.model}{' ' + f.setting if f.setting else ''} T50 {_t50(f.t50)}" for f in front.rows
                 if f.task == task]
        lines.append(f"{task}: " + ", ".join(cells) + " " + conditions(res, task, t50=True))
    return lines


def _t50(fit) -> str:
    if fit is None:
        return "n/a"
    return f"= {fit.text()}" if fit.kind == "fit" else fit.text()


RATIOS = (("lstm", "rnn"),)  # the pairs whose T50 ratio the search findings state, where both were searched


def search_lines(rows: list[SearchRow], res: Results) -> list[str]:
    """`adding: lstm T50 = 270 [230, 330], rnn T50 = 33.1 [29.0, 37.5]; lstm/rnn T50 8.2 [6.6, 10.1] (...)`."""
    lines = []
    for task in sorted({r.task for r in rows}):
        mine = [r for r in rows if r.task == task]
        cells = [f"{r.model}{' ' + r.setting if r.setting else ''} T50 {_t50(r.fit)}" for r in mine]
        fits = {r.model: r.fit for r in mine if not r.setting}
        for a, b in RATIOS:
            q = ratio(fits[a], fits[b]) if a in fits and b in fits else None
            if q is not None:
                cells.append(f"{a}/{b} T50 {q[0]:.3g} [{q[1]:.3g}, {q[2]:.3g}]")
        n = sorted({len(r.measured) for r in mine})
        runs = f"{n[0]}" if len(n) == 1 else f"{n[0]}-{n[-1]}"
        keys = sorted({r.tune_key for r in mine})
        lines.append(f"{task}: " + ", ".join(cells) + f" ({T50_INTERVAL}s; " + _params([x for r in mine for x in r.runs])
                     + f", {', '.join(keys)} chosen per model on validation by its tuning runs; T50 from {runs} "
                     "measurement runs, one seed each)")
    return lines


def bracket_text(bracket) -> str:
    lo, hi = bracket
    return f"({fmt_length(lo) if lo else '-'}, {fmt_length(hi) if hi else '-'})"
