"""Which LSTM path a call takes: `kernel=auto|fused|fused_gemm|persistent`, and the rule behind auto.

The rule lives here, in one function, so that a new GPU measurement changes one place.
Torch and triton only, like the rest of kernels/: a harness turns these ValueErrors into its
own error type.
"""

from .common import INTERPRETED
from .fused import lstm_fused
from .fused_gemm import lstm_fused_gemm
from .persistent import lstm_persistent, persistent_config

KERNELS = ("auto", "fused", "fused_gemm", "persistent")
IMPLS = {"fused": lstm_fused, "fused_gemm": lstm_fused_gemm, "persistent": lstm_persistent}


def auto_kernel(B, H, dtype, device):
    """The path `kernel=auto` takes for a (B, ., H) call in `dtype` on `device`: fused.

    On the one GPU measured so far (benchmarks/results/kernels-h200.md), fused was as fast
    as or faster than persistent end to end at every measured shape, dtype and pass, in both
    persistent layouts. persistent and fused_gemm (not yet measured on a GPU) stay available
    by name; a measurement that shows one ahead for some shapes changes this function and
    nothing else."""
    return "fused"


def persistent_refusal(B, H, dtype, device):
    """Why lstm_persistent cannot take this call (a one-line reason), or None if it can."""
    if device.type != "cuda" and not INTERPRETED:
        return f"it runs Triton kernels: CUDA tensors, or TRITON_INTERPRET=1 on the CPU (got {device})"
    try:
        persistent_config(B, H, dtype, device)
    except ValueError as e:
        return str(e)
    return None


def choose(kernel, B, H, dtype, device):
    """`kernel` resolved to "fused" or "persistent" for this call; ValueError for a name
    outside KERNELS."""
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {', '.join(KERNELS)}, got {kernel!r}")
    return auto_kernel(B, H, dtype, device) if kernel == "auto" else kernel
