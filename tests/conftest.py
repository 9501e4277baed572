"""Shared helpers: the one tiny run config, compose the real configs, run the real entry point in a
subprocess, unroll a recurrence's per-step twin, and made-up idx images for task=seq_image."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

# Triton runs on a CPU only through its interpreter, chosen when kernels are defined:
# set it before anything imports triton (a GPU machine runs the real kernels)
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

import pytest  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402

from lstm_bench.models.wrapper import step_through  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

# a run small enough for a test. The one copy: a test that needs
# more or less adds its own overrides after it (a later override of the same key wins). No pruning: a tiny
# model sits at the memoryless baseline, and the tests built on it are about everything else (test_stopping.py
# is about pruning)
TINY = ["logger=none", "model.hidden_size=8", "embed_size=4", "task.length=6", "train.steps=20",
        "train.eval_every=10", "train.batch_size=8", "train.eval_batch_size=16", "train.threads=1", "train.prune=false"]


def pytest_collection_modifyitems(items):
    """The Slurm tests first: one pytest-xdist worker runs them one after another (their xdist_group) for a few
    minutes, and started last they would leave that worker running them alone at the end of the suite."""
    def after_slurm(item) -> bool:
        group = item.get_closest_marker("xdist_group")
        return group is None or group.args[:1] != ("slurm",)

    items.sort(key=after_slurm)  # stable: the order within each part is the collection's


def compose_cfg(*overrides: str):
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base=None):
        return compose("config", overrides=list(overrides), return_hydra_config=True)


def run_python(*args: str, cwd: Path = ROOT, env: dict | None = None,
               timeout: int = 300) -> subprocess.CompletedProcess:
    """`python ARGS` from `cwd` (the repo root unless told), output captured; `env` adds to this environment."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    full_env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.run([sys.executable, *args], cwd=cwd, env=full_env, capture_output=True, text=True,
                          timeout=timeout)


def run_cli(*args: str, cwd: Path, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    """`python run.py ARGS` as a user would type it, from `cwd`."""
    return run_python(str(ROOT / "run.py"), *args, cwd=cwd, env=env, timeout=timeout)


def terminal_sigint() -> None:
    """In a child before it starts: SIGINT at its default, as a terminal's foreground job has it. A suite started
    in the background (`cmd &`, as CI may start it) ignores SIGINT, and a child inherits that: Python then installs
    no KeyboardInterrupt for it, and a test's Ctrl-C would not reach the code under test."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def ctrl_c_once_running(args: list[str], sweep: Path, running: int = 2):
    """A multirun started as a terminal's foreground job (its own process group), sent SIGINT, as a terminal sends
    it, once `running` of its runs have trained and evaluated: (the process, its stdout, stderr, and the seconds from
    the signal to its exit)."""
    p = subprocess.Popen(args, cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, start_new_session=True, preexec_fn=terminal_sigint)
    deadline = time.monotonic() + 180
    while len(list(sweep.glob("*/metrics.jsonl"))) < running and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(list(sweep.glob("*/metrics.jsonl"))) == running, f"{running} runs never got going"
    os.killpg(p.pid, signal.SIGINT)
    t0 = time.monotonic()
    out, err = p.communicate(timeout=60)
    return p, out, err, time.monotonic() - t0


def read_result(run_dir: Path) -> dict:
    return json.loads((Path(run_dir) / "result.json").read_text())


def unroll(rec, x: torch.Tensor) -> tuple[torch.Tensor, tuple, list[dict]]:
    """A recurrence's per-step twin over a whole sequence (the harness's own unroll): outputs (B, T, H), final
    state, gates per step."""
    hs, states, gates = step_through(rec, x)
    return hs, states[-1], gates


@pytest.fixture
def tiny():
    return list(TINY)


@pytest.fixture
def one_thread():
    """Tiny tensors: a second intra-op thread only adds waiting, the more so on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def write_images(folder: Path, n_train: int = 1000, n_test: int = 200, gz: bool = True, seed: int = 0) -> Path:
    """Four idx files shaped like (Fashion-)MNIST's, made up: image i of a part carries i in its first two pixels
    (i % 256, i // 256), so a batch says which images it drew, and its class c (i % 10) as a vertical stroke in
    rows 4-8, columns 2c+4 and 2c+5, over faint noise; rows 9-27 hold noise only. Read a row a step, a model
    must hold the class for 19 steps. Returns the folder."""
    from tasks.idx import write_idx

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for stem, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 40, (n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        for i, c in enumerate(labels):
            images[i, 4:9, 2 * c + 4: 2 * c + 6] = 255
        images[:, 0, 0], images[:, 0, 1] = np.arange(n) % 256, np.arange(n) // 256
        suffix = ".gz" if gz else ""
        write_idx(folder / f"{stem}-images-idx3-ubyte{suffix}", images)
        write_idx(folder / f"{stem}-labels-idx1-ubyte{suffix}", labels)
    return folder


@pytest.fixture(scope="session")
def fake_fashion_mnist(tmp_path_factory):
    """A made-up Fashion-MNIST (write_images) where Debian's package puts the real one, for the whole session: the
    seq_image presets and commands build without the data, and the same on every machine. Large enough for the
    default split (5000 validation images)."""
    import tasks.seq_image

    folder = write_images(tmp_path_factory.mktemp("fashion-mnist"), n_train=5100, n_test=100)
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(tasks.seq_image.DEBIAN, "fashion_mnist", folder)
        yield folder
