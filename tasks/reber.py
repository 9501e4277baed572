"""The embedded Reber grammar (Cleeremans et al. 1989; Hochreiter & Schmidhuber 1997) and its
continual form (Gers, Schmidhuber & Cummins 2000), the task that motivated the forget gate.

An embedded Reber string is B, then T or P (the "letter"), then an inner Reber string
(B, a path through Reber's grammar, E), then the same letter again, then E. The inner grammar,
each state's two edges taken with probability 1/2:

    state 1:  T -> 2   P -> 3        state 4:  X -> 3   S -> 6
    state 2:  S -> 2   X -> 4        state 5:  P -> 4   V -> 6
    state 3:  T -> 3   V -> 5        state 6:  E (the inner string ends)

The task is next-symbol prediction (cross-entropy on the actual next symbol). Everything is
local except the second letter, which must match the one a whole inner string earlier.
Symbols: 0 B, 1 T, 2 P, 3 S, 4 X, 5 V, 6 E, 7 pad. Worked example, one string (T=14):

    t        0  1  2  3  4  5  6  7  8  9 10 11 12 13
    input    B  P  B  T  X  X  V  V  E  P  E  .  .  .
    target   P  B  T  X  X  V  V  E  P  E  .  .  .  .      (. = not scored)
    legal   TP  B TP SX XS TV PV  E  P  E
    mask     .  .  .  .  .  .  .  .  x  .  .  .  .  .      (the letter to remember)

`task.continual=false`: each row is one string, right-padded to `task.length` (longer strings
are redrawn); the state starts at zero for every string. `task.continual=true`: strings follow
each other in one stream that never resets. Row r of every batch is stream r, and the batch of
step k is symbols [k*T, (k+1)*T) of it (T = `task.length`), so the training loop, which carries
the state across batches for a stateful task (detached: truncated backpropagation through time
with a window of T steps), feeds each stream without a break. The test is one stream of
`task.test_length` symbols from the test seeds, fed in one piece from a zero state.

How step k continues step k-1 while staying a pure function of (seed, step): each stream is cut
into blocks of BLOCK symbols, block j drawn from the generator of (seed, j), and every block
holds whole strings that fill it exactly (the string that would cross the block's end is
replaced by one of exactly the length left, T S..S X S or P T..T V V inside: one string in
about 340). A batch slices the one or two blocks it needs; recent blocks are memoised.

Scores (on the test set): the metric `string_acc`, the fraction of complete strings in which
every prediction is right, and as extra metrics `tp_acc`, the fraction of strings whose
second-to-last symbol (the letter) is predicted (argmax), and `symbol_acc`, the fraction of
steps whose legal next symbols are exactly the top-k predictions (k = how many are legal).
A model that knows the inner grammar but forgets the letter scores 1/2, 1/2 and
1 - 1/(2 * 12) (continual; 1 - 1/(2 * 11) otherwise: an embedded string is 12 symbols long on
average, 6 of them the inner path, and a lone string predicts one symbol fewer). Its
cross-entropy, the baseline, is ln 2 per coin flip: (1 + 6 + 1) ln 2 per string, over 12
predicted symbols (continual) or 11 (one string per row).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from lstm_bench.errors import require
from tasks import TEST, TRAIN, Batch, Task, generator

SYMBOLS = "BTPSXVE"
SB, ST, SP, SS, SX, SV, SE = range(7)
PAD = 7
N_SYMBOLS = 7
INNER = {1: ((ST, 2), (SP, 3)), 2: ((SS, 2), (SX, 4)), 3: ((ST, 3), (SV, 5)), 4: ((SX, 3), (SS, 6)),
         5: ((SP, 4), (SV, 6))}
END = 6
# Where in an embedded string a symbol leaves the reader, as a code per step (-1: padding):
AFTER_B, AFTER_LETTER = 0, 1  # next: T or P; then B
INNER_OFFSET = 1  # inner state s (1..6) -> code s + 1; code 2 is right after the inner B
AFTER_INNER_E = 8  # 8: the letter was T, 9: it was P; next: that letter again
AFTER_LETTER2, AFTER_E = 10, 11  # next: E; then the B of the next string
N_CODES = 12
MEAN_LENGTH = 12  # of an embedded string: 6 inner path symbols (expected) + 6 around them
MIN_LENGTH = 9  # B T B T X S E T E
BLOCK = 4096  # symbols per stream block


def legal_table() -> torch.Tensor:
    """(N_CODES, 7) bool: the legal next symbols after each code."""
    legal = torch.zeros(N_CODES, N_SYMBOLS, dtype=torch.bool)
    legal[AFTER_B, [ST, SP]] = True
    legal[AFTER_LETTER, SB] = True
    for s, edges in INNER.items():
        legal[s + INNER_OFFSET, [sym for sym, _ in edges]] = True
    legal[END + INNER_OFFSET, SE] = True
    legal[AFTER_INNER_E, ST] = True
    legal[AFTER_INNER_E + 1, SP] = True
    legal[AFTER_LETTER2, SE] = True
    legal[AFTER_E, SB] = True
    return legal


LEGAL = legal_table()
# one inner step as flat tables indexed by 2*state + coin (END stays END and emits PAD)
_EMIT = torch.full((2 * (END + 1),), PAD, dtype=torch.long)
_NEXT = torch.full((2 * (END + 1),), END, dtype=torch.long)
_CODE = torch.full((2 * (END + 1),), -1, dtype=torch.long)
for _s, _edges in INNER.items():
    for _c, (_sym, _nxt) in enumerate(_edges):
        _EMIT[2 * _s + _c], _NEXT[2 * _s + _c], _CODE[2 * _s + _c] = _sym, _nxt, _nxt + INNER_OFFSET


def assemble(letter: torch.Tensor, path: torch.Tensor, path_code: torch.Tensor, m: torch.Tensor):
    """Wrap inner paths (n, M) (PAD past each length m) in B letter B ... E letter E.
    Returns symbols and codes (n, M + 6), padded with PAD and -1, and the lengths m + 6."""
    n, M = path.shape
    dev = path.device
    sym = torch.full((n, M + 6), PAD, dtype=torch.long, device=dev)
    code = torch.full((n, M + 6), -1, dtype=torch.long, device=dev)
    sym[:, 0], sym[:, 1], sym[:, 2] = SB, letter, SB
    code[:, 0], code[:, 1], code[:, 2] = AFTER_B, AFTER_LETTER, 1 + INNER_OFFSET
    sym[:, 3 : 3 + M], code[:, 3 : 3 + M] = path, path_code
    at = (3 + m).unsqueeze(1) + torch.arange(3, device=dev)  # (n, 3): E letter E after the path
    sym.scatter_(1, at, torch.stack([torch.full_like(letter, SE), letter, torch.full_like(letter, SE)], 1))
    after_e = AFTER_INNER_E + (letter == SP).long()
    code.scatter_(1, at, torch.stack([after_e, torch.full_like(letter, AFTER_LETTER2),
                                      torch.full_like(letter, AFTER_E)], 1))
    return sym, code, m + 6


def sample_strings(n: int, g: torch.Generator, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """n embedded Reber strings: symbols and codes (n, W) and lengths (n,). The inner paths are
    walked all at once, one step per iteration, until the longest has ended."""
    emit, nxt, code_of = _EMIT.to(device), _NEXT.to(device), _CODE.to(device)
    letter = torch.where(torch.randint(0, 2, (n,), generator=g, device=device) == 0, ST, SP)
    state = torch.ones(n, dtype=torch.long, device=device)
    path, path_code = [], []
    while bool((state != END).any()):
        i = 2 * state + torch.randint(0, 2, (n,), generator=g, device=device)
        path.append(emit[i])
        path_code.append(code_of[i])
        state = nxt[i]
    path, path_code = torch.stack(path, 1), torch.stack(path_code, 1)
    return assemble(letter, path, path_code, (path != PAD).sum(1))


def forced_strings(length: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One legal string of exactly each length (n,) >= MIN_LENGTH: inner path T S..S X S or
    P T..T V V, the route and the letter drawn at random."""
    n, dev = length.shape[0], length.device
    letter = torch.where(torch.randint(0, 2, (n,), generator=g, device=dev) == 0, ST, SP)
    route = torch.randint(0, 2, (n, 1), generator=g, device=dev)
    m = (length - 6).unsqueeze(1)  # (n, 1) path lengths, >= 3
    j = torch.arange(int(m.max()), device=dev)
    # route 0: T (to 2), S... (stay in 2), X (to 4), S (to 6); route 1: P (3), T... (3), V (5), V (6)
    first, loop, third, last = torch.where(route == 0, torch.tensor([[ST, SS, SX, SS]], device=dev),
                                           torch.tensor([[SP, ST, SV, SV]], device=dev)).unbind(1)
    c_loop, c_third = torch.where(route == 0, 2, 3), torch.where(route == 0, 4, 5)
    path = torch.where(j < m - 2, loop.unsqueeze(1), PAD)
    path = torch.where(j == 0, first.unsqueeze(1), path)
    path = torch.where(j == m - 2, third.unsqueeze(1), path)
    path = torch.where(j == m - 1, last.unsqueeze(1), path)
    code = torch.where(j < m - 2, c_loop, -1)
    code = torch.where(j == m - 2, c_third, code)
    code = torch.where(j == m - 1, END, code)
    code = torch.where(code >= 0, code + INNER_OFFSET, -1)
    return assemble(letter, path, code, m.squeeze(1))


@functools.lru_cache(maxsize=8)
def stream_block(seed: int, split: str, block: int, rows: int, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Block `block` of `rows` parallel streams: symbols and codes (rows, BLOCK), uint8, whole
    strings only. Pure (memoised); the generator is that of (seed, block)."""
    g = generator(seed, block, split, torch.device(device))
    K = BLOCK // MIN_LENGTH + 16  # strings per row: far more than the ~BLOCK/12 that fit
    sym, code, lens = sample_strings(rows * K, g, device)
    sym, code, lens = sym.view(rows, K, -1), code.view(rows, K, -1), lens.view(rows, K)
    # K strings of >= MIN_LENGTH symbols always overfill a block: some string crosses its end
    ends = lens.cumsum(1)
    starts = ends - lens
    # (rows,) the first string after which less than a string's room is left: kept if it ends
    # the block exactly, else replaced by one of exactly the length left (>= MIN_LENGTH)
    cross = (ends > BLOCK - MIN_LENGTH).long().argmax(1)
    exact = ends.gather(1, cross.unsqueeze(1)).squeeze(1) == BLOCK
    keep = torch.arange(K, device=device) < (cross + exact.long()).unsqueeze(1)  # (rows, K)

    # scatter every kept symbol to row * BLOCK + its position; the rest to a spare last slot
    out_sym = torch.full((rows * BLOCK + 1,), PAD, dtype=torch.long, device=device)
    out_code = torch.full((rows * BLOCK + 1,), -1, dtype=torch.long, device=device)
    row0 = torch.arange(rows, device=device) * BLOCK

    def put(sym, code, start, lens, keep):  # (..., W) strings starting at `start` (...)
        W = sym.shape[-1]
        j = torch.arange(W, device=device)
        where = (row0.view(-1, *[1] * (start.dim() - 1)) + start).unsqueeze(-1) + j
        where = torch.where((j < lens.unsqueeze(-1)) & keep.unsqueeze(-1), where, rows * BLOCK)
        out_sym.scatter_(0, where.flatten(), sym.flatten())
        out_code.scatter_(0, where.flatten(), code.flatten())

    put(sym, code, starts, lens, keep)
    # the rest of each row: one string of exactly the length left (drawn for every row, used where needed)
    start = starts.gather(1, cross.unsqueeze(1)).squeeze(1)
    f_sym, f_code, f_len = forced_strings(torch.where(exact, MIN_LENGTH, BLOCK - start), g)
    put(f_sym, f_code, start, f_len, ~exact)
    return out_sym[:-1].view(rows, BLOCK).to(torch.uint8), out_code[:-1].view(rows, BLOCK).to(torch.uint8)


def stream(seed: int, split: str, rows: int, start: int, n: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Symbols and codes [start, start + n) of `rows` parallel streams, (rows, n) long."""
    first, last = start // BLOCK, (start + n - 1) // BLOCK
    parts = [stream_block(seed, split, j, rows, str(torch.device(device))) for j in range(first, last + 1)]
    lo = start - first * BLOCK
    sym = torch.cat([p[0] for p in parts], 1)[:, lo : lo + n].long()
    code = torch.cat([p[1] for p in parts], 1)[:, lo : lo + n].long()
    return sym, code


@dataclass
class ReberBatch(Batch):
    grammar: torch.Tensor | None = None  # (B, T) long: the code of where each input symbol leaves the reader


def make_sequences(sym: torch.Tensor, code: torch.Tensor, lens: torch.Tensor, length: int) -> ReberBatch:
    """One string per row: symbols and codes (B, W), string b lens[b] <= length long, laid out
    as inputs, next-symbol targets (-100: none) and the letter's mask, right-padded to `length`.
    Pure and deterministic."""
    sym = F.pad(sym, (0, length + 1 - sym.shape[1]), value=PAD)[:, : length + 1]
    code = F.pad(code, (0, length - code.shape[1]), value=-1)[:, :length]
    t = torch.arange(length, device=sym.device)
    y = torch.where(t < (lens - 1).unsqueeze(1), sym[:, 1:], -100)  # no target after the last E
    return make_stream(sym[:, :-1], y, code)


def make_stream(x: torch.Tensor, y: torch.Tensor, code: torch.Tensor) -> ReberBatch:
    """A batch from inputs, targets and the inputs' codes; the mask marks where the letter is due."""
    mask = (code == AFTER_INNER_E) | (code == AFTER_INNER_E + 1)
    return ReberBatch(x, y, mask, grammar=code)


def parse(text: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Symbols and codes (len,) of embedded Reber strings written out ("BPBTXXVVEPE..."), read
    through the grammar; raises ValueError at the first illegal symbol. For examples and tests."""
    syms = [SYMBOLS.index(ch) for ch in text]
    codes, where, letter = [], AFTER_E, None
    for i, s in enumerate(syms):
        if not LEGAL[where, s]:
            raise ValueError(f"{text!r}: {SYMBOLS[s]} at {i} breaks the grammar")
        if where == AFTER_E:
            where = AFTER_B
        elif where == AFTER_B:
            where, letter = AFTER_LETTER, s
        elif where == AFTER_LETTER:
            where = 1 + INNER_OFFSET
        elif where == END + INNER_OFFSET:
            where = AFTER_INNER_E + (letter == SP)
        elif where in (AFTER_INNER_E, AFTER_INNER_E + 1):
            where = AFTER_LETTER2
        elif where == AFTER_LETTER2:
            where = AFTER_E
        else:
            state = where - INNER_OFFSET
            where = dict(INNER[state])[s] + INNER_OFFSET
        codes.append(where)
    return torch.tensor(syms), torch.tensor(codes)


class Reber(Task):
    name = "reber"
    vocab_size = N_SYMBOLS + 1  # the symbols and the pad
    n_out = N_SYMBOLS
    readout = "all"
    metric_name = "string_acc"

    def __init__(self, length: int = 50, continual: bool = False, test_length: int = 100_000,
                 threshold: float = 0.99):
        require(isinstance(continual, bool), "task.continual", continual, "true or false")
        if continual:
            require(isinstance(length, int) and length >= 1, "task.length", length,
                    "a positive integer (symbols per row per batch: the truncated-BPTT window)")
        else:
            require(isinstance(length, int) and length >= MIN_LENGTH, "task.length", length,
                    f"an integer >= {MIN_LENGTH} (one string per row; the shortest has {MIN_LENGTH} symbols)")
        require(isinstance(test_length, int) and test_length >= MIN_LENGTH, "task.test_length", test_length,
                f"an integer >= {MIN_LENGTH} (the continual test stream's symbols)")
        require(0 < threshold <= 1, "task.threshold", threshold, "a fraction of strings in (0, 1]")
        self.length, self.continual, self.test_length, self.threshold = length, continual, test_length, threshold
        self.stateful = continual
        per_string = MEAN_LENGTH if continual else MEAN_LENGTH - 1  # predicted symbols per string
        self.baseline_loss = (1 + 6 + 1) * math.log(2) / per_string
        self.baseline_symbol_acc = 1 - 0.5 / per_string  # knows the inner grammar, forgets the letter
        self.baseline_tp_acc = 0.5

    @property
    def chrono_tmax(self) -> float:
        """The horizon T_max for the LSTM's chrono init: the row, the span the gradient sees."""
        return max(self.length, 3)

    def batch(self, batch_size: int, seed: int, step: int, device="cpu", split: str = TRAIN) -> ReberBatch:
        if self.continual:
            sym, code = stream(seed, split, batch_size, step * self.length, self.length + 1, device)
            return make_stream(sym[:, :-1], sym[:, 1:], code[:, :-1])
        g = generator(seed, step, split, device)
        sym, code, lens = sample_strings(batch_size, g, device)
        while True:  # redraw the strings that do not fit in a row
            long_ = (lens > self.length).nonzero().squeeze(1)
            if len(long_) == 0:
                break
            s2, c2, l2 = sample_strings(len(long_), g, device)
            W = max(sym.shape[1], s2.shape[1])
            sym, s2 = F.pad(sym, (0, W - sym.shape[1]), value=PAD), F.pad(s2, (0, W - s2.shape[1]), value=PAD)
            code, c2 = F.pad(code, (0, W - code.shape[1]), value=-1), F.pad(c2, (0, W - c2.shape[1]), value=-1)
            sym[long_], code[long_], lens[long_] = s2, c2, l2
        return make_sequences(sym, code, lens, self.length)

    def test_batch(self, batch_size: int, seed: int, device="cpu") -> ReberBatch:
        if not self.continual:
            return self.batch(batch_size, seed, 0, device, split=TEST)
        sym, code = stream(seed, TEST, 1, 0, self.test_length + 1, device)  # one stream, whatever batch_size says
        return make_stream(sym[:, :-1], sym[:, 1:], code[:, :-1])

    def loss(self, out: torch.Tensor, batch: Batch) -> torch.Tensor:
        return F.cross_entropy(out.flatten(0, 1), batch.y.flatten(), ignore_index=-100)  # out: (B, T, 7)

    def dependency_loss(self, out: torch.Tensor, batch: Batch) -> torch.Tensor:
        return F.cross_entropy(out[batch.mask], batch.y[batch.mask])

    def legal_ok(self, out: torch.Tensor, batch: ReberBatch) -> torch.Tensor:
        """(B, T) bool: the legal next symbols are exactly the top-k outputs (k = how many are legal)."""
        legal = LEGAL.to(out.device)[batch.grammar.clamp(min=0)]  # (B, T, 7)
        lowest_legal = out.masked_fill(~legal, math.inf).amin(-1)
        highest_other = out.masked_fill(legal, -math.inf).amax(-1)
        return lowest_legal > highest_other

    def scores(self, out: torch.Tensor, batch: ReberBatch) -> dict[str, float]:
        valid = batch.y >= 0
        ok = self.legal_ok(out, batch)
        code = batch.grammar
        Bsz, L = code.shape
        sid = (code == AFTER_B).long().cumsum(1) - 1  # the string each step belongs to; -1: cut off at the start
        inside = sid >= 0
        gid = (torch.arange(Bsz, device=code.device).unsqueeze(1) * L + sid)[inside]
        errors = torch.zeros(Bsz * L, device=out.device).index_add_(0, gid, (valid & ~ok)[inside].float())
        complete = torch.zeros(Bsz * L, device=out.device).index_add_(0, gid, (code == AFTER_E)[inside].float()) > 0
        tp = out[batch.mask].argmax(-1) == batch.y[batch.mask]
        return {"string_acc": (errors[complete] == 0).float().mean().item(),
                "tp_acc": tp.float().mean().item(),
                "symbol_acc": ok[valid].float().mean().item()}

    def metric(self, out: torch.Tensor, batch: Batch) -> float:
        return self.scores(out, batch)["string_acc"]

    def extra_metrics(self, out: torch.Tensor, batch: Batch) -> dict[str, float]:
        s = self.scores(out, batch)
        return {"tp_acc": s["tp_acc"], "symbol_acc": s["symbol_acc"]}

    def solved(self, metric: float) -> bool:
        return metric >= self.threshold
