"""Benchmark the Triton LSTMs against cuDNN and the PyTorch cell loop.

Needs only torch and triton (no hydra / wandb / lstm_bench), and a CUDA GPU:

    python benchmarks/triton_lstm.py --quick
    python benchmarks/triton_lstm.py --B 1 16 --H 768 --T 1024 --dtype fp16 --out table.md

For every (B, T, H, dtype) it times, with triton.testing.do_bench (warm-up, median of
events), the forward and the forward+backward of
  cuDNN      nn.LSTM(H, H, batch_first=True) in the dtype under test
  cuDNN16    the same in fp16 (cuDNN's fast persistent path needs fp16, H <= 1024 a
             multiple of 128, B a multiple of 8)
  loop       the PyTorch cell loop (kernels/lstm/naive.py, gate by gate, in the dtype
             under test; eager, a few reps: it is very slow at T=1024)
  fused      kernels.lstm_fused: one GEMM + one fused kernel per step, CUDA-graph replayed
  persist    kernels.lstm_persistent: the forward recurrence in one
             launch (backward is fused's per-step backward); n/a where it does not cover
             the shape
and prints one table: times (ms), speedups (reference time / our time, > 1 = faster)
and the peak extra GPU memory of one forward+backward (MiB, including the CUDA graphs'
static buffers). Input size I = H. Inputs are random, never zeros.
"""
import argparse
import contextlib
import os
import re
import subprocess
import tempfile
import types
from unittest import mock

import torch
import triton
from triton.testing import do_bench

from kernels import lstm_fused, lstm_persistent
from kernels.lstm.graphs import clear_graph_cache
from kernels.lstm.naive import lstm_naive
from kernels.lstm.persistent import persistent_config

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
METHODS = ("cudnn", "cudnn16", "loop", "fused", "persist")


def parse():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--B", type=int, nargs="+", default=[1, 16, 64, 256])
    p.add_argument("--H", type=int, nargs="+", default=[128, 256, 512, 768, 1024])
    p.add_argument("--T", type=int, nargs="+", default=[128, 1024])
    p.add_argument("--dtype", nargs="+", default=["fp32", "fp16", "bf16"], choices=list(DTYPES))
    p.add_argument("--quick", action="store_true", help="B=16, H in {128, 768}, T in {128, 1024}, fp16+fp32")
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    p.add_argument("--no-loop", action="store_true", help="skip the PyTorch cell loop")
    p.add_argument("--loop-max-elems", type=float, default=2 ** 27,
                   help="skip the cell loop when B*T*H exceeds this (its autograd graph is huge)")
    p.add_argument("--loop-reps", type=int, default=3, help="timed reps of the cell loop (after 1 warm-up)")
    p.add_argument("--no-bwd", action="store_true", help="forward only")
    p.add_argument("--warmup", type=float, default=25, help="do_bench warm-up, ms")
    p.add_argument("--rep", type=float, default=100, help="do_bench measuring time, ms")
    p.add_argument("--out", default=None, help="also write the table (markdown) here")
    p.add_argument("--resources", action="store_true",
                   help="no GPU needed: compile the persistent kernel's configurations and the per-step "
                        "kernels for sm_90 and print each one's registers / stack (spills) / shared memory, "
                        "warp layout of the dot and K-slice split, then exit")
    p.add_argument("--device", default="cuda",
                   help="cuda (the benchmark); cpu = smoke test of this script only, with TRITON_INTERPRET=1 "
                        "and tiny shapes (wall-clock times, no memory figures)")
    a = p.parse_args()
    if a.quick:
        a.B, a.H, a.T, a.dtype = [16], [128, 768], [128, 1024], ["fp16", "fp32"]
    if a.no_loop:
        a.methods = [m for m in a.methods if m != "loop"]
    return a


def time_fast(fn, args):
    fn()  # compile / capture outside the timing
    if args.device == "cpu":
        return time_wall(fn, 1)
    torch.cuda.synchronize()
    return do_bench(fn, warmup=args.warmup, rep=args.rep, return_mode="median")


def time_wall(fn, reps):
    import time
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1e3)
    return sorted(ts)[len(ts) // 2]


def time_slow(fn, reps, device="cuda"):
    if device == "cpu":
        return time_wall(fn, reps)
    # the cell loop is slow per call: do_bench's 5-call estimate alone would be long
    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        fn()
        e.record()
        torch.cuda.synchronize()
        times.append(s.elapsed_time(e))
    times.sort()
    return times[len(times) // 2]


def peak_mib(fn):
    clear_graph_cache()  # count the graphs' static buffers too: they are real memory
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    fn()
    torch.cuda.synchronize()
    return (torch.cuda.max_memory_allocated() - base) / 2 ** 20


class Case:
    """Inputs and the five implementations for one (B, T, H, dtype)."""

    def __init__(self, B, T, H, dtype, device="cuda", seed=0):
        torch.manual_seed(seed)
        dev = torch.device(device)
        self.dtype = dtype
        self.ref = torch.nn.LSTM(H, H, batch_first=True).to(dev)
        self.mods = {}
        for dt in {dtype, torch.float16}:
            m = torch.nn.LSTM(H, H, batch_first=True).to(dev, dt)
            m.load_state_dict(self.ref.state_dict())
            m.flatten_parameters()
            self.mods[dt] = m
        self.params = list(self.mods[dtype].parameters())  # w_ih, w_hh, b_ih, b_hh
        x = torch.randn(B, T, H, device=dev)
        h0, c0 = torch.randn(B, H, device=dev) * 0.5, torch.randn(B, H, device=dev) * 0.5
        self.inp = {dt: (x.to(dt), h0.to(dt), c0.to(dt)) for dt in self.mods}
        up = [torch.randn(B, T, H, device=dev), torch.randn(B, H, device=dev), torch.randn(B, H, device=dev)]
        self.up = {dt: [u.to(dt) for u in up] for dt in self.mods}  # upstream grads of out, h_T, c_T

    def run(self, method, backward):
        dt = torch.float16 if method == "cudnn16" else self.dtype
        x, h0, c0 = self.inp[dt]
        if backward:
            x = x.detach().requires_grad_(True)
        if method in ("cudnn", "cudnn16"):
            m = self.mods[dt]
            out, (h, c) = m(x, (h0.unsqueeze(0), c0.unsqueeze(0)))
            h, c = h[0], c[0]
        elif method == "loop":
            out, (h, c) = lstm_naive(x, (h0, c0), *self.params, compute_dtype=dt)
        elif method == "fused":
            out, (h, c) = lstm_fused(x, (h0, c0), *self.params)
        else:
            out, (h, c) = lstm_persistent(x, (h0, c0), *self.params)
        if backward:
            torch.autograd.backward([out, h, c], self.up[dt])
        return out

    def fn(self, method, backward):
        params = list(self.mods[torch.float16 if method == "cudnn16" else self.dtype].parameters())

        def f():
            if backward:
                for p in params:
                    p.grad = None
                self.run(method, True)
            else:
                with torch.no_grad():
                    self.run(method, False)
        return f


def rel_err(a, b):
    a, b = a.float(), b.float()
    return ((a - b).norm() / b.norm()).item()


def fmt_t(t):
    return "-" if t is None else (f"{t:.3f}" if t < 10 else f"{t:.1f}")


def fmt_x(ref, t):
    return "-" if ref is None or t is None else f"{ref / t:.2f}x"


H100_SMS = 132  # the sm_90 part the barrier layout's grid is sized for when no GPU is present


@contextlib.contextmanager
def _sizing_device():
    """The device persistent_config sizes the grid for, and its SM count: the local GPU, or
    without one an H100. persistent_config reads the SM count off torch.cuda, which a
    machine without CUDA cannot answer: for the duration, that one query answers an H100's."""
    if torch.cuda.is_available():
        yield torch.device("cuda"), torch.cuda.get_device_properties(0).multi_processor_count
        return
    props = types.SimpleNamespace(multi_processor_count=H100_SMS)
    with mock.patch.object(torch.cuda, "get_device_properties", lambda device=None: props):
        yield torch.device("cuda"), H100_SMS


def _compile_sm90(fn, ptr, const, num_warps, **ptr_types):
    """AOT compile for sm_90 with pointers of type `ptr` (ptr_types: by name), ints i32:
    (kernel, {'REG': .., 'STACK': ..} from cuobjdump, the dot's layout)."""
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    sig = {a: "constexpr" if a in const else ptr_types.get(a, ptr if a.endswith("_ptr") else "i32")
           for a in fn.arg_names}
    try:
        k = triton.compile(ASTSource(fn, sig, constexprs=const), target=GPUTarget("cuda", 90, 32),
                           options={"num_warps": num_warps})
    except TypeError as e:  # ASTSource's signature differs before triton 3.3
        raise SystemExit(f"--resources is not supported by triton {triton.__version__}: {e}")
    cuobjdump = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin", "cuobjdump")
    with tempfile.NamedTemporaryFile(suffix=".cubin") as f:
        f.write(k.asm["cubin"])
        f.flush()
        res = subprocess.run([cuobjdump, "-res-usage", f.name], capture_output=True, text=True, check=True).stdout
    use = dict(w.split(":", 1) for ln in res.splitlines() if "REG:" in ln for w in ln.split()
               if w.split(":")[0] in ("REG", "STACK"))
    return k, use, _dot_layout(k.asm["ttgir"])


def _dot_layout(ttgir):
    """'mma [w0, w1, ..]' / 'fma [..]': warpsPerCTA of the first tt.dot's result layout."""
    m = re.search(r"= tt\.dot .*-> tensor<[^,]*, (#\w+)>", ttgir)
    enc = m and re.search(rf"^{m.group(1)} = #ttg\.(\w+)<.*warpsPerCTA = (\[[^\]]*\])", ttgir, re.M)
    return f"{'mma' if enc.group(1) == 'nvidia_mma' else 'fma'} {enc.group(2)}" if enc else "-"


def resources():
    """Ahead-of-time compile (sm_90) of the persistent kernel for the configurations
    persistent_config picks (HIST and SAVE on: the forward with gradients), and of the
    per-step fused kernels; prints ptxas's resource usage. No GPU needed."""
    from kernels.lstm.common import INTERPRETED
    from kernels.lstm.backward import lstm_fused_bwd_kernel
    from kernels.lstm.fused import lstm_fused_fwd_kernel
    from kernels.lstm.persistent import lstm_persistent_fwd_kernel

    if INTERPRETED:
        raise SystemExit("--resources compiles for the GPU: unset TRITON_INTERPRET")
    ty = {torch.float16: "fp16", torch.float32: "fp32"}
    with _sizing_device() as (dev, n_sm):
        print(f"triton {triton.__version__}: AOT compile for sm_90; grids sized for {n_sm} SMs; "
              "persistent kernel with HIST and SAVE (the forward with gradients)\n"
              "| dtype | H | B | layout | BLOCK_B x BLOCK_H | grid | warps | dot warpsPerCTA | S x (KS1+KS2) "
              "| shared B | regs | stack B |\n" + "|---" * 12 + "|", flush=True)
        for dtype, t in ty.items():
            for H in (64, 128, 256, 512, 768, 1024):
                for B in (16, 64):
                    try:
                        cfg = persistent_config(B, H, dtype, dev)
                    except ValueError as e:
                        print(f"| {t} | {H} | {B} | not covered: {e} |" + " |" * 8, flush=True)
                        continue
                    const = dict(BLOCK_B=cfg.block_b, BLOCK_H=cfg.block_h, S=cfg.k_slices, KS1=cfg.ks1,
                                 KS2=cfg.ks2, GATE_DOTS=cfg.gate_dots, USE_BARRIER=cfg.use_barrier, HIST=True,
                                 SAVE=True, IEEE=dtype == torch.float32, NP=max(2, triton.next_power_of_2(cfg.grid[1])),
                                 POLL=1, WAIT=True)
                    k, use, lay = _compile_sm90(lstm_persistent_fwd_kernel, "*" + t, const, cfg.num_warps,
                                                cs_ptr="*fp32", flags_ptr="*i32")
                    print(f"| {t} | {H} | {B} | {'barrier' if cfg.use_barrier else 'barrier-free'} "
                          f"| {cfg.block_b} x {cfg.block_h} | {cfg.grid[0]} x {cfg.grid[1]} | {cfg.num_warps} "
                          f"| {lay} | {cfg.k_slices} x ({cfg.ks1}+{cfg.ks2}) | {k.metadata.shared} "
                          f"| {use['REG']} | {use['STACK']} |", flush=True)
    print("\nper-step fused kernels (gates, c in fp32; BLOCK = 1024 cells, 4 warps)\n"
          "| kernel | dtype | shared B | regs | stack B |\n" + "|---" * 5 + "|", flush=True)
    fp32 = dict.fromkeys(("g_ptr", "c_prev_ptr", "c_ptr", "dh_ptr", "dc_ptr"), "*fp32")  # compute dtype
    for t in ty.values():
        for fn, const in ((lstm_fused_fwd_kernel, {}), (lstm_fused_bwd_kernel, {"HAS_DHO": True})):
            k, use, _ = _compile_sm90(fn, "*" + t, dict(const, BLOCK=1024), 4, **fp32)
            print(f"| {fn.__name__} | {t} | {k.metadata.shared} | {use['REG']} | {use['STACK']} |", flush=True)


def main():
    args = parse()
    if args.resources:
        return resources()
    cpu = args.device == "cpu"
    assert cpu or torch.cuda.is_available(), "the benchmark needs a CUDA GPU"
    cudnn_v = torch.backends.cudnn.version()
    dev_line = ("device: cpu -- SMOKE TEST of the script (Triton interpreter), not a benchmark" if cpu else
                f"device: {torch.cuda.get_device_name()}  SMs: {torch.cuda.get_device_properties(0).multi_processor_count}")
    lines = [
        dev_line,
        f"torch {torch.__version__}  triton {triton.__version__}  cuDNN {cudnn_v}  "
        f"(nn.LSTM bf16 on cuDNN needs >= 9.13: {'yes' if cudnn_v and cudnn_v >= 91300 else 'no'})",
        "times: ms, median (do_bench; cell loop: median of "
        f"{args.loop_reps} after 1 warm-up); speedup = reference time / our time; peak: extra MiB of one fwd+bwd",
        "cudnn* = shape eligible for cuDNN's fp16 persistent kernel (H<=1024, H%128==0, B%8==0)",
    ]
    for ln in lines:
        print(ln, flush=True)
    head = ("| B | T | H | dtype | pass | cuDNN | cuDNN16 | loop | fused | persist | fused/cuDNN | fused/cuDNN16 "
            "| fused/loop | persist/cuDNN | persist/cuDNN16 | persist/loop | err fused | err persist "
            "| peak MiB cuDNN/loop/fused/persist |")
    rows = []
    passes = [False] if args.no_bwd else [False, True]
    for dname in args.dtype:
        dtype = DTYPES[dname]
        for T in args.T:
            for H in args.H:
                for B in args.B:
                    clear_graph_cache()
                    if not cpu:
                        torch.cuda.empty_cache()
                    case = Case(B, T, H, dtype, args.device)
                    methods = list(args.methods)
                    if "loop" in methods and B * T * H > args.loop_max_elems:
                        methods.remove("loop")
                    if "persist" in methods:
                        try:
                            persistent_config(B, H, dtype, torch.device(args.device))
                        except ValueError:
                            methods.remove("persist")
                    # correctness against cuDNN in the same dtype before timing anything
                    with torch.no_grad():
                        ref = case.run("cudnn", False)
                        errs = {m: rel_err(case.run(m, False), ref) for m in ("fused", "persist") if m in methods}
                    for bwd in passes:
                        t, mem = {}, {}
                        for m in methods:
                            f = case.fn(m, bwd)
                            try:
                                if m == "loop":
                                    t[m] = time_slow(f, args.loop_reps if T > 256 else 3 * args.loop_reps, args.device)
                                else:
                                    t[m] = time_fast(f, args)
                                if bwd and m != "cudnn16" and not cpu:
                                    mem[m] = peak_mib(f)
                            except torch.OutOfMemoryError:
                                t[m] = None
                                clear_graph_cache()
                                torch.cuda.empty_cache()
                        if dtype == torch.float16 and "cudnn" in t:
                            t["cudnn16"] = t["cudnn"]
                        g = t.get
                        elig = "*" if H <= 1024 and H % 128 == 0 and B % 8 == 0 else ""
                        row = (f"| {B} | {T} | {H}{elig} | {dname} | {'fwd+bwd' if bwd else 'fwd'} | "
                               + " | ".join(fmt_t(g(m)) for m in METHODS) + " | "
                               + " | ".join(fmt_x(g(r), g(m)) for m in ("fused", "persist")
                                            for r in ("cudnn", "cudnn16", "loop"))
                               + f" | {errs.get('fused', float('nan')):.1e} | {errs.get('persist', float('nan')):.1e} | "
                               + "/".join("-" if m not in mem else f"{mem[m]:.0f}"
                                          for m in ("cudnn", "loop", "fused", "persist")) + " |")
                        rows.append(row)
                        print(row, flush=True)
                    del case
    table = "\n".join(lines + ["", head, "|" + "---|" * (head.count("|") - 1)] + rows)
    print("\n" + table)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(table + "\n")


if __name__ == "__main__":
    main()
