"""Reading a sweep: every run's records, the command that made it, its frontier.json, and the provenance line.

Only the files are read (result.json, meta.json, multirun.yaml, frontier.json), never the training code,
so a sweep made by an old commit stays reportable. A problem in one file costs that file and one note.
"""
from __future__ import annotations

import math
import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from lstm_bench.records import EVALUATED, Status, read_json, read_result

SKIP_DIRS = {".hydra", "wandb", ".submitit", "report", "__pycache__"}
VERSION_KEYS = ("python", "torch", "hydra-core", "omegaconf", "numpy", "wandb", "triton")


class ReportError(Exception):
    """Nothing can be reported; the message is one line and `code` the exit status."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


@dataclass
class Run:
    path: str  # the run directory, relative to the sweep directory ("." for the sweep directory itself)
    result: dict
    meta: dict

    @property
    def key(self) -> tuple:
        return self.result["task"], self.result["model"], self.result["length"]

    @property
    def solved(self) -> bool:
        """What the tables count as a solve: the test-set verdict (`solved_test`) where the record has one;
        a record from before the validation split has only its status, which its test numbers decided."""
        verdict = self.result.get("solved_test")
        return verdict if isinstance(verdict, bool) else self.result["status"] == Status.SOLVED

    @property
    def counted_by_status(self) -> bool:
        """A finished record from before the validation split: no solved_test, so its status (which the test set
        decided then) is what counts."""
        return not isinstance(self.result.get("solved_test"), bool) and self.result["status"] in EVALUATED

    @property
    def steps_to_solve(self) -> float:
        """Where validation stopped a run that the test counts as solved (a run the test solved at its last step but
        validation did not: that step); infinity for every other run (censored: it needed more than its budget, or
        the test disagreed). What steps-to-solve statistics read."""
        if not self.solved:
            return math.inf
        for key in ("steps_to_solve", "steps"):  # solved on test at its last step, not on validation: by then
            v = self.result.get(key)
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                return float(v)
        return math.inf


@dataclass
class Sweep:
    root: Path
    runs: list[Run] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # one line per problem in the input
    commands: list[str] = field(default_factory=list)
    frontiers: list[tuple[str, dict]] = field(default_factory=list)  # (directory, its frontier.json)
    searches: list[tuple[str, dict]] = field(default_factory=list)  # (directory, its t50.json): the T50 searches


def _command(multirun_yaml: Path) -> str | None:
    """The command line that made a sweep, from the multirun.yaml Hydra saves in its directory."""
    try:
        with open(multirun_yaml) as f:
            cfg = yaml.safe_load(f)
        hydra = cfg["hydra"]
        name = hydra["job"]["name"]
        hydra_overrides = [o for o in hydra["overrides"]["hydra"]
                           if not o.startswith(("hydra.sweep.dir=", "hydra.mode="))]
        args = [*hydra_overrides, *hydra["overrides"]["task"]]
    except Exception:  # noqa: BLE001: a missing or odd multirun.yaml only costs the command line
        return None
    return " ".join([f"python {name}.py -m", *args])


def _searches(path: Path) -> dict:
    """A frontier.json or t50.json that holds a list of searches; ValueError otherwise."""
    found = read_json(path)
    if not isinstance(found, dict) or not isinstance(found.get("searches"), list):
        raise ValueError("no list of searches")
    return found


def _valid(result: dict) -> str | None:
    """Why a result.json that parsed is still unusable, or None."""
    r = result
    if not (isinstance(r["task"], str) and isinstance(r["model"], str) and isinstance(r["status"], str)):
        return "task, model and status must be strings"
    if not (isinstance(r["length"], int) and isinstance(r["seed"], int)):
        return "length and seed must be integers"
    return None


def _meta(run_dir: Path) -> dict:
    """meta.json, or {} when it is missing or unreadable: only the provenance line suffers."""
    try:
        meta = read_json(run_dir / "meta.json")
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def load(root: Path) -> Sweep:
    """Every run under `root` (a sweep directory, or a folder of them), in a fixed order."""
    root = Path(root)
    if not root.exists():
        raise ReportError(f"{root}: no such directory", code=2)
    if not root.is_dir():
        raise ReportError(f"{root}: not a directory", code=2)
    sweep = Sweep(root)
    incomplete = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        rel = here.relative_to(root).as_posix()
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        if "multirun.yaml" in filenames:
            command = _command(here / "multirun.yaml")
            sweep.commands.append(command or f"unknown (unreadable {rel}/multirun.yaml)")
        for name, found in (("frontier.json", sweep.frontiers), ("t50.json", sweep.searches)):
            if name in filenames:
                try:
                    found.append((rel, _searches(here / name)))
                except (OSError, ValueError) as err:
                    why = f"{type(err).__name__}: {err}".splitlines()[0]
                    sweep.notes.append(f"skipped {rel}/{name}: unreadable ({why})")
        if "result.json" in filenames:
            try:
                result = read_result(here)
                why = _valid(result)
                if why:
                    raise ValueError(f"{here / 'result.json'}: {why}")
            except ValueError as err:
                sweep.notes.append(f"skipped {rel}: {err}")
                continue
            sweep.runs.append(Run(rel, result, _meta(here)))
        elif (here / ".hydra" / "config.yaml").exists():
            incomplete.append(rel)
    sweep.notes += _input_notes(sweep.runs, incomplete)
    sweep.runs.sort(key=lambda r: (*r.key, r.result["seed"], r.path))
    return sweep


def _input_notes(runs: list[Run], incomplete: list[str]) -> list[str]:
    """What the reader of the tables should know about the input beyond the files skipped."""
    notes = []
    if incomplete:
        shown = ", ".join(incomplete[:5]) + (f" and {len(incomplete) - 5} more" if len(incomplete) > 5 else "")
        notes.append(f"{len(incomplete)} run director{'y has' if len(incomplete) == 1 else 'ies have'} "
                     f"no result.json (still running, or killed): {shown}")
    old = sum(r.counted_by_status for r in runs)
    if old:
        notes.append(f"{old} run(s) record no solved_test (made before the validation split): they count as solved "
                     "by their status, which the test set decided")
    no_meta = sum(1 for r in runs if not r.meta)
    if no_meta:
        notes.append(f"{no_meta} run(s) have no readable meta.json: their commit and versions are unknown")
    tasks = sorted({(r.result["task"], str(r.result.get("metric_name"))) for r in runs})
    if len({t for t, _ in tasks}) > 1:
        notes.append("runs of different tasks are mixed here: " + ", ".join(f"{t} (metric {m})" for t, m in tasks)
                     + "; each task gets its own rows, and loss / baseline uses each task's own baseline")
    return notes


def _code(meta: dict) -> str:
    """The code version of a run: its commit, and where the commit cannot tell two versions apart (uncommitted
    changes, no git) the hash of the source files that ran (meta.json's source_sha256)."""
    git = meta.get("git") if isinstance(meta.get("git"), dict) else {}
    commit, dirty, source = git.get("commit"), git.get("dirty"), meta.get("source_sha256")
    source = f" (source {source[:12]})" if isinstance(source, str) and source else ""
    if not isinstance(commit, str) or not commit:
        return "commit unknown" + source
    if dirty is True:
        return f"commit {commit[:12]} + uncommitted changes" + source
    return f"commit {commit[:12]}" + (" (clean)" if dirty is False else "")


def provenance(sweep: Sweep) -> list[str]:
    """The lines above a table: what ran, at which commit, with which packages; a warning where they differ."""
    runs = sweep.runs
    if not runs:
        return []
    codes = Counter(_code(r.meta) for r in runs)
    vers = defaultdict(Counter)
    for r in runs:
        v = r.meta.get("versions") if isinstance(r.meta.get("versions"), dict) else {}
        for k in VERSION_KEYS:
            if k in v:
                vers[k][str(v[k])] += 1
    what = "; ".join(f"`{c}`" for c in sweep.commands) if sweep.commands else "command unknown (no multirun.yaml)"
    same = [f"{k} {next(iter(c))}" for k, c in vers.items() if len(c) == 1]
    lines = [f"{len(runs)} runs of {what}; " + (f"{next(iter(codes))}" if len(codes) == 1 else "several code versions")
             + (("; " + ", ".join(same)) if same else "")]
    if len(codes) > 1:
        lines.append("WARNING: the runs come from different code versions: "
                     + ", ".join(f"{c} ({n} runs)" for c, n in sorted(codes.items())))
    differ = {k: c for k, c in vers.items() if len(c) > 1}
    if differ:
        lines.append("WARNING: package versions differ between runs: "
                     + "; ".join(f"{k} " + ", ".join(f"{v} ({n} runs)" for v, n in sorted(c.items()))
                                 for k, c in differ.items()))
    return lines
