"""A sweep's run directories are named by their overrides (conf/config.yaml: hydra.sweep.subdir), less the keys in
hydra.job.config.override_dirname.exclude_keys. That list is set once, in conf/config.yaml; resume finds a finished
run by its directory, so the names a preset's jobs get are pinned here as they were when the list had fifteen copies.
"""
import re

import pytest
from omegaconf import OmegaConf

from conftest import ROOT, compose_cfg

CONF = ROOT / "conf"


def test_the_list_names_every_group_below_experiment_and_task_path():
    """A "/" in a directory name nests directories: every config group below conf/experiment/ is left out."""
    listed = OmegaConf.to_container(compose_cfg().hydra.job.config.override_dirname.exclude_keys)
    groups = sorted(p.relative_to(CONF).as_posix() for p in (CONF / "experiment").rglob("*") if p.is_dir())
    assert sorted(listed) == sorted([*groups, "task.path"])


def test_one_home_for_the_list():
    """Only state_tracking keeps a list of its own: its arms lead the name, so it leaves out `experiment` too."""
    own = sorted(p.relative_to(CONF).as_posix() for p in (CONF / "experiment").rglob("*.yaml")
                 if re.search(r"^\s*exclude_keys:", p.read_text(), re.M))
    assert own == ["experiment/state_tracking.yaml"]


# (a job's overrides as its sweep composes it, the directory it got before the list moved to conf/config.yaml)
PINNED = [
    (["+experiment=quick", "model=rnn", "task.length=25"], "+experiment=quick,model=rnn,task.length=25"),
    (["+experiment=smoke", "model=lstm", "seed=1"], "+experiment=smoke,model=lstm,seed=1"),
    (["+experiment=compare", "+experiment/compare=adding", "model=rnn", "rung=short", "seed=0"],
     "task=adding,+experiment=compare,model=rnn,rung=short,seed=0"),
    (["+experiment=fair", "+experiment/compare=copy", "model=gru", "rung=long", "seed=4", "train.lr=0.01"],
     "task=copy,+experiment=fair,model=gru,rung=long,seed=4,train.lr=0.01"),
    (["+experiment=headline", "+experiment/compare=adding", "model=rnn", "seed=1100", "task.length=100",
      "train.lr=0.001"], "task=adding,+experiment=headline,model=rnn,seed=1100,task.length=100,train.lr=0.001"),
    (["+experiment=frontier", "+experiment/compare=adding", "model=rnn", "seed=0", "task.length=10"],
     "task=adding,+experiment=frontier,model=rnn,seed=0,task.length=10"),
    (["+experiment=forget_gate", "+experiment/forget_gate=lstm", "seed=0"], "model=lstm,+experiment=forget_gate,seed=0"),
    (["+experiment=seq_image", "model=rnn", "seed=0", "task.path=/data/mnist"], "+experiment=seq_image,model=rnn,seed=0"),
    (["+experiment=state_tracking", "+experiment/state_tracking_tasks=parity", "+experiment/state_tracking=rnn", "seed=0"],
     "parity,rnn,seed=0"),
    (["+experiment=variants", "+experiment/compare=adding", "model=lstm_cell", "model.variant=vanilla",
      "model.peephole=True", "rung=long", "seed=0"],
     "task=adding,+experiment=variants,model.peephole=True,model.variant=vanilla,model=lstm_cell,rung=long,seed=0"),
    # the claims as `python -m lstm_bench.claims run` starts them (+experiment/claims=ID)
    (["+experiment/claims=arjovsky2016_copy", "+experiment/claims/arjovsky2016_copy=lstm", "task.length=100", "seed=0"],
     "arm=lstm,seed=0,task.length=100"),
    (["+experiment/claims=greff2017_variants", "+experiment/compare=adding", "model=lstm_cell", "rung=long",
      "+experiment/claims/greff2017_variants=V", "seed=0"], "arm=V,model=lstm_cell,rung=long,seed=0"),
    (["+experiment/claims=grazzi2025_negative_eigenvalues", "+experiment/claims/grazzi2025_negative_eigenvalues=deltanet",
      "seed=0"], "arm=deltanet,seed=0"),
    (["+experiment/claims=jozefowicz2015_forget_bias", "+experiment/claims/jozefowicz2015_forget_bias=gru", "seed=0"],
     "arm=gru,seed=0"),
    (["+experiment/claims=tallec2018_chrono", "model=lstm", "model.init=default", "seed=0"],
     "model.init=default,model=lstm,seed=0"),
    (["+experiment/claims=gers2000_forget_gate", "+experiment/forget_gate=lstm", "model.hidden_size=8", "seed=0"],
     "model=lstm,model.hidden_size=8,seed=0"),
    (["+experiment/claims=bengio1994_vanishing_gradient", "+experiment/compare=adding", "model=rnn", "rung=long",
      "seed=0"], "task=adding,model=rnn,rung=long,seed=0"),
    (["+experiment/claims=hochreiter1997_multiplication_order", "task=multiplication", "model=lstm", "seed=0"],
     "model=lstm,seed=0,task=multiplication"),
    (["+experiment/claims=le2015_irnn", "model=rnn", "seed=0"], "model=rnn,seed=0"),
    (["+experiment/claims=merrill2024_illusion_of_state", "model=lstm", "seed=0"], "model=lstm,seed=0"),
]


@pytest.mark.parametrize("overrides, name", PINNED, ids=[p[1] for p in PINNED])
def test_run_directory_names_stay(overrides, name):
    assert compose_cfg(*overrides).hydra.sweep.subdir == name
