"""The embedded Reber grammar for the Reber task (tasks/reber.py): its symbols, where a reader
stands after each one, the legal next symbols there, and random strings.

An embedded Reber string is B, then T or P (the "letter"), then an inner Reber string
(B, a path through Reber's grammar, E), then the same letter again, then E. The inner grammar,
each state's two edges taken with probability 1/2:

    state 1:  T -> 2   P -> 3        state 4:  X -> 3   S -> 6
    state 2:  S -> 2   X -> 4        state 5:  P -> 4   V -> 6
    state 3:  T -> 3   V -> 5        state 6:  E (the inner string ends)

A reader of embedded strings is, after each symbol, in one of the `ReaderState`s, and that state
alone fixes the legal next symbols (`LEGAL`): every next symbol is local, except the second
letter, which repeats the one a whole inner string earlier (states T_DUE and P_DUE).
"""
from __future__ import annotations

from enum import IntEnum

import torch


class Symbol(IntEnum):
    """The model's input tokens; every one but PAD is also a target class."""

    B = 0  # begins a string, and its inner string
    T = 1
    P = 2
    S = 3
    X = 4
    V = 5
    E = 6  # ends the inner string, and the string
    PAD = 7  # fills a row after its string (one string per row); never a target


SYMBOLS = "".join(s.name for s in Symbol if s != Symbol.PAD)  # "BTPSXVE": symbol i as a letter
N_SYMBOLS = len(SYMBOLS)


class ReaderState(IntEnum):
    """Where a reader of embedded strings stands after a symbol, which fixes the legal next ones."""

    AFTER_B = 0  # the string's first B: next the letter, T or P
    AFTER_LETTER = 1  # next the inner string's B
    INNER_1 = 2  # INNER_s: in state s of the inner grammar (INNER_1: right after the inner B)
    INNER_2 = 3
    INNER_3 = 4
    INNER_4 = 5
    INNER_5 = 6
    INNER_6 = 7  # the inner path is done: next its E
    T_DUE = 8  # after the inner E, the letter was T: next T again
    P_DUE = 9  # ... or P: P_DUE = T_DUE + 1, so T_DUE + (letter == P) is the due one
    AFTER_SECOND_LETTER = 10  # next E
    AFTER_E = 11  # the string's last E: next the B of another string


INNER_OFFSET = ReaderState.INNER_1 - 1  # inner state s (1..6) is ReaderState s + INNER_OFFSET
# the inner grammar: state -> its two edges (symbol, next state), as in the table above
INNER = {1: ((Symbol.T, 2), (Symbol.P, 3)), 2: ((Symbol.S, 2), (Symbol.X, 4)), 3: ((Symbol.T, 3), (Symbol.V, 5)),
         4: ((Symbol.X, 3), (Symbol.S, 6)), 5: ((Symbol.P, 4), (Symbol.V, 6))}
END = 6  # the inner state where the inner path is done
MEAN_LENGTH = 12  # of an embedded string: 6 inner path symbols (expected) + 6 around them
MIN_LENGTH = 9  # B T B T X S E T E


def legal_table() -> torch.Tensor:
    """(len(ReaderState), N_SYMBOLS) bool: the legal next symbols in each reader state."""
    legal = torch.zeros(len(ReaderState), N_SYMBOLS, dtype=torch.bool)
    legal[ReaderState.AFTER_B, [Symbol.T, Symbol.P]] = True
    legal[ReaderState.AFTER_LETTER, Symbol.B] = True
    for s, edges in INNER.items():
        legal[s + INNER_OFFSET, [sym for sym, _ in edges]] = True
    legal[ReaderState.INNER_6, Symbol.E] = True
    legal[ReaderState.T_DUE, Symbol.T] = True
    legal[ReaderState.P_DUE, Symbol.P] = True
    legal[ReaderState.AFTER_SECOND_LETTER, Symbol.E] = True
    legal[ReaderState.AFTER_E, Symbol.B] = True
    return legal


LEGAL = legal_table()
# one inner step as flat tables indexed by 2*state + coin (END stays END and emits PAD)
_EMIT = torch.full((2 * (END + 1),), Symbol.PAD, dtype=torch.long)
_NEXT = torch.full((2 * (END + 1),), END, dtype=torch.long)
_READER = torch.full((2 * (END + 1),), -1, dtype=torch.long)
for _s, _edges in INNER.items():
    for _c, (_sym, _nxt) in enumerate(_edges):
        _EMIT[2 * _s + _c], _NEXT[2 * _s + _c], _READER[2 * _s + _c] = _sym, _nxt, _nxt + INNER_OFFSET


def assemble(letter: torch.Tensor, path: torch.Tensor, path_reader: torch.Tensor, m: torch.Tensor):
    """Wrap inner paths (n, M) (PAD past each length m) in B letter B ... E letter E.
    Returns symbols and reader states (n, M + 6), padded with PAD and -1, and the lengths m + 6."""
    n, M = path.shape
    dev = path.device
    sym = torch.full((n, M + 6), Symbol.PAD, dtype=torch.long, device=dev)
    reader = torch.full((n, M + 6), -1, dtype=torch.long, device=dev)
    sym[:, 0], sym[:, 1], sym[:, 2] = Symbol.B, letter, Symbol.B
    reader[:, 0], reader[:, 1], reader[:, 2] = ReaderState.AFTER_B, ReaderState.AFTER_LETTER, ReaderState.INNER_1
    sym[:, 3 : 3 + M], reader[:, 3 : 3 + M] = path, path_reader
    at = (3 + m).unsqueeze(1) + torch.arange(3, device=dev)  # (n, 3): E letter E after the path
    e = torch.full_like(letter, Symbol.E)
    sym.scatter_(1, at, torch.stack([e, letter, e], 1))
    due = ReaderState.T_DUE + (letter == Symbol.P).long()
    reader.scatter_(1, at, torch.stack([due, torch.full_like(letter, ReaderState.AFTER_SECOND_LETTER),
                                        torch.full_like(letter, ReaderState.AFTER_E)], 1))
    return sym, reader, m + 6


def sample_strings(n: int, g: torch.Generator, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """n embedded Reber strings: symbols and reader states (n, W) and lengths (n,). The inner
    paths are walked all at once, one step per iteration, until the longest has ended."""
    emit, nxt, reader_of = _EMIT.to(device), _NEXT.to(device), _READER.to(device)
    letter = torch.where(torch.randint(0, 2, (n,), generator=g, device=device) == 0, Symbol.T, Symbol.P)
    state = torch.ones(n, dtype=torch.long, device=device)
    path, path_reader = [], []
    while bool((state != END).any()):
        i = 2 * state + torch.randint(0, 2, (n,), generator=g, device=device)
        path.append(emit[i])
        path_reader.append(reader_of[i])
        state = nxt[i]
    path, path_reader = torch.stack(path, 1), torch.stack(path_reader, 1)
    return assemble(letter, path, path_reader, (path != Symbol.PAD).sum(1))


def parse(text: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Symbols and reader states (len,) of embedded Reber strings written out ("BPBTXXVVEPE..."),
    read through the grammar; raises ValueError at the first illegal symbol. For examples and tests."""
    syms = [SYMBOLS.index(ch) for ch in text]
    states, where, letter = [], ReaderState.AFTER_E, None
    for i, s in enumerate(syms):
        if not LEGAL[where, s]:
            raise ValueError(f"{text!r}: {SYMBOLS[s]} at {i} breaks the grammar")
        if where == ReaderState.AFTER_E:
            where = ReaderState.AFTER_B
        elif where == ReaderState.AFTER_B:
            where, letter = ReaderState.AFTER_LETTER, s
        elif where == ReaderState.AFTER_LETTER:
            where = ReaderState.INNER_1
        elif where == ReaderState.INNER_6:
            where = ReaderState.T_DUE if letter == Symbol.T else ReaderState.P_DUE
        elif where in (ReaderState.T_DUE, ReaderState.P_DUE):
            where = ReaderState.AFTER_SECOND_LETTER
        elif where == ReaderState.AFTER_SECOND_LETTER:
            where = ReaderState.AFTER_E
        else:
            where = ReaderState(dict(INNER[where - INNER_OFFSET])[s] + INNER_OFFSET)
        states.append(where)
    return torch.tensor(syms), torch.tensor(states)
