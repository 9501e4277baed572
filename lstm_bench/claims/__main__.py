"""The command line: `python -m lstm_bench.claims run ...` runs the claim sweeps, `... report DIR` their verdicts."""
from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

from lstm_bench.claims import table
from lstm_bench.errors import ConfigError
from lstm_bench.records import write_text
from lstm_bench.report.load import ReportError

PROJECT = Path(__file__).resolve().parents[2]  # lstm_bench is a namespace package: no __file__ of its own
PRESETS = PROJECT / "conf" / "experiment" / "claims"


def known_ids(presets: Path = PRESETS) -> list[str]:
    return sorted(p.stem for p in presets.glob("*.yaml")) if presets.is_dir() else []


def _shown(path: Path) -> str:
    """A path relative to the project root where it lies under it (the commands read as a user types them)."""
    try:
        return path.relative_to(PROJECT).as_posix()
    except ValueError:
        return str(path)


def commands(ids: list[str], root: Path, overrides: list[str]) -> list[tuple[str, list[str]]]:
    """(id, argv) per claim: its sweep into root/<id>, run from the project root."""
    return [(cid, [sys.executable, "run.py", "-m", f"+experiment/claims={cid}",
                   f"hydra.sweep.dir={_shown(root / cid)}", *overrides]) for cid in ids]


def split_only(only: list[str], overrides: list[str]) -> tuple[list[str], list[str]]:
    """`--only a b key=value`: argparse hands the override to --only; a claim id never holds "=" or starts
    with ~ or +, a Hydra override always does one of these."""
    ids = [x for x in only if "=" not in x and not x.startswith(("~", "+"))]
    return ids, [x for x in only if x not in ids] + overrides


def run(args) -> int:
    known = known_ids(args.presets)
    only, overrides = split_only(args.only or [], args.overrides)
    for cid in only:
        if cid not in known:
            there = ", ".join(known) if known else f"none (no presets in {_shown(args.presets)})"
            print(f"error: unknown claim {cid!r}: the claims are {there}", file=sys.stderr)
            return 2
    ids = sorted(set(only)) if only else known
    if not ids:
        print(f"error: no claim presets in {_shown(args.presets)}: nothing to run", file=sys.stderr)
        return 2
    root = Path(args.root).resolve()
    failed = []
    for cid, argv in commands(ids, root, overrides):
        shown = shlex.join(["python", *argv[1:]])
        print(f"claim {cid}: {shown}", flush=True)
        if args.dry_run:
            continue
        t0 = time.perf_counter()
        code = subprocess.run(argv, cwd=PROJECT, env={**os.environ, "PYTHONUNBUFFERED": "1"}).returncode
        print(f"claim {cid}: {'done' if code == 0 else f'FAILED (exit {code})'} in {time.perf_counter() - t0:.1f} s",
              flush=True)
        if code != 0:
            failed.append(cid)
    if failed:
        print(f"error: {len(failed)} of {len(ids)} claims failed: {', '.join(failed)} (run again to resume)",
              file=sys.stderr)
        return 1
    return 0


def report(args) -> int:
    try:
        rows, notes = table.build(args.dir, args.presets)
        text = table.FORMATS[args.format](rows)
    except ReportError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.code
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    if args.out:
        write_text(args.out, text)
    else:
        sys.stdout.write(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m lstm_bench.claims", description=__doc__.split(":")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run each claim's sweep (or the --only ones), one after another",
                       description="Each claim: python run.py -m +experiment/claims=<id> "
                                   "hydra.sweep.dir=<root>/<id> OVERRIDES. Finished runs are reused.")
    r.add_argument("--only", nargs="+", metavar="ID", help="these claims only (the preset file names)")
    r.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    r.add_argument("--root", default=str(PROJECT / "outputs" / "claims"),
                   help="where each claim's sweep directory goes (default: outputs/claims)")
    r.add_argument("--presets", type=Path, default=PRESETS, help="where the claim presets are (default: "
                   "conf/experiment/claims; another folder needs hydra.searchpath=[file://its grandparent])")
    r.add_argument("overrides", nargs="*", help="Hydra overrides for every claim (hydra/launcher=slurm ...)")
    rep = sub.add_parser("report", help="the verdict table of a claims directory, from its records alone")
    rep.add_argument("dir", type=Path, help="the claims root (outputs/claims): one sweep directory per claim")
    rep.add_argument("--format", choices=tuple(table.FORMATS), default="md")
    rep.add_argument("--out", type=Path, help="write the table here instead of printing it")
    rep.add_argument("--presets", type=Path, default=PRESETS,
                     help="the claim presets, for the claims with no runs yet (default: conf/experiment/claims)")
    args = p.parse_args(argv)
    return run(args) if args.cmd == "run" else report(args)


if __name__ == "__main__":
    sys.exit(main())
