#!/usr/bin/env python3
"""GPU checks of kernels/lstm (lstm_fused, lstm_fused_gemm, lstm_persistent) against cuDNN nn.LSTM.

The in-tree copy of ../shared/gpu-check/gpu_check.py, kept in step with kernels/: it reads
kernels.lstm.common, .graphs, .fused and .persistent by their own names, and its smoke
stage launches through persistent.launch_persistent (per-producer step flags).

Run from the project root (the folder holding kernels/). Driven by gpu_check.sh, one
subcommand per stage, each in its own process so that a hung kernel (e.g. a deadlocked
grid barrier) only costs its own stage:

  env        versions, device properties, TF32 flags              -> kind "env"
  sweep      correctness vs nn.LSTM (fp64 cuDNN = ground truth;
             same-dtype cuDNN = yardstick for the tolerance)      -> kind "correctness"
  timing     CUDA-event medians: cuDNN, cell loops, fused, persistent -> kind "timing"
  smoke      persistent kernel: compile facts (TTGIR mma layout, regs, spills, smem,
             PTX counts), one launch per layout with a hang watchdog -> kind "compile"
  summarize  $OUT/results.jsonl + stages.jsonl -> summary.json, summary.md (no torch)

Every record is appended to $OUT/results.jsonl the moment it exists, and a "start" record
precedes every case, so a stage killed by its timeout still tells where it stopped.
Every wait on the GPU polls an event with a deadline; a wait that runs out records a
"hang" and exits the process (which tears down the CUDA context and the stuck kernel).
"""
import argparse
import json
import math
import os
import re
import statistics
import sys
import time
import traceback

OUT = os.path.abspath(os.environ.get("OUT") or "./gpu_out")
RESULTS = os.path.join(OUT, "results.jsonl")
STAGES = os.path.join(OUT, "stages.jsonl")
ROOT = os.getcwd()
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

STAGE = "?"
T0 = time.time()

# rel-norm floors (forward outputs, gradients) per dtype; a case passes when its worst error
# is below max(floor, 4 x the error of cuDNN in the same dtype) against the fp64 reference
TOL = {"fp64": (1e-10, 1e-8), "fp32": (1e-4, 1e-3), "fp16": (5e-3, 3e-2), "bf16": (4e-2, 1.5e-1)}
FWD_NAMES = ("out", "h_T", "c_T")
GRAD_NAMES = ("dx", "dh0", "dc0", "dw_ih", "dw_hh", "db")
FLASHRNN_H100 = {"cudnn_fp16_fwd_ms": 2.01, "cudnn_fp16_fwdbwd_ms": 5.19,
                 "shape": "B=16 T=1024 H=768 (FlashRNN's plot point, H100)"}


def emit(rec):
    rec.setdefault("stage", STAGE)
    rec.setdefault("t", round(time.time() - T0, 2))
    line = json.dumps(rec, default=str)
    with open(RESULTS, "a") as f:
        f.write(line + "\n")
        f.flush()
    print("RESULT " + (line if len(line) < 600 else line[:600] + " ..."), flush=True)


def _torch():
    os.environ.pop("TRITON_INTERPRET", None)  # real kernels, never the CPU interpreter
    import torch
    return torch


DT = None


def dtypes():
    global DT
    if DT is None:
        torch = _torch()
        DT = {"fp64": torch.float64, "fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
    return DT


def set_cudnn_tf32(allow):
    """nn.LSTM in fp32 honours cudnn.allow_tf32, which is True by default: TF32 GEMMs.
    Only the legacy setter is used: it keeps the new per-op flags in step."""
    torch = _torch()
    try:
        torch.backends.cudnn.allow_tf32 = allow
        return "legacy"
    except Exception:
        try:
            torch.backends.cudnn.rnn.fp32_precision = "tf32" if allow else "ieee"
            return "new"
        except Exception as e:
            return f"failed: {e!r}"


def gpu_wait(timeout_s, what):
    """Wait for the current stream with a deadline; on expiry record a hang and exit."""
    torch = _torch()
    ev = torch.cuda.Event()
    ev.record()
    t0 = time.time()
    while not ev.query():
        if time.time() - t0 > timeout_s:
            emit({"kind": "hang", "what": what, "waited_s": timeout_s})
            print(f"HANG: {what}: not finished after {timeout_s}s -- exiting this stage", flush=True)
            sys.stdout.flush()
            os._exit(3)
        time.sleep(0.0005)


# ---------------------------------------------------------------------------------------
# inputs and runners


def make_inputs(B, T, H, dt, seed=0):
    """fp64 tensors on the GPU, already rounded to dt (so input rounding is not counted as
    kernel error). nn.LSTM-like init: weights U(-1/sqrt(H), 1/sqrt(H)), I = H."""
    torch = _torch()
    dev = torch.device("cuda")
    g = torch.Generator(device=dev).manual_seed(seed)
    k = 1.0 / math.sqrt(H)

    def u(*shape, scale):
        return (torch.rand(*shape, generator=g, device=dev, dtype=torch.float64) * 2 - 1) * scale

    def n(*shape, scale=1.0):
        return torch.randn(*shape, generator=g, device=dev, dtype=torch.float64) * scale

    inp = {"x": n(B, T, H), "h0": n(B, H, scale=0.5), "c0": n(B, H, scale=0.5),
           "w_ih": u(4 * H, H, scale=k), "w_hh": u(4 * H, H, scale=k),
           "b_ih": u(4 * H, scale=k), "b_hh": u(4 * H, scale=k)}
    inp = {key: v.to(dt).double() for key, v in inp.items()}
    inp["ups"] = [n(B, T, H).to(dt).double(), n(B, H).to(dt).double(), n(B, H).to(dt).double()]
    return inp


def make_cudnn(inp, dt):
    torch = _torch()
    H = inp["w_hh"].shape[1]
    m = torch.nn.LSTM(H, H, batch_first=True, device=inp["x"].device, dtype=dt)
    with torch.no_grad():
        m.weight_ih_l0.copy_(inp["w_ih"])
        m.weight_hh_l0.copy_(inp["w_hh"])
        m.bias_ih_l0.copy_(inp["b_ih"])
        m.bias_hh_l0.copy_(inp["b_hh"])
    m.flatten_parameters()
    return m


def run_cudnn(inp, dt, grad, wait_s=60):
    torch = _torch()
    m = make_cudnn(inp, dt)
    # fresh leaves (for fp64, .to() would return the shared input tensor itself)
    x = inp["x"].to(dt).detach().clone().requires_grad_(grad)
    h0 = inp["h0"].to(dt).unsqueeze(0).detach().clone().requires_grad_(grad)
    c0 = inp["c0"].to(dt).unsqueeze(0).detach().clone().requires_grad_(grad)
    with torch.enable_grad() if grad else torch.no_grad():
        out, (h, c) = m(x, (h0, c0))
    res = {"out": out, "h_T": h[0], "c_T": c[0]}
    if grad:
        torch.autograd.backward([out, h[0], c[0]], [u.to(dt) for u in inp["ups"]])
        res.update(dx=x.grad, dh0=h0.grad[0], dc0=c0.grad[0], dw_ih=m.weight_ih_l0.grad,
                   dw_hh=m.weight_hh_l0.grad, db=m.bias_ih_l0.grad)
    gpu_wait(wait_s, f"cudnn {dt}")
    return {k: (None if v is None else v.detach().double()) for k, v in res.items()}


def run_naive_fp64(inp, grad):
    """Fallback ground truth: the project's gate-by-gate loop in fp64 (if fp64 cuDNN fails)."""
    torch = _torch()
    from kernels.lstm.naive import lstm_naive
    leaves = {k: inp[k].detach().clone().requires_grad_(grad) for k in ("x", "h0", "c0", "w_ih", "w_hh", "b_ih", "b_hh")}
    with torch.enable_grad() if grad else torch.no_grad():
        out, (h, c) = lstm_naive(leaves["x"], (leaves["h0"], leaves["c0"]), leaves["w_ih"], leaves["w_hh"],
                                 leaves["b_ih"], leaves["b_hh"])
    res = {"out": out, "h_T": h, "c_T": c}
    if grad:
        torch.autograd.backward([out, h, c], inp["ups"])
        res.update(dx=leaves["x"].grad, dh0=leaves["h0"].grad, dc0=leaves["c0"].grad,
                   dw_ih=leaves["w_ih"].grad, dw_hh=leaves["w_hh"].grad, db=leaves["b_ih"].grad)
    return {k: (None if v is None else v.detach().double()) for k, v in res.items()}


def call_impl(impl, x, state, w_ih, w_hh, b_ih, b_hh):
    from kernels import lstm_fused, lstm_fused_gemm
    if impl == "fused":
        return lstm_fused(x, state, w_ih, w_hh, b_ih, b_hh)
    if impl == "fused_gemm":
        return lstm_fused_gemm(x, state, w_ih, w_hh, b_ih, b_hh)
    if impl == "fused_eager":
        return lstm_fused(x, state, w_ih, w_hh, b_ih, b_hh, use_cuda_graph=False)
    if impl == "persistent":
        from kernels.lstm.persistent import lstm_persistent
        return lstm_persistent(x, state, w_ih, w_hh, b_ih, b_hh)
    raise ValueError(impl)


def run_ours(impl, inp, dt, grad, wait_s):
    torch = _torch()
    leaves = {k: inp[k].to(dt).detach().clone().requires_grad_(grad)
              for k in ("x", "h0", "c0", "w_ih", "w_hh", "b_ih", "b_hh")}
    with torch.enable_grad() if grad else torch.no_grad():
        out, (h, c) = call_impl(impl, leaves["x"], (leaves["h0"], leaves["c0"]), leaves["w_ih"],
                                leaves["w_hh"], leaves["b_ih"], leaves["b_hh"])
    gpu_wait(wait_s, f"{impl} forward")
    res = {"out": out, "h_T": h, "c_T": c}
    if grad:
        torch.autograd.backward([out, h, c], [u.to(dt) for u in inp["ups"]])
        gpu_wait(wait_s, f"{impl} backward")
        res.update(dx=leaves["x"].grad, dh0=leaves["h0"].grad, dc0=leaves["c0"].grad,
                   dw_ih=leaves["w_ih"].grad, dw_hh=leaves["w_hh"].grad, db=leaves["b_ih"].grad)
    return {k: (None if v is None else v.detach().double()) for k, v in res.items()}


def rel_err(a, r):
    torch = _torch()
    if a is None or r is None:
        return None
    if a.shape != r.shape:
        return float("nan")
    if not bool(torch.isfinite(a).all()):
        return float("inf")
    return ((a - r).norm() / r.norm().clamp_min(1e-30)).item()


def _max(vals):
    vals = [v for v in vals if v is not None]
    if not vals:
        return None
    if any(math.isnan(v) for v in vals):
        return float("nan")
    return max(vals)


# ---------------------------------------------------------------------------------------
# sweep: correctness


def sweep(args):
    torch = _torch()
    DTs = dtypes()
    dev = torch.device("cuda")
    t_start = time.time()
    set_cudnn_tf32(False)  # the same-dtype fp32 yardstick must not be TF32
    cases = []
    for T in args.T:
        for dname in args.dtypes:
            for H in args.H:
                for B in args.B:
                    cases.append((B, T, H, dname))
    if args.extra:
        for spec in args.extra:  # "B,T,H:dtype"
            shp, dname = spec.split(":")
            B, T, H = (int(v) for v in shp.split(","))
            cases.append((B, T, H, dname))
    emit({"kind": "sweep_plan", "impl": args.impl, "n_cases": len(cases), "budget_s": args.budget})
    skipped = 0
    for (B, T, H, dname) in cases:
        if time.time() - t_start > args.budget:
            skipped += 1
            continue
        dt = DTs[dname]
        case = f"{args.impl} {dname} B{B} T{T} H{H}"
        rec = {"kind": "correctness", "impl": args.impl, "dtype": dname, "B": B, "T": T, "H": H,
               "grad": not args.no_grad, "case": case}
        if args.impl == "persistent":
            from kernels.lstm.persistent import persistent_config
            try:
                cfg = persistent_config(B, H, dt, dev)
                rec["config"] = dict(zip(("BLOCK_B", "BLOCK_H", "HP", "barrier", "num_warps"), cfg))
            except ValueError as e:
                rec.update(status="not covered", reason=str(e)[:200])
                emit(rec)
                continue
        emit({"kind": "start", "case": case})
        t0 = time.time()
        try:
            inp = make_inputs(B, T, H, dt, seed=B * 7 + T * 13 + H)
            grad = not args.no_grad
            try:
                ref = run_cudnn(inp, torch.float64, grad)
                ref_src = "cudnn fp64"
            except Exception as e:  # noqa: BLE001
                ref = run_naive_fp64(inp, grad)
                ref_src = f"naive fp64 ({type(e).__name__})"
            try:
                same = run_cudnn(inp, dt, grad)
                same_err = {k: rel_err(same.get(k), ref.get(k)) for k in ref}
            except Exception as e:  # noqa: BLE001
                same_err = {"error": repr(e)[:200]}
            got = run_ours(args.impl, inp, dt, grad, args.wait)
            err = {k: rel_err(got.get(k), ref.get(k)) for k in ref}
            tf, tg = TOL[dname]
            mf = _max([err.get(k) for k in FWD_NAMES])
            mg = _max([err.get(k) for k in GRAD_NAMES]) if grad else None
            cf = _max([same_err.get(k) for k in FWD_NAMES]) if "error" not in same_err else None
            cg = _max([same_err.get(k) for k in GRAD_NAMES]) if grad and "error" not in same_err else None
            tol_f = max(tf, 4 * cf) if cf is not None and math.isfinite(cf) else tf
            tol_g = max(tg, 4 * cg) if cg is not None and math.isfinite(cg) else tg
            ok = mf is not None and mf <= tol_f and (not grad or (mg is not None and mg <= tol_g))
            rec.update(status="pass" if ok else "FAIL", ref=ref_src, err=err, err_cudnn_same_dtype=same_err,
                       max_fwd=mf, max_grad=mg, cudnn_max_fwd=cf, cudnn_max_grad=cg,
                       tol_fwd=tol_f, tol_grad=tol_g if grad else None)
        except Exception as e:  # noqa: BLE001
            rec.update(status="ERROR", error=repr(e)[:500], tb=traceback.format_exc()[-1500:])
            try:
                from kernels.lstm.graphs import clear_graph_cache
                clear_graph_cache()
                torch.cuda.synchronize()
            except Exception:  # noqa: BLE001
                pass
        rec["seconds"] = round(time.time() - t0, 2)
        emit(rec)
    emit({"kind": "sweep_done", "impl": args.impl, "skipped_for_budget": skipped,
          "seconds": round(time.time() - t_start, 1)})


# ---------------------------------------------------------------------------------------
# timing


def bench(fn, warmup, reps, wait_s, what):
    torch = _torch()
    for _ in range(warmup):
        fn()
    gpu_wait(wait_s, f"{what} warm-up")
    ts = []
    for _ in range(reps):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        fn()
        e.record()
        t0 = time.time()
        while not e.query():
            if time.time() - t0 > wait_s:
                emit({"kind": "hang", "what": what, "waited_s": wait_s})
                os._exit(3)
            time.sleep(0.0002)
        ts.append(s.elapsed_time(e))
    return {"median_ms": statistics.median(ts), "min_ms": min(ts), "max_ms": max(ts), "reps": reps}


def make_timing_fn(method, inp, dt, grad):
    """Returns f() running one forward (no_grad) or forward+backward of `method`."""
    torch = _torch()
    B, T, H = inp["x"].shape
    x = inp["x"].to(dt).detach().requires_grad_(grad)
    h0, c0 = inp["h0"].to(dt), inp["c0"].to(dt)
    ups = [u.to(dt) for u in inp["ups"]]
    params = [inp[k].to(dt).detach().requires_grad_(grad) for k in ("w_ih", "w_hh", "b_ih", "b_hh")]

    if method in ("cudnn", "cudnn_ieee"):
        m = make_cudnn(inp, dt)
        leaves = [x] + list(m.parameters())

        def call():
            out, (h, c) = m(x, (h0.unsqueeze(0), c0.unsqueeze(0)))
            return out, h[0], c[0]
    elif method == "loop_cell":
        cell = torch.nn.LSTMCell(H, H, device=x.device, dtype=dt)
        with torch.no_grad():
            cell.weight_ih.copy_(inp["w_ih"])
            cell.weight_hh.copy_(inp["w_hh"])
            cell.bias_ih.copy_(inp["b_ih"])
            cell.bias_hh.copy_(inp["b_hh"])
        leaves = [x] + list(cell.parameters())

        def call():
            h, c = h0, c0
            outs = []
            for t in range(T):
                h, c = cell(x[:, t], (h, c))
                outs.append(h)
            return torch.stack(outs, 1), h, c
    elif method == "loop_naive":
        from kernels.lstm.naive import lstm_naive
        leaves = [x] + params

        def call():
            out, (h, c) = lstm_naive(x, (h0, c0), *params, compute_dtype=dt)
            return out, h, c
    elif method in ("fused", "fused_eager", "fused_gemm", "persistent"):
        leaves = [x] + params

        def call():
            out, (h, c) = call_impl(method, x, (h0, c0), *params)
            return out, h, c
    elif method == "persistent_kernel":  # the recurrence alone: one launch, no autograd
        from kernels.lstm import common as C
        from kernels.lstm import persistent as P
        with torch.no_grad():
            w_ih, w_hh, b_ih, b_hh = (p.detach() for p in params)
            xw = C.input_projection(x.detach().transpose(0, 1).contiguous(), w_ih, b_ih, b_hh)
            hs = x.new_empty(T + 1, B, H)
            cs = x.new_empty(T + 1, B, H, dtype=C.compute_dtype(dt))
            hs[0].copy_(h0)
            cs[0].copy_(c0)

        def f():
            P.lstm_persistent_fwd(xw, w_hh, hs, cs)
        return f
    else:
        raise ValueError(method)

    def f():
        if grad:
            for p in leaves:
                p.grad = None
            out, h, c = call()
            torch.autograd.backward([out, h, c], ups)
        else:
            with torch.no_grad():
                call()
    return f


def reps_for(method, T):
    slow = {"loop_naive": (1, 3), "loop_cell": (1, 5), "fused_eager": (1, 5)}
    if method in slow:
        return (2, 10) if T <= 256 else slow[method]
    return (3, 20)


def timing(args):
    torch = _torch()
    DTs = dtypes()
    t_start = time.time()
    for spec in args.specs:
        shp, dname = spec.split(":")
        B, T, H = (int(v) for v in shp.split(","))
        dt = DTs[dname]
        inp = make_inputs(B, T, H, dt, seed=1)
        methods = list(args.methods)
        if dname == "fp32" and "cudnn" in methods:
            methods.insert(methods.index("cudnn") + 1, "cudnn_ieee")
        for method in methods:
            if method.startswith("persistent"):
                from kernels.lstm.persistent import persistent_config
                try:
                    persistent_config(B, H, dt, torch.device("cuda"))
                except ValueError as e:
                    emit({"kind": "timing", "method": method, "B": B, "T": T, "H": H, "dtype": dname,
                          "status": "not covered", "reason": str(e)[:200]})
                    continue
            for grad in ((False,) if method == "persistent_kernel" else (False, True)):
                if time.time() - t_start > args.budget:
                    emit({"kind": "timing", "method": method, "B": B, "T": T, "H": H, "dtype": dname,
                          "pass": "fwd+bwd" if grad else "fwd", "status": "skipped (budget)"})
                    continue
                case = f"timing {method} {dname} B{B} T{T} H{H} {'fwd+bwd' if grad else 'fwd'}"
                rec = {"kind": "timing", "method": method, "B": B, "T": T, "H": H, "dtype": dname,
                       "pass": "fwd+bwd" if grad else "fwd", "case": case}
                emit({"kind": "start", "case": case})
                if method == "cudnn":
                    set_cudnn_tf32(True)  # PyTorch's default: fp32 nn.LSTM runs TF32 GEMMs
                    rec["note"] = "cudnn.allow_tf32=True (default)" if dname == "fp32" else None
                if method == "cudnn_ieee":
                    set_cudnn_tf32(False)
                try:
                    f = make_timing_fn(method, inp, dt, grad)
                    f()  # compile / capture outside the timing
                    gpu_wait(args.wait, case + " first call")
                    w, r = reps_for(method, T)
                    rec.update(bench(f, w, r, args.wait, case))
                    rec["us_per_step"] = rec["median_ms"] * 1e3 / T
                    if grad and method not in ("loop_naive",):
                        torch.cuda.synchronize()
                        torch.cuda.reset_peak_memory_stats()
                        base = torch.cuda.memory_allocated()
                        f()
                        torch.cuda.synchronize()
                        rec["peak_extra_mib"] = round((torch.cuda.max_memory_allocated() - base) / 2 ** 20, 1)
                    rec["status"] = "ok"
                except getattr(torch, "OutOfMemoryError", MemoryError) as e:
                    rec.update(status="OOM", error=repr(e)[:200])
                except Exception as e:  # noqa: BLE001
                    rec.update(status="ERROR", error=repr(e)[:500], tb=traceback.format_exc()[-1500:])
                finally:
                    set_cudnn_tf32(True)
                emit(rec)
            if method == "fused":
                time_graph_replays(B, T, H, dt, dname, args)
                if (B, H) not in _KPS_DONE:  # once per shape: the count does not depend on dtype much
                    _KPS_DONE.add((B, H))
                    kernels_per_step(B, H, dt, dname)
        try:
            from kernels.lstm.graphs import clear_graph_cache
            clear_graph_cache()
        except Exception:  # noqa: BLE001
            pass
        torch.cuda.empty_cache()


_KPS_DONE = set()


def kernels_per_step(B, H, dt, dname):
    """GPU kernels per time step of the eager per-step path (what each graph step replays):
    profile T=4 and T=8 and difference them, so the once-per-call kernels cancel."""
    torch = _torch()
    try:
        from collections import Counter

        from torch.autograd import DeviceType
        from torch.profiler import ProfilerActivity, profile
        for grad in (False, True):
            names = {}
            for T in (4, 8):
                inp = make_inputs(B, T, H, dt, seed=2)
                f = make_timing_fn("fused_eager", inp, dt, grad)
                f()
                torch.cuda.synchronize()
                with profile(activities=[ProfilerActivity.CUDA]) as prof:
                    f()
                    torch.cuda.synchronize()
                names[T] = Counter(e.name for e in prof.events()
                                   if getattr(e, "device_type", None) == DeviceType.CUDA)
            diff = {k[:90]: (names[8][k] - names[4].get(k, 0)) / 4 for k in names[8]
                    if names[8][k] != names[4].get(k, 0)}
            emit({"kind": "kernels_per_step", "B": B, "H": H, "dtype": dname,
                  "pass": "fwd+bwd" if grad else "fwd", "per_step": round(sum(diff.values()), 2),
                  "by_kernel": diff})
    except Exception as e:  # noqa: BLE001
        emit({"kind": "kernels_per_step", "B": B, "H": H, "dtype": dname, "status": "ERROR",
              "error": repr(e)[:300]})


def time_graph_replays(B, T, H, dt, dname, args):
    """The captured per-step loops alone (no input projection, no copies): per-step cost."""
    try:
        from kernels.lstm import graphs as G
        for key, g in list(G._GRAPH_CACHE.items()):
            kind, T_, B_, H_, dt_ = key[:5]
            if (T_, B_, H_, dt_) != (T, B, H, dt):
                continue
            case = f"graph replay {kind} {dname} B{B} T{T} H{H}"
            emit({"kind": "start", "case": case})
            rec = {"kind": "timing", "method": f"fused_graph_{kind}", "B": B, "T": T, "H": H, "dtype": dname,
                   "pass": kind, "case": case}
            rec.update(bench(g.graph.replay, 3, 20, args.wait, case))
            rec["us_per_step"] = rec["median_ms"] * 1e3 / T
            rec["status"] = "ok"
            emit(rec)
    except Exception as e:  # noqa: BLE001
        emit({"kind": "timing", "method": "fused_graph", "status": "ERROR", "error": repr(e)[:300]})


# ---------------------------------------------------------------------------------------
# smoke: persistent-kernel compile facts + one launch per layout


def kernel_facts(k):
    d = {}
    for a in ("n_regs", "n_spills", "n_max_threads"):
        try:
            d[a] = getattr(k, a)
        except Exception:  # noqa: BLE001
            pass
    md = getattr(k, "metadata", None)
    for a in ("shared", "num_warps", "num_stages", "name"):
        try:
            d[a] = md.get(a) if isinstance(md, dict) else getattr(md, a)
        except Exception:  # noqa: BLE001
            pass
    try:
        ttgir = k.asm["ttgir"]
        d["mma_layouts"] = sorted(set(re.findall(r"nvidia_mma<\{[^}]*\}>", ttgir)))
        d["blocked_layouts"] = sorted(set(re.findall(r"blocked<\{[^}]*\}>", ttgir)))[:8]
        d["n_local_alloc"] = ttgir.count("local_alloc")
        d["n_tt_dot"] = len(re.findall(r"\btt\.dot\b", ttgir))
        d["_ttgir"] = ttgir
    except Exception as e:  # noqa: BLE001
        d["ttgir_error"] = repr(e)[:200]
    try:
        ptx = k.asm["ptx"]
        d["ptx_counts"] = {p: ptx.count(p) for p in (
            "mma.sync", "ldmatrix", "bar.sync", "barrier.sync", "atom.global", "ld.global.acquire",
            "ld.acquire", "ld.global.cg", "fma.rn.f32", "fma.rn.f64", "st.local", "ld.local", "ex2.approx")}
        d["ptx_lines"] = ptx.count("\n")
    except Exception as e:  # noqa: BLE001
        d["ptx_error"] = repr(e)[:200]
    return d


def smoke(args):
    torch = _torch()
    import triton
    from kernels.lstm import common as C, fused as F
    from kernels.lstm import persistent as P
    from kernels.lstm.sync import flag_buffer
    DTs = dtypes()
    dev = torch.device("cuda")
    art = os.path.join(OUT, "artifacts")
    os.makedirs(art, exist_ok=True)
    t_start = time.time()
    for spec in args.specs:  # "B,T,H:dtype" -- barrier-free ones first: they cannot hang
        if time.time() - t_start > args.budget:
            emit({"kind": "compile", "spec": spec, "status": "skipped (budget)"})
            continue
        shp, dname = spec.split(":")
        B, T, H = (int(v) for v in shp.split(","))
        dt = DTs[dname]
        case = f"smoke persistent {dname} B{B} T{T} H{H}"
        rec = {"kind": "compile", "case": case, "dtype": dname, "B": B, "T": T, "H": H}
        try:
            cfg = P.persistent_config(B, H, dt, dev)
        except ValueError as e:
            rec.update(status="not covered", reason=str(e)[:200])
            emit(rec)
            continue
        BB, BH, HP, bar_on, nw = cfg
        grid = tuple(cfg.grid)
        rec.update(BLOCK_B=BB, BLOCK_H=BH, HP=HP, barrier=bar_on, num_warps_requested=nw, grid=list(grid),
                   n_programs=grid[0] * grid[1],
                   n_sm=torch.cuda.get_device_properties(dev).multi_processor_count)
        emit({"kind": "start", "case": case})
        try:
            inp = make_inputs(B, T, H, dt, seed=5)
            with torch.no_grad():
                x = inp["x"].to(dt)
                w_ih, w_hh, b_ih, b_hh = (inp[k].to(dt) for k in ("w_ih", "w_hh", "b_ih", "b_hh"))
                xw = C.input_projection(x.transpose(0, 1).contiguous(), w_ih, b_ih, b_hh)
                hs = x.new_empty(T + 1, B, H)
                cs = x.new_empty(T + 1, B, H, dtype=C.compute_dtype(dt))
                hs[0].copy_(inp["h0"].to(dt))
                cs[0].copy_(inp["c0"].to(dt))
                gates = torch.empty_like(xw)
                bar = flag_buffer(cfg.n_programs, dev)  # one step flag per program, then the time-out word
                h0c, c0c = hs[0].clone(), cs[0].clone()
                torch.cuda.synchronize()

                def launch():
                    return P.launch_persistent(cfg, xw, w_hh, h0c, c0c, hs[1:], hs[T], cs[T], hs, cs, gates,
                                               sync=bar)
                t0 = time.time()
                k = launch()
                rec["compile_plus_launch_s"] = round(time.time() - t0, 2)
                facts = kernel_facts(k) if k is not None else {"note": "launch returned no kernel handle"}
                ttgir = facts.pop("_ttgir", None)
                if ttgir:
                    with open(os.path.join(art, f"persistent_{dname}_H{H}_B{B}.ttgir"), "w") as fh:
                        fh.write(ttgir[:400_000])
                rec.update(facts)
                emit(dict(rec, status="compiled (launched, not yet finished)"))
                gpu_wait(args.wait, case)  # a deadlocked grid barrier ends the stage here
                # each program's flag holds the last step it published: T-1 (no wait after the last step)
                rec["bar_count"] = int((bar[:-1] == T - 1).sum().item()) if bar_on else 0
                rec["bar_expected"] = grid[0] * grid[1] if bar_on else 0
                rec["spin_timeout_flag"] = int(bar[-1].item())
                ref = run_cudnn(inp, torch.float64, False)
                out = hs[1:].transpose(0, 1).double()
                rec["err_out"] = rel_err(out, ref["out"])
                rec["err_c_T"] = rel_err(cs[T].double(), ref["c_T"])
                tf = TOL[dname][0]
                ok = rec["err_out"] is not None and rec["err_out"] <= tf and rec["bar_count"] == rec["bar_expected"]
                rec["status"] = "pass" if ok else "FAIL"
                if bar_on and args.repeat > 0:
                    # the kernel is deterministic: any bitwise difference between launches is a race
                    # (an h_t read before every program stored it)
                    first_hs, first_cs = hs.clone(), cs.clone()
                    mism = 0
                    for i in range(args.repeat):
                        hs[1:].zero_()
                        cs[1:].zero_()
                        bar.zero_()
                        launch()
                        gpu_wait(args.wait, f"{case} repeat {i}")
                        mism += int(not (torch.equal(hs, first_hs) and torch.equal(cs, first_cs)))
                    rec.update(repeats=args.repeat, repeat_mismatches=mism)
                    if mism:
                        rec["status"] = "FAIL (launches differ bitwise: barrier race?)"
        except Exception as e:  # noqa: BLE001
            rec.update(status="ERROR", error=repr(e)[:500], tb=traceback.format_exc()[-1500:])
        emit(rec)
    # the per-step fused kernels: registers / spills
    try:
        B, H = 16, 768
        for dname in ("fp16", "fp32"):
            dt = DTs[dname]
            g = torch.randn(B, 4 * H, device=dev, dtype=dt)
            cp = torch.randn(B, H, device=dev, dtype=torch.float32)
            h = torch.empty(B, H, device=dev, dtype=dt)
            c = torch.empty(B, H, device=dev, dtype=torch.float32)
            N = B * H
            BLOCK = C.elementwise_block(N)
            k = F.lstm_fused_fwd_kernel[(triton.cdiv(N, BLOCK),)](g, cp, h, c, N, H, BLOCK=BLOCK, num_warps=4)
            facts = kernel_facts(k) if k is not None else {}
            facts.pop("_ttgir", None)
            emit({"kind": "compile", "case": f"fused fwd kernel {dname} B{B} H{H}", "BLOCK": BLOCK,
                  "programs": triton.cdiv(N, BLOCK), "status": "ok", **facts})
        gpu_wait(args.wait, "fused kernels")
    except Exception as e:  # noqa: BLE001
        emit({"kind": "compile", "case": "fused kernels", "status": "ERROR", "error": repr(e)[:300]})


# ---------------------------------------------------------------------------------------
# env


def env(args):
    torch = _torch()
    rec = {"kind": "env", "python": sys.version.split()[0], "torch": torch.__version__,
           "torch_cuda": torch.version.cuda, "cuda_available": torch.cuda.is_available()}
    try:
        import triton
        rec["triton"] = triton.__version__
    except Exception as e:  # noqa: BLE001
        rec["triton"] = f"import failed: {e!r}"
    try:
        rec["cudnn"] = torch.backends.cudnn.version()
    except Exception as e:  # noqa: BLE001
        rec["cudnn"] = repr(e)
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        rec.update(device=torch.cuda.get_device_name(0), capability=list(torch.cuda.get_device_capability(0)),
                   sms=p.multi_processor_count, mem_gib=round(p.total_memory / 2 ** 30, 1))
        for a in ("L2_cache_size", "shared_memory_per_block_optin", "shared_memory_per_multiprocessor",
                  "regs_per_multiprocessor", "max_threads_per_multi_processor"):
            if hasattr(p, a):
                rec[a] = getattr(p, a)
    for name, get in (("cudnn.allow_tf32", lambda: torch.backends.cudnn.allow_tf32),
                      ("cuda.matmul.allow_tf32", lambda: torch.backends.cuda.matmul.allow_tf32),
                      ("float32_matmul_precision", torch.get_float32_matmul_precision),
                      ("matmul.allow_fp16_reduced_precision_reduction",
                       lambda: torch.backends.cuda.matmul.allow_fp16_reduced_precision_reduction)):
        try:
            rec[name] = get()
        except Exception as e:  # noqa: BLE001
            rec[name] = f"? {e!r}"[:120]
    try:
        from kernels.lstm import common as C, fused, fused_gemm, graphs  # noqa: F401
        rec["kernels_import"] = "ok"
        rec["triton_interpreted"] = C.INTERPRETED
    except Exception as e:  # noqa: BLE001
        rec["kernels_import"] = repr(e)[:300]
    emit(rec)
    if not rec.get("cuda_available"):
        sys.exit(2)


# ---------------------------------------------------------------------------------------
# summarize (no torch)


def _read(path):
    recs = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line:
                    try:
                        recs.append(json.loads(line))
                    except json.JSONDecodeError:
                        pass
    return recs


def _f(v, fmt="{:.2e}"):
    if v is None:
        return "-"
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return str(v)
    try:
        return fmt.format(v)
    except (TypeError, ValueError):
        return str(v)


def _pytest_lines(log):
    out = []
    if not os.path.exists(log):
        return out
    with open(log, errors="replace") as f:
        lines = f.read().splitlines()
    for ln in lines:
        if ln.startswith(("FAILED", "ERROR")):
            out.append(ln[:300])
    tail = [ln for ln in lines if re.search(r"\b(passed|failed|error|errors|skipped|deselected)\b", ln)
            and re.search(r"\bin [0-9.]+s", ln)]
    if tail:
        out.append("summary: " + tail[-1].strip("= "))
    else:
        out.append("summary: (no pytest summary line: timed out or crashed; see log)")
    return out


def summarize(args):
    recs = _read(RESULTS)
    stages = _read(STAGES)
    envr = next((r for r in recs if r.get("kind") == "env"), {})
    corr = [r for r in recs if r.get("kind") == "correctness"]
    tim = [r for r in recs if r.get("kind") == "timing"]
    comp = [r for r in recs if r.get("kind") == "compile"]
    hangs = [r for r in recs if r.get("kind") == "hang"]
    done_cases = {r.get("case") for r in recs if r.get("kind") != "start" and r.get("case")}
    unfinished = [r for r in recs if r.get("kind") == "start" and r.get("case") not in done_cases]
    tests = {}
    for s in stages:
        if s.get("stage", "").startswith("pytest"):
            tests[s["stage"]] = _pytest_lines(os.path.join(OUT, "logs", s["stage"] + ".log"))

    md = ["# kernels/lstm on GPU: check summary", ""]
    md.append(f"device: {envr.get('device')} (sm_{''.join(map(str, envr.get('capability', [])))}, "
              f"{envr.get('sms')} SMs, smem/block opt-in {envr.get('shared_memory_per_block_optin')}, "
              f"L2 {envr.get('L2_cache_size')})  ")
    md.append(f"torch {envr.get('torch')} (CUDA {envr.get('torch_cuda')}), triton {envr.get('triton')}, "
              f"cuDNN {envr.get('cudnn')}; cudnn.allow_tf32={envr.get('cudnn.allow_tf32')} "
              f"(nn.LSTM fp32 uses TF32 when True), matmul.allow_tf32={envr.get('cuda.matmul.allow_tf32')}")
    md += ["", "## Stages", "", "| stage | status | rc | seconds | timeout |", "|---|---|---|---|---|"]
    for s in stages:
        md.append(f"| {s.get('stage')} | {s.get('status')} | {s.get('rc')} | {s.get('seconds')} | {s.get('timeout_s')} |")
    if hangs or unfinished:
        md += ["", "## Hangs / unfinished cases", ""]
        for h in hangs:
            md.append(f"- HANG ({h.get('stage')}): {h.get('what')} (waited {h.get('waited_s')} s)")
        for u in unfinished:
            md.append(f"- started, never finished ({u.get('stage')}, at +{u.get('t')} s): {u.get('case')}")
    if tests:
        md += ["", "## tests/test_kernels.py on the GPU", ""]
        for st, lines in tests.items():
            md.append(f"**{st}**")
            md += [f"- {ln}" for ln in lines[:40]]
    if corr:
        md += ["", "## Correctness vs nn.LSTM (ground truth fp64 cuDNN; rel. L2 error)", ""]
        md.append("Per impl/dtype: cases pass / FAIL / ERROR / not covered; worst forward and gradient error "
                  "(ours) beside cuDNN's own error in the same dtype.")
        md += ["", "| impl | dtype | pass | FAIL | ERROR | n/c | worst fwd (ours) | worst fwd (cuDNN same dtype) "
               "| worst grad (ours) | worst grad (cuDNN) |", "|---|---|---|---|---|---|---|---|---|---|"]
        groups = {}
        for r in corr:
            groups.setdefault((r.get("impl"), r.get("dtype")), []).append(r)
        for (impl, dname), rs in sorted(groups.items()):
            cnt = {s: sum(1 for r in rs if r.get("status") == s) for s in ("pass", "FAIL", "ERROR", "not covered")}
            wf = _max([r.get("max_fwd") for r in rs])
            wg = _max([r.get("max_grad") for r in rs])
            cf = _max([r.get("cudnn_max_fwd") for r in rs])
            cg = _max([r.get("cudnn_max_grad") for r in rs])
            md.append(f"| {impl} | {dname} | {cnt['pass']} | {cnt['FAIL']} | {cnt['ERROR']} | {cnt['not covered']} "
                      f"| {_f(wf)} | {_f(cf)} | {_f(wg)} | {_f(cg)} |")
        bad = [r for r in corr if r.get("status") in ("FAIL", "ERROR")]
        if bad:
            md += ["", "Failing cases (first 40):", "", "| case | status | max fwd | tol | max grad | tol | worst tensor / error |",
                   "|---|---|---|---|---|---|---|"]
            for r in bad[:40]:
                err = r.get("err") or {}
                worst = max(((k, v) for k, v in err.items() if isinstance(v, (int, float))),
                            key=lambda kv: (kv[1] if not math.isnan(kv[1]) else float("inf")), default=("-", None))
                md.append(f"| {r.get('case')} | {r.get('status')} | {_f(r.get('max_fwd'))} | {_f(r.get('tol_fwd'))} "
                          f"| {_f(r.get('max_grad'))} | {_f(r.get('tol_grad'))} | "
                          f"{worst[0]}={_f(worst[1])} {str(r.get('error', ''))[:120]} |")
    if tim:
        md += ["", "## Timing (CUDA events, median; ms)", "",
               f"Reference: FlashRNN's {FLASHRNN_H100['shape']}: cuDNN fp16 {FLASHRNN_H100['cudnn_fp16_fwd_ms']} ms fwd, "
               f"{FLASHRNN_H100['cudnn_fp16_fwdbwd_ms']} ms fwd+bwd.", "",
               "time / cuDNN: > 1 = slower than nn.LSTM in the same dtype and pass. fp32: `cudnn` = PyTorch's default "
               "(cudnn.allow_tf32=True, TF32 GEMMs), `cudnn_ieee` = TF32 off. `fused_graph_fwd/bwd` = the captured "
               "per-step loop alone; `persistent_kernel` = the persistent launch alone.", "",
               "| B | T | H | dtype | pass | method | median ms | us/step | time / cuDNN | peak extra MiB | status |",
               "|---|---|---|---|---|---|---|---|---|---|---|"]
        cud = {(r["B"], r["T"], r["H"], r["dtype"], r.get("pass")): r.get("median_ms")
               for r in tim if r.get("method") == "cudnn" and r.get("status") == "ok"}
        for r in tim:
            # graph-replay rows carry pass "fwd" / "bwd": "fwd" is set against cuDNN's forward
            key = (r.get("B"), r.get("T"), r.get("H"), r.get("dtype"), r.get("pass"))
            ref = cud.get(key)
            ratio = (r["median_ms"] / ref) if ref and r.get("median_ms") else None
            md.append(f"| {r.get('B')} | {r.get('T')} | {r.get('H')} | {r.get('dtype')} | {r.get('pass')} | "
                      f"{r.get('method')} | {_f(r.get('median_ms'), '{:.3f}')} | {_f(r.get('us_per_step'), '{:.2f}')} | "
                      f"{_f(ratio, '{:.2f}x')} | {_f(r.get('peak_extra_mib'), '{:.0f}')} | {r.get('status')} |")
    kps = [r for r in recs if r.get("kind") == "kernels_per_step"]
    if kps:
        md += ["", "## GPU kernels per time step, eager per-step path (profiled T=8 minus T=4)", "",
               "| B | H | dtype | pass | kernels/step | which |", "|---|---|---|---|---|---|"]
        for r in kps:
            which = "; ".join(f"{v:g}x {k[:60]}" for k, v in (r.get("by_kernel") or {}).items())
            md.append(f"| {r.get('B')} | {r.get('H')} | {r.get('dtype')} | {r.get('pass')} | "
                      f"{r.get('per_step', r.get('error'))} | {which[:400]} |")
    if comp:
        md += ["", "## Kernel facts (persistent smoke + fused kernels)", "",
               "| case | status | barrier | grid | warps | regs | spills | smem B | mma layout (warpsPerCTA) | "
               "mma.sync / ldmatrix / ld.acquire / ld.global.cg | err out | flags at T-1 / programs | relaunch mismatches |",
               "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        last = {}
        for r in comp:
            last[r.get("case")] = r  # keep the final record of each case
        for r in last.values():
            pc = r.get("ptx_counts") or {}
            mma = "; ".join(re.sub(r"\s+", " ", m)[:110] for m in (r.get("mma_layouts") or [])) or "-"
            md.append(f"| {r.get('case')} | {r.get('status')} | {r.get('barrier', '-')} | {r.get('grid', '-')} | "
                      f"{r.get('num_warps', '-')} | {r.get('n_regs', '-')} | {r.get('n_spills', '-')} | {r.get('shared', '-')} | "
                      f"{mma} | {pc.get('mma.sync', '-')}/{pc.get('ldmatrix', '-')}/{pc.get('ld.global.acquire', pc.get('ld.acquire', '-'))}"
                      f"/{pc.get('ld.global.cg', '-')} | {_f(r.get('err_out'))} | {r.get('bar_count', '-')}/{r.get('bar_expected', '-')} | "
                      f"{r.get('repeat_mismatches', '-')}/{r.get('repeats', '-')} |")
    md.append("")
    text = "\n".join(md)
    with open(os.path.join(OUT, "summary.md"), "w") as f:
        f.write(text + "\n")
    summary = {"env": envr, "stages": stages, "tests": tests, "hangs": hangs,
               "unfinished": [u.get("case") for u in unfinished], "correctness": corr, "timing": tim,
               "compile": comp, "flashrnn_h100_reference": FLASHRNN_H100}
    with open(os.path.join(OUT, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1, default=str)
    print(text)


# ---------------------------------------------------------------------------------------


def main():
    global STAGE
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("cmd", choices=["env", "sweep", "timing", "smoke", "summarize"])
    p.add_argument("--stage", default=None)
    p.add_argument("--impl", default="fused", choices=["fused", "fused_eager", "fused_gemm", "persistent"])
    p.add_argument("--B", type=int, nargs="+", default=[1, 16, 64])
    p.add_argument("--H", type=int, nargs="+", default=[64, 128, 256, 512, 768, 1024])
    p.add_argument("--T", type=int, nargs="+", default=[7, 256, 1])
    p.add_argument("--dtypes", nargs="+", default=["fp16", "bf16", "fp32"])
    p.add_argument("--extra", nargs="*", default=[], help="extra sweep cases B,T,H:dtype")
    p.add_argument("--no-grad", action="store_true")
    p.add_argument("--specs", nargs="+", default=["16,1024,768:fp16", "64,120,128:fp16"],
                   help="timing / smoke cases B,T,H:dtype in priority order")
    p.add_argument("--methods", nargs="+",
                   default=["cudnn", "fused", "fused_eager", "loop_cell", "loop_naive"])
    p.add_argument("--budget", type=float, default=60.0, help="stop starting new cases after this many seconds")
    p.add_argument("--wait", type=float, default=30.0, help="seconds a single GPU wait may take before 'hang'")
    p.add_argument("--repeat", type=int, default=8, help="smoke: relaunches of each barrier kernel, compared bitwise")
    args = p.parse_args()
    STAGE = args.stage or args.cmd
    os.makedirs(OUT, exist_ok=True)
    if args.cmd == "summarize":
        return summarize(args)
    torch = _torch()
    if not torch.cuda.is_available() and args.cmd != "env":
        emit({"kind": "error", "error": "torch.cuda.is_available() is False"})
        sys.exit(2)
    {"env": env, "sweep": sweep, "timing": timing, "smoke": smoke}[args.cmd](args)


if __name__ == "__main__":
    main()
