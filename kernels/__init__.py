"""Triton kernels for lstm-bench. Depends on torch and triton only (no hydra, wandb
or lstm_bench), so it can be copied to a bare GPU image and benchmarked there."""

from .lstm import lstm_fused, lstm_fused_gemm, lstm_persistent

__all__ = ["lstm_fused", "lstm_fused_gemm", "lstm_persistent"]
