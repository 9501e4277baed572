"""The share of a run's wall time spent in diagnostics (the target: at most 15% at the default diag.every).

    python benchmarks/diagnostics_cost.py                          # the default run: adding T=100, lstm,
                                                                   # 3000-step budget or until solved, W&B offline
    python benchmarks/diagnostics_cost.py model=rnn train.threads=1  # any Hydra overrides

It runs the real training loop (lstm_bench.train.run) in a temporary directory and reads the
answer off the run's own records: result.json's diag_time_s (every probe, its records, its W&B
logging, and the end's curves and PNGs) over wall_time_s. It prints one table, with the
gradient ratio of the first probe (the fresh model) and of the last (the trained one).
`diagnostics_share(overrides)` returns the same numbers as a dict, for a caller of its own.
"""
import sys
import tempfile
from pathlib import Path

from hydra import compose, initialize_config_dir

from lstm_bench.records import read_jsonl
from lstm_bench.train import run

CONF = Path(__file__).resolve().parent.parent / "conf"


def diagnostics_share(overrides=(), run_dir=None) -> dict:
    """One run with `overrides`; its diagnostics time over its wall time, and what the probes saw."""
    with initialize_config_dir(config_dir=str(CONF), version_base=None):
        cfg = compose("config", overrides=list(overrides), return_hydra_config=True)
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(run_dir or tmp)
        r = run(cfg, run_dir, interactive=False)
        rows = read_jsonl(run_dir / "diagnostics.jsonl") if (run_dir / "diagnostics.jsonl").exists() else []
    return {
        "run": f"{r['task']} T={r['length']} {r['model']}", "status": r["status"], "steps": r["steps"],
        "probes": len(rows), "wall_s": r["wall_time_s"], "diag_s": r["diag_time_s"],
        "share": r["diag_time_s"] / r["wall_time_s"],
        "ratio_first": rows[0]["grad_ratio_log10"] if rows else None,
        "ratio_last": r["grad_ratio_log10"],
    }


def main() -> None:
    s = diagnostics_share(sys.argv[1:])
    fmt = lambda v: "-" if v is None else f"{v:.1f}"  # noqa: E731
    print(f"{'run':<22} {'status':<9} {'steps':>5} {'probes':>6} {'wall s':>7} {'diag s':>7} {'share':>6}  "
          f"grad_ratio_log10 first -> last")
    print(f"{s['run']:<22} {s['status']:<9} {s['steps']:>5} {s['probes']:>6} {s['wall_s']:>7.1f} {s['diag_s']:>7.2f} "
          f"{100 * s['share']:>5.1f}%  {fmt(s['ratio_first'])} -> {fmt(s['ratio_last'])}")


if __name__ == "__main__":
    main()
