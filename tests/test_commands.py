"""Every `python run.py ...` command that README.md, docs/**/*.md and the presets' headers (conf/experiment/**.yaml) show
works as written. Each is parsed as a shell would, passes run.py's own check of group choices, and is composed
as Hydra would compose it: a single run with the compose API, a multirun by its own sweeper (instantiated from
the composed config), which lists its jobs, each composed and checked as that sweeper checks a job before a
sweep starts (hydra_plugins/lstm_bench_sweeper/checks.py). A representative few really run, at a tiny size.
"""
import copy
import json
import os
import re
import shlex
from pathlib import Path

import pytest
from hydra import initialize_config_dir
from hydra._internal.callbacks import Callbacks
from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.plugins import Plugins
from hydra.errors import ConfigCompositionException
from hydra.types import HydraContext, RunMode
from omegaconf import OmegaConf

from conftest import ROOT, TINY, compose_cfg, run_python
from hydra_plugins.lstm_bench_sweeper.checks import bad_jobs, job_problem, refusal
from lstm_bench.config import validate
from run import unknown_choice

CONF = ROOT / "conf"
# tiny runs for a sweep over lengths: conftest's TINY but its length, and no diagnostics
TINY_SWEEP = [o for o in TINY if not o.startswith("task.length=")] + ["diag.every=0"]
# task=seq_image builds without the real data; one pytest-xdist worker for the module, so that the commands that
# run the same jobs (a preset, and a seed or a task of it) compose and check each job once (ARMS, CHECKED)
pytestmark = [pytest.mark.usefixtures("fake_fashion_mnist"), pytest.mark.xdist_group("commands")]
RUN = re.compile(r"(?:\S*/)?python3? run\.py\b")  # `python run.py`, `.venv/bin/python run.py`
# a code line that runs run.py: at its start, after a `$ ` prompt or a YAML comment's `#`, or after a set-up's `&&`
COMMAND_LINE = re.compile(r"(?:\$ |#\s*)?(?:[^`]*&&\s*)?" + RUN.pattern)


def shown_in(text: str) -> list[tuple[str, str | None]]:
    """The run.py commands in a markdown text: in code blocks (fenced or indented; a trailing `\\` continues a
    line) and in inline code. Each with what it prints where a block shows that: a `$ ` prompt before the
    command, its output in the lines after it."""
    commands, fenced, inline = [], False, []
    lines = iter(text.splitlines())
    for line in lines:
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if fenced or line.startswith("    "):
            while line.endswith("\\"):
                line = line[:-1] + next(lines)
            if COMMAND_LINE.match(line.strip()):  # a command, not output that quotes one
                commands.append([line, None])
            elif commands and commands[-1][0].lstrip().startswith("$ ") and line.strip():
                commands[-1][1] = "\n".join(filter(None, [commands[-1][1], line[4:]]))
        else:
            inline.append(line)
    commands += [[span, None] for span in re.findall(r"`([^`]+)`", "\n".join(inline)) if RUN.search(span)]
    return [tuple(c) for c in commands]


def preset_headers() -> list[str]:
    """The commands in the comment lines that open each preset file."""
    commands = []
    for path in sorted((CONF / "experiment").rglob("*.yaml")):
        for line in path.read_text().splitlines():
            if not line.startswith("#"):
                break
            if RUN.search(line):
                commands.append((line.lstrip("# "), None))
    return commands


def arguments(command: str) -> list[str]:
    """What run.py gets: the words after it, up to a `&&` or a comment."""
    words = shlex.split(command[RUN.search(command).end():], comments=True)
    return words[: words.index("&&")] if "&&" in words else words


COMMANDS, OUTPUT = {}, {}  # arguments -> the command as shown, and the output shown with it, if any
# the manual's pages (docs/claims/ too): their commands as the README's; but docs/extend.md, whose commands need the
# files it shows how to add (tests/test_extend.py composes them with those files in place)
DOCS = sorted(p for p in (ROOT / "docs").rglob("*.md") if p.name != "extend.md")
for shown, output in [c for page in [ROOT / "README.md", *DOCS] for c in shown_in(page.read_text())] + preset_headers():
    COMMANDS.setdefault(tuple(arguments(shown)), " ".join(shown.split()))
    if output is not None:
        OUTPUT[tuple(arguments(shown))] = output


def test_the_commands_are_found():
    shown = set(COMMANDS.values())
    for command in ("python run.py", "python run.py -m +experiment=variants seed=0 # one seed, a third of the runs",
                    ".venv/bin/python run.py -m +experiment=quick", "python run.py --info plugins",
                    "python run.py -m +experiment=forget_gate +experiment/forget_gate=nfg"):
        assert any(command in s for s in shown), command
    slurm = [a for a in COMMANDS if "hydra/launcher=slurm" in a]  # three lines joined, the quotes parsed
    assert len(OUTPUT) >= 1 and all(out.startswith("error: ") for out in OUTPUT.values())
    assert any('hydra.launcher.setup=["source ~/venvs/lstm-bench/bin/activate"]' in a for a in slurm)
    assert len(COMMANDS) >= 30


ARMS = {}  # (the command's own part, a job's group overrides) -> the config they compose: shared by the commands


class Composer:
    """Each job's config as Hydra's config loader composes it (load_sweep_config), but its `hydra` node, the
    loading shared by jobs that differ in values only: their config-group overrides compose once, then each
    job's value overrides are applied as Hydra applies them after the groups (in order, in struct mode; a
    job's overrides never touch `hydra`). The same configs (test_composer_matches_hydra), many times faster
    for a sweep of hundreds of jobs."""

    def __init__(self, loader, master):
        self.loader, self.master = loader, master
        self.parser = OverridesParser.create(config_loader=loader)
        # what load_sweep_config reads of the command besides the job's overrides
        self.command = (master.hydra.job.config_name, tuple(OmegaConf.to_container(master.hydra.overrides.hydra)))

    def is_group(self, override) -> bool:
        return self.loader.repository.group_exists(override.key_or_group) and not isinstance(override.value(), dict)

    def __call__(self, job: list[str]):
        parsed = self.parser.parse_overrides(job)
        arm = (self.command, tuple(o.input_line for o in parsed if self.is_group(o)))
        if arm not in ARMS:
            full = self.loader.load_sweep_config(self.master, list(arm[1]))
            ARMS[arm] = OmegaConf.masked_copy(full, [k for k in full if k != "hydra"])
            OmegaConf.set_struct(ARMS[arm], True)
        cfg = copy.deepcopy(ARMS[arm])
        ConfigLoaderImpl._apply_overrides_to_config([o for o in parsed if not self.is_group(o)], cfg)
        return cfg


def sweep_of(args: list[str]):
    """The sweeper that `python run.py -m ARGS` would run, set up as Hydra sets it up, its jobs and a composer."""
    gh = GlobalHydra.instance().hydra
    cfg = gh.compose_config("config", overrides=list(args), run_mode=RunMode.MULTIRUN)
    sweeper = Plugins.instance().instantiate_sweeper(
        config=cfg, hydra_context=HydraContext(config_loader=gh.config_loader, callbacks=Callbacks(cfg)),
        task_function=lambda _: None)
    jobs = sweeper.planned_jobs(OmegaConf.to_container(cfg.hydra.overrides.task))
    return sweeper, jobs, Composer(gh.config_loader, cfg)


CHECKED = {}  # a job's resolved config but its seed -> its problem


def checked(cfg):
    """job_problem, once per config: the same job in two commands, or jobs that differ only in the seed (which
    seeds the weights and batches, and builds the same task and model) are checked once; each seed is valid."""
    validate(cfg)
    key = json.dumps({k: v for k, v in plain(cfg).items() if k != "seed"}, sort_keys=True)
    if key not in CHECKED:
        CHECKED[key] = job_problem(cfg)
    return CHECKED[key]


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("args", list(COMMANDS), ids=list(COMMANDS.values()))
def test_command_composes_and_every_job_builds(args):
    """Composes, and every job passes the sweep's checks; a command shown with its error, with that error."""
    shown_error = OUTPUT.get(args)
    args = list(args)
    assert unknown_choice(args) is None
    flags = [a for a in args if a.startswith("-")]
    if set(flags) - {"-m", "--multirun"}:  # --info, --cfg, ...: Hydra answers them without a run; ask it
        p = run_python("run.py", *args, cwd=ROOT)
        assert p.returncode == 0, p.stderr[-3000:]
        if args == ["--info", "plugins"]:  # what the README says it lists
            assert "FrontierSweeper" in p.stdout and "LstmBenchSweeper" in p.stdout
        return
    overrides = [a for a in args if a not in flags]
    if not flags:
        problem = job_problem(compose_cfg(*overrides))
        assert (f"error: {problem}" if problem else None) == shown_error
        return
    with initialize_config_dir(config_dir=str(CONF), version_base=None):
        sweeper, jobs, compose = sweep_of(overrides)
        bad = bad_jobs(jobs, compose, checked)
    assert jobs and (refusal(bad, len(jobs)) if bad else None) == shown_error


def plain(cfg) -> dict:
    return OmegaConf.to_container(OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]), resolve=True)


def test_composer_matches_hydra():
    """The shared loading gives exactly the configs that Hydra composes job by job, and refuses what it refuses."""
    with initialize_config_dir(config_dir=str(CONF), version_base=None):
        for args in (["+experiment=smoke"], ["+experiment=variants", "seed=0", "+experiment/compare=copy"],
                     ["+experiment=forget_gate", "model.hidden_size=64"], ["+experiment=temporal_order",
                                                                            "model=lstm", "model.init=default,chrono"]):
            sweeper, jobs, compose = sweep_of(args)
            for job in jobs[:: max(len(jobs) // 2, 1)]:
                exact = GlobalHydra.instance().hydra.config_loader.load_sweep_config(compose.master, list(job))
                assert plain(compose(list(job))) == plain(exact), job
        for wrong in ("rung=long", "model.nokey=1"):  # a key the config lacks needs a +
            with pytest.raises(ConfigCompositionException):
                compose([*jobs[0], wrong])


def test_a_modules_tests_share_one_worker(request):
    """Under pytest-xdist's loadgroup (the suite's addopts) this module's tests run in one worker, by its
    xdist_group, so the commands share ARMS and CHECKED; with pytest 9.2 they did not, silently (pyproject.toml)."""
    if not os.environ.get("PYTEST_XDIST_WORKER") or not getattr(request.config.option, "loadgroup", False):
        pytest.skip("the suite runs in one process: no workers to share")
    assert request.node.nodeid.endswith("@commands"), request.node.nodeid


# ----------------------------------------------------------------------------- a representative few, for real

def test_the_first_command_runs_at_a_tiny_size(tmp_path):
    """The README's main job: a sweep that ends with its table."""
    sweep = tmp_path / "quick"
    # one job at a time, in this process: no worker processes to start (tests/test_sweeps.py runs them)
    p = run_python("run.py", "-m", "+experiment=quick", *TINY_SWEEP, "hydra.launcher.n_jobs=1",
                   f"hydra.sweep.dir={sweep}")
    assert p.returncode == 0, p.stderr[-3000:]
    assert {json.loads(r.read_text())["length"] for r in sweep.glob("*/result.json")} == {25, 50, 100}
    assert len(list(sweep.glob("*/result.json"))) == 6
    assert "| lstm | adding | 100 |" in p.stdout and (sweep / "report" / "results.md").exists()


def test_unknown_choice_knows_a_groups_subfolders():
    assert unknown_choice(["+experiment=compare/adding", "model=gru"]) is None
    line = unknown_choice(["+experiment=compare/nosuch"])
    assert line.startswith("experiment='compare/nosuch' is not allowed: one of ") and "compare/adding" in line
