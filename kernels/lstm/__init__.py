"""Fused-gate LSTM kernels (Triton). Reference: naive.py; per-step fused: fused.py;
persistent (whole time loop in one launch): persistent.py."""

from .fused import lstm_fused

__all__ = ["lstm_fused"]
