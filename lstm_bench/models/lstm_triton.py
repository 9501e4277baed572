"""`model=lstm_triton`: the `lstm` model with its forward in the fused Triton kernels.

Same constructor, parameters (`lstm.weight_ih_l0`, ... : an nn.LSTM inside, so nn.LSTM and
`model=lstm` state dicts load) and per-step `step` twin (the reference cell math, for the
diagnostics) as `lstm_bench.models.lstm.LSTM`; only forward differs: it calls
`kernels.lstm_fused` (one GEMM + one fused gate kernel per step, CUDA-graph replayed; its
own backward over time). Needs a CUDA GPU, or TRITON_INTERPRET=1 to run the kernels in
Triton's (slow) CPU interpreter.
"""
import inspect
import os

import torch

from lstm_bench.models.lstm import LSTM
from lstm_bench.errors import ConfigError


def _gpu_or_interpreter() -> bool:
    return torch.cuda.is_available() or os.environ.get("TRITON_INTERPRET") == "1"


class LSTMTriton(LSTM):
    name = "lstm_triton"

    def __init__(self, *args, **kwargs):
        # exactly LSTM's arguments, passed through, so the two configs cannot drift apart
        if not _gpu_or_interpreter():
            raise ConfigError(
                "model=lstm_triton needs a CUDA GPU or TRITON_INTERPRET=1 (this machine has no CUDA GPU; "
                "TRITON_INTERPRET=1 runs the Triton kernels on the CPU interpreter, slowly), or use model=lstm")
        super().__init__(*args, **kwargs)

    def forward(self, x, state=None):
        # imported here: triton decides at import time whether it interprets
        from kernels import lstm_fused
        from kernels.lstm.common import INTERPRETED

        if x.device.type != "cuda" and not INTERPRETED:
            raise ConfigError(f"model=lstm_triton runs on CUDA tensors (got {x.device}): use device=cuda, "
                              "or set TRITON_INTERPRET=1 before starting to run it on the CPU interpreter")
        m = self.lstm
        out, (h, c) = lstm_fused(x, state, m.weight_ih_l0, m.weight_hh_l0, m.bias_ih_l0, m.bias_hh_l0)
        return out, (h, c)  # (B, T, H), each state (B, H)


LSTMTriton.__init__.__signature__ = inspect.signature(LSTM.__init__)  # what help() and hydra show
