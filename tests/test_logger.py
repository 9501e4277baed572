"""The logger interface: the diagnostics hand a logger plain data, and only the W&B logger makes W&B objects of it."""
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf

from lstm_bench.diagnostics import Diagnostics
from lstm_bench.models import SeqModel
from lstm_bench.models.lstm_cell import LSTMCell
from lstm_bench.records import RunRecords, read_jsonl
from lstm_bench.wandb_logger import NullLogger, WandbLogger
from tasks.adding import Adding

PACKAGE = Path(__file__).resolve().parent.parent / "lstm_bench"


class RecordingLogger(NullLogger):
    """Keeps every call the diagnostics make."""

    def __init__(self):
        self.calls = []

    def log(self, row, step):
        self.calls.append(("log", row, step))

    def log_histograms(self, histograms, step):
        self.calls.append(("log_histograms", histograms, step))

    def log_image(self, key, pixels, caption, step):
        self.calls.append(("log_image", key, pixels, caption, step))

    def log_curves(self, key, xs, ys, labels, title, xname, step):
        self.calls.append(("log_curves", key, xs, ys, labels, title, xname, step))


def plain(v) -> bool:
    """Numbers, strings, numpy arrays and containers of them: nothing from W&B."""
    if isinstance(v, dict):
        return all(plain(k) and plain(x) for k, x in v.items())
    if isinstance(v, (list, tuple)):
        return all(plain(x) for x in v)
    return isinstance(v, (int, float, str, np.ndarray))


def test_diagnostics_hand_the_logger_plain_data(tmp_path):
    B, T, H = 4, 6, 4
    task = Adding(T)
    torch.manual_seed(0)
    model = SeqModel(LSTMCell(input_size=3, hidden_size=H), task, embed_size=3)
    diag = Diagnostics(OmegaConf.create({"every": 1, "batch_size": B, "dtype": "float64"}), task, 0, torch.device("cpu"))
    logger = RecordingLogger()
    diag.start(RunRecords(tmp_path), logger)
    diag.at_eval(model, 0)
    diag.finish(model, 10)
    assert all(plain(c) for c in logger.calls)
    rows = read_jsonl(tmp_path / "diagnostics.jsonl")
    calls = {(c[0], c[-1]): c for c in logger.calls if c[0] != "log_curves"}  # (method, step) -> call
    for r in rows:
        step = r["step"]
        assert calls["log", step][1]["diag/grad_ratio_log10"] == r["grad_ratio_log10"]
        hists = calls["log_histograms", step][1]
        assert set(hists) == {"diag/input_hist", "diag/forget_hist", "diag/output_hist"}
        counts, edges = hists["diag/forget_hist"]
        assert counts.tolist() == r["gate_hist"]["f"] and counts.sum() == B * T * H
        assert edges.tolist() == np.linspace(0, 1, 51).tolist()
        _, key, pixels, caption, _ = calls["log_image", step]
        assert key == "diag/forget_heatmap" and pixels.dtype == np.uint8 and pixels.shape == (H, T, 3)
        assert caption.endswith(f"step {step}")
    curves = {c[1]: c for c in logger.calls if c[0] == "log_curves"}
    assert set(curves) == {"diag/grad_h_t", "diag/grad_c_t", "diag/grad_h_k", "diag/grad_c_k"}
    _, _, xs, ys, labels, _, xname, step = curves["diag/grad_h_t"]
    assert (xs, labels, xname, step) == (list(range(T)), ["step 0", "step 10"], "t", 10)
    assert ys == [[math.log10(v) for v in r["grad_h"]] for r in rows]
    _, _, xs, ys, labels, _, xname, step = curves["diag/grad_c_k"]
    assert (xs, labels, xname, step) == (list(range(len(rows[-1]["grad_c_lag"]))), ["step 0", "step 10"], "lag k", 10)
    assert ys == [[math.log10(v) for v in r["grad_c_lag"]] for r in rows]


def test_wandb_logger_turns_plain_data_into_wandb_media(tmp_path):
    logger = WandbLogger(mode="offline")
    logger.start(tmp_path, {"seed": 0}, "media", None)
    logger.log_histograms({"h": (np.array([1, 2, 3]), np.linspace(0, 1, 4))}, step=0)
    logger.log_image("img", np.zeros((2, 3, 3), dtype=np.uint8), "a caption", step=0)
    logger.log_curves("c", [0, 1, 2], [[0.0, 1.0, 2.0], [2.0, 1.0, 0.0]], ["up", "down"], "title", "t", step=0)
    logger.finish({})
    (offline,) = (tmp_path / "wandb").glob("offline-run-*")
    out = subprocess.run([str(Path(sys.executable).parent / "wandb"), "leet", "inspect", "--json", str(offline)],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    (h,) = [json.loads(line)["history"]["item"] for line in out.splitlines() if json.loads(line).get("type") == "history"]
    assert h["h._type"] == "histogram" and h["h.values"] == [1, 2, 3] and len(h["h.bins"]) == 4
    assert h["img._type"] == "image-file" and (h["img.height"], h["img.width"]) == (2, 3)
    assert h["img.caption"] == "a caption"
    assert h["c_table._type"] == "table-file" and h["c_table.nrows"] == 6  # 2 curves of 3 points


def test_only_the_wandb_module_and_the_sweep_callback_import_wandb():
    uses = re.compile(r"import wandb|wandb\.")
    found = {str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if uses.search(p.read_text())}
    assert found <= {"wandb_logger.py", "callbacks.py"}, found
