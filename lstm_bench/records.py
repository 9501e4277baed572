"""The records of a run, the source of truth (W&B only mirrors them).

In the run directory:
    metrics.jsonl      one line per evaluation, appended and flushed as it happens
    diagnostics.jsonl  one line per diagnostics probe
    result.json        the outcome, written atomically once the run ends
    meta.json          provenance: git commit, source hash, package versions, device, seed, times
Only this module writes result files, and every whole-file write is atomic (a temporary
file in the same directory, then os.replace), so a reader never sees half a file.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import subprocess
import tempfile
from enum import Enum
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("torch", "triton", "hydra-core", "omegaconf", "wandb", "numpy")


def _clean(obj):
    """JSON has no NaN or Inf: write them as null rather than produce an unreadable file."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def _umask() -> int:
    """The process's umask, read from /proc (Linux 4.7+): setting it to read it, the only portable way, would leave
    a thread that creates a file in that instant with umask 0."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0)  # elsewhere: set it, and put it straight back
    os.umask(mask)
    return mask


def write_text(path: Path, text: str) -> None:
    """Write `text` to `path` atomically: a temporary file in the same directory, then os.replace."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp's 0600 would hide the results from the rest of a group
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, obj) -> None:
    """Write `obj` as JSON to `path` atomically, NaN and Inf as null."""
    write_text(path, json.dumps(_clean(obj), indent=2, sort_keys=True, allow_nan=False) + "\n")


def read_json(path: Path):
    with open(path) as f:
        return json.load(f)


def read_jsonl(path: Path) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


# the files whose content is the code of a run, by folder and suffix: what a resumed sweep must find unchanged
SOURCE_DIRS = {"lstm_bench": ".py", "tasks": ".py", "kernels": ".py", "hydra_plugins": ".py", "conf": ".yaml"}
SOURCE_TOP = ("run.py",)


def _is_source(rel: str) -> bool:
    """`rel`, a POSIX path relative to the project root, is one of its source files."""
    top, _, rest = rel.partition("/")
    if not rest:
        return rel in SOURCE_TOP
    return top in SOURCE_DIRS and rel.endswith(SOURCE_DIRS[top]) and "__pycache__" not in rel.split("/")


def source_files(repo: Path = REPO) -> list[str]:
    """The project's source files under `repo`, as sorted POSIX paths relative to it."""
    found = [*(repo / top for top in SOURCE_TOP), *(p for d in SOURCE_DIRS for p in (repo / d).rglob("*"))]
    return sorted(rel for p in found if p.is_file() and _is_source(rel := p.relative_to(repo).as_posix()))


# An experiment preset only sets values of the job's config, which the resume check compares in full: leaving
# presets out of the hash lets one claim's preset be edited without making every other sweep run again.
PRESETS_DIR = "conf/experiment/"


def source_hash(repo: Path = REPO) -> str | None:
    """sha256 over the path and bytes of every source file but the experiment presets: the code that runs,
    with or without git. None when it cannot be established (the package's own files are not where they should
    be, or unreadable)."""
    files = [rel for rel in source_files(repo) if not rel.startswith(PRESETS_DIR)]
    if not any(rel.startswith("lstm_bench/") for rel in files):
        return None
    digest = hashlib.sha256()
    try:
        for rel in files:
            data = (repo / rel).read_bytes()
            digest.update(f"{rel}\0{len(data)}\0".encode())
            digest.update(data)
    except OSError:
        return None
    return digest.hexdigest()


def git_state(repo: Path = REPO) -> dict:
    """The commit of the code that ran, and whether the tree differed from it: a change to a tracked file,
    or a source file that git does not track (a new module that ran, though no commit holds it)."""
    def git(*args):
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=10)

    try:
        head = git("rev-parse", "HEAD")
        if head.returncode != 0:
            return {"commit": None, "dirty": None}
        changed = git("status", "--porcelain", "--untracked-files=no")
        untracked = git("ls-files", "--others", "--exclude-standard", "-z")
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    if changed.returncode != 0 or untracked.returncode != 0:
        return {"commit": head.stdout.strip(), "dirty": None}
    new_source = any(_is_source(rel) for rel in untracked.stdout.split("\0") if rel)
    return {"commit": head.stdout.strip(), "dirty": changed.stdout.strip() != "" or new_source}


def versions() -> dict:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


class RunRecords:
    """The files of one run directory."""

    def __init__(self, run_dir: Path):
        self.dir = Path(run_dir)
        self.dir.mkdir(parents=True, exist_ok=True)

    def start(self) -> None:
        """A run starting again in the same directory begins its logs afresh."""
        for name in ("metrics.jsonl", "diagnostics.jsonl", "result.json"):
            (self.dir / name).unlink(missing_ok=True)

    def _append(self, name: str, row: dict) -> None:
        with open(self.dir / name, "a") as f:
            f.write(json.dumps(_clean(row), sort_keys=True, allow_nan=False) + "\n")

    def metric(self, row: dict) -> None:
        self._append("metrics.jsonl", row)

    def diagnostic(self, row: dict) -> None:
        self._append("diagnostics.jsonl", row)

    def meta(self, meta: dict) -> None:
        write_json(self.dir / "meta.json", meta)

    def result(self, result: dict) -> None:
        write_json(self.dir / "result.json", result)


class Status(str, Enum):
    """How a run ended: result.json's `status`. A str, so a record holds (and compares equal to) the plain word."""
    SOLVED = "solved"  # validation met the task's rule (the test's verdict at that step is solved_test)
    UNSOLVED = "unsolved"  # the step budget ran out first
    PRUNED = "pruned"  # stopped early, still at the memoryless baseline on validation (train.prune)
    DIVERGED = "diverged"  # a NaN or infinite loss
    CRASHED = "crashed"  # an exception; its error is in result.json
    INTERRUPTED = "interrupted"  # Ctrl-C or SIGTERM

    def __str__(self) -> str:
        return self.value


# --- reading records back (the report and the resume check); stdlib only, never torch ---

# statuses of a run that reached its end (resume reuses them; crashed and interrupted runs run again)
FINISHED = (Status.SOLVED, Status.UNSOLVED, Status.PRUNED, Status.DIVERGED)
# the runs whose final test numbers were taken after their last step (a diverged run has none)
EVALUATED = (Status.SOLVED, Status.UNSOLVED, Status.PRUNED)
RESULT_FIELDS = ("task", "model", "length", "seed", "status")


def read_result(run_dir: Path) -> dict:
    """run_dir/result.json, checked. Raises ValueError with a one-line reason if it is
    missing, half-written, not JSON or lacks the fields every result has."""
    path = Path(run_dir) / "result.json"
    try:
        result = read_json(path)
    except FileNotFoundError:
        raise ValueError(f"{path}: no result.json (the run is still going, or was killed)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        why = f"{type(err).__name__}: {err}".splitlines()[0]
        raise ValueError(f"{path}: unreadable, half-written or not JSON ({why})") from None
    if not isinstance(result, dict):
        raise ValueError(f"{path}: not a JSON object")
    missing = [k for k in RESULT_FIELDS if k not in result]
    if missing:
        raise ValueError(f"{path}: lacks {', '.join(missing)}")
    return result


def reusable_result(run_dir: Path, config: dict, source: str | None, device: str) -> tuple[dict | None, str | None]:
    """The resume check of a sweep's job: (the recorded result, None) if run_dir holds a run that finished
    with this very config, on this device, with this very code (meta.json's source hash; a git commit cannot
    see uncommitted or untracked files, nor exist without git); else (None, why it runs again, in a few
    words), why None when no earlier run left a result."""
    if not (Path(run_dir) / "result.json").exists():
        return None, None
    try:
        result = read_result(run_dir)
    except ValueError:
        return None, "its result.json is unreadable"
    if result["status"] not in FINISHED:
        return None, f"it {result['status']} before the end"
    if result.get("config") != json.loads(json.dumps(_clean(config))):
        return None, "its config differs from this job's"
    try:
        meta = read_json(Path(run_dir) / "meta.json")
    except (OSError, ValueError):
        meta = None
    recorded = meta.get("source_sha256") if isinstance(meta, dict) else None
    if source is None:
        return None, "the version of this code cannot be established (its source files are unreadable)"
    if not recorded:
        return None, "the code version it ran with is unknown (meta.json holds no source hash)"
    if recorded != source:
        return None, "the code changed since it ran (another source hash)"
    if meta.get("device") != device:
        return None, f"it ran on {meta.get('device')}, this job runs on {device}"
    return result, None
