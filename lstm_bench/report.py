"""Tables and plots of a sweep, read from its run directories alone.

    python -m lstm_bench.report SWEEP_DIR [--format md|csv|latex] [--table all|results|frontier]
                                          [--out FILE] [--plots DIR]

It reads the records (result.json, meta.json, diagnostics.jsonl, the sweep's multirun.yaml and
frontier.json) and never imports the training code, so a sweep made by an old commit stays reportable.

The results table has one row per (model, task, T): runs, solve rate, steps to solve (mean ± std over
the seeds that solved), final test loss over the task's memoryless baseline and, where the runs have
them, the diagnostics grad_ratio_log10 and forget_mean; cells read `0.982 ± 0.004 (n=3)`. Runs whose
configs differ in more than the seed (a sweep over train.lr, say) get a row per value, in extra columns.
The frontier table has, per (model, task), the longest T solved over the seeds (median [min-max]): from
the frontier sweeper's frontier.json, or else from the grid of lengths that ran.

A line above each table restates what ran (command, commit, package versions) and warns when the runs
come from more than one code version. The same inputs give byte-identical tables: rows are sorted and
nothing depends on the clock or the order of the directory listing.

Problems in the input (a corrupt or half-written result.json, a run without one, mixed tasks) get one
line each on stderr and the rest is still reported; the exit status is non-zero only when nothing can be
(1: no readable run; 2: no such directory).
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import statistics
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from lstm_bench.records import read_json, read_result

# what does not make two runs different experiments: the seed is averaged over, the rest is bookkeeping
NOT_A_SETTING = ("seed", "task.length", "logger", "diag", "device", "train.threads")
SKIP_DIRS = {".hydra", "wandb", ".submitit", "report", "__pycache__"}
OUTCOMES = ("solved", "unsolved", "diverged", "crashed", "interrupted")
VERSION_KEYS = ("python", "torch", "hydra-core", "omegaconf", "numpy", "wandb", "triton")
DASH = "-"
NO_FRONTIER = "no frontier to report (no frontier.json, and one length per model and task)"


class ReportError(Exception):
    """Nothing can be reported; the message is one line."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


# ----------------------------------------------------------------------------- reading

@dataclass
class Run:
    path: str  # the run directory, relative to the sweep directory ("." for the sweep directory itself)
    result: dict
    meta: dict

    @property
    def key(self) -> tuple:
        return self.result["task"], self.result["model"], self.result["length"]


@dataclass
class Sweep:
    root: Path
    runs: list[Run] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # one line per problem in the input
    commands: list[str] = field(default_factory=list)
    frontiers: list[tuple[str, dict]] = field(default_factory=list)  # (path, frontier.json)


def _command(multirun_yaml: Path) -> str | None:
    """The command line that made a sweep, from the multirun.yaml Hydra saves in its directory."""
    try:
        import yaml  # omegaconf's dependency, so always there

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


def _valid(result: dict) -> str | None:
    """Why a result.json that parsed is still unusable, or None."""
    r = result
    if not (isinstance(r["task"], str) and isinstance(r["model"], str) and isinstance(r["status"], str)):
        return "task, model and status must be strings"
    if not (isinstance(r["length"], int) and isinstance(r["seed"], int)):
        return "length and seed must be integers"
    return None


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
        if "frontier.json" in filenames:
            try:
                frontier = read_json(here / "frontier.json")
                if not isinstance(frontier, dict) or not isinstance(frontier.get("searches"), list):
                    raise ValueError("no list of searches")
                sweep.frontiers.append((rel, frontier))
            except (OSError, ValueError) as err:
                why = f"{type(err).__name__}: {err}".splitlines()[0]
                sweep.notes.append(f"skipped {rel}/frontier.json: unreadable ({why})")
        if "result.json" in filenames:
            try:
                result = read_result(here)
                why = _valid(result)
                if why:
                    raise ValueError(f"{here / 'result.json'}: {why}")
            except ValueError as err:
                sweep.notes.append(f"skipped {rel}: {err}")
                continue
            try:
                meta = read_json(here / "meta.json")
                meta = meta if isinstance(meta, dict) else {}
            except (OSError, ValueError):
                meta = {}
            sweep.runs.append(Run(rel, result, meta))
        elif (here / ".hydra" / "config.yaml").exists():
            incomplete.append(rel)
    if incomplete:
        shown = ", ".join(incomplete[:5]) + (f" and {len(incomplete) - 5} more" if len(incomplete) > 5 else "")
        sweep.notes.append(f"{len(incomplete)} run director{'y has' if len(incomplete) == 1 else 'ies have'} "
                           f"no result.json (still running, or killed): {shown}")
    no_meta = sum(1 for r in sweep.runs if not r.meta)
    if no_meta:
        sweep.notes.append(f"{no_meta} run(s) have no readable meta.json: their commit and versions are unknown")
    tasks = sorted({(r.result["task"], str(r.result.get("metric_name"))) for r in sweep.runs})
    if len({t for t, _ in tasks}) > 1:
        sweep.notes.append("runs of different tasks are mixed here: " + ", ".join(f"{t} (metric {m})" for t, m in tasks)
                           + "; each task gets its own rows, and loss / baseline uses each task's own baseline")
    sweep.runs.sort(key=lambda r: (r.result["task"], r.result["model"], r.result["length"], r.result["seed"], r.path))
    return sweep


# ----------------------------------------------------------------------------- provenance

def _code(meta: dict) -> str:
    git = meta.get("git") if isinstance(meta.get("git"), dict) else {}
    commit = git.get("commit")
    if not isinstance(commit, str) or not commit:
        return "commit unknown"
    dirty = git.get("dirty")
    return f"commit {commit[:12]}" + {True: " + uncommitted changes", False: " (clean)"}.get(dirty, "")


def provenance(runs: list[Run], commands: list[str]) -> list[str]:
    """The lines above a table: what ran, at which commit, with which packages; a warning where they differ."""
    if not runs:
        return []
    codes = Counter(_code(r.meta) for r in runs)
    vers = defaultdict(Counter)
    for r in runs:
        v = r.meta.get("versions") if isinstance(r.meta.get("versions"), dict) else {}
        for k in VERSION_KEYS:
            if k in v:
                vers[k][str(v[k])] += 1
    what = "; ".join(f"`{c}`" for c in commands) if commands else "command unknown (no multirun.yaml)"
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


# ----------------------------------------------------------------------------- the results table

def _flat(cfg, prefix="") -> dict:
    if isinstance(cfg, dict):
        out = {}
        for k, v in cfg.items():
            out.update(_flat(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: json.dumps(cfg, sort_keys=True)}


def _is_setting(key: str) -> bool:
    return not any(key == k or key.startswith(k + ".") for k in NOT_A_SETTING)


def split_keys(runs: list[Run]) -> list[str]:
    """Config keys that differ between runs of the same (task, model, T) other than by seed: each value
    of them gets its own row, so that no row mixes two experiments."""
    groups = defaultdict(list)
    for r in runs:
        groups[r.key].append({k: v for k, v in _flat(r.result.get("config") or {}).items() if _is_setting(k)})
    keys = set()
    for flats in groups.values():
        for k in set().union(*flats):
            if len({f.get(k) for f in flats}) > 1:
                keys.add(k)
    return sorted(keys)


@dataclass
class Stat:
    values: list[float]

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.values) if self.values else None

    @property
    def std(self) -> float | None:
        return statistics.stdev(self.values) if len(self.values) > 1 else None

    def cell(self, fmt: str) -> str:
        if not self.values:
            return DASH
        if self.n == 1:
            return f"{self.mean:{fmt}} (n=1)"
        return f"{self.mean:{fmt}} ± {self.std:{fmt}} (n={self.n})"


def _numbers(runs: list[Run], key: str, only_solved: bool = False) -> Stat:
    vals = []
    for r in runs:
        v = r.result.get(key)
        if only_solved and r.result["status"] != "solved":
            continue
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            vals.append(float(v))
    return Stat(vals)


@dataclass
class Row:
    task: str
    model: str
    length: int
    setting: tuple  # values of split_keys, as JSON text
    runs: list[Run]

    @property
    def label(self) -> str:
        return self.model + "".join(f" {v}" for v in self.setting)

    @property
    def n_solved(self) -> int:
        return sum(r.result["status"] == "solved" for r in self.runs)

    @property
    def solve_rate(self) -> float:
        return self.n_solved / len(self.runs)

    def stat(self, key: str) -> Stat:
        return _numbers(self.runs, key, only_solved=(key == "steps_to_solve"))

    def outcomes(self) -> Counter:
        return Counter(r.result["status"] for r in self.runs)


def result_rows(runs: list[Run], keys: list[str]) -> list[Row]:
    groups = defaultdict(list)
    for r in runs:
        flat = _flat(r.result.get("config") or {})
        groups[(*r.key, tuple(flat.get(k, "null") for k in keys))].append(r)
    return [Row(t, m, L, s, rs) for (t, m, L, s), rs in sorted(groups.items(), key=lambda kv: kv[0])]


DIAGNOSTICS = (("grad_ratio_log10", "grad ratio log10", ".2f"), ("forget_mean", "forget mean", ".3f"))


def results_table(runs: list[Run]) -> tuple[list[str], list[list[str]], list[str]]:
    """(header, rows of cells, notes) of the results table."""
    keys = split_keys(runs)
    notes = []
    if keys:
        notes.append("runs with the same (model, task, T) differ in " + ", ".join(keys)
                     + ": one row per value, in the columns after T")
    rows = result_rows(runs, keys)
    diags = [d for d in DIAGNOSTICS if any(row.stat(d[0]).n for row in rows)]
    header = ["model", "task", "T", *keys, "runs", "solved", "steps to solve", "loss / baseline",
              *[name for _, name, _ in diags], "other outcomes"]
    out = []
    for row in rows:
        other = row.outcomes()
        other = ", ".join(f"{other[s]} {s}" for s in sorted(other) if s not in ("solved", "unsolved"))
        out.append([row.model, row.task, str(row.length), *row.setting, str(len(row.runs)),
                    f"{row.n_solved}/{len(row.runs)}", row.stat("steps_to_solve").cell(".0f"),
                    row.stat("loss_vs_baseline").cell(".3f"), *[row.stat(k).cell(f) for k, _, f in diags],
                    other or DASH])
    return header, out, notes


def results_csv_rows(runs: list[Run]) -> tuple[list[str], list[list]]:
    """The results table with plain numbers (means, stds and counts in their own columns)."""
    keys = split_keys(runs)
    rows = result_rows(runs, keys)
    stats = ["steps_to_solve", "loss_vs_baseline", *[k for k, _, _ in DIAGNOSTICS]]
    header = ["model", "task", "length", *keys, "runs", "solved", "solve_rate"]
    for s in stats:
        header += [f"{s}_mean", f"{s}_std", f"{s}_n"]
    header += [f"n_{s}" for s in OUTCOMES[2:]]
    out = []
    for row in rows:
        line = [row.model, row.task, row.length, *row.setting, len(row.runs), row.n_solved, _num(row.solve_rate)]
        for s in stats:
            st = row.stat(s)
            line += [_num(st.mean), _num(st.std), st.n]
        c = row.outcomes()
        line += [c[s] for s in OUTCOMES[2:]]
        out.append(line)
    return header, out


def _num(x) -> float | None:
    return None if x is None else round(x, 10)


# ----------------------------------------------------------------------------- the frontier table

@dataclass
class Frontier:
    task: str
    model: str
    setting: str
    seeds: list  # (seed, longest T solved or 0, capped at max_length?)
    source: str


def _frontiers_from_searches(sweep: Sweep) -> list[Frontier]:
    searches = [s for _, f in sweep.frontiers for s in f["searches"] if isinstance(s, dict)]
    if not searches:
        return []
    common = set.intersection(*(set(s.get("overrides") or []) for s in searches))
    groups = defaultdict(list)
    for s in searches:
        own = [o for o in (s.get("overrides") or [])
               if o not in common and o.split("=", 1)[0].lstrip("+~") not in ("seed", "model", "task")]
        model = s.get("model") or "?"
        task = s.get("task") or "?"
        groups[(task, model, " ".join(sorted(own)))].append(
            (s.get("seed"), s.get("frontier") or 0, bool(s.get("capped")), bool(s.get("done"))))
    settings = sorted({(f.get("resolution"), f.get("max_length")) for _, f in sweep.frontiers})
    src = "frontier search, resolution " + ", ".join(f"{r} up to T={m}" for r, m in settings)
    return [Frontier(t, m, s, sorted(v, key=lambda x: (x[0] is None, x[0] or 0, x[1])), src)
            for (t, m, s), v in sorted(groups.items())]


def _frontiers_from_grid(runs: list[Run]) -> list[Frontier]:
    keys = split_keys(runs)
    best = defaultdict(dict)
    lengths = defaultdict(set)
    for r in runs:
        flat = _flat(r.result.get("config") or {})
        g = (r.result["task"], r.result["model"], " ".join(f"{k}={flat.get(k, 'null')}" for k in keys))
        lengths[g].add(r.result["length"])
        seed = r.result["seed"]
        solved = r.result["length"] if r.result["status"] == "solved" else 0
        best[g][seed] = max(best[g].get(seed, 0), solved)
    if not any(len(v) > 1 for v in lengths.values()):
        return []  # one length per model and task: no frontier to speak of
    return [Frontier(t, m, s, [(seed, T, False, True) for seed, T in sorted(v.items())],
                     "the grid of lengths that ran (not a search)") for (t, m, s), v in sorted(best.items())]


def frontier_table(sweep: Sweep) -> tuple[list[str], list[list[str]], str] | None:
    fronts = _frontiers_from_searches(sweep) or _frontiers_from_grid(sweep.runs)
    if not fronts:
        return None
    with_setting = any(f.setting for f in fronts)
    header = ["model", "task", *(["setting"] if with_setting else []), "seeds", "longest T solved: median [min-max]",
              "per seed"]
    rows = []
    for f in fronts:
        Ts = [T for _, T, _, _ in f.seeds]
        med = statistics.median(Ts)
        per_seed = ", ".join(f"{seed}: " + ("none" if T == 0 else f">={T}" if capped else str(T))
                             + ("" if done else " (search unfinished)") for seed, T, capped, done in f.seeds)
        rows.append([f.model, f.task, *([f.setting or DASH] if with_setting else []), str(len(f.seeds)),
                     f"{med:g} [{min(Ts)}-{max(Ts)}]", per_seed])
    return header, rows, fronts[0].source


# ----------------------------------------------------------------------------- rendering

def _md(header, rows) -> list[str]:
    esc = lambda c: str(c).replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(esc(h) for h in header) + " |",
             "|" + "|".join("---" if i < 3 else "--:" for i, _ in enumerate(header)) + "|"]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return lines


TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
       "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}", "±": r"$\pm$"}


def _tex_escape(s) -> str:
    return "".join(TEX.get(ch, ch) for ch in str(s)).replace(">=", r"$\geq$")


def _latex(header, rows) -> list[str]:
    lines = [r"\begin{tabular}{" + "l" * min(3, len(header)) + "r" * max(len(header) - 3, 0) + "}", r"\toprule",
             " & ".join(_tex_escape(h) for h in header) + r" \\", r"\midrule"]
    lines += [" & ".join(_tex_escape(c) for c in row) + r" \\" for row in rows]
    return lines + [r"\bottomrule", r"\end{tabular}"]


def _csv(header, rows, comments) -> str:
    buf = io.StringIO()
    for c in comments:
        buf.write(f"# {c}\n")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def render(sweep: Sweep, fmt: str = "md", table: str = "all") -> str:
    """The report's text. md and latex hold both tables (unless `table` picks one); csv holds one
    table (results unless table="frontier"), with its provenance in leading `#` lines
    (pandas.read_csv(path, comment="#") reads it)."""
    prov = provenance(sweep.runs, sweep.commands)
    res_header, res_rows, res_notes = results_table(sweep.runs)
    front = frontier_table(sweep)
    if fmt == "csv":
        if table == "frontier":
            if front is None:
                raise ReportError(f"{sweep.root}: {NO_FRONTIER}")
            h, rows, src = front
            return _csv(h, rows, [*prov, f"longest T solved, from {src}"])
        h, rows = results_csv_rows(sweep.runs)
        return _csv(h, rows, [*prov, *res_notes])
    comment = "% " if fmt == "latex" else ""
    block = _latex if fmt == "latex" else _md
    out = []
    if table in ("all", "results"):
        out += [f"{comment}Results: {sweep.root.name}", "", *(comment + p for p in prov),
                *(comment + n for n in res_notes), "", *block(res_header, res_rows)]
    if table in ("all", "frontier") and front is not None:
        h, rows, src = front
        again = prov if table == "frontier" else []  # with the results table above, its line says what ran
        out += ["", f"{comment}Frontier: the longest T solved within the step budget, from {src}", "",
                *(comment + p for p in again), *([""] if again else []), *block(h, rows)]
    elif table == "frontier":
        raise ReportError(f"{sweep.root}: {NO_FRONTIER}")
    return "\n".join(out) + "\n"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def plots(sweep: Sweep, out_dir: Path) -> list[Path]:
    """The PNGs, into out_dir; the list of files written."""
    from lstm_bench import report_plots

    rows = result_rows(sweep.runs, split_keys(sweep.runs))
    return report_plots.draw_all(rows, sweep.root, Path(out_dir))


def write_sweep_report(sweep: Sweep, out_dir: Path) -> str:
    """At the end of a multirun: the markdown report and the CSV tables and plots into out_dir. Returns the markdown."""
    text = render(sweep, "md")
    _write(out_dir / "results.md", text)
    _write(out_dir / "results.csv", render(sweep, "csv"))
    if frontier_table(sweep) is not None:
        _write(out_dir / "frontier.csv", render(sweep, "csv", table="frontier"))
    try:
        plots(sweep, out_dir)
    except Exception as err:  # noqa: BLE001: the tables stand without the pictures
        print(f"warning: plots failed: {type(err).__name__}: {err}".splitlines()[0], file=sys.stderr)
    return text


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m lstm_bench.report", description=__doc__.split("\n\n")[0])
    p.add_argument("sweep_dir", type=Path, help="a sweep directory (outputs/sweeps/...), or a folder of them")
    p.add_argument("--format", choices=("md", "csv", "latex"), default="md")
    p.add_argument("--table", choices=("all", "results", "frontier"), default="all",
                   help="which table (csv holds one: results unless frontier)")
    p.add_argument("--out", type=Path, help="write the table here instead of printing it")
    p.add_argument("--plots", type=Path, metavar="DIR", help="also draw the PNG plots into DIR")
    args = p.parse_args(argv)
    try:
        sweep = load(args.sweep_dir)
        for note in sweep.notes:
            print(f"note: {note}", file=sys.stderr)
        if not sweep.runs:
            raise ReportError(f"{args.sweep_dir}: no readable result.json under it: nothing to report")
        text = render(sweep, args.format, args.table)
    except ReportError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.code
    if args.out:
        _write(args.out, text)
    else:
        sys.stdout.write(text)
    if args.plots:
        for path in plots(sweep, args.plots):
            print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
