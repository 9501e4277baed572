"""Shared helpers: compose the real configs, and run the real entry point in a subprocess."""
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
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# a run small enough for a test: a few seconds at most on 2 CPU cores
TINY = ["logger=none", "model.hidden_size=8", "embed_size=4", "task.length=6", "train.steps=20",
        "train.eval_every=10", "train.batch_size=8", "train.eval_batch_size=16", "train.threads=1"]


def compose_cfg(*overrides: str):
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base=None):
        return compose("config", overrides=list(overrides), return_hydra_config=True)


def run_cli(*args: str, cwd: Path, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    """`python run.py ARGS` as a user would type it, from `cwd`."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    full_env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.run([sys.executable, str(ROOT / "run.py"), *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def read_result(run_dir: Path) -> dict:
    return json.loads((Path(run_dir) / "result.json").read_text())


@pytest.fixture
def tiny():
    return list(TINY)
