"""Shared helpers: the one tiny run config, compose the real configs, run the real entry point in a
subprocess, and unroll a recurrence's per-step twin."""
import json
import os
import subprocess
import sys
from pathlib import Path

import torch

# Triton runs on a CPU only through its interpreter, chosen when kernels are defined:
# set it before anything imports triton (a GPU machine runs the real kernels)
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

import pytest  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

# a run small enough for a test. The one copy: a test that needs
# more or less adds its own overrides after it (a later override of the same key wins). No pruning: a tiny
# model sits at the memoryless baseline, and the tests built on it are about everything else (test_stopping.py
# is about pruning)
TINY = ["logger=none", "model.hidden_size=8", "embed_size=4", "task.length=6", "train.steps=20",
        "train.eval_every=10", "train.batch_size=8", "train.eval_batch_size=16", "train.threads=1", "train.prune=false"]


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


def read_result(run_dir: Path) -> dict:
    return json.loads((Path(run_dir) / "result.json").read_text())


def unroll(rec, x: torch.Tensor) -> tuple[torch.Tensor, tuple, list[dict]]:
    """A recurrence's per-step twin over a whole sequence: outputs (B, T, H), final state, gates per step."""
    state = rec.init_state(x.shape[0], x.device, x.dtype)
    outs, gates = [], []
    for t in range(x.shape[1]):
        state, g = rec.step(x[:, t], state)
        outs.append(state[0])
        gates.append(g)
    return torch.stack(outs, 1), state, gates


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
