"""The command line: `python -m lstm_bench.report SWEEP_DIR`, the tables to stdout or a file, plots on request."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import lstm_bench.report
from lstm_bench.records import write_text
from lstm_bench.report.load import ReportError, load
from lstm_bench.report.render import FORMATS, write_csv
from lstm_bench.report.tables import build


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m lstm_bench.report",
                                description=lstm_bench.report.__doc__.split("\n\n")[0])
    p.add_argument("sweep_dir", type=Path, help="a sweep directory (outputs/sweeps/...), or a folder of them")
    p.add_argument("--format", choices=tuple(FORMATS), default="md")
    p.add_argument("--table", choices=("all", "t50", "results", "frontier", "lengths"), default="all",
                   help="which table (csv holds one: results unless t50, frontier or lengths)")
    p.add_argument("--out", type=Path, help="write the table here instead of printing it (csv: its provenance "
                                            "beside it, in NAME.meta.json)")
    p.add_argument("--plots", type=Path, metavar="DIR", help="also draw the figures into DIR, PNG and PDF each")
    p.add_argument("--tune", action="append", default=[], metavar="KEY",
                   help="a swept config key (e.g. train.lr; repeatable): per model, task and T keep the value whose "
                        "runs did best on validation and report its test numbers")
    args = p.parse_args(argv)
    try:
        sweep = load(args.sweep_dir)
        for note in sweep.notes:
            print(f"note: {note}", file=sys.stderr)
        if not sweep.runs:
            raise ReportError(f"{args.sweep_dir}: no readable result.json under it: nothing to report")
        tables = build(sweep, tuple(args.tune))
        text = FORMATS[args.format](tables, args.table)
    except ReportError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.code
    if args.out and args.format == "csv":  # the provenance that a plain CSV has no room for: a sidecar beside it
        write_csv(tables, args.out, args.table)
    elif args.out:
        write_text(args.out, text)
    else:
        sys.stdout.write(text)
    if args.plots:
        from lstm_bench.report import plots  # matplotlib only when pictures are asked for

        for path in plots.draw(tables, args.plots):
            print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
