"""The continual Reber stream (task.continual=true of tasks/reber.py): embedded Reber strings back
to back in parallel streams that never reset, any window of them a pure function of the seed.

How the batch of step k continues that of step k-1 while each stays a pure function of
(seed, step): each stream is cut into blocks of BLOCK symbols, block j drawn from the generator
of (seed, j), and every block holds whole strings that fill it exactly. The string that would
cross the block's end is replaced by one of exactly the length left (`forced_strings`: T S..S X S
or P T..T V V inside): at most one string per block, about one in BLOCK / MEAN_LENGTH = 340,
is not drawn from the grammar's own distribution. A window slices the one or two blocks it needs;
recent blocks are memoised.
"""
from __future__ import annotations

import functools

import torch

from tasks import generator
from tasks.reber_grammar import END, INNER_OFFSET, MIN_LENGTH, ReaderState, Symbol, assemble, sample_strings

BLOCK = 4096  # symbols per stream block


def forced_strings(length: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One legal string of exactly each length (n,) >= MIN_LENGTH: inner path T S..S X S or
    P T..T V V, the route and the letter drawn at random. Symbols and reader states (n, W), lengths."""
    n, dev = length.shape[0], length.device
    letter = torch.where(torch.randint(0, 2, (n,), generator=g, device=dev) == 0, Symbol.T, Symbol.P)
    route = torch.randint(0, 2, (n, 1), generator=g, device=dev)
    m = (length - 6).unsqueeze(1)  # (n, 1) path lengths, >= 3
    j = torch.arange(int(m.max()), device=dev)
    # route 0: T (to 2), S... (stay in 2), X (to 4), S (to 6); route 1: P (3), T... (3), V (5), V (6)
    first, loop, third, last = torch.where(
        route == 0, torch.tensor([[Symbol.T, Symbol.S, Symbol.X, Symbol.S]], device=dev),
        torch.tensor([[Symbol.P, Symbol.T, Symbol.V, Symbol.V]], device=dev)).unbind(1)
    s_loop, s_third = torch.where(route == 0, 2, 3), torch.where(route == 0, 4, 5)  # inner states
    path = torch.where(j < m - 2, loop.unsqueeze(1), Symbol.PAD)
    path = torch.where(j == 0, first.unsqueeze(1), path)
    path = torch.where(j == m - 2, third.unsqueeze(1), path)
    path = torch.where(j == m - 1, last.unsqueeze(1), path)
    state = torch.where(j < m - 2, s_loop, -1)
    state = torch.where(j == m - 2, s_third, state)
    state = torch.where(j == m - 1, END, state)
    reader = torch.where(state >= 0, state + INNER_OFFSET, -1)
    return assemble(letter, path, reader, m.squeeze(1))


@functools.lru_cache(maxsize=8)
def stream_block(seed: int, split: str, block: int, rows: int, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Block `block` of `rows` parallel streams: symbols and reader states (rows, BLOCK), uint8,
    whole strings only. Pure (memoised); the generator is that of (seed, block)."""
    g = generator(seed, block, split, torch.device(device))
    K = BLOCK // MIN_LENGTH + 16  # strings per row: far more than the ~BLOCK/12 that fit
    sym, reader, lens = sample_strings(rows * K, g, device)
    sym, reader, lens = sym.view(rows, K, -1), reader.view(rows, K, -1), lens.view(rows, K)
    # K strings of >= MIN_LENGTH symbols always overfill a block: some string crosses its end
    ends = lens.cumsum(1)
    starts = ends - lens
    # (rows,) the first string after which less than a string's room is left: kept if it ends
    # the block exactly, else replaced by one of exactly the length left (>= MIN_LENGTH)
    cross = (ends > BLOCK - MIN_LENGTH).long().argmax(1)
    exact = ends.gather(1, cross.unsqueeze(1)).squeeze(1) == BLOCK
    keep = torch.arange(K, device=device) < (cross + exact.long()).unsqueeze(1)  # (rows, K)

    # scatter every kept symbol to row * BLOCK + its position; the rest to a spare last slot
    out_sym = torch.full((rows * BLOCK + 1,), Symbol.PAD, dtype=torch.long, device=device)
    out_reader = torch.full((rows * BLOCK + 1,), -1, dtype=torch.long, device=device)
    row0 = torch.arange(rows, device=device) * BLOCK

    def put(sym, reader, start, lens, keep):  # (..., W) strings starting at `start` (...)
        W = sym.shape[-1]
        j = torch.arange(W, device=device)
        where = (row0.view(-1, *[1] * (start.dim() - 1)) + start).unsqueeze(-1) + j
        where = torch.where((j < lens.unsqueeze(-1)) & keep.unsqueeze(-1), where, rows * BLOCK)
        out_sym.scatter_(0, where.flatten(), sym.flatten())
        out_reader.scatter_(0, where.flatten(), reader.flatten())

    put(sym, reader, starts, lens, keep)
    # the rest of each row: one string of exactly the length left (drawn for every row, used where needed)
    start = starts.gather(1, cross.unsqueeze(1)).squeeze(1)
    f_sym, f_reader, f_len = forced_strings(torch.where(exact, MIN_LENGTH, BLOCK - start), g)
    put(f_sym, f_reader, start, f_len, ~exact)
    return (out_sym[:-1].view(rows, BLOCK).to(torch.uint8),
            out_reader[:-1].view(rows, BLOCK).to(torch.uint8))


def stream(seed: int, split: str, rows: int, start: int, n: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Symbols and reader states [start, start + n) of `rows` parallel streams, (rows, n) long."""
    first, last = start // BLOCK, (start + n - 1) // BLOCK
    parts = [stream_block(seed, split, j, rows, str(torch.device(device))) for j in range(first, last + 1)]
    lo = start - first * BLOCK
    sym = torch.cat([p[0] for p in parts], 1)[:, lo : lo + n].long()
    reader = torch.cat([p[1] for p in parts], 1)[:, lo : lo + n].long()
    return sym, reader
