"""Step synchronisation between the programs of one persistent launch: per-producer release flags.

After step t every program of the grid-barrier layout has written its slice of h_t, and
before step t+1 every program must read all of h_t. Each program owns one int32 flag:

  * `publish`: a CTA barrier (all its threads' h_t stores issued), then ONE release store of
    t+1 into its own flag (an atomic exchange whose result is unused: no round trip);
  * `wait_for_producers`: acquire loads of all the producers' flags at once, one lane per
    producer, repeated until every flag reads >= t+1 (or the spin bound runs out).

A flag holds a step number, at most T < 2^31: nothing counts past it, nothing wraps (the
counter it replaces reached (t+1) x programs). Flags start at 0, so a launch gets a zeroed
buffer (`flag_buffer`), which costs a memset, not a host sync.

On the GPU the polls are plain loads with acquire semantics (PTX `ld.acquire.gpu`, through
inline assembly: triton 3.6 has no atomic load); in the CPU interpreter, which cannot run
inline assembly, they are acquire read-modify-writes that add 0 (`POLL_RMW`).

`sync_bench_kernel` is the measurement of the sync alone (benchmarks/gpu_measure.py): T
steps of write-a-payload, sync, read-every-payload, for today's counter and the two
replacements, counting stale reads.
"""

import torch
import triton
import triton.language as tl

POLL_RMW, POLL_LD_ACQUIRE = 0, 1  # how a flag is polled: atomic_add(0, acquire) / ld.acquire.gpu
# schemes of sync_bench_kernel
COUNTER, COUNTER_RELEASE, FLAGS, NO_SYNC = 0, 1, 2, 3
SCHEMES = {"counter": COUNTER, "counter_release_ld_acquire": COUNTER_RELEASE, "flags": FLAGS,
           "none": NO_SYNC}


@triton.jit
def load_acquire(base, offs, mask, POLL: tl.constexpr):
    """int32 base[offs], read with acquire semantics at GPU scope (masked lanes: 0)."""
    if POLL == 1:
        p = base + tl.where(mask, offs, 0)  # masked lanes read base[0], a valid address
        v = tl.inline_asm_elementwise("ld.acquire.gpu.global.b32 $0, [$1];", "=r,l", [p],
                                      dtype=tl.int32, is_pure=False, pack=1)
        return tl.where(mask, v, 0)
    else:
        return tl.atomic_add(base + offs, tl.zeros(offs.shape, tl.int32), mask=mask, sem="acquire", scope="gpu")


@triton.jit
def publish(flag_ptr, value):
    """Make this program's stores so far visible GPU-wide, then set its flag to `value`."""
    tl.debug_barrier()  # every thread's stores of this step issued before the one release
    tl.atomic_xchg(flag_ptr, value, sem="release", scope="gpu")


@triton.jit
def wait_for_producers(flags_ptr, n, target, limit, NP: tl.constexpr, POLL: tl.constexpr):
    """Poll flags[0:n] (NP >= n lanes, one per producer) until each is >= target, at most
    `limit` rounds. Returns 1 if every producer arrived, 0 if the bound ran out."""
    r = tl.arange(0, NP)
    m = r < n
    v = tl.where(m, load_acquire(flags_ptr, r, m, POLL), target)
    spins = 0
    while (tl.min(v, 0) < target) & (spins < limit):
        v = tl.where(m, load_acquire(flags_ptr, r, m, POLL), target)
        spins += 1
    tl.debug_barrier()  # the acquiring lanes' view reaches every thread before h_t is read
    return (tl.min(v, 0) >= target).to(tl.int32)


@triton.jit
def counter_arrive_wait(cnt_ptr, target, limit, RELEASE_ONLY: tl.constexpr, POLL: tl.constexpr):
    """The counter barrier: one arrival, then polls until the count reaches `target`.
    RELEASE_ONLY: a release add whose result is unused, then acquire polls (else today's
    acq_rel add whose result is the first poll, then acquire read-modify-write polls)."""
    tl.debug_barrier()
    if RELEASE_ONLY:
        tl.atomic_add(cnt_ptr, 1, sem="release", scope="gpu")
        cnt = tl.min(load_acquire(cnt_ptr, tl.arange(0, 1), tl.arange(0, 1) < 1, POLL), 0)
    else:
        cnt = tl.atomic_add(cnt_ptr, 1, sem="acq_rel", scope="gpu") + 1
    spins = 0
    while (cnt < target) & (spins < limit):
        if RELEASE_ONLY:
            cnt = tl.min(load_acquire(cnt_ptr, tl.arange(0, 1), tl.arange(0, 1) < 1, POLL), 0)
        else:
            cnt = tl.atomic_add(cnt_ptr, 0, sem="acquire", scope="gpu")
        spins += 1
    tl.debug_barrier()
    return (cnt >= target).to(tl.int32)


@triton.jit
def sync_bench_kernel(flags_ptr, data_ptr, out_ptr, T, n, spin_limit,
                      SCHEME: tl.constexpr, NP: tl.constexpr, W: tl.constexpr, POLL: tl.constexpr):
    """T steps of: store W words (value t+1) into this program's slot of buffer t % 2, sync
    all n programs, read word 0 of every program's slot. out[pid] = stale reads (any value
    but t+1), out[n + pid] = bounded waits that ran out. flags: n + 1 zeroed int32."""
    pid = tl.program_id(0)
    r = tl.arange(0, NP)
    stale = 0
    late = 0
    for t in range(T):
        buf = data_ptr + (t % 2) * n * W  # two buffers: a fast program's next write cannot race a slow reader
        tl.store(buf + pid * W + tl.arange(0, W), tl.full((W,), 1, tl.int32) * (t + 1))
        if SCHEME == 0:
            late += 1 - counter_arrive_wait(flags_ptr + n, (t + 1) * n, spin_limit, False, POLL)
        elif SCHEME == 1:
            late += 1 - counter_arrive_wait(flags_ptr + n, (t + 1) * n, spin_limit, True, POLL)
        elif SCHEME == 2:
            publish(flags_ptr + pid, t + 1)
            late += 1 - wait_for_producers(flags_ptr, n, t + 1, spin_limit, NP, POLL)
        seen = tl.load(buf + r * W, mask=r < n, other=0, cache_modifier=".cg")
        stale += tl.sum(((seen != t + 1) & (r < n)).to(tl.int32), 0)
    tl.store(out_ptr + pid, stale)
    tl.store(out_ptr + n + pid, late)


def flag_buffer(n_producers, device):
    """Zeroed int32 flags for one launch: one per producer, plus one status word."""
    return torch.zeros(n_producers + 1, dtype=torch.int32, device=device)
