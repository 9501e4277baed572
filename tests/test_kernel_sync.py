"""The persistent kernel's step sync under skew: programs run concurrently in the Triton interpreter.

Triton's CPU interpreter runs a grid's programs one after another, so a program that waits
for another can only time out. Here `concurrent_programs` runs each program of a launch in
its own thread instead (program ids made thread-local), sleeps a random time before every
store and atomic and a longer one after every release: the programs drift apart as a GPU's
do when one is descheduled or slow, and a consumer that reads before its producer stored
reads stale data. (Checked by hand: waiting for step t instead of t+1, or publishing
before the h_t stores, fails these tests.)

Checked: every scheme of `sync_bench_kernel` (today's counter, the release counter, the
per-producer flags) reads no stale value under skew, while the same kernel without sync
does (so the check can fail); a producer that never publishes makes the others give up and
say so; the persistent LSTM's barrier layout over several programs and steps, its outputs
starting as NaN, matches the float64 reference in every output and gradient. (The time-out of the LSTM kernel itself
is tested in test_kernels.py, where the sequential interpreter makes it certain.)
"""
import os
import random
import sys
import threading
import time

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

import pytest  # noqa: E402

pytest.importorskip("triton", reason="the Triton kernels need the triton package (Linux wheels only)")

from kernels.lstm import common, sync  # noqa: E402
from kernels.lstm.naive import lstm_naive  # noqa: E402
from kernels.lstm.common import input_projection  # noqa: E402
from kernels.lstm.persistent import launch_persistent, lstm_persistent, persistent_config  # noqa: E402

pytestmark = pytest.mark.skipif(not common.INTERPRETED, reason="runs programs as threads of the CPU interpreter")


@pytest.fixture
def concurrent_programs(monkeypatch):
    """While active, an interpreted launch runs its programs concurrently, one thread each,
    with a random sleep of up to `max_delay_s` before every store and atomic and of up to
    20 x that after every arrival or flag release (seeded per program; polls run undelayed). Yields a setter: concurrent_programs(max_delay_s, seed)."""
    from triton.runtime import interpreter as interp

    ex = interp.GridExecutor
    if not all(hasattr(ex, a) for a in ("_init_args_hst", "_restore_args_dev")):
        pytest.skip(f"triton {interp.triton.__version__}'s interpreter has another shape")
    builder = interp.interpreter_builder
    local = threading.local()
    cfg = {"max_delay_s": 0.0, "seed": 0}

    def program_id(axis):
        return interp.TensorHandle(torch.tensor([local.idx[axis]], dtype=torch.int32).numpy(), interp.tl.int32)

    acquire = interp._ir.MEM_SEMANTIC.ACQUIRE

    def delayed(fn):
        def wrapper(*a, **k):
            rng = getattr(local, "rng", None)
            # polls (acquire-only read-modify-writes) run undelayed: a waiting program then sees
            # a flag as soon as it is set, and reads whatever its producer has stored by then
            poll = fn.__name__ == "create_atomic_rmw" and a[4] == acquire
            skew = rng is not None and cfg["max_delay_s"] and not poll
            if skew:
                time.sleep(rng.uniform(0, cfg["max_delay_s"]))
            r = fn(*a, **k)
            if skew and fn.__name__ == "create_atomic_rmw":
                # a producer stalled right after it published (or arrived), before its next store:
                # up to 20x longer, to outlast a consumer's way from its last poll to its loads,
                # which takes the slow interpreter milliseconds
                time.sleep(rng.uniform(0, 20 * cfg["max_delay_s"]))
            return r
        return wrapper

    def call(self, *args_dev, **kwargs):
        import inspect
        spec = inspect.getfullargspec(self.fn)
        kwargs = {k: v for k, v in kwargs.items() if k in spec.args or k in spec.kwonlyargs}
        args_hst, kwargs_hst = self._init_args_hst(args_dev, kwargs)
        scope = interp._patch_lang(self.fn)
        errors = []
        try:
            args = inspect.getcallargs(self.fn, *args_hst, **kwargs_hst)
            args = {n: a if n in self.constexprs else interp._implicit_cvt(a) for n, a in args.items()}
            grid = self.grid(args) if callable(self.grid) else self.grid
            grid = tuple(grid) + (1,) * (3 - len(grid))
            builder.set_grid_dim(*grid)

            def run(idx, rank):
                local.idx = idx
                local.rng = random.Random(cfg["seed"] * 1000 + rank)
                try:
                    self.fn(**args)
                except Exception as e:  # noqa: BLE001
                    errors.append(e)

            idxs = [(x, y, z) for x in range(grid[0]) for y in range(grid[1]) for z in range(grid[2])]
            threads = [threading.Thread(target=run, args=(idx, r), daemon=True) for r, idx in enumerate(idxs)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=120)
            assert not any(t.is_alive() for t in threads), "a program never finished"
        finally:
            scope.restore()
        if errors:
            raise errors[0]
        self._restore_args_dev(args_dev, args_hst, kwargs, kwargs_hst)

    monkeypatch.setattr(ex, "__call__", call)
    monkeypatch.setattr(builder, "create_get_program_id", program_id)
    for name in ("create_store", "create_masked_store", "create_atomic_rmw", "create_atomic_cas"):
        monkeypatch.setattr(builder, name, delayed(getattr(builder, name)))

    def configure(max_delay_s, seed=0):
        cfg.update(max_delay_s=max_delay_s, seed=seed)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)  # the threads interleave every 0.1 ms, not every 5 ms
    yield configure
    sys.setswitchinterval(interval)


def run_sync_bench(scheme, n, T, spin_limit=1 << 20, W=4, grid=None):
    flags = sync.flag_buffer(n, "cpu")
    data = torch.zeros(2, n, W, dtype=torch.int32)
    out = torch.zeros(2 * n, dtype=torch.int32)
    sync.sync_bench_kernel[(grid or n,)](flags, data, out, T, n, spin_limit, SCHEME=sync.SCHEMES[scheme],
                                 NP=max(2, 1 << (n - 1).bit_length()), W=W, POLL=sync.POLL_RMW)
    return out[:n], out[n:], flags


@pytest.mark.parametrize("scheme", ["counter", "counter_release_ld_acquire", "flags"])
def test_sync_schemes_read_no_stale_value_under_skew(concurrent_programs, scheme):
    concurrent_programs(max_delay_s=2e-3, seed=1)
    n, T = 3, 5
    stale, late, flags = run_sync_bench(scheme, n, T)
    assert late.tolist() == [0] * n  # nobody gave up waiting
    assert stale.tolist() == [0] * n
    if scheme == "flags":
        assert flags.tolist() == [T] * n + [0]  # each flag holds its last step, the status word is clear
    else:
        assert flags[n].item() == T * n  # every arrival counted


def test_skew_makes_unsynchronised_reads_stale(concurrent_programs):
    # the same kernel without its sync: the skew must show up as stale reads, or the
    # test above could not fail
    concurrent_programs(max_delay_s=2e-3, seed=1)
    stale, _, _ = run_sync_bench("none", 3, 5)
    assert stale.sum().item() > 0


def test_flags_time_out_when_a_producer_never_publishes(concurrent_programs):
    # told of 3 producers but launched with 2: the third flag never moves, so each program
    # gives up at every step after its spin bound, and says so
    concurrent_programs(max_delay_s=1e-3, seed=3)
    stale, late, flags = run_sync_bench("flags", 3, 3, spin_limit=4, grid=2)
    assert late[:2].tolist() == [3, 3]
    assert flags.tolist() == [3, 3, 0, 0]


def _inputs(B, T, I, H, dtype, seed):
    g = torch.Generator().manual_seed(seed)
    k = H ** -0.5

    def r(*shape, scale=1.0):
        return ((torch.rand(*shape, generator=g, dtype=torch.float64) * 2 - 1) * scale).to(dtype)

    return (r(B, T, I), (r(B, H, scale=0.5), r(B, H, scale=0.5)), r(4 * H, I, scale=k), r(4 * H, H, scale=k),
            r(4 * H, scale=k), r(4 * H, scale=k))


@pytest.mark.parametrize("seed", [2, 3])
def test_persistent_barrier_layout_under_skew_reads_no_stale_h(concurrent_programs, seed):
    # the grid-barrier layout for real: 3 programs (16 hidden units each) exchange h_t
    # through global memory at each of T-1 = 3 step boundaries, under skew; the outputs start
    # as NaN, so an h_t read before its producer stored it cannot pass (publishing before
    # the stores is caught in about 7 launches of 8; two launches here)
    concurrent_programs(max_delay_s=2e-3, seed=seed)
    B, T, I, H = 2, 4, 3, 40
    x, (h0, c0), w_ih, w_hh, b_ih, b_hh = _inputs(B, T, I, H, torch.float64, seed=5)
    cfg = persistent_config(B, H, torch.float64, torch.device("cpu"), block_h=16)
    assert cfg.use_barrier and cfg.n_programs == 3
    xw = input_projection(x.transpose(0, 1).contiguous(), w_ih, b_ih, b_hh)  # (T, B, 4H)
    out, h_T, c_T = (torch.full(s, float("nan"), dtype=torch.float64) for s in ((T, B, H), (B, H), (B, H)))
    launch_persistent(cfg, xw, w_hh, h0, c0, out, h_T, c_T, spin_limit=1 << 20)
    want, (want_h, want_c) = lstm_naive(x, (h0, c0), w_ih, w_hh, b_ih, b_hh)
    for name, a, e in (("out", out.transpose(0, 1), want), ("h_T", h_T, want_h), ("c_T", c_T, want_c)):
        torch.testing.assert_close(a, e, rtol=1e-9, atol=1e-11, msg=lambda m: f"{name}: {m}")


def test_persistent_barrier_layout_under_skew_matches_reference(concurrent_programs):
    # the same layout through lstm_persistent with gradients: out, h_T, c_T and every
    # gradient (backward reads the histories and activations the skewed forward saved)
    # against the float64 gate-by-gate reference
    concurrent_programs(max_delay_s=2e-3, seed=4)
    B, T, I, H = 2, 4, 3, 40
    x, (h0, c0), *w = _inputs(B, T, I, H, torch.float64, seed=5)
    cfg = persistent_config(B, H, torch.float64, torch.device("cpu"), block_h=16)
    assert cfg.use_barrier and cfg.n_programs == 3
    leaves = [t.clone().requires_grad_(True) for t in (x, h0, c0, *w)]
    ref_leaves = [t.clone().requires_grad_(True) for t in (x, h0, c0, *w)]
    out, (hT, cT) = lstm_persistent(leaves[0], (leaves[1], leaves[2]), *leaves[3:], block_h=16,
                                    spin_limit=1 << 20)
    want, (whT, wcT) = lstm_naive(ref_leaves[0], (ref_leaves[1], ref_leaves[2]), *ref_leaves[3:])
    ups = [torch.randn(t.shape, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
           for t in (out, hT, cT)]
    torch.autograd.backward([out, hT, cT], ups)
    torch.autograd.backward([want, whT, wcT], ups)
    for name, a, e in [("out", out, want), ("h_T", hT, whT), ("c_T", cT, wcT)] + [
            (f"grad {i}", p.grad, q.grad) for i, (p, q) in enumerate(zip(leaves, ref_leaves))]:
        torch.testing.assert_close(a.detach(), e.detach(), rtol=1e-9, atol=1e-11, msg=lambda m: f"{name}: {m}")
