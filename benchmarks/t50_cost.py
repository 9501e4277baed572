"""Where a T50 search's time went: per model and task, its runs (tuning, measurement), their summed wall time, and
what pruning saved, from the records the sweep left (t50.json names every probe's run directory; each result.json
holds the run's wall time, steps and status).

    python benchmarks/t50_cost.py outputs/sweeps/<the headline's sweep>

A pruned run stopped at `steps` of its `train.steps` budget. What it saved is estimated from its own pace:
(budget - steps) / steps_per_s seconds, the time it would have spent unsolved to the end (a pruned run counts as
unsolved either way). Wall times are those of the runs themselves, on whatever the cores were shared with; the
sweep's own wall time also holds the wait for each round's slowest run.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def cost(sweep: Path) -> list[dict]:
    searches = json.loads((sweep / "t50.json").read_text())["searches"]
    rows = []
    for s in searches:
        row = {"model": s["model"], "task": s["task"], "tuning": 0, "measurement": 0, "pruned": 0,
               "seconds": 0.0, "saved": 0.0, "missing": 0}
        for probe in s["probes"]:
            path = sweep / probe["run_dir"] / "result.json"
            if not path.is_file():
                row["missing"] += 1
                continue
            r = json.loads(path.read_text())
            row["tuning" if probe["phase"] == "tune" else "measurement"] += 1
            row["seconds"] += r.get("wall_time_s") or 0.0
            if r["status"] == "pruned" and r.get("steps_per_s"):
                row["pruned"] += 1
                row["saved"] += (r["config"]["train"]["steps"] - r["steps"]) / r["steps_per_s"]
        rows.append(row)
    return rows


def minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("sweep_dir", type=Path, help="a T50 sweep's directory (it holds t50.json)")
    args = p.parse_args(argv)
    if not (args.sweep_dir / "t50.json").is_file():
        print(f"error: no t50.json in {args.sweep_dir} (a T50 sweep's directory holds one: python run.py -m "
              f"+experiment=headline)", file=sys.stderr)
        return 2
    rows = cost(args.sweep_dir)
    print("| model | task | tuning runs | measurement runs | pruned | run-minutes | saved by pruning (min, est.) |")
    print("|---|---|--:|--:|--:|--:|--:|")
    for r in rows + [{"model": "all", "task": "", **{k: sum(r[k] for r in rows) for k in
                                                       ("tuning", "measurement", "pruned", "seconds", "saved",
                                                        "missing")}}]:
        print(f"| {r['model']} | {r['task']} | {r['tuning']} | {r['measurement']} | {r['pruned']} | "
              f"{minutes(r['seconds'])} | {minutes(r['saved'])} |")
    missing = sum(r["missing"] for r in rows)
    if missing:
        print(f"\n{missing} probes have no result.json yet (a round in progress, or interrupted): not counted")
    return 0


if __name__ == "__main__":
    sys.exit(main())
