"""Every preset in conf/experiment/ composes, arm by arm as its sweep would, and every run of it builds.

A preset's arms are the config-group choices of its `hydra.sweeper.params` (`model: rnn,lstm`,
`+experiment/compare: adding,copy`): each combination is composed with Hydra's compose API, as the
sweep composes its jobs. Its other swept keys (`rung`, `model.variant`, `seed`, ...) are values: each
combination of them is set on the arm's config, which must then resolve and build its task and model
(`lstm_bench.train.build`: what a run instantiates), and one batch goes through the model. A file under
conf/experiment/NAME/ is an arm of the presets that sweep `+experiment/NAME`; one that no preset sweeps
is a preset of its own.
"""
import functools
import itertools

import hydra
import pytest
import torch
from omegaconf import OmegaConf

from conftest import ROOT, compose_cfg
from hydra_plugins.lstm_bench_sweeper.rounds import parse_overrides
from lstm_bench.models.lstm_cell import VARIANTS
from lstm_bench.train import build

CONF = ROOT / "conf"
FILES = sorted(p.relative_to(CONF / "experiment").with_suffix("").as_posix()
               for p in (CONF / "experiment").rglob("*.yaml"))
# presets and claim presets; the other subfolders hold arms, checked through the presets that sweep them
TOP = [f for f in FILES if "/" not in f or (f.startswith("claims/") and f.count("/") == 1)]

# What each preset runs, over all its arms: the tasks as (name, T), the recurrences' names (what the
# report's rows tell apart), the seeds, and task settings every run shares.
COMPARE_TASKS = {("adding", T) for T in (25, 50, 100, 200)} | {("copy", T) for T in (5, 10, 20, 40)}
EXPECTED = {
    "smoke": ({("adding", 10)}, {"rnn", "lstm"}, {0, 1}, {}),
    "quick": ({("adding", 25), ("adding", 50), ("adding", 100)}, {"rnn", "lstm"}, {0}, {}),
    "compare": (COMPARE_TASKS, {"rnn", "irnn", "gru", "lstm"}, {0, 1, 2}, {}),
    "fair": (COMPARE_TASKS, {"rnn", "irnn", "gru", "lstm"}, {0, 1, 2, 3, 4}, {}),
    "claims/bengio1994_vanishing_gradient": ({("adding", 100)}, {"rnn", "lstm"}, set(range(5)), {}),
    "claims/hochreiter1997_adding": ({("adding", 100)}, {"lstm+chrono"}, set(range(5)), {"style": "hochreiter"}),
    "claims/hochreiter1997_multiplication_order": ({("multiplication", 100), ("temporal_order", 100)},
                                                   {"lstm+chrono"}, set(range(5)), {}),
    "claims/le2015_irnn": ({("adding", 150)}, {"rnn", "irnn", "lstm"}, {0, 1, 2}, {}),
    "claims/arjovsky2016_copy": ({("copy", 100), ("copy", 500)}, {"lstm", "exprnn"}, set(range(5)), {"n_recall": 10}),
    "claims/grazzi2025_negative_eigenvalues": ({("parity", 16)}, {"deltanet", "deltanet-neg", "mlstm+forget_bias",
                                                                  "mlstm-neg+forget_bias", "s6", "s6-neg"}, set(range(5)),
                                               {"test_length": 64, "test_lengths": [64, 16, 32, 128]}),
    "claims/merrill2024_illusion_of_state": ({("word_A5", 16)}, {"lstm", "rnn", "s6", "lru", "mingru"}, set(range(5)),
                                             {"test_lengths": [16, 32, 64, 128], "group": "A5"}),
    "claims/gers2000_forget_gate": ({("reber", 50)}, {"lstm", "lstm_cell-nfg"}, set(range(5)), {"continual": True}),
    "claims/greff2017_variants": ({("adding", 100)}, {"lstm_cell", "lstm_cell-vanilla+peephole",
                                   "lstm_cell-cifg+peephole", "lstm_cell-nfg+peephole",
                                   "lstm_cell-noaf+peephole"}, set(range(5)), {}),
    "claims/tallec2018_chrono": ({("temporal_order", 100)}, {"lstm", "lstm+forget_bias", "lstm+chrono"}, set(range(5)), {}),
    "claims/jozefowicz2015_forget_bias": ({("adding", 200)}, {"gru", "lstm", "lstm+forget_bias"}, set(range(5)), {}),
    "modern": (COMPARE_TASKS, {"rnn", "gru", "lstm", "slstm", "minlstm", "mingru"}, {0, 1, 2}, {}),
    # the T50 sweeper sets T, train.lr and seed itself: what composes is the task's default length and seed 0
    "headline": ({("adding", 100), ("copy", 100)}, {"rnn", "irnn", "gru", "lstm"}, {0}, {}),
    # the frontier sweeper sets T itself (from hydra.sweeper.start): what composes is the task's default
    "frontier": ({("adding", 100), ("copy", 100)}, {"rnn", "lstm"}, {0, 1, 2}, {}),
    "forget_gate": ({("reber", 50)}, {"lstm", "lstm_cell-nfg"}, {0, 1, 2}, {"continual": True}),
    "temporal_order": ({("temporal_order", 100)}, {"rnn", "lstm"}, {0, 1, 2}, {}),
    "state_tracking": ({(t, 16) for t in ("parity", "mod_add", "word_S3", "word_A5", "cycle_navigation", "even_pairs")},
                       {"rnn", "lstm", "gru", "slstm", "minlstm", "mingru", "minlstm-neg", "mingru-neg", "mlstm+forget_bias",
                        "mlstm-neg+forget_bias", "deltanet", "deltanet-neg", "s6", "s6-neg", "lru", "exprnn"}, set(range(5)),
                       {"test_lengths": [16, 32, 64, 128], "readout": "all"}),
    "seq_image": ({("seq_image", 784)}, {"rnn", "irnn", "gru", "lstm"}, {0, 1, 2},
                  {"permute": True, "dataset": "fashion_mnist", "pixels_per_step": 1}),
    "variants": ({("adding", 100), ("adding", 200), ("copy", 20), ("copy", 40)},
                 {"lstm_cell", *(f"lstm_cell-{v}" for v in VARIANTS if v != "vanilla"),
                  *(f"lstm_cell-{v}+peephole" for v in VARIANTS)}, {0, 1, 2}, {}),
}
# task=seq_image builds without the real data; one pytest-xdist worker for the module, so that a preset's arms
# are composed and built once (check_arm's cache), for the preset and for the arm files it sweeps
pytestmark = [pytest.mark.usefixtures("fake_fashion_mnist"), pytest.mark.xdist_group("presets")]


@functools.cache
def sweep(preset: str) -> tuple[list[tuple[str, ...]], dict[tuple[str, bool], list]]:
    """The preset's arms (each a tuple of group overrides) and its swept values ((key, +key?) -> typed values)."""
    params = compose_cfg(f"+experiment={preset}").hydra.sweeper.get("params") or {}
    groups, values = {}, {}
    for o in parse_overrides(None, dict(params), []):  # as the sweepers parse them
        key = o.get_key_element()
        if (CONF / o.key_or_group).is_dir():  # a config group: each choice composes differently
            choices = o.sweep_string_iterator() if o.is_sweep_override() else [o.get_value_element_as_str()]
            groups[key] = [f"{key}={c}" for c in choices]
        else:
            assert not key.startswith("~"), key
            values[o.key_or_group, o.is_add()] = list(o.sweep_iterator()) if o.is_sweep_override() else [o.value()]
    return list(itertools.product(*groups.values())), values


@functools.cache
def check_arm(preset: str, arm: tuple[str, ...]) -> dict:
    """Compose one arm, build every run of it; what those runs are."""
    cfg = compose_cfg(*arm, f"+experiment={preset}")  # the sweep's order: its params, then the command line's
    hydra.utils.get_class(cfg.hydra.sweeper._target_)  # the sweeper it names exists
    run = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
    OmegaConf.set_struct(run, True)  # as composed: a swept key the config lacks is an error unless +key
    _, values = sweep(preset)
    seen = {"tasks": set(), "models": set(), "seeds": set(), "task_objects": [],
            "choices": dict(cfg.hydra.runtime.choices),
            "config": dict(leaves(OmegaConf.to_container(run)))}
    built = set()
    for combo in itertools.product(*values.values()):
        for (key, add), value in zip(values, combo):  # every combination sets every key: no copy needed
            OmegaConf.update(run, key, value, force_add=add)  # a key not in the config fails, as in a sweep
        plain = OmegaConf.to_container(run, resolve=True)  # every interpolation resolves, as the records need
        seen["seeds"].add(plain["seed"])
        what = repr((plain["task"], plain["model"], plain["embed_size"]))
        if what in built:  # the same task and model as a run before (another seed): the same build
            continue
        built.add(what)
        task, model = build(run, torch.device("cpu"))
        if not seen["task_objects"]:  # the task's batches fit the model built for it
            batch = task.batch(2, 0, 0)
            out, _ = model(batch.x)
            assert torch.isfinite(task.loss(out, batch)), (preset, arm)
        seen["tasks"].add((task.name, task.length))
        seen["models"].add(model.recurrence.name)
        seen["task_objects"].append(task)
    return seen


def leaves(d: dict, prefix: str = ""):
    """(dotted key, value) for every leaf of a nested dict."""
    for k, v in d.items():
        if isinstance(v, dict):
            yield from leaves(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}", v


def arms_using(file: str) -> list[tuple[str, tuple[str, ...]]]:
    """The (preset, arm) pairs that compose conf/experiment/FILE.yaml as a sweep's choice."""
    group, name = file.rsplit("/", 1)
    return [(p, arm) for p in TOP for arm in sweep(p)[0] if f"+experiment/{group}={name}" in arm]


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("file", FILES)
def test_preset_composes_and_every_run_builds(file):
    if "/" in file and arms_using(file):  # an arm: checked through the presets that sweep it
        group, name = file.rsplit("/", 1)
        own = OmegaConf.load(CONF / "experiment" / f"{file}.yaml")
        own = [(k, v) for k, v in leaves(OmegaConf.to_container(own)) if k != "defaults" and "${" not in str(v)]
        for preset, arm in arms_using(file):
            seen = check_arm(preset, arm)
            assert seen["choices"][f"experiment/{group}"] == name
            # a sweep merges the arm before its preset: a key both set would silently take the preset's value
            assert [(k, seen["config"].get(k)) for k, _ in own] == own, (preset, arm)
        return
    assert file in EXPECTED, f"+experiment={file}: add what it runs to EXPECTED"
    tasks, models, seeds, settings = EXPECTED[file]
    arms = [check_arm(file, arm) for arm in sweep(file)[0]]
    assert set().union(*(a["tasks"] for a in arms)) == tasks
    assert set().union(*(a["models"] for a in arms)) == models
    assert set().union(*(a["seeds"] for a in arms)) == seeds
    for key, value in settings.items():
        assert all(getattr(t, key) == value for a in arms for t in a["task_objects"]), key


def test_headline_starts_each_ladder_at_its_task_and_matches_fair():
    """The headline's T50 sweeper reads each search's first rung from the task's ladder (adding 100, copy 20), tunes
    fair's learning rates, and its runs get fair's capacity."""
    cfg = compose_cfg("+experiment=headline")
    assert cfg.hydra.sweeper._target_.endswith(".T50Sweeper") and cfg.hydra.sweeper.start_key == "ladder.long"
    fair = [float(v) for v in compose_cfg("+experiment=fair").hydra.sweeper.params["train.lr"].split(",")]
    assert list(cfg.hydra.sweeper.tune_values) == fair == [1e-3, 3e-3, 1e-2]
    for task, start in (("adding", 100), ("copy", 20)):
        arm = compose_cfg("+experiment=headline", f"+experiment/compare={task}")
        assert arm.ladder.long == start and arm.model.param_budget == 25088 and arm.diag.every == 0


def test_fair_matches_recurrence_parameters():
    # nn.RNN / nn.GRU / nn.LSTM layouts: gates x (H x (I + H) weights + 2H biases), I = embed_size = 32; the
    # budget is the LSTM's at H = 64, and every other model gets the largest H under it
    from lstm_bench.models.capacity import capacity

    def count(gates, H):
        return gates * (H * (32 + H) + 2 * H)

    budget = count(4, 64)
    for model, gates in (("rnn", 1), ("irnn", 1), ("gru", 3), ("lstm", 4)):
        cfg = compose_cfg("+experiment=fair", f"model={model}", "+experiment/compare=adding", "rung=short")
        assert cfg.model.param_budget == budget
        got = capacity(build(cfg, torch.device("cpu"))[1])
        H = got["hidden_size"]
        assert count(gates, H) == got["n_params_recurrence"] <= budget < count(gates, H + 1), model
