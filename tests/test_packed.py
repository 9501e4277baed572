"""Packed runs (issue 28): K runs of one shape trained as one batched model, each member exactly its solo run.

In float64, on the CPU: the packed recurrences against the models one by one (outputs, final states, gradients),
the per-member clipping and optimizers against torch's own, a pack of four against its four solo runs (every
step's loss and gradient norm, every evaluation, every probe, the final weights and the records, within 1e-9
relative), and the packed launcher in real multiruns: refused on a CPU, forced onto it by its test-only switch,
resumed by the local launcher, reported beside the solo sweep.
"""
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import lstm_bench.train as train
import lstm_bench.train_packed as train_packed
from conftest import ROOT, compose_cfg, ctrl_c_once_running, run_cli, run_python
from lstm_bench.models import SeqModel
from lstm_bench.models.gru import GRU
from lstm_bench.models.irnn import IRNN
from lstm_bench.models.lstm import LSTM
from lstm_bench.models.lstm_cell import VARIANTS, LSTMCell
from lstm_bench.models.packed import PackedModel, packable
from lstm_bench.models.rnn import RNN
from lstm_bench.models.slstm import SLSTM
from lstm_bench.packed_optim import PackedOptimizer, clip_per_member
from lstm_bench.records import reusable_result, source_hash
from lstm_bench.train_packed import Job, pack_key, run_pack
from tasks.adding import Adding
from tasks.copy_memory import Copy
from tasks.reber import Reber

RTOL = 1e-9  # the bound; the measured differences are 1e-12 and below


@pytest.fixture
def float64():
    before = torch.get_default_dtype(), torch.get_num_threads()
    torch.set_default_dtype(torch.float64)
    torch.set_num_threads(1)
    yield
    torch.set_default_dtype(before[0])
    torch.set_num_threads(before[1])


RECURRENCES = [lambda: RNN(5, 7), lambda: IRNN(5, 7, input_std=0.3), lambda: GRU(5, 7), lambda: LSTM(5, 7),
               *(lambda v=v: LSTMCell(5, 7, variant=v) for v in VARIANTS),
               lambda: LSTMCell(5, 7, peephole=True), lambda: LSTMCell(5, 7, variant="fgr", peephole=True),
               lambda: LSTMCell(5, 7, variant="cifg", peephole="o")]


@pytest.mark.parametrize("make", RECURRENCES)
@pytest.mark.parametrize("task", [Copy(length=6), Adding(length=9)], ids=["copy", "adding"])  # readout all, last
def test_packed_models_are_the_models_one_by_one(float64, make, task):
    models = []
    for seed in range(3):
        torch.manual_seed(seed)
        models.append(SeqModel(make(), task, 5))
    packed = PackedModel(models)
    batches = [task.batch(4, seed, 1) for seed in range(3)]
    state0 = None
    if isinstance(models[0].recurrence, (LSTM, LSTMCell)):  # a carried state, as a stateful task hands it on
        g = torch.Generator().manual_seed(0)
        state0 = tuple(torch.rand(3, 4, 7, generator=g) * 0.5 for _ in models[0].recurrence.init_state(4))
    out, state = packed(torch.stack([b.x for b in batches]), state0)
    sum(task.loss(out[k], b) for k, b in enumerate(batches)).backward()
    for k, (model, b) in enumerate(zip(models, batches)):
        own_out, own_state = model(b.x, None if state0 is None else tuple(s[k] for s in state0))
        task.loss(own_out, b).backward()
        torch.testing.assert_close(out[k], own_out, rtol=RTOL, atol=0)
        for s, own in zip(state, own_state):
            torch.testing.assert_close(s[k], own, rtol=RTOL, atol=0)
        for name, p in model.named_parameters():
            torch.testing.assert_close(packed.stacked()[name].grad[k], p.grad, rtol=RTOL, atol=1e-15)


def test_what_cannot_be_packed_says_why():
    assert packable(LSTMCell) is None and packable(IRNN) is None
    assert "slstm has no packed form (only gru, irnn, lstm, lstm_cell, rnn have)" == packable(SLSTM)
    from lstm_bench.models.lstm_triton import LSTMTriton
    assert packable(LSTMTriton) is not None  # an LSTM that computes in its own way is not packed as an LSTM
    cfg = compose_cfg("train/optimizer=adam")
    assert train_packed.why_not_packable(cfg) is None
    cfg.train.optimizer._target_ = "torch.optim.LBFGS"
    assert train_packed.why_not_packable(cfg).startswith("LBFGS is not an elementwise optimizer")


def test_clip_per_member_is_clip_grad_norm_of_each(float64):
    g = torch.Generator().manual_seed(0)
    grads = [torch.randn(4, 3, 5, generator=g), torch.randn(4, 6, generator=g) * 10]
    max_norm = torch.tensor([1.0, 100.0, math.inf, 0.5])
    expect = []
    for k in range(4):
        own = [torch.nn.Parameter(torch.zeros_like(x[k])) for x in grads]
        for p, x in zip(own, grads):
            p.grad = x[k].clone()
        norm = torch.nn.utils.clip_grad_norm_(own, max_norm[k].item())
        expect.append((norm, [p.grad for p in own]))
    norms = clip_per_member(grads, max_norm)
    for k, (norm, own) in enumerate(expect):
        torch.testing.assert_close(norms[k], norm, rtol=1e-14, atol=0)
        for x, o in zip(grads, own):
            torch.testing.assert_close(x[k], o, rtol=1e-14, atol=0)


def test_packed_optimizers_step_each_member_as_its_own_and_keep_its_state(float64):
    """Adam at two learning rates and RMSprop in one pack; after step 3 two members leave, the rest go on."""
    task = Adding(length=5)
    makers = [lambda p: torch.optim.Adam(p, lr=1e-2), lambda p: torch.optim.Adam(p, lr=1e-2),
              lambda p: torch.optim.Adam(p, lr=1e-3), lambda p: torch.optim.RMSprop(p, lr=1e-3)]
    keys = ["adam-2", "adam-2", "adam-3", "rms"]
    models = []
    for seed in range(4):
        torch.manual_seed(seed)
        models.append(SeqModel(LSTM(3, 4), task, 3))
    packed = PackedModel(models)
    optimizer = PackedOptimizer(packed, makers, keys)
    alone = [make(list(m.parameters())) for make, m in zip(makers, models)]
    members = [0, 1, 2, 3]
    g = torch.Generator().manual_seed(1)
    for step in range(6):
        if step == 3:
            members = [1, 3]
            packed.keep([1, 3])
            optimizer.keep([1, 3])
        grads = {n: torch.randn(4, *p.shape[1:], generator=g) for n, p in packed.stacked().items()}
        for n, p in packed.stacked().items():
            p.grad = grads[n][members].clone()
        optimizer.step()
        for k in members:
            for n, p in models[k].named_parameters():
                p.grad = grads[n][k].clone()
            alone[k].step()
    for j, k in enumerate(members):
        for n, p in models[k].named_parameters():
            assert torch.equal(packed.stacked()[n][j], p), (k, n)  # elementwise: the very same numbers


# ---- a pack against its solo runs, through the real training loop

SOLO = ["logger=none", "device=cpu", "task=adding", "task.length=10", "model.hidden_size=16", "embed_size=8",
        "train.steps=300", "train.eval_every=1", "train.batch_size=16", "train.eval_batch_size=64",
        "train.threads=1", "diag.every=40", "diag.batch_size=16"]
TIMINGS = ("wall_time_s", "steps_per_s", "diag_time_s", "start_time", "end_time", "packed")


def assert_same(a, b, where: str, rtol: float = RTOL) -> None:
    """Equal records: numbers within rtol relative, everything else exactly; timings and the pack's note aside."""
    if isinstance(a, dict):
        assert set(a) - set(TIMINGS) == set(b) - set(TIMINGS), where
        for k in set(a) - set(TIMINGS):
            assert_same(a[k], b[k], f"{where}.{k}", rtol)
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), where
        for n, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{n}]", rtol)
    elif isinstance(a, float) and isinstance(b, float):
        assert math.isclose(a, b, rel_tol=rtol, abs_tol=0), f"{where}: {a} != {b}"
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def read_jsonl(path: Path) -> list | None:
    """The file's rows; None where there is no file (a run that diverged before its first evaluation)."""
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else None


def solo_and_packed(tmp_path, monkeypatch, model: list, members: list) -> list:
    """Each member's solo run, then the pack of them all: [(solo dir, packed dir, solo weights, packed weights)]."""
    weights = {}

    def keep_weights(end, model, diag):  # the weights each run ends with, by its run directory
        weights[diag.records.dir] = {n: p.detach().clone() for n, p in model.named_parameters()}
        return loop_end(end, model, diag)

    loop_end = train.loop_end
    monkeypatch.setattr(train, "loop_end", keep_weights)
    monkeypatch.setattr(train_packed, "loop_end", keep_weights)
    cfgs = [compose_cfg(*SOLO, *model, *m) for m in members]
    for i, cfg in enumerate(cfgs):
        train.run(cfg, tmp_path / f"solo{i}")
    results = [None] * len(cfgs)
    run_pack([Job(cfg, tmp_path / f"pack{i}") for i, cfg in enumerate(cfgs)], "test", results)
    assert all(r is not None for r in results)
    return [(tmp_path / f"solo{i}", tmp_path / f"pack{i}", weights[tmp_path / f"solo{i}"],
             weights[tmp_path / f"pack{i}"]) for i in range(len(cfgs))]


def assert_each_member_is_its_solo_run(runs, rtol: float = RTOL, atol: float = 0.0) -> list:
    """atol: for the weights, where float32's rounding leaves a weight near 0 relatively far off."""
    results = []
    for solo, pack, w_solo, w_pack in runs:
        r_solo, r_pack = (json.loads((d / "result.json").read_text()) for d in (solo, pack))
        assert_same(r_solo, r_pack, "result", rtol)  # status, steps_to_solve, final val/test numbers, diagnostics
        assert r_pack["packed"]["K"] == len(runs) and "packed" not in r_solo
        # the loss curve: every step's training loss and gradient norm, and every evaluation
        assert_same(read_jsonl(solo / "metrics.jsonl"), read_jsonl(pack / "metrics.jsonl"), "metrics", rtol)
        assert_same(read_jsonl(solo / "diagnostics.jsonl"), read_jsonl(pack / "diagnostics.jsonl"), "diagnostics",
                    rtol)
        m_solo, m_pack = (json.loads((d / "meta.json").read_text()) for d in (solo, pack))
        assert_same(m_solo, m_pack, "meta")
        assert set(m_pack["packed"]) == {"k", "K", "pack_id"}
        assert w_solo.keys() == w_pack.keys()
        for n in w_solo:
            torch.testing.assert_close(w_pack[n], w_solo[n], rtol=rtol, atol=atol)
        results.append(r_pack)
    assert sorted(r["packed"]["k"] for r in results) == list(range(len(runs)))
    return results


# two seeds x two learning rates; what each member does, from its solo run (the test holds the pack to it)
FOUR = [["seed=0", "train.lr=1e-2"], ["seed=0", "train.lr=3e-3"], ["seed=1", "train.lr=1e-2"],
        ["seed=1", "train.lr=3e-3"]]


@pytest.mark.parametrize("model, outcomes", [
    (["model=lstm"], [("solved", 203), ("unsolved", 300), ("pruned", 150), ("pruned", 150)]),
    (["model=lstm_cell", "model.peephole=true"], [("solved", 194), ("unsolved", 300), ("pruned", 150),
                                                   ("pruned", 150)]),
    (["model=gru"], [("solved", 96), ("solved", 208), ("solved", 115), ("solved", 230)]),
], ids=["lstm", "lstm_cell+peephole", "gru"])
def test_a_pack_of_four_is_its_four_solo_runs(float64, tmp_path, monkeypatch, model, outcomes):
    """Members stop at different steps (solved early, pruned at half the budget, the budget spent): the pack goes on
    smaller each time, and each member's numbers stay its solo run's."""
    results = assert_each_member_is_its_solo_run(solo_and_packed(tmp_path, monkeypatch, model, FOUR))
    assert [(r["status"], r["steps_to_solve"] or r["steps"]) for r in results] == outcomes


def test_a_member_that_diverges_leaves_the_pack_and_the_others_go_on(float64, tmp_path, monkeypatch):
    """SGD at lr 1e4 without clipping blows an IRNN up within a few steps; the Adam members beside it (another
    optimizer, another clip) are untouched, and the diverged member's record is its solo run's."""
    members = [["seed=0", "train.lr=1e-2"], ["seed=2", "train.lr=1e4", "train.clip=null",
                                              "train.optimizer._target_=torch.optim.SGD"],
               ["seed=1", "train.lr=3e-3", "train.clip=0.5"]]
    runs = solo_and_packed(tmp_path, monkeypatch, ["model=irnn", "train.steps=60", "train.eval_every=10"], members)
    results = assert_each_member_is_its_solo_run(runs)
    assert [r["status"] for r in results] == ["unsolved", "diverged", "pruned"]
    assert results[1]["steps"] < 10 and results[1]["val_loss"] is None


def test_a_stateful_task_carries_each_members_own_state(tmp_path, monkeypatch, one_thread):
    """The continual Reber stream hands each member's state on to its next batch (truncated BPTT). In float32:
    the task's string accuracy does not run in float64 (tasks/reber.py), so the bound is float32's, over 30 steps;
    a member handed another's state, or none, is off by far more."""
    runs = solo_and_packed(tmp_path, monkeypatch, ["task=reber", "task.continual=true", "task.length=12",
                                                   "task.test_length=200", "model=lstm", "train.steps=30",
                                                   "train.eval_every=10"],
                           [["seed=0"], ["seed=1", "train.lr=1e-2"]])
    assert Reber(continual=True, length=12).stateful
    assert_each_member_is_its_solo_run(runs, rtol=1e-4, atol=1e-6)


def test_a_members_record_is_reused_by_its_solo_job_and_the_other_way(float64, tmp_path, monkeypatch):
    """The resume check run.py makes for every job of a sweep (records.reusable_result) takes a packed member's
    result for its solo job, and a solo result for the member: same config, code and device."""
    model = ["model=gru", "train.steps=20", "train.eval_every=10"]
    cfg = compose_cfg(*SOLO, *model, "seed=0")
    runs = solo_and_packed(tmp_path, monkeypatch, model, [["seed=0"], ["seed=1"]])
    for solo, pack, _, _ in runs[:1]:
        for d in (solo, pack):
            done, why = reusable_result(d, train.plain_config(cfg), source_hash(), "cpu")
            assert why is None and done == json.loads((d / "result.json").read_text())
    done, why = reusable_result(runs[1][1], train.plain_config(cfg), source_hash(), "cpu")  # seed 1's: not seed 0's
    assert done is None and why == "its config differs from this job's"


@pytest.mark.parametrize("error, status", [(RuntimeError("out of memory"), "crashed"),
                                           (KeyboardInterrupt(), "interrupted")])
def test_a_pack_that_stops_records_each_member_still_training(tmp_path, monkeypatch, tiny, error, status):
    """A crash or Ctrl-C at step 15: the member that diverged before keeps its record; the others record what a
    solo run records then (crashed with its error in one line, or interrupted), and the exception goes on up."""
    calls = []

    def stack(batches):
        calls.append(1)
        if len(calls) == 15:
            raise error
        return stack_batches(batches)

    stack_batches = train_packed._stack
    monkeypatch.setattr(train_packed, "_stack", stack)
    sgd = ["train.lr=1e4", "train.clip=null", "train.optimizer._target_=torch.optim.SGD"]  # diverges in a few steps
    cfgs = [compose_cfg(*tiny, "device=cpu", "model=irnn", f"seed={seed}", *more) for seed, more in
            ((0, sgd), (1, []), (2, []))]
    results = [None] * 3
    with pytest.raises(type(error)):
        run_pack([Job(cfg, tmp_path / f"m{i}") for i, cfg in enumerate(cfgs)], "id", results)
    assert [r["status"] for r in results] == ["diverged", status, status]
    assert results[0]["steps"] < 14 and [r["steps"] for r in results[1:]] == [14, 14]
    assert [r["error"] for r in results] == [None, *[None if status == "interrupted" else
                                                     "RuntimeError: out of memory"] * 2]
    for i, r in enumerate(results):
        assert json.loads((tmp_path / f"m{i}" / "result.json").read_text()) == json.loads(json.dumps(r))


def test_each_member_has_its_own_wandb_run(tmp_path, tiny):
    """Offline W&B: a run per member, open side by side while the pack trains, each finished with its own summary."""
    cfgs = [compose_cfg(*tiny, "logger=wandb", "device=cpu", f"seed={seed}") for seed in (0, 1)]
    results = [None, None]
    run_pack([Job(cfg, tmp_path / f"m{i}", "group") for i, cfg in enumerate(cfgs)], "id", results)
    for i, result in enumerate(results):
        (offline,) = (tmp_path / f"m{i}" / "wandb").glob("offline-run-*")
        out = subprocess.run([str(Path(sys.executable).parent / "wandb"), "leet", "inspect", "--summary", "--json",
                              str(offline)], capture_output=True, text=True, check=True, timeout=60).stdout
        run = json.loads(out)
        assert run["state"] == "finished" and run["name"] == f"adding-T6-lstm-s{i}"
        assert run["config"]["seed"] == i and "packed" not in run["config"]  # the solo job's config
        summary = run["summary"]
        assert {k: summary[k] for k in ("status", "seed", "steps", "test_loss")} == {
            k: result[k] for k in ("status", "seed", "steps", "test_loss")}
        assert summary["packed"] == {"k": i, "K": 2, "pack_id": "id"}


def test_pack_key_leaves_out_only_seed_and_optimizer_settings():
    base = compose_cfg("model=lstm", "seed=0")
    assert pack_key(base) == pack_key(compose_cfg("model=lstm", "seed=3", "train.lr=1e-2", "train.clip=null",
                                                  "train/optimizer=rmsprop"))
    for other in (["model=gru"], ["task.length=50"], ["train.steps=10"], ["model.hidden_size=32"],
                  ["train.batch_size=8"]):
        assert pack_key(base) != pack_key(compose_cfg("model=lstm", "seed=0", *other)), other


# ---- the launcher, in real multiruns

# no diagnostics: a member's probes and their records are the solo run's in the float64 tests above, and drawing
# their PNGs would be most of these sweeps' time
SWEEP = ["logger=none", "device=cpu", "task.length=6", "model.hidden_size=8", "embed_size=4", "train.steps=40",
         "train.eval_every=10", "train.batch_size=8", "train.eval_batch_size=16", "train.threads=1",
         "train.prune=false", "diag.every=0", "seed=0,1", "train.lr=1e-3,1e-2"]


def records(sweep: Path) -> dict:
    return {p.parent.name: json.loads(p.read_text()) for p in sweep.glob("*/result.json")}


def test_on_a_cpu_packing_is_refused_in_one_line_and_the_sweep_runs_as_today(tmp_path):
    p = run_cli("-m", "hydra/launcher=packed", *SWEEP, "model=lstm", f"hydra.sweep.dir={tmp_path / 's'}",
                cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    said = [line for line in p.stdout.splitlines() if line.startswith("packing refused")]
    assert said == ["packing refused: these runs would train on the CPU (device=cpu), where a pack is slower than one "
                    "run at a time; the 4 jobs run as with hydra/launcher=local"]
    found = records(tmp_path / "s")
    assert len(found) == 4 and not any("packed" in r for r in found.values())


def test_a_packed_multirun_is_the_solo_sweep_and_reports_beside_it(tmp_path):
    """The same sweep with the local launcher and packed (forced onto the CPU by the test-only switch): the same
    records, the same report; then each launcher resumes the other's sweep without running anything again."""
    solo, packed = tmp_path / "solo", tmp_path / "packed"
    # two models: lstm packs, slstm (no packed form) runs one at a time beside the packs
    jobs = [*SWEEP, "model=lstm,slstm"]
    # the local launcher one job at a time, in its own process (its workers: test_sweeps.py, test_interrupt.py)
    p = run_cli("-m", *jobs, "hydra.launcher.n_jobs=1", f"hydra.sweep.dir={solo}", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    p = run_cli("-m", "hydra/launcher=packed", "hydra.launcher.test_only_pack_on_cpu=true", *jobs,
                f"hydra.sweep.dir={packed}", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "packed: 4 of the 8 runs in 1 pack (4 runs); 4 runs one at a time" in p.stdout
    a, b = records(solo), records(packed)
    assert a.keys() == b.keys() and len(a) == 8
    for name in a:  # float32 here, as a sweep runs: float32's bound (the float64 tests above hold 1e-9)
        assert_same(a[name], b[name], name, rtol=1e-5)
        assert ("packed" in b[name]) == ("model=lstm," in name)
        assert (packed / name / ".hydra" / "overrides.yaml").is_file()
    # the report reads the records only: the two sweeps give the same table (timings are not in it)
    tables = [run_python("-m", "lstm_bench.report", str(d)) for d in (solo, packed)]
    assert all(t.returncode == 0 for t in tables), tables[1].stderr
    body = ["\n".join(t.stdout.splitlines()[3:]) for t in tables]  # after the sweep's name and command line
    assert "| lstm | adding | 6 |" in body[1] and body[0] == body[1]
    both = run_python("-m", "lstm_bench.report", str(tmp_path))  # the two sweeps side by side, as one folder
    assert both.returncode == 0 and "16 runs" in both.stdout, both.stdout
    # the config, and so the resume check, is the solo job's: the packed launcher reuses what the local one
    # finished (the other way round: test_a_members_record_is_reused_by_its_solo_job)
    p = run_cli("-m", "hydra/launcher=packed", "hydra.launcher.test_only_pack_on_cpu=true", *jobs,
                f"hydra.sweep.dir={solo}", cwd=tmp_path)
    assert p.returncode == 0 and p.stdout.count("not run again") == 8, p.stdout


def test_ctrl_c_ends_a_packed_multirun_in_seconds(tmp_path):
    """Ctrl-C (SIGINT to the process group) while the first of two packs trains: its members record themselves as
    interrupted, the second pack does not start, and the launcher's one line says so (the local launcher's)."""
    sweep = tmp_path / "sweep"
    args = [sys.executable, "run.py", "-m", "hydra/launcher=packed", "hydra.launcher.test_only_pack_on_cpu=true",
            *SWEEP[:-2], "train.steps=100000", "model=rnn,lstm", "seed=0,1", f"hydra.sweep.dir={sweep}"]
    p, out, err, took = ctrl_c_once_running(args, sweep)
    assert p.returncode == 130 and took < 20, err[-3000:]
    assert "Traceback" not in err + out, err[-3000:]
    assert err.strip().splitlines()[-1].startswith(
        "interrupted: 0 of 4 runs of this launch finished, 2 stopped and recorded as interrupted, 2 not started")
    found = records(sweep)
    assert [r["status"] for r in found.values()] == ["interrupted", "interrupted"]
    assert all(r["packed"]["K"] == 2 for r in found.values())


def test_the_plan_packs_what_shares_a_shape_and_says_why_not_on_a_cpu():
    from hydra_plugins.lstm_bench_launcher.packed import plan

    jobs = [["model=lstm", "seed=0"], ["model=lstm", "seed=1", "train.lr=1e-2"], ["model=slstm", "seed=0"],
            ["model=lstm", "seed=2", "task.length=50"], ["model=lstm", "seed=3", "train/optimizer=rmsprop"],
            ["model=lstm", "seed=4"], ["model=lstm", "seed=5"]]
    configs = [compose_cfg("device=cpu", *j) for j in jobs] + [None]  # None: a job that does not compose
    p = plan(configs, size=3, on_cpu_too=True)
    assert p.packs == [[0, 1, 4], [5, 6]] and p.alone == [2, 3, 7] and p.refused is None
    p = plan(configs, size=3)
    assert p.packs == [] and p.alone == list(range(8)) and "(device=cpu)" in p.refused
    auto = plan([compose_cfg("device=auto", *j) for j in jobs[:2]], size=3)
    if not torch.cuda.is_available():
        assert "(device=auto, and this machine has no CUDA GPU)" in auto.refused and "the 2 jobs" in auto.refused


def test_the_launcher_config_composes():
    cfg = compose_cfg("hydra/launcher=packed")
    assert cfg.hydra.launcher.pack == 64 and cfg.hydra.launcher.n_jobs is None
    assert cfg.hydra.launcher.test_only_pack_on_cpu is False
    assert cfg.hydra.launcher._target_ == "hydra_plugins.lstm_bench_launcher.packed.PackedLauncher"
    assert (ROOT / "conf" / "hydra" / "launcher" / "packed.yaml").is_file()
