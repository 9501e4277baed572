"""The frontier search on its own (no Hydra): the longest length a model solves.

Double from `start` while the probes are solved (up to `max_length`); after the first failure,
bisect between the longest length solved and the shortest failed until they are at most
`resolution` apart, or `rel_resolution` times the longest solved (0.25: within 25%), whichever
is wider. The answer is the longest length solved (None if none was). It assumes that solving
T means solving every shorter length; every probe is kept, so a violation shows.
"""
from __future__ import annotations


class LengthSearch:
    def __init__(self, start: int, resolution: int = 1, max_length: int = 1000, min_length: int = 1,
                 rel_resolution: float = 0.0):
        if not (1 <= min_length <= start <= max_length):
            raise ValueError(f"need 1 <= min_length ({min_length}) <= start ({start}) <= max_length ({max_length})")
        if resolution < 1:
            raise ValueError(f"resolution={resolution}: need a whole number of steps >= 1")
        if rel_resolution < 0:
            raise ValueError(f"rel_resolution={rel_resolution}: need a fraction >= 0")
        self.start, self.resolution, self.max_length, self.min_length = start, resolution, max_length, min_length
        self.rel_resolution = rel_resolution
        self.solved_max: int | None = None  # the longest length solved so far
        self.failed_min: int | None = None  # the shortest length failed so far
        self.probes: list[tuple[int, bool]] = []

    def next(self) -> int | None:
        """The next length to try, or None when the search is over."""
        lo, hi = self.solved_max, self.failed_min
        if lo is None and hi is None:
            return self.start
        if hi is None:  # everything solved so far: keep doubling
            return None if lo >= self.max_length else min(2 * lo, self.max_length)
        low = lo if lo is not None else self.min_length - 1
        if hi - low <= max(self.resolution, self.rel_resolution * low):
            return None
        return (low + hi) // 2

    def record(self, length: int, solved: bool) -> None:
        self.probes.append((length, bool(solved)))
        if solved:
            self.solved_max = length if self.solved_max is None else max(self.solved_max, length)
        else:
            self.failed_min = length if self.failed_min is None else min(self.failed_min, length)

    @property
    def done(self) -> bool:
        return self.next() is None

    @property
    def capped(self) -> bool:
        """Solved at max_length: the true frontier may lie beyond it."""
        return self.failed_min is None and self.solved_max is not None and self.solved_max >= self.max_length


def search(solved, start: int, resolution: int = 1, max_length: int = 1000, min_length: int = 1,
           rel_resolution: float = 0.0) -> LengthSearch:
    """Run a search to the end against a function length -> bool (for tests and quick use)."""
    s = LengthSearch(start, resolution, max_length, min_length, rel_resolution)
    while (T := s.next()) is not None:
        s.record(T, solved(T))
    return s
