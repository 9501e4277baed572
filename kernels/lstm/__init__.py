"""Single-layer LSTM in Triton, nn.LSTM conventions: the public functions of each path.

naive.py: the reference gate-by-gate loop; common.py: gate math, checks and input
projection shared by every kernel; graphs.py: the CUDA-graph cache; backward.py: the
recurrent backward (fused and persistent share it); fused.py: a cuBLAS GEMM and a fused
gate kernel per step (`lstm_fused`); fused_gemm.py: one Triton kernel per step, the GEMM
inside it, forward and backward (`lstm_fused_gemm`); persistent.py + persistent_kernel.py:
the whole forward time loop in one launch (`lstm_persistent`), sync.py its step sync;
dispatch.py: which path `kernel=auto` takes.
"""

from .fused import lstm_fused
from .fused_gemm import lstm_fused_gemm
from .persistent import lstm_persistent

__all__ = ["lstm_fused", "lstm_fused_gemm", "lstm_persistent"]
