"""Persistent LSTM forward: the whole time loop inside one Triton launch, W_hh on chip.

The per-step path (fused.py) pays a GEMM and a kernel launch per step and re-reads W_hh
every step. Here each program loads its slice of W_hh once and loops over time itself.
A step is ONE dot: the four gates of a program's BLOCK_H units are the N = 4*BLOCK_H
columns of one operand, interleaved (column 4j + gate), gathered from nn.LSTM's W_hh by
the load index (no host-side permutation); the (BLOCK_B, N) result is split into i, f, g,
o by a reshape to (BLOCK_B, BLOCK_H, 2, 2) and two tl.split. Two layouts share the code:

* barrier-free (a program owns BLOCK_B = 16 batch rows and ALL of W_hh; h stays on chip):
  on a GPU when 4*HP*HP*bytes <= 128 KiB (HP = next power of two >= H: H <= 128 for
  fp16/bf16, H <= 64 for fp32); in the CPU interpreter for every H. K <= 128: a 2-D dot,
  Triton splits N over the warps (warpsPerCTA [1, num_warps]).
* grid barrier (GPU; 16 units, N = 64, per program): K = H is long and N short, so the
  dot is split over K: a rank-3 dot (S, BLOCK_B, KS) @ (S, KS, N), num_warps = S, then
  tl.sum over the slice axis. Triton puts every warp of a rank-3 dot on the batch axis
  (warpsPerCTA [S, 1, 1]): one K slice per warp, none repeats another's work. K is
  covered by slices of two power-of-two widths (H = 768, S = 8: 64 + 32 wide), not
  padded to the next power of two. After each step a program releases its step flag and
  waits for the flags of the programs that share its batch rows (sync.py: per-producer
  flags, acquire polls, no counter); it then re-reads h_t from global memory (.cg: L2).
  The next step's xW_ih tile is loaded before the wait (Triton does not pipeline a loop
  holding a spin); no wait after the last step.

The wait is only safe when every program is resident: the barrier layout is launched
cooperatively (`launch_cooperative_grid`: the driver refuses a grid that cannot be
co-resident) and is refused, with one line, by a triton that cannot launch so; grids
beyond the SM count are refused too. The spin is bounded (SPIN_LIMIT polls, each an L2
round trip: seconds, against microseconds for a healthy step). A program that gives up
sets the status word, never waits again and makes its c (hence h, out, h_T, c_T) NaN from
then on, so a void launch never passes for a result. The forward never syncs the host for
the status word: on the GPU it is copied back asynchronously and a later call (or
`check_persistent_status`) raises RuntimeError naming the shape and lstm_fused
(model.kernel=fused); on the CPU interpreter it is read at once. It raises rather than
falling back: another tenant on the GPU (MPS, a sanitizer, a persistent kernel) is worth
knowing of. The interpreter runs programs in turn, so there a multi-program wait always
times out: tests/test_kernels.py uses that for the time-out path and checks the barrier
step code with one program or T = 1; tests/test_kernel_sync.py runs the programs as
threads, with random skew, and checks the layout over several programs and steps.

Compiled figures (registers, shared memory, spills) are in kernels/NOTES.md.

Shapes outside these bounds raise ValueError (use `lstm_fused`). Forward only: with
gradients it also saves the activations (in place of the input projection) and the h / c
histories, and the backward is backward.py's `recurrent_backward`.
"""

from collections import namedtuple

import torch
import triton

from .backward import recurrent_backward
from .common import INTERPRETED, as_given, compute_dtype, input_projection, prepare
from .persistent_kernel import lstm_persistent_fwd_kernel
from .sync import POLL_LD_ACQUIRE, POLL_RMW, flag_buffer

W_ON_CHIP_BYTES = 128 * 1024  # per-program W_hh slice budget (H100: 227 KiB shared memory per SM)
H_TILE_ELEMS = 16 * 1024      # largest (BLOCK_B, K) h operand a program loads per step
SPIN_LIMIT = 1 << 22          # barrier polls before a program gives up on the others
W_SLICE_BYTES = 12 * 1024     # barrier layout: per-warp W slice that sets the K-split count


class PersistentConfig(namedtuple("PersistentConfig", "block_b block_h hp use_barrier num_warps")):
    """Unpacks as (BLOCK_B, BLOCK_H, HP, use_barrier, num_warps); also carries k_slices (S),
    ks1, ks2 (the K-slice widths), grid, n_programs, cooperative and gate_dots."""


def _k_split(H, S, use_barrier, HP):
    if not use_barrier:
        return HP // S, 0
    w = triton.cdiv(triton.cdiv(H, S), 16) * 16  # per-slice width, a multiple of the MMA's k
    ks1 = triton.next_power_of_2(w) // 2 if w & (w - 1) else w
    rest = w - ks1
    return ks1, (max(16, triton.next_power_of_2(rest)) if rest else 0)


def _cooperative_supported():
    from triton.backends.nvidia.compiler import CUDAOptions
    return "launch_cooperative_grid" in getattr(CUDAOptions, "__dataclass_fields__", {})


def persistent_config(B, H, dtype, device, block_b=None, block_h=None, *, barrier=None, k_slices=None,
                      gate_dots=None):
    """The persistent kernel's configuration for (B, H, dtype) on `device`, a PersistentConfig;
    ValueError when the kernel does not cover the shape. block_b, block_h, barrier and
    k_slices override the choice (tests: the barrier layout runs in the interpreter only
    with one program, with T = 1, or to time out)."""
    HP = max(16, triton.next_power_of_2(H))
    nbytes = torch.empty((), dtype=dtype).element_size()
    on_gpu = device.type == "cuda" and not INTERPRETED
    if block_h is None:
        block_h = HP if not on_gpu or 4 * HP * HP * nbytes <= W_ON_CHIP_BYTES else 16
    if block_h != HP and block_h not in (16, 32, 64):
        raise ValueError(f"block_h must be 16, 32, 64 or HP={HP}, got {block_h}")
    use_barrier = block_h < HP if barrier is None else bool(barrier)
    if block_h < HP and not use_barrier:
        raise ValueError(f"block_h={block_h} < HP={HP} splits the hidden units: needs the barrier")
    if k_slices is None:  # barrier layout: per-warp W slice <= W_SLICE_BYTES, 8 or 16 warps
        k_slices = 1
        if use_barrier:
            need = triton.next_power_of_2(triton.cdiv(H * 4 * block_h * nbytes, W_SLICE_BYTES))
            k_slices = max(1, min(16, max(8, need), triton.next_power_of_2(H // 16 + 1) // 2))
    S = k_slices
    if S & (S - 1) or (not use_barrier and HP // S < 16):
        raise ValueError(f"k_slices must be a power of two leaving K slices of >= 16, got {S} for HP={HP}")
    ks1, ks2 = _k_split(H, S, use_barrier, HP)
    kp = S * (ks1 + ks2)
    n_h = triton.cdiv(H, block_h)
    if on_gpu and kp * 4 * block_h * nbytes > W_ON_CHIP_BYTES:
        raise ValueError(f"persistent LSTM does not cover H={H} in {dtype}: each program's W_hh "
                         f"slice ({kp} x {4 * block_h}) exceeds {W_ON_CHIP_BYTES // 1024} KiB on chip")
    n_sm = torch.cuda.get_device_properties(device).multi_processor_count if on_gpu and use_barrier else 0
    if block_b is None:
        block_b = 16
        while n_sm and triton.cdiv(B, block_b) * n_h > n_sm and block_b < 64:
            block_b *= 2
    if on_gpu and block_b * kp > H_TILE_ELEMS:
        raise ValueError(f"persistent LSTM does not cover B={B}, H={H}: fitting the grid on the SMs "
                         f"needs {block_b} batch rows per program, and a ({block_b} x {kp}) h tile per "
                         f"step is more than {H_TILE_ELEMS} elements (registers would spill)")
    grid = (triton.cdiv(B, block_b), n_h)
    if on_gpu and use_barrier and not _cooperative_supported():
        raise ValueError(f"persistent LSTM's grid-barrier layout (H={H}, {dtype}) needs a cooperative launch, "
                         f"which triton {triton.__version__} does not offer: use lstm_fused (model.kernel=fused)")
    if n_sm and grid[0] * grid[1] > n_sm:
        raise ValueError(f"persistent LSTM does not cover B={B}, H={H}: the grid barrier needs "
                         f"all {grid[0] * grid[1]} programs resident at once, but the GPU has {n_sm} SMs")
    # barrier layout: one warp per K slice (a rank-3 dot puts every warp on the slice axis);
    # barrier-free: warps split the N = 4*HP columns, 32 or more each
    num_warps = (S if S > 1 else 4) if use_barrier else min(16, max(4, 4 * HP // 32))
    cfg = PersistentConfig(block_b, block_h, HP, use_barrier, num_warps)
    cfg.k_slices, cfg.ks1, cfg.ks2, cfg.grid, cfg.n_programs = S, ks1, ks2, grid, grid[0] * grid[1]
    cfg.cooperative = on_gpu and use_barrier
    # gate_dots: four per-gate dots instead of the merged one (barrier-free layout: each gate
    # alone spans the warps); off by default: more spills in the sm_90 compile
    cfg.gate_dots = bool(gate_dots)
    if cfg.gate_dots and ks2:
        raise ValueError("gate_dots needs K covered by one slice width")
    return cfg


def persistent_fits(B, H, dtype, device):
    """Whether `lstm_persistent` covers (B, H, dtype) on `device` with its default
    configuration (no launch: a cheap check for choosing a kernel)."""
    try:
        persistent_config(B, H, dtype, torch.device(device))
    except ValueError:
        return False
    return True


_PENDING = []  # (status copy in pinned memory, its event, what the launch was): checked later, never waited on


def _time_out_message(cfg, B, H, dtype):
    return (f"lstm_persistent: the grid barrier timed out for B={B}, H={H}, {dtype} ({cfg.n_programs} "
            f"programs): not all programs were resident at once (another tenant on the GPU: MPS, a "
            f"sanitizer, another persistent kernel?); its outputs are NaN. Use lstm_fused "
            f"(model.kernel=fused) for this run.")


def check_persistent_status(wait=False):
    """Raise RuntimeError if an earlier grid-barrier launch timed out. Launches whose status
    has not reached the host yet are left for a later check, unless `wait`."""
    done = [p for p in _PENDING if wait or p[1].query()]
    for p in done:
        _PENDING.remove(p)
    for status, event, what in done:
        if wait:
            event.synchronize()  # the others have completed: query() said so
        if int(status[0]):
            raise RuntimeError(what)


def _report_time_out(flags, cfg, B, H, dtype):
    if flags.device.type != "cuda":  # the interpreter: the launch has finished, reading costs nothing
        if int(flags[-1]):
            raise RuntimeError(_time_out_message(cfg, B, H, dtype))
        return
    check_persistent_status()  # earlier launches first
    if torch.cuda.is_current_stream_capturing():
        return  # inside the caller's graph: the NaN outputs are the report
    status = torch.empty(1, dtype=torch.int32, pin_memory=True)
    status.copy_(flags[-1:], non_blocking=True)
    event = torch.cuda.Event()
    event.record()
    _PENDING.append((status, event, _time_out_message(cfg, B, H, dtype)))


def launch_persistent(cfg, xw, w_hh, h0, c0, out, h_T, c_T, hs=None, cs=None, gates=None,
                      spin_limit=SPIN_LIMIT, sync=None, wait=True):
    """One launch of the kernel with configuration `cfg`. xw (T, B, 4H) input projection with
    biases and out (T, B, H), the h_t, are (T, B, .) views with any strides (a batch-first
    tensor's transpose is fine); h0, c0 in, h_T, c_T out: (B, H); hs / cs (T+1, B, H)
    histories or None; gates (xw's strides; xw itself is fine) or None; sync, if given, a
    zeroed (cfg.n_programs + 1,) int32 buffer (`sync.flag_buffer`) that receives each
    program's last step flag and the time-out word. wait=False skips every wait (a timing
    of everything but the sync; the outputs are void). Returns the compiled kernel (None in
    the interpreter). A grid-barrier time-out raises RuntimeError: at once in the
    interpreter, from a later call on the GPU (`check_persistent_status`), which this call
    never waits for.

    Example (the recurrence alone, what a benchmark times; the CPU interpreter)::

        >>> T, B, H = 5, 2, 8
        >>> cfg = persistent_config(B, H, torch.float32, torch.device("cpu"))
        >>> xw = torch.randn(T, B, 4 * H)                   # x W_ih^T + b_ih + b_hh
        >>> out, h_T, c_T = torch.empty(T, B, H), torch.empty(B, H), torch.empty(B, H)
        >>> _ = launch_persistent(cfg, xw, torch.randn(4 * H, H), torch.zeros(B, H),
        ...                       torch.zeros(B, H), out, h_T, c_T)
        >>> torch.equal(out[-1], h_T)
        True
    """
    T, B, H = out.shape
    if T >= 2 ** 31 - 1:
        raise ValueError(f"lstm_persistent: T={T} steps do not fit the int32 step flags")
    if gates is not None and gates.stride() != xw.stride():
        raise ValueError("gates must have xw's strides")
    if sync is None:
        sync = flag_buffer(cfg.n_programs, xw.device)
    elif sync.numel() != cfg.n_programs + 1 or sync.dtype != torch.int32:
        raise ValueError(f"sync must be {cfg.n_programs + 1} int32 words (sync.flag_buffer), "
                         f"got {sync.numel()} {sync.dtype}")
    opts = {"launch_cooperative_grid": True} if cfg.cooperative else {}
    k = lstm_persistent_fwd_kernel[cfg.grid](
        xw, xw.stride(0), xw.stride(1), w_hh, h0, c0, out, out.stride(0), out.stride(1), h_T, c_T,
        out if hs is None else hs, out if cs is None else cs, out if gates is None else gates,
        sync, T, B, H, spin_limit,
        BLOCK_B=cfg.block_b, BLOCK_H=cfg.block_h, S=cfg.k_slices, KS1=cfg.ks1, KS2=cfg.ks2,
        GATE_DOTS=cfg.gate_dots, USE_BARRIER=cfg.use_barrier, HIST=hs is not None, SAVE=gates is not None,
        IEEE=w_hh.dtype in (torch.float32, torch.float64), NP=max(2, triton.next_power_of_2(cfg.grid[1])),
        POLL=POLL_RMW if INTERPRETED else POLL_LD_ACQUIRE, WAIT=bool(wait), num_warps=cfg.num_warps, **opts)
    if cfg.use_barrier and wait:
        _report_time_out(sync, cfg, B, H, w_hh.dtype)
    return k


def lstm_persistent_fwd(xw, w_hh, hs, cs, gates=None, block_b=None, block_h=None, spin_limit=SPIN_LIMIT):
    """The recurrence alone over all T in one launch. xw (T, B, 4H) input projection with
    biases; w_hh (4H, H); hs (T+1, B, H) / cs (T+1, B, H) with h0 / c0 in slot 0, filled
    with h_t / c_t; gates (T, B, 4H), if given, receives the activations for backward.

    Example (the CPU interpreter)::

        >>> T, B, H = 5, 2, 8
        >>> hs, cs = torch.zeros(T + 1, B, H), torch.zeros(T + 1, B, H)   # h0 = c0 = 0
        >>> hs, cs = lstm_persistent_fwd(torch.randn(T, B, 4 * H), torch.randn(4 * H, H), hs, cs)
        >>> hs.shape
        torch.Size([6, 2, 8])
    """
    T, B, H4 = xw.shape
    cfg = persistent_config(B, H4 // 4, w_hh.dtype, xw.device, block_b, block_h)
    h0, c0 = hs[0].clone(), cs[0].clone()  # the kernel rewrites slot 0 from these
    launch_persistent(cfg, xw, w_hh, h0, c0, hs[1:], hs[T], cs[T], hs, cs, gates, spin_limit)
    return hs, cs


class LSTMPersistentFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, h0, c0, w_ih, w_hh, b_ih, b_hh, cfg, spin_limit):
        B, T, _ = x.shape
        H = w_hh.shape[1]
        save = any(ctx.needs_input_grad[:7])
        out = x.new_empty(B, T, H)
        h_T, c_T = x.new_empty(B, H), x.new_empty(B, H)
        if save:  # backward wants time-major x, activations and histories
            x_tm = x.transpose(0, 1).contiguous()                   # (T, B, I)
            xw = input_projection(x_tm, w_ih, b_ih, b_hh)            # (T, B, 4H); becomes the gates
            hs = x.new_empty(T + 1, B, H)
            cs = x.new_empty(T + 1, B, H, dtype=compute_dtype(x.dtype))
            launch_persistent(cfg, xw, w_hh, h0, c0, out.transpose(0, 1), h_T, c_T, hs, cs, xw, spin_limit)
            ctx.save_for_backward(x_tm, hs, cs, xw, w_ih, w_hh)
        else:  # (B, T, I) rows projected as they lie: no transpose copy, no histories
            xw = input_projection(x, w_ih, b_ih, b_hh)               # (B, T, 4H)
            launch_persistent(cfg, xw.transpose(0, 1), w_hh, h0, c0, out.transpose(0, 1), h_T, c_T,
                              spin_limit=spin_limit)
        return out, h_T, c_T

    @staticmethod
    def backward(ctx, dout, dh_T, dc_T):
        return (*recurrent_backward(ctx.saved_tensors, dout, dh_T, dc_T, ctx.needs_input_grad, None),
                None, None)


def lstm_persistent(x, state=None, w_ih=None, w_hh=None, b_ih=None, b_hh=None, *,
                    block_b=None, block_h=None, barrier=None, k_slices=None, gate_dots=None,
                    spin_limit=SPIN_LIMIT):
    """`lstm_fused`'s interface and result, with the forward recurrence in one persistent
    launch (see the module docstring for the shapes it covers; others raise ValueError).
    Backward is the per-step fused backward. The keyword options override the launch
    configuration (`persistent_config`) and the barrier's spin bound.

    Examples::

        >>> from kernels import lstm_persistent
        >>> lstm = torch.nn.LSTM(128, 128, batch_first=True, device="cuda", dtype=torch.float16)
        >>> x = torch.randn(64, 120, 128, device="cuda", dtype=torch.float16)
        >>> out, (h, c) = lstm_persistent(x, None, lstm.weight_ih_l0, lstm.weight_hh_l0,
        ...                               lstm.bias_ih_l0, lstm.bias_hh_l0)
        >>> out.shape
        torch.Size([64, 120, 128])
    """
    (x, h0, c0, w_ih, w_hh, b_ih, b_hh), three_d = prepare("lstm_persistent", x, state, w_ih, w_hh, b_ih, b_hh)
    # fail on uncovered shapes here, with the shape in the message, not inside autograd
    cfg = persistent_config(x.shape[0], w_hh.shape[1], x.dtype, x.device, block_b, block_h,
                            barrier=barrier, k_slices=k_slices, gate_dots=gate_dots)
    out, h_T, c_T = LSTMPersistentFunction.apply(x, h0, c0, w_ih, w_hh, b_ih, b_hh, cfg, spin_limit)
    return out, as_given(h_T, c_T, three_d)
