"""Time series stored in slices, so that a checkpoint rewrites a few small rows rather than a whole series.

A series (a TWAP's samples, a volatility's returns) grows at its end, where its last entry may change, and is
pruned at its head. Its entries go in rows of one `span` of time each, under `PREFIX@n`: a save rewrites the rows
from the newest it wrote last on and drops those wholly pruned; a load reads them back in order. The first row may
keep entries pruned since it was written: a reader drops what its series no longer holds.
"""

from bisect import bisect_left
from collections import defaultdict
from collections.abc import MutableMapping
from typing import Any, Callable, Iterator


class Slices:
    """The slices of the series kept in one table, each series under its own prefix."""

    def __init__(self, table: MutableMapping[str, Any], span: int) -> None:
        self.table, self.span = table, span
        self.stored: dict[str, set[int]] = defaultdict(set)  # prefix -> the numbers of its rows in the table
        self.newest: dict[str, int] = {}  # prefix -> the number of the newest row written

    def save(self, prefix: str, times: list[int], rows: Callable[[int, int], list[Any]]) -> None:
        """Write the rows of a series whose entries fall at `times` (ascending) that may have changed since the last
        save, `rows(start, end)` giving entries `start` to `end` (by position); drop the rows before its first."""
        stored, since = self.stored[prefix], self.newest.get(prefix)
        for n, start, end in slices(times, self.span):
            if since is None or n >= since:
                self.table[f"{prefix}@{n}"] = rows(start, end)
                stored.add(n)
        first = times[0] // self.span if times else None
        for old in sorted(n for n in stored if first is None or n < first):
            del self.table[f"{prefix}@{old}"]
            stored.discard(old)
        if times:
            self.newest[prefix] = times[-1] // self.span

    def load(self, prefix: str) -> list[Any]:
        """Return a series' stored entries in time order, noting which rows exist."""
        head = f"{prefix}@"
        numbers = sorted(int(key[len(head):]) for key in self.table
                         if key.startswith(head) and "@" not in key[len(head):])
        self.stored[prefix] = set(numbers)
        if numbers:
            self.newest[prefix] = numbers[-1]
        return [entry for n in numbers for entry in self.table[f"{head}{n}"]]


def slices(times: list[int], span: int) -> Iterator[tuple[int, int, int]]:
    """Yield each `span` of time that holds entries: its number and where its entries start and end."""
    start = 0
    while start < len(times):
        n = times[start] // span
        end = bisect_left(times, (n + 1) * span, start)
        yield n, start, end
        start = end
