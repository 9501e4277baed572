#!/usr/bin/env python3
"""The measurements issue 27 asks for before any redesign, one stage per call (gpu_measure.sh runs them all).

Needs torch and triton only, and a CUDA GPU (sm_90 in mind: H100 / H200); run from the
repository root. Every record is appended to $OUT/results.jsonl as it is made; `summarize`
turns them into $OUT/summary.md, where a figure that was not measured says so.

  env          device, versions, what this triton offers (cooperative launch, PDL)
  correctness  every kernel (fused, fused_gemm, fused_gemm+pdl, persistent) against float64
               (fp64 cuDNN): out, h_T, c_T and every gradient, fp16 / bf16 / fp32
  sync         sync_bench_kernel (kernels/lstm/sync.py) at 48 / 96 / 128 programs, T = 1024:
               today's counter, release counter + ld.acquire polls, per-producer flags
  split        the persistent kernel at B16 T1024 H768 fp16: block_h 16 / 32 x k_slices 8 / 16,
               with the wait and without (spin disabled: everything but the sync); registers,
               spills, shared memory; the barrier-free layout at B64 T120 H128, merged / per-gate dots
  paths        forward (and forward+backward) of cuDNN, fused, fused_gemm (tiles, warps, PDL) and
               persistent at B16 T1024 H768 and B64 T120 H128, fp16; the captured step loops alone
  profile      one fused forward and one nn.LSTM forward under torch.profiler: what runs outside
               the graph replay, and which cuDNN kernels PyTorch picks
  summarize    results.jsonl -> summary.md, with the ladder of targets in us/step beside the sync floor

--smoke runs every stage on the CPU interpreter at tiny sizes (TRITON_INTERPRET=1): it checks
the script, not the kernels' speed; its "timings" are meaningless and are labelled so.
"""
import argparse
import json
import math
import os
import statistics
import sys
import time
import traceback

ROOT = os.getcwd()
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
OUT = os.path.abspath(os.environ.get("OUT") or "./gpu_measure_out")
RESULTS = os.path.join(OUT, "results.jsonl")
SMOKE = "--smoke" in sys.argv
if SMOKE:
    os.environ["TRITON_INTERPRET"] = "1"
else:
    os.environ.pop("TRITON_INTERPRET", None)

FLASHRNN_X = 2.4  # FlashRNN's fused CUDA forward / cuDNN at B16 T1024 H768 fp16 (its own H100 plot, issue 27)
NM = "not measured (no GPU)"
STAGE = "?"


def emit(rec):
    rec = dict(rec, stage=STAGE, smoke=SMOKE)
    line = json.dumps(rec, default=str)
    with open(RESULTS, "a") as f:
        f.write(line + "\n")
    print("RESULT " + line[:400], flush=True)


def setup():
    import torch
    dev = torch.device("cpu" if SMOKE else "cuda")
    if not SMOKE and not torch.cuda.is_available():
        emit({"kind": "error", "error": "torch.cuda.is_available() is False"})
        sys.exit(2)
    return torch, dev


def sync_dev(torch):
    if not SMOKE:
        torch.cuda.synchronize()


def timed(torch, fn, reps, warmup=2):
    """Median / min ms of fn() over reps (CUDA events; perf_counter in the smoke run)."""
    for _ in range(warmup):
        fn()
    sync_dev(torch)
    ts = []
    for _ in range(reps):
        if SMOKE:
            t0 = time.perf_counter()
            fn()
            ts.append((time.perf_counter() - t0) * 1e3)
            continue
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        fn()
        e.record()
        e.synchronize()
        ts.append(s.elapsed_time(e))
    return {"median_ms": statistics.median(ts), "min_ms": min(ts), "reps": reps}


def facts(k):
    """Registers, spills, shared memory of a compiled triton kernel handle (None in the interpreter)."""
    if k is None:
        return {}
    d = {}
    for a in ("n_regs", "n_spills"):
        d[a] = getattr(k, a, None)
    md = getattr(k, "metadata", None)
    d["shared"] = getattr(md, "shared", None)
    d["num_warps"] = getattr(md, "num_warps", None)
    return d


def inputs(torch, dev, B, T, H, dtype, seed=0, grad=False):
    g = torch.Generator(device=dev).manual_seed(seed)
    k = H ** -0.5

    def u(*shape, scale=1.0):
        return ((torch.rand(*shape, generator=g, device=dev, dtype=torch.float64) * 2 - 1) * scale).to(dtype)

    x = u(B, T, H)
    w = [u(4 * H, H, scale=k), u(4 * H, H, scale=k), u(4 * H, scale=k), u(4 * H, scale=k)]
    h0, c0 = u(B, H, scale=0.5), u(B, H, scale=0.5)
    leaves = [t.requires_grad_(grad) for t in (x, h0, c0, *w)]
    return leaves


# ---------------------------------------------------------------------------------------

def stage_env(args):
    torch, dev = setup()
    import triton
    from kernels.lstm import fused_gemm, persistent
    rec = {"kind": "env", "torch": torch.__version__, "triton": triton.__version__, "python": sys.version.split()[0],
           "cooperative_launch": persistent._cooperative_supported(), "pdl": fused_gemm.gdc_wait is not None}
    if not SMOKE:
        p = torch.cuda.get_device_properties(0)
        rec.update(device=torch.cuda.get_device_name(0), sms=p.multi_processor_count, cuda=torch.version.cuda,
                   cudnn=torch.backends.cudnn.version(), capability=list(torch.cuda.get_device_capability(0)))
    emit(rec)


IMPLS = ("fused", "fused_gemm", "fused_gemm_pdl", "persistent")


def call(impl, x, state, *w):
    from kernels import lstm_fused, lstm_fused_gemm, lstm_persistent
    if impl == "fused":
        return lstm_fused(x, state, *w)
    if impl == "fused_gemm":
        return lstm_fused_gemm(x, state, *w)
    if impl == "fused_gemm_pdl":
        return lstm_fused_gemm(x, state, *w, pdl=True)
    if impl == "persistent":
        return lstm_persistent(x, state, *w)
    raise ValueError(impl)


def run_grads(torch, fn, leaves, ups):
    out, (h, c) = fn(leaves[0], (leaves[1], leaves[2]), *leaves[3:])
    torch.autograd.backward([out, h, c], [u.to(out.dtype) for u in ups])
    return [t.detach().double() for t in (out, h, c)] + [t.grad.double() for t in leaves]


NAMES = ("out", "h_T", "c_T", "dx", "dh0", "dc0", "dw_ih", "dw_hh", "db_ih", "db_hh")
TOL = {"fp32": (1e-4, 1e-3), "fp16": (5e-3, 3e-2), "bf16": (4e-2, 1.5e-1), "fp64": (1e-10, 1e-8)}


def reference(torch, leaves64, ups):
    """float64 ground truth: cuDNN's fp64 nn.LSTM on the GPU, the gate-by-gate loop otherwise."""
    if SMOKE:
        from kernels.lstm.naive import lstm_naive
        return run_grads(torch, lambda x, s, *w: lstm_naive(x, s, *w), leaves64, ups)
    x, h0, c0, w_ih, w_hh, b_ih, b_hh = leaves64
    H = w_hh.shape[1]
    m = torch.nn.LSTM(x.shape[2], H, batch_first=True, device=x.device, dtype=torch.float64)
    with torch.no_grad():
        for p, v in zip((m.weight_ih_l0, m.weight_hh_l0, m.bias_ih_l0, m.bias_hh_l0), (w_ih, w_hh, b_ih, b_hh)):
            p.copy_(v)
    xs, h0s, c0s = (t.detach().clone().requires_grad_(True) for t in (x, h0, c0))
    out, (h, c) = m(xs, (h0s[None], c0s[None]))
    torch.autograd.backward([out, h[0], c[0]], ups)
    return [t.detach() for t in (out, h[0], c[0], xs.grad, h0s.grad, c0s.grad, m.weight_ih_l0.grad,
                                 m.weight_hh_l0.grad, m.bias_ih_l0.grad, m.bias_hh_l0.grad)]


def stage_correctness(args):
    torch, dev = setup()
    dts = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}
    # the reference shape first: a stage cut short by its budget still has it
    shapes = [(3, 5, 37)] if SMOKE else [(16, 1024, 768), (5, 33, 100), (64, 120, 128), (16, 256, 768)]
    names = ["fp32"] if SMOKE else ["fp16", "bf16", "fp32"]
    if not SMOKE:
        torch.backends.cudnn.allow_tf32 = False
    t_start = time.time()
    for B, T, H in shapes:
        for dn in names:
            dt = dts[dn]
            base = inputs(torch, dev, B, T, H, torch.float64, seed=B + T + H)
            ups = [torch.randn(s, generator=torch.Generator(device=dev).manual_seed(1), device=dev, dtype=torch.float64)
                   for s in ((B, T, H), (B, H), (B, H))]
            ups = [u.to(dt).double() for u in ups]
            rounded = [t.detach().to(dt) for t in base]
            ref = reference(torch, [t.double().requires_grad_(True) for t in rounded], ups)
            for impl in IMPLS:
                if time.time() - t_start > args.budget:
                    emit({"kind": "correctness", "impl": impl, "B": B, "T": T, "H": H, "dtype": dn,
                          "status": "skipped (budget)"})
                    continue
                rec = {"kind": "correctness", "impl": impl, "B": B, "T": T, "H": H, "dtype": dn}
                try:
                    got = run_grads(torch, lambda *a: call(impl, *a), [t.clone().requires_grad_(True) for t in rounded],
                                    ups)
                    err = {n: ((a - e).norm() / e.norm().clamp_min(1e-30)).item() for n, a, e in zip(NAMES, got, ref)}
                    fwd = max(err[n] for n in NAMES[:3])
                    grad = max(err[n] for n in NAMES[3:])
                    tf, tg = TOL[dn]
                    ok = math.isfinite(fwd) and math.isfinite(grad) and fwd <= tf and grad <= tg
                    rec.update(status="pass" if ok else "FAIL", max_fwd=fwd, max_grad=grad, err=err)
                except ValueError as e:
                    rec.update(status="not covered", reason=str(e)[:200])
                except Exception as e:  # noqa: BLE001
                    rec.update(status="ERROR", error=repr(e)[:300], tb=traceback.format_exc()[-800:])
                emit(rec)


def stage_sync(args):
    torch, dev = setup()
    import triton
    from kernels.lstm import sync
    T = 4 if SMOKE else 1024
    W = 128  # words each program writes per step: a 16 x 16 fp16 h_t tile is 128 words
    progs = [1] if SMOKE else [48, 96, 128]
    n_sm = 0 if SMOKE else torch.cuda.get_device_properties(0).multi_processor_count
    for n in progs:
        for name, scheme in sync.SCHEMES.items():
            rec = {"kind": "sync", "scheme": name, "programs": n, "T": T}
            if n > max(n_sm, 1):
                emit(dict(rec, status=f"not run: {n} programs > {n_sm} SMs"))
                continue
            flags = sync.flag_buffer(n, dev)
            data = torch.zeros(2, n, W, dtype=torch.int32, device=dev)
            out = torch.zeros(2 * n, dtype=torch.int32, device=dev)
            opts = {} if SMOKE else {"launch_cooperative_grid": True}

            def launch():
                flags.zero_()
                return sync.sync_bench_kernel[(n,)](flags, data, out, T, n, 1 << 22, SCHEME=scheme,
                                                    NP=max(2, triton.next_power_of_2(n)), W=W,
                                                    POLL=sync.POLL_RMW if SMOKE else sync.POLL_LD_ACQUIRE,
                                                    num_warps=4, **opts)
            try:
                k = launch()
                sync_dev(torch)
                t = timed(torch, launch, 3 if SMOKE else 10)
                rec.update(t, us_per_step=t["median_ms"] * 1e3 / T, stale=int(out[:n].sum()), late=int(out[n:].sum()),
                           status="ok", **facts(k))
            except Exception as e:  # noqa: BLE001
                rec.update(status="ERROR", error=repr(e)[:300])
            emit(rec)


def stage_split(args):
    torch, dev = setup()
    from kernels.lstm import common, persistent as P
    from kernels.lstm.sync import flag_buffer
    if SMOKE:
        # one program: in the sequential interpreter a wait for another program could only time out
        cases = [(3, 4, 16, dict(block_h=16, barrier=True, k_slices=1), "barrier 1 prog (smoke)")]
        wide = None
    else:
        cases = [(16, 1024, 768, dict(block_h=bh, k_slices=ks), f"barrier block_h={bh} k_slices={ks}")
                 for bh in (16, 32) for ks in (8, 16)]
        cases += [(64, 120, 128, dict(), "barrier-free merged dot"), (64, 120, 128, dict(gate_dots=True),
                                                                       "barrier-free per-gate dots")]
        wide = 224 * 1024  # block_h = 32 at H = 768 needs 192 KiB of W per program: try it under the H100's 227 KiB
    for B, T, H, opts, label in cases:
        dt = torch.float32 if SMOKE else torch.float16
        for wait in (True, False) if "barrier-free" not in label else (True,):  # barrier-free: nothing to wait for
            rec = {"kind": "split", "label": label, "B": B, "T": T, "H": H, "wait": wait}
            old = P.W_ON_CHIP_BYTES
            try:
                if wide and opts.get("block_h") == 32:
                    P.W_ON_CHIP_BYTES = wide
                    rec["note"] = f"on-chip W budget raised to {wide // 1024} KiB for this case"
                cfg = P.persistent_config(B, H, dt, dev, **opts)
                x, h0, c0, w_ih, w_hh, b_ih, b_hh = inputs(torch, dev, B, T, H, dt)
                xw = common.input_projection(x.transpose(0, 1).contiguous(), w_ih, b_ih, b_hh)
                out = torch.empty(T, B, H, dtype=dt, device=dev)
                hT, cT = torch.empty(B, H, dtype=dt, device=dev), torch.empty(B, H, dtype=dt, device=dev)
                flags = flag_buffer(cfg.n_programs, dev)

                def launch():
                    flags.zero_()
                    return P.launch_persistent(cfg, xw, w_hh, h0, c0, out, hT, cT, sync=flags, wait=wait)
                k = launch()
                sync_dev(torch)
                t = timed(torch, launch, 3 if SMOKE else 10)
                rec.update(t, us_per_step=t["median_ms"] * 1e3 / T, grid=list(cfg.grid), programs=cfg.n_programs,
                           k_slices=cfg.k_slices, block_h=cfg.block_h, warps=cfg.num_warps, status="ok", **facts(k))
                if wait:
                    P.check_persistent_status(wait=True)
            except ValueError as e:
                rec.update(status="not covered", reason=str(e)[:240])
            except Exception as e:  # noqa: BLE001
                rec.update(status="ERROR", error=repr(e)[:300])
            finally:
                P.W_ON_CHIP_BYTES = old
            emit(rec)


def stage_paths(args):
    torch, dev = setup()
    from kernels import lstm_fused, lstm_fused_gemm, lstm_persistent
    from kernels.lstm import graphs
    shapes = [(2, 4, 20)] if SMOKE else [(16, 1024, 768), (64, 120, 128)]
    dt = torch.float32 if SMOKE else torch.float16
    gemm_variants = [dict()] if SMOKE else [dict(), dict(pdl=True), dict(block_h=16), dict(block_h=32, num_warps=4),
                                            dict(block_k=64), dict(block_h=16, pdl=True)]
    for B, T, H in shapes:
        leaves = inputs(torch, dev, B, T, H, dt, grad=True)
        ups = [torch.randn(s, device=dev, dtype=dt) for s in ((B, T, H), (B, H), (B, H))]
        methods = [("cudnn", None, {})] if not SMOKE else []
        methods += [("fused", lstm_fused, {}), ("persistent", lstm_persistent, {})]
        methods += [("fused_gemm " + (",".join(f"{k}={v}" for k, v in o.items()) or "default"), lstm_fused_gemm, o)
                    for o in gemm_variants]
        for name, fn, opts in methods:
            for grad in (False, True):
                if grad and name.startswith("fused_gemm ") and opts and opts != {"pdl": True}:
                    continue  # backward timed for the default and PDL configurations only
                rec = {"kind": "path", "method": name, "B": B, "T": T, "H": H, "pass": "fwd+bwd" if grad else "fwd"}
                try:
                    if name == "cudnn":
                        m = torch.nn.LSTM(H, H, batch_first=True, device=dev, dtype=dt)

                        def f(m=m):
                            return m(leaves[0], (leaves[1][None], leaves[2][None]))
                    else:
                        def f(fn=fn, opts=opts):
                            return fn(leaves[0], (leaves[1], leaves[2]), *leaves[3:], **opts)

                    def run(f=f, grad=grad):
                        if grad:
                            for p in leaves:
                                p.grad = None
                            out, (h, c) = f()
                            torch.autograd.backward([out, h.reshape(B, H), c.reshape(B, H)], ups)
                        else:
                            with torch.no_grad():
                                f()
                    t = timed(torch, run, 2 if SMOKE else 10)
                    rec.update(t, us_per_step=t["median_ms"] * 1e3 / T, status="ok")
                except ValueError as e:
                    rec.update(status="not covered", reason=str(e)[:200])
                except Exception as e:  # noqa: BLE001
                    rec.update(status="ERROR", error=repr(e)[:300])
                emit(rec)
            # the captured step loops alone: what one step costs inside the graph
            for key, g in list(graphs._GRAPH_CACHE.items()):
                if key[1:4] == (T, B, H) and not SMOKE:
                    t = timed(torch, g.graph.replay, 10)
                    emit({"kind": "path", "method": f"{name}: graph {key[0]} alone", "B": B, "T": T, "H": H,
                          "pass": key[0], **t, "us_per_step": t["median_ms"] * 1e3 / T, "status": "ok"})
            graphs.clear_graph_cache()


def stage_profile(args):
    torch, dev = setup()
    from torch.profiler import ProfilerActivity, profile

    from kernels import lstm_fused
    B, T, H = (2, 4, 20) if SMOKE else (16, 1024, 768)
    dt = torch.float32 if SMOKE else torch.float16
    x, h0, c0, *w = inputs(torch, dev, B, T, H, dt)
    m = torch.nn.LSTM(H, H, batch_first=True, device=dev, dtype=dt)
    acts = [ProfilerActivity.CPU] + ([] if SMOKE else [ProfilerActivity.CUDA])
    for name, f in (("fused", lambda: lstm_fused(x, (h0, c0), *w)), ("cudnn", lambda: m(x, (h0[None], c0[None])))):
        with torch.no_grad():
            f()
            f()
            sync_dev(torch)
            with profile(activities=acts) as prof:
                f()
                sync_dev(torch)
        rows = []
        for e in prof.key_averages():
            dev_us = getattr(e, "device_time_total", None) or getattr(e, "cuda_time_total", 0) or 0
            rows.append({"name": e.key[:100], "calls": e.count, "cpu_us": round(e.cpu_time_total, 1),
                         "self_cpu_us": round(e.self_cpu_time_total, 1), "device_us": round(dev_us, 1)})
        rows.sort(key=lambda r: -(r["device_us"] or r["self_cpu_us"]))
        kernels = [r for r in rows if r["device_us"] and not r["name"].startswith(("aten::", "cuda", "Memcpy"))]
        emit({"kind": "profile", "method": name, "B": B, "T": T, "H": H, "top": rows[:25],
              "cudnn_kernels": [r["name"] for r in kernels if name == "cudnn"][:8]})


# ---------------------------------------------------------------------------------------

def _read():
    recs = []
    if os.path.exists(RESULTS):
        with open(RESULTS) as f:
            for line in f:
                try:
                    recs.append(json.loads(line))
                except json.JSONDecodeError:
                    pass
    return recs


def _f(v, fmt="{:.2f}"):
    return NM if v is None else fmt.format(v)


def stage_summarize(args):
    recs = [r for r in _read() if r.get("smoke") == SMOKE]
    env = next((r for r in recs if r["kind"] == "env"), {})
    md = ["# issue 27 measurements: summary", ""]
    if SMOKE:
        md += ["**SMOKE RUN on the CPU interpreter: tiny sizes; every time below is the interpreter's and means "
               "nothing about a GPU.**", ""]
    md += [f"device: {env.get('device', NM)}, {env.get('sms', '-')} SMs; torch {env.get('torch')}, triton "
           f"{env.get('triton')}, CUDA {env.get('cuda', '-')}, cuDNN {env.get('cudnn', '-')}; cooperative launch: "
           f"{env.get('cooperative_launch')}, PDL: {env.get('pdl')}", ""]

    corr = [r for r in recs if r["kind"] == "correctness"]
    md += ["## Correctness against float64 (relative L2 error, worst over out/h_T/c_T and over the 7 gradients)", "",
           "| impl | dtype | B | T | H | status | worst fwd | worst grad |", "|---|---|---|---|---|---|---|---|"]
    md += [f"| {r['impl']} | {r['dtype']} | {r['B']} | {r['T']} | {r['H']} | {r['status']} | "
           f"{_f(r.get('max_fwd'), '{:.2e}')} | {_f(r.get('max_grad'), '{:.2e}')} |" for r in corr] or ["| " + NM + " |"]

    sync = [r for r in recs if r["kind"] == "sync"]
    md += ["", "## The sync alone (sync_bench_kernel: store a 128-word slice, sync, read every slice; T steps)", "",
           "`none` is the control without sync: its stale reads show the check can fail; its time is the "
           "store-and-read work the other rows share.", "",
           "| scheme | programs | us/step | stale reads | waits run out | regs | status |", "|---|---|---|---|---|---|---|"]
    md += [f"| {r['scheme']} | {r['programs']} | {_f(r.get('us_per_step'))} | {r.get('stale', '-')} | "
           f"{r.get('late', '-')} | {r.get('n_regs', '-')} | {r.get('status')} |" for r in sync] or ["| " + NM + " |"]

    split = [r for r in recs if r["kind"] == "split"]
    md += ["", "## Persistent kernel: step time with and without the wait (spin disabled = everything but the sync)",
           "", "| case | B,T,H | wait | us/step | programs | warps | regs | spills | shared B | status |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    md += [f"| {r['label']} | {r['B']},{r['T']},{r['H']} | {r['wait']} | {_f(r.get('us_per_step'))} | "
           f"{r.get('programs', '-')} | {r.get('warps', '-')} | {r.get('n_regs', '-')} | {r.get('n_spills', '-')} | "
           f"{r.get('shared', '-')} | {r.get('status')} {r.get('reason', r.get('error', ''))[:90]} |"
           for r in split] or ["| " + NM + " |"]

    paths = [r for r in recs if r["kind"] == "path"]
    md += ["", "## Paths (median of CUDA events)", "", "| method | B,T,H | pass | ms | us/step | status |",
           "|---|---|---|---|---|---|"]
    md += [f"| {r['method']} | {r['B']},{r['T']},{r['H']} | {r['pass']} | {_f(r.get('median_ms'), '{:.3f}')} | "
           f"{_f(r.get('us_per_step'))} | {r.get('status')} {r.get('reason', r.get('error', ''))[:80]} |"
           for r in paths] or ["| " + NM + " |"]

    for r in (r for r in recs if r["kind"] == "profile"):
        md += ["", f"## Profile: one {r['method']} forward, B{r['B']} T{r['T']} H{r['H']} (top events)", "",
               "| event | calls | device us | CPU us (self) |", "|---|---|---|---|"]
        md += [f"| {e['name']} | {e['calls']} | {e['device_us']} | {e['cpu_us']} ({e['self_cpu_us']}) |"
               for e in r["top"]]
        if r["method"] == "cudnn":
            md += ["", "cuDNN kernels: " + (", ".join(r["cudnn_kernels"]) or NM)]

    # the ladder (issue 27, "The targets"): every rung as us/step beside the measured sync floor
    def us(method, B=16, T=1024, H=768, p="fwd"):
        r = next((r for r in paths if r["method"] == method and (r["B"], r["T"], r["H"]) == (B, T, H)
                  and r["pass"] == p and r.get("status") == "ok"), None)
        return r and r["us_per_step"]
    floor = {r["programs"]: r["us_per_step"] for r in sync if r["scheme"] == "flags" and r.get("status") == "ok"}
    cud, cud_fb = us("cudnn"), us("cudnn", p="fwd+bwd")
    best_fwd = min((v for v in (us("fused"), us("persistent"), *(us(r["method"]) for r in paths
                                if r["method"].startswith("fused_gemm "))) if v), default=None)
    best_fb = min((v for v in (us("fused", p="fwd+bwd"), us("persistent", p="fwd+bwd"),
                               us("fused_gemm default", p="fwd+bwd"), us("fused_gemm pdl=True", p="fwd+bwd")) if v),
                  default=None)
    small = min((v for v in (us("fused", 64, 120, 128), us("persistent", 64, 120, 128),
                             us("fused_gemm default", 64, 120, 128)) if v), default=None)

    def rung(name, target, best):
        met = "-" if target is None or best is None else ("yes" if best <= target else "no")
        return f"| {name} | {_f(target)} | {_f(best)} | {met} |"
    md += ["", "## The ladder (us/step, B16 T1024 H768 fp16 unless stated)", "",
           f"Sync floor (per-producer flags, sync_bench_kernel): 48 programs {_f(floor.get(48))}, 96 programs "
           f"{_f(floor.get(96))}, 128 programs {_f(floor.get(128))} us/step. cuDNN forward {_f(cud)}, "
           f"forward+backward {_f(cud_fb)} us/step.", "",
           "| rung | target us/step | best of ours us/step | met |", "|---|---|---|---|",
           rung(f"forward faster than FlashRNN ({FLASHRNN_X}x cuDNN)", cud and FLASHRNN_X * cud, best_fwd),
           rung("forward <= 1.2x cuDNN (if the flag sync costs <= 1.2 us/step)", cud and 1.2 * cud, best_fwd),
           rung("stretch: forward <= 1.0x cuDNN", cud, best_fwd),
           rung("forward+backward <= 2x cuDNN", cud_fb and 2 * cud_fb, best_fb),
           rung("small-H faster than cuDNN (B64 T120 H128)", us("cudnn", 64, 120, 128), small)]
    text = "\n".join(md) + "\n"
    with open(os.path.join(OUT, "summary.md"), "w") as f:
        f.write(text)
    print(text)


STAGES = {"env": stage_env, "correctness": stage_correctness, "sync": stage_sync, "split": stage_split,
          "paths": stage_paths, "profile": stage_profile, "summarize": stage_summarize}


def main():
    global STAGE
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("stage", choices=list(STAGES))
    p.add_argument("--smoke", action="store_true", help="the CPU interpreter at tiny sizes (checks the script only)")
    p.add_argument("--budget", type=float, default=100.0, help="correctness: stop starting cases after this many s")
    args = p.parse_args()
    STAGE = args.stage
    os.makedirs(OUT, exist_ok=True)
    STAGES[args.stage](args)


if __name__ == "__main__":
    main()
