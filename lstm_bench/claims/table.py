"""The claims table: one row per claim, its verdict computed from the records of the claim's sweep directory.

Each claim's `claim` node (id, summary, paper, paper_reports, criterion) is read from the config recorded in
its runs' result.json; a claim whose directory holds no finished run yet takes it from its preset
(conf/experiment/claims/<id>.yaml) and gets a row saying so. Rows are sorted by id; nothing depends on the
clock or the order of a directory listing, so the same records give the same bytes.
"""
from __future__ import annotations

import csv
import io
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import yaml
from hydra.errors import InstantiationException
from hydra.utils import instantiate

from lstm_bench.claims.criteria import INCONCLUSIVE, Criterion, Verdict
from lstm_bench.errors import ConfigError
from lstm_bench.records import FINISHED
from lstm_bench.report.load import SKIP_DIRS, ReportError, load
from lstm_bench.report.render import latex_table

HEADER = ("id", "claim", "paper reports", "we measured (k/n [95% Wilson]; steps: median [q1, q3]; means: [95% t])",
          "verdict", "runs (finished/expected)")
CSV_HEADER = ("id", "claim", "paper", "paper_reports", "measured", "verdict", "finished", "expected",
              "not_finished", "detail")


@dataclass(frozen=True)
class ClaimRow:
    id: str
    summary: str
    paper: str
    paper_reports: str
    verdict: Verdict
    not_finished: int  # runs recorded as crashed or interrupted

    @property
    def runs(self) -> str:
        v = self.verdict
        return f"{v.finished}/{v.expected}" + (f", {self.not_finished} not finished" if self.not_finished else "")


def holds_sweep(path: Path) -> bool:
    """A directory with a run or a sweep's multirun.yaml anywhere under it."""
    return any(p.name in ("result.json", "multirun.yaml") and not (set(p.relative_to(path).parts) & SKIP_DIRS)
               for p in path.rglob("*"))


def preset_claims(presets: Path | None) -> dict[str, dict]:
    """{id: claim node} of every preset; {} where there is no presets directory."""
    out = {}
    if presets is None or not presets.is_dir():
        return out
    for f in sorted(presets.glob("*.yaml")):
        try:
            node = (yaml.safe_load(f.read_text()) or {}).get("claim")
        except (OSError, yaml.YAMLError, AttributeError) as err:
            raise ReportError(f"{f}: unreadable preset ({type(err).__name__})", code=2) from None
        out[f.stem] = node if isinstance(node, dict) else {}
    return out


def recorded_claim(runs, notes: list[str], cid: str) -> dict | None:
    """The claim node most runs recorded (ties: the first in JSON order); a note when the runs disagree."""
    nodes = Counter(json.dumps(r.result["config"]["claim"], sort_keys=True) for r in runs
                    if isinstance(r.result.get("config"), dict) and isinstance(r.result["config"].get("claim"), dict))
    if not nodes:
        return None
    ranked = sorted(nodes.items(), key=lambda kv: (-kv[1], kv[0]))
    if len(ranked) > 1:
        notes.append(f"{cid}: the runs record {len(ranked)} different claim nodes: using the one of "
                     f"{ranked[0][1]} run(s) (was the preset edited between runs?)")
    return json.loads(ranked[0][0])


def criterion(node: dict, cid: str) -> Criterion:
    """The claim's criterion, instantiated; a bad one is one ConfigError line naming the claim."""
    spec = node.get("criterion")
    if not isinstance(spec, dict) or "_target_" not in spec:
        raise ConfigError(f"claim {cid}: claim.criterion={spec!r} is not allowed: a mapping with a _target_ "
                          "from lstm_bench.claims.criteria")
    try:
        crit = instantiate(spec)
    except (InstantiationException, ConfigError) as err:
        cause = err.__cause__ if isinstance(err.__cause__, ConfigError) else err
        raise ConfigError(f"claim {cid}: claim.criterion: {str(cause).splitlines()[0]}") from None
    if not isinstance(crit, Criterion):
        raise ConfigError(f"claim {cid}: claim.criterion._target_={spec['_target_']!r} is not allowed: "
                          "a criterion from lstm_bench.claims.criteria")
    return crit


def claim_row(cid: str, directory: Path | None, preset: dict | None, notes: list[str]) -> ClaimRow:
    runs = []
    if directory is not None:
        sweep = load(directory)
        notes += [f"{cid}: {n}" for n in sweep.notes]
        runs = sweep.runs
    node = recorded_claim(runs, notes, cid) or preset or {}
    if not node:
        verdict = Verdict(INCONCLUSIVE, "no claim node recorded or preset", "", 0, 0)
    else:
        crit = criterion(node, cid)
        verdict = crit(runs, directory) if runs else Verdict(INCONCLUSIVE, "no runs yet", "no run has finished",
                                                            0, crit(runs).expected)
    not_finished = sum(r.result["status"] not in FINISHED for r in runs)
    return ClaimRow(cid, str(node.get("summary", "")), str(node.get("paper", "")), str(node.get("paper_reports", "")),
                    verdict, not_finished)


def build(root: Path, presets: Path | None) -> tuple[list[ClaimRow], list[str]]:
    """The rows, sorted by id, and the notes on the input (one line each)."""
    root = Path(root)
    if not root.exists():
        raise ReportError(f"{root}: no such directory", code=2)
    if not root.is_dir():
        raise ReportError(f"{root}: not a directory", code=2)
    dirs = {p.name: p for p in sorted(root.iterdir()) if p.is_dir() and p.name not in SKIP_DIRS and holds_sweep(p)}
    known = preset_claims(presets)
    ids = sorted(set(dirs) | set(known))
    if not ids:
        raise ReportError(f"{root}: no claim sweep under it and no claim presets in {presets}: nothing to report")
    notes: list[str] = []
    rows = [claim_row(cid, dirs.get(cid), known.get(cid), notes) for cid in ids]
    return rows, notes


def _cells(r: ClaimRow) -> list[str]:
    reports = f"{r.paper}: {r.paper_reports}" if r.paper else r.paper_reports
    return [r.id, r.summary, reports, r.verdict.measured, r.verdict.verdict, r.runs]


def _why(rows: list[ClaimRow]) -> list[str]:
    return [f"{r.id} ({r.verdict.verdict}): {r.verdict.detail}" for r in rows if r.verdict.detail]


def markdown(rows: list[ClaimRow]) -> str:
    esc = lambda c: str(c).replace("|", "\\|").replace("\n", " ")  # noqa: E731
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "|".join("---" for _ in HEADER) + "|"]
    lines += ["| " + " | ".join(esc(c) for c in _cells(r)) + " |" for r in rows]
    return "\n".join([*lines, "", "Why each verdict:", "", *(f"- {w}" for w in _why(rows))]) + "\n"


def latex(rows: list[ClaimRow]) -> str:
    lines = latex_table(HEADER, [_cells(r) for r in rows], columns="lp{4cm}p{4cm}p{4cm}ll")
    lines += [f"% {w}" for w in _why(rows)]
    return "\n".join(lines) + "\n"


def csv_text(rows: list[ClaimRow]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_HEADER)
    for r in rows:
        v = r.verdict
        w.writerow([r.id, r.summary, r.paper, r.paper_reports, v.measured, v.verdict, v.finished, v.expected,
                    r.not_finished, v.detail])
    return buf.getvalue()


FORMATS = {"md": markdown, "csv": csv_text, "latex": latex}
