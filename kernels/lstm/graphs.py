"""CUDA-graph cache: a launch-bound Python loop captured once per shape, then replayed.

The per-step LSTM launches two small kernels per step whose work is a few microseconds,
about what a launch costs from Python, so without graphs the GPU mostly waits. This
module knows nothing of the LSTM: a caller hands it a loop `body(**buffers)` and a
factory for the static buffers the loop reads and writes, under a key naming the shape.
It depends on `common` only (for INTERPRETED); fused.py, backward.py and fused_gemm.py
supply the loops.
"""

import contextlib
import os
from collections import OrderedDict
from types import SimpleNamespace

import torch

from .common import INTERPRETED

_GRAPH_CACHE = OrderedDict()  # key -> CapturedLoop, least recently used first
# per loop (key[0]): enough for every shape one training run meets (train and eval batch
# sizes, a few sequence lengths), each captured once; graphs own their buffers, so the
# least recently used one goes beyond that
GRAPH_CACHE_SIZE = 8


def clear_graph_cache():
    """Drop every captured graph and its static buffers (frees their GPU memory)."""
    _GRAPH_CACHE.clear()


def capture(fn):
    """`fn` captured as a torch.cuda.CUDAGraph."""
    # Run the whole loop once eagerly on a side stream first: it compiles every Triton
    # specialization the loop will launch (the per-step slices' 16-byte alignment varies
    # with t) and creates the cuBLAS handle, none of which may happen during a capture.
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        fn()
    torch.cuda.current_stream().wait_stream(s)
    graph = torch.cuda.CUDAGraph()
    # thread_local: backward runs on autograd's device thread
    with torch.cuda.graph(graph, capture_error_mode="thread_local"):
        fn()
    return graph


class CapturedLoop:
    """`body(**buffers)` as one graph. The buffers (attributes of `.buf`) are static:
    callers copy inputs into them before `replay()` and clone results out after it,
    since the next replay overwrites them."""

    def __init__(self, buffers, body):
        self.buf = SimpleNamespace(**buffers)
        self.graph = capture(lambda: body(**buffers))

    def replay(self):
        self.graph.replay()


def get_graph(key, device, make_buffers, body):
    """The cached CapturedLoop for `key`, captured on first use from `make_buffers()` (a
    dict of tensors on `device`) and `body`. `key` starts with the loop's name and must name
    everything the capture depends on (the buffers' shapes and dtypes, the math flags the
    GEMMs were chosen under); the device is added to it. Each loop keeps its
    GRAPH_CACHE_SIZE most recently used keys."""
    key = (*key, str(device))
    g = _GRAPH_CACHE.get(key)
    if g is not None:
        _GRAPH_CACHE.move_to_end(key)
        return g
    # streams and the capture belong to the tensors' GPU (not necessarily the current one)
    with torch.cuda.device(device) if device.type == "cuda" else contextlib.nullcontext():
        g = CapturedLoop(make_buffers(), body)
    _GRAPH_CACHE[key] = g
    same_loop = [k for k in _GRAPH_CACHE if k[0] == key[0]]  # oldest first
    for k in same_loop[:-GRAPH_CACHE_SIZE]:
        del _GRAPH_CACHE[k]
    return g


def matmul_flags():
    """cuBLAS picks its kernels, TF32 or not, when a loop is captured: a graph whose loop
    calls cuBLAS names these flags in its key, so that a change of them captures anew."""
    m = torch.backends.cuda.matmul
    return (m.allow_tf32, m.allow_fp16_reduced_precision_reduction, m.allow_bf16_reduced_precision_reduction)


def graphs_enabled(device, use_cuda_graph):
    """Whether to replay graphs on `device`: `use_cuda_graph` None means on for CUDA unless
    LSTM_FUSED_CUDA_GRAPH=0; never in the interpreter or inside the caller's own capture."""
    if device.type != "cuda" or INTERPRETED:
        return False
    if torch.cuda.is_current_stream_capturing():
        return False  # the caller is capturing us into its own graph: run eagerly inside it
    if use_cuda_graph is None:
        return os.environ.get("LSTM_FUSED_CUDA_GRAPH", "1") != "0"
    return bool(use_cuda_graph)
