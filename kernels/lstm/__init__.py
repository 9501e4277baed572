"""Single-layer LSTM in Triton, nn.LSTM conventions: the public functions of each path.

naive.py: the reference gate-by-gate loop; common.py: gate math, checks and input
projection shared by both kernels; graphs.py: the CUDA-graph cache; fused.py: per-step
fused kernels with their own backward (`lstm_fused`); persistent.py: the whole forward
time loop in one launch, fused.py's backward (`lstm_persistent`).
"""

from .fused import lstm_fused
from .persistent import lstm_persistent

__all__ = ["lstm_fused", "lstm_persistent"]
