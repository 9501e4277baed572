"""Which LSTM path a call takes: `kernel=auto|fused|persistent`, and the rule behind auto.

The rule lives here, in one function, so that a new GPU measurement changes one place.
Torch and triton only, like the rest of kernels/: a harness turns these ValueErrors into its
own error type.
"""

import torch

from .common import INTERPRETED
from .fused import lstm_fused
from .persistent import lstm_persistent, persistent_config

KERNELS = ("auto", "fused", "persistent")
IMPLS = {"fused": lstm_fused, "persistent": lstm_persistent}


def auto_kernel(B, H, dtype, device):
    """The path `kernel=auto` takes for a (B, ., H) call in `dtype` on `device`.

    persistent where it is measured faster than fused end to end: fp16/bf16 on a GPU in the
    barrier-free layout (one program per batch slice holds all of W_hh; the launch replaces
    T graph-replayed steps). The grid-barrier layout (larger H) is measured slower than fused,
    fp32 barrier-free is unmeasured, and the CPU interpreter runs fused (persistent runs
    there too, but only when asked for)."""
    if device.type != "cuda" or INTERPRETED or dtype not in (torch.float16, torch.bfloat16):
        return "fused"
    try:
        _, _, _, use_barrier, _ = persistent_config(B, H, dtype, device)
    except ValueError:
        return "fused"  # a shape the persistent kernel does not cover
    return "fused" if use_barrier else "persistent"


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
