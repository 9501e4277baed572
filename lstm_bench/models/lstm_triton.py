"""`model=lstm_triton`: the `lstm` model with its forward in the Triton kernels of kernels/lstm.

Same constructor, parameters (`lstm.weight_ih_l0`, ... : an nn.LSTM inside, so nn.LSTM and
`model=lstm` state dicts load) and per-step `step` twin (the reference cell math, for the
diagnostics) as `lstm_bench.models.lstm.LSTM`, plus `kernel`: which kernel runs forward.
`fused` is `kernels.lstm_fused` (one GEMM + one fused gate kernel per step, CUDA-graph
replayed; its own backward over time); `fused_gemm` is `kernels.lstm_fused_gemm` (one Triton
kernel per step with the GEMM inside, forward and backward); `persistent` is `kernels.lstm_persistent` (the forward
time loop in one launch, fused's backward; it covers some shapes only); `auto` picks per call
by `kernels.lstm.dispatch.auto_kernel`. Needs a CUDA GPU, or TRITON_INTERPRET=1 to run the
kernels in Triton's (slow) CPU interpreter.
"""
import inspect
import os
import sys

import torch

from lstm_bench.errors import ConfigError, require
from lstm_bench.models.lstm import LSTM


def _gpu_or_interpreter() -> bool:
    return torch.cuda.is_available() or os.environ.get("TRITON_INTERPRET") == "1"


class LSTMTriton(LSTM):
    name = "lstm_triton"

    def __init__(self, *args, kernel: str = "auto", **kwargs):
        # LSTM's arguments passed through, so the two configs cannot drift apart
        if not _gpu_or_interpreter():
            raise ConfigError(
                "model=lstm_triton needs a CUDA GPU or TRITON_INTERPRET=1 (this machine has no CUDA GPU; "
                "TRITON_INTERPRET=1 runs the Triton kernels on the CPU interpreter, slowly), or use model=lstm")
        from kernels.lstm.dispatch import KERNELS  # imports triton: only once it can run

        require(kernel in KERNELS, "model.kernel", kernel, " | ".join(KERNELS))
        super().__init__(*args, **kwargs)
        self.kernel = kernel
        self.kernels_used = set()  # what auto chose so far: each choice is reported once

    def forward(self, x, state=None):
        # imported here: triton decides at import time whether it interprets
        from kernels.lstm import dispatch
        from kernels.lstm.common import INTERPRETED

        if x.device.type != "cuda" and not INTERPRETED:
            raise ConfigError(f"model=lstm_triton runs on CUDA tensors (got {x.device}): use device=cuda, "
                              "or set TRITON_INTERPRET=1 before starting to run it on the CPU interpreter")
        m = self.lstm
        B, H = x.shape[0], self.hidden_size
        kernel = dispatch.choose(self.kernel, B, H, x.dtype, x.device)
        if kernel == "persistent":
            why = dispatch.persistent_refusal(B, H, x.dtype, x.device)
            require(why is None, "model.kernel", kernel,
                    f"auto or fused for batch {B}, hidden size {H}, {x.dtype} on {x.device.type}: {why}")
        if kernel not in self.kernels_used:
            self.kernels_used.add(kernel)
            if self.kernel == "auto":
                print(f"note: model.kernel=auto runs {kernel} (batch {B}, hidden size {H}, {x.dtype})",
                      file=sys.stderr)
        out, (h, c) = dispatch.IMPLS[kernel](x, state, m.weight_ih_l0, m.weight_hh_l0, m.bias_ih_l0,
                                             m.bias_hh_l0)
        return out, (h, c)  # (B, T, H), each state (B, H)


LSTMTriton.__init__.__signature__ = inspect.signature(LSTM.__init__).replace(  # what help() and hydra show
    parameters=[*inspect.signature(LSTM.__init__).parameters.values(),
                inspect.Parameter("kernel", inspect.Parameter.KEYWORD_ONLY, default="auto", annotation=str)])
