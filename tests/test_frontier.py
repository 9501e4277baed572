"""The frontier sweeper: the search alone, through Hydra on a stub objective, and on a real tiny sweep."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, TINY, run_python
from hydra_plugins.lstm_bench_frontier.search import LengthSearch, search
from lstm_bench.report.stats import fit_t50


# ----------------------------------------------------------------------------- the search alone

@pytest.mark.parametrize("start", [1, 5, 8, 10, 37, 38, 100])
def test_search_finds_37_at_resolution_1(start):
    s = search(lambda T: T <= 37, start=start, resolution=1, max_length=1000)
    assert s.solved_max == 37 and s.failed_min == 38 and not s.capped
    assert len(s.probes) == len({T for T, _ in s.probes})  # no length probed twice


@pytest.mark.parametrize("resolution", [2, 5, 10])
def test_search_resolution_brackets_the_answer(resolution):
    s = search(lambda T: T <= 37, start=10, resolution=resolution)
    assert s.solved_max <= 37 < s.failed_min and s.failed_min - s.solved_max <= resolution


def test_search_relative_resolution():
    s = search(lambda T: T <= 300, start=10, resolution=1, rel_resolution=0.25, max_length=1000)
    assert s.solved_max <= 300 < s.failed_min and s.failed_min - s.solved_max <= 0.25 * s.solved_max
    assert len(s.probes) < len(search(lambda T: T <= 300, start=10, resolution=1).probes)


def test_search_capped_and_none_solved():
    s = search(lambda T: True, start=10, resolution=1, max_length=100)
    assert s.solved_max == 100 and s.capped and [T for T, _ in s.probes] == [10, 20, 40, 80, 100]
    s = search(lambda T: False, start=10, resolution=1, min_length=2)
    assert s.solved_max is None and s.failed_min == 2 and min(T for T, _ in s.probes) >= 2
    with pytest.raises(ValueError):
        LengthSearch(start=5, min_length=10)


# ----------------------------------------------------------------------------- through Hydra

STUB = '''
import hydra
from omegaconf import DictConfig

@hydra.main(version_base=None, config_path="conf", config_name="config")
def main(cfg: DictConfig):
    T = cfg.task.length
    if T == 48:
        raise RuntimeError("a probe that crashes")  # a failed job: not solved, recorded, the search goes on
    return {"status": "solved" if T <= 37 else "unsolved", "model": cfg.model, "task": "stub", "seed": cfg.seed}

if __name__ == "__main__":
    main()
'''


def test_frontier_sweeper_on_a_stub_objective(tmp_path):
    (tmp_path / "stub.py").write_text(STUB)
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "config.yaml").write_text("model: a\nseed: 0\ntask:\n  length: 10\n")
    sweep = tmp_path / "sweep"  # the sweeper comes from the installed package, wherever the app lives
    # not lstm-bench's config: the probes need only compose (hydra.sweeper.check=null)
    args = ["stub.py", "-m", "hydra/sweeper=frontier", "hydra.sweeper.check=null", "hydra.sweeper.start=8",
            "hydra.sweeper.resolution=1", f"hydra.sweep.dir={sweep}"]
    p = run_python(*args, "task.length=5", "model=a,b", cwd=tmp_path)
    assert p.returncode != 0 and "searches task.length itself" in p.stderr  # the search owns the length

    p = run_python(*args, "model=a,b", cwd=tmp_path)
    # the searches went on past the crashed probes, and then the sweep said so
    assert p.returncode == 1 and p.stderr.strip().splitlines()[-3:] == [
        "error: 2 of the 18 jobs crashed (`python run.py` with a job's overrides runs it alone, with its traceback):",
        *(f"  model={m} task.length=48: RuntimeError: a probe that crashes" for m in "ab")], p.stderr[-3000:]
    front = json.loads((sweep / "frontier.json").read_text())
    assert front["complete"] and len(front["searches"]) == 2
    for s in front["searches"]:
        assert s["frontier"] == 37 and s["first_failure"] == 38 and s["done"] and not s["capped"]
        lengths = [pr["length"] for pr in s["probes"]]
        assert lengths == [8, 16, 32, 64, 48, 40, 36, 38, 37]
        crashed = [pr for pr in s["probes"] if pr["length"] == 48]
        assert crashed[0]["status"] == "failed" and "a probe that crashes" in crashed[0]["error"]
    assert {s["model"] for s in front["searches"]} == {"a", "b"}


# ----------------------------------------------------------------------------- discovery and real sweeps

def test_editable_install_still_finds_the_sweeper(tmp_path):
    """The README installs with `pip install -e .`; setuptools' editable finder can hide a namespace package
    from Hydra's plugin scan (facebookresearch/hydra#2359). A fresh venv on this environment's packages, with
    the project installed editable, must list the sweeper from anywhere, not only from the repo root."""
    import site

    env_dir = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True, timeout=60)
    py = env_dir / "bin" / "python"
    child_site = subprocess.run([str(py), "-c", "import site; print(site.getsitepackages()[0])"], capture_output=True,
                                text=True, check=True).stdout.strip()
    Path(child_site, "base.pth").write_text(site.getsitepackages()[0] + "\n")  # torch, hydra, ... from here
    # --ignore-installed: without it pip uninstalls the project from the environment running the tests
    p = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", str(ROOT), "--no-deps", "--no-build-isolation",
                        "--ignore-installed", "--prefix", str(env_dir)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    code = ("from hydra.core.plugins import Plugins; from hydra.plugins.sweeper import Sweeper; "
            "print([p.__name__ for p in Plugins.instance().discover(Sweeper)])")
    p = subprocess.run([str(py), "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "FrontierSweeper" in p.stdout, p.stderr[-2000:]
    p = subprocess.run([str(py), str(ROOT / "run.py"), "--info", "plugins"], cwd=tmp_path, capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0 and "FrontierSweeper" in p.stdout and "JoblibLauncher" in p.stdout, p.stderr[-2000:]


def test_frontier_on_a_real_tiny_sweep(tmp_path):
    """A tiny lstm on adding with a solved rule below the memoryless MSE 1/6 (a constant cannot pass it): in 80
    steps it solves T=2 (test MSE under 0.01 from step 80, under 0.05 from step 70) and fails T=3 and T=4 (about
    0.11 and 0.18 at step 80). From T=2 the search doubles to 4, fails, bisects to 3: the frontier is 2."""
    sweep = tmp_path / "frontier"
    args = ["run.py", "-m", "hydra/sweeper=frontier", "+experiment=smoke", "hydra.sweeper.params.seed=0",
            "model=lstm", "hydra.sweeper.start=2", "hydra.sweeper.max_length=16", "hydra.sweeper.resolution=1",
            "task.threshold=0.05", "train.lr=1e-2", "train.steps=80", "diag.every=0", f"hydra.sweep.dir={sweep}",
            "hydra.launcher.n_jobs=1"]  # a round's one job in this process: no workers to start (test_sweeps runs them)
    p = run_python(*args)
    assert p.returncode == 0, p.stderr[-3000:]
    front = json.loads((sweep / "frontier.json").read_text())
    assert front["complete"] and len(front["searches"]) == 1
    (s,) = front["searches"]
    assert s["model"] == "lstm" and s["task"] == "adding" and s["seed"] == 0
    assert [(pr["length"], pr["solved"]) for pr in s["probes"]] == [(2, True), (4, False), (3, False)]
    assert s["frontier"] == 2 and s["first_failure"] == 3 and s["done"] and not s["capped"]
    for probe in s["probes"]:  # every probe is an ordinary run with its records
        result = json.loads((sweep / probe["run_dir"] / "result.json").read_text())
        assert result["length"] == probe["length"] and (result["status"] == "solved") == probe["solved"]
        assert (result["test_metric"] < 0.05) == probe["solved"]  # the rule the task was given, not a constant's
    # the frontier table printed at the end: T=2 solved, 3 and 4 not; three runs leave T50's interval open both ways
    fit = fit_t50([(2, True), (4, False), (3, False)], [0, 0, 0])
    assert fit.text() == "2.44 [< 2, > 4]" and f"| lstm | adding | 1 | {fit.text()} | 2 [2-2] | 0: 2 |" in p.stdout

    before = {d.name: (d / "result.json").read_bytes() for d in sweep.iterdir() if (d / "result.json").exists()}
    p = run_python(*args)  # resumed: the search replays from the records, no probe runs again
    assert p.returncode == 0, p.stderr[-3000:]
    assert p.stdout.count("not run again") == len(s["probes"])
    after = {d.name: (d / "result.json").read_bytes() for d in sweep.iterdir() if (d / "result.json").exists()}
    assert after == before
    assert json.loads((sweep / "frontier.json").read_text())["searches"][0]["frontier"] == s["frontier"]


def test_frontier_checks_each_round_before_launching_it(tmp_path):
    """A bad probe in the first round refuses the sweep before anything is written. Then reber, which a tiny net
    fails at T=10: bisection asks for T=5, shorter than the shortest embedded Reber string (9), which the task
    refuses; that round is refused before it launches, with the first round on record."""
    sweep = tmp_path / "frontier"
    args = ["run.py", "-m", "hydra/sweeper=frontier", *(o for o in TINY if not o.startswith("task.length=")),
            "diag.every=0", "hydra.sweeper.start=10", "hydra.sweeper.resolution=1", f"hydra.sweep.dir={sweep}",
            "hydra.launcher.n_jobs=1"]
    p = run_python(*args, "model=lstm_cell", "model.variant=nfg,bogus")
    assert p.returncode == 2, p.stderr[-3000:]
    error, line = p.stderr.strip().splitlines()[-2:]
    assert error == "error: 1 of the 2 jobs would stop on bad input, so none was launched:"
    assert line.endswith(" model=lstm_cell model.variant=bogus task.length=10: model.variant='bogus' is not "
                         "allowed: one of vanilla, nig, nfg, nog, niaf, noaf, cifg, fgr")
    assert not sweep.exists()

    p = run_python(*args, "task=reber")
    assert p.returncode == 2, p.stderr[-3000:]
    error, line = p.stderr.strip().splitlines()[-2:]
    assert error == "error: 1 of the 1 jobs would stop on bad input, so none was launched:"
    assert " task=reber task.length=5: task.length=5 is not allowed" in line
    front = json.loads((sweep / "frontier.json").read_text())
    assert not front["complete"] and [(pr["length"], pr["solved"]) for pr in front["searches"][0]["probes"]] == [
        (10, False)]
