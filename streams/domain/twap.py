"""Time-weighted averages on event time: each value holds until the next one's timestamp.

Averages come from running integrals (value × ms summed from the first sample), so one costs
a binary search instead of a pass over the window. The integrals are kept exactly: their
arithmetic runs in a wide decimal context, and only the final division rounds.

The last average asked for is kept while its samples hold: a market asks for its 5-minute
TWAP before a tick's price is added and again after, over the same window.
"""

from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from decimal import Context, Decimal
from typing import Any

from streams.domain import ZERO

EXACT = Context(prec=80)


@dataclass(slots=True)
class Window:
    """An average as asked for: the integral it divides, and the quotient once taken."""

    start: int
    end: int
    since: int  # `start`, moved up to the first sample
    total: Decimal  # the integral over [since, end)
    quotient: Decimal | None = None

    def average(self) -> Decimal:
        """Return the total over the window's length, dividing only once."""
        if self.quotient is None:
            self.quotient = self.total / (self.end - self.since)
        return self.quotient

    def holds_after(self, ts: int, value: Decimal) -> bool:
        """Take in a sample at `ts` (≥ every other); return whether the window's average still holds.

        A sample right at `end` adds `value` × 0 to the integral there: the same number, though its
        exponent may grow, so the total takes it too and the quotient is taken again.
        """
        if ts == self.end:
            self.total = EXACT.add(self.total, EXACT.multiply(value, ZERO))
            self.quotient = None
        return ts >= self.end


class TimeWeighted:
    """A series of (ts ms, value) samples that answers time-weighted averages."""

    def __init__(self, horizon_ms: int | None = None) -> None:
        self.times: list[int] = []
        self.values: list[Decimal] = []
        self.integrals: list[Decimal] = []
        self.horizon_ms = horizon_ms
        self.last: Window | None = None

    def add(self, ts: int, value: Decimal) -> None:
        """Record `value` from `ts` on (samples arrive in event-time order; older ones are ignored)."""
        if not self.times:
            integral = ZERO
        elif ts < self.times[-1]:
            return
        else:
            integral = EXACT.add(self.integrals[-1], EXACT.multiply(self.values[-1], Decimal(ts - self.times[-1])))
        self.integrals.append(integral)
        self.times.append(ts)
        self.values.append(value)
        if self.last and not self.last.holds_after(ts, value):
            self.last = None
        if self.horizon_ms is not None:
            self.prune(ts - self.horizon_ms)

    def prune(self, before: int) -> None:
        """Drop samples no average from `before` on needs (keep the one current then)."""
        drop = bisect_right(self.times, before) - 1
        if drop > 0:
            del self.times[:drop], self.values[:drop], self.integrals[:drop]
            if self.last and self.times[0] > self.last.since:
                self.last = None

    def any_in(self, start: int, end: int) -> bool:
        """Return whether a sample falls in [start, end)."""
        i = bisect_left(self.times, start)
        return i < len(self.times) and self.times[i] < end

    def value_at(self, ts: int) -> Decimal | None:
        """Return the value current at `ts`, or None before the first sample."""
        i = bisect_right(self.times, ts) - 1
        return self.values[i] if i >= 0 else None

    def integral_at(self, ts: int) -> Decimal:
        """Return the integral of the series from its first sample up to `ts` (≥ first)."""
        i = bisect_right(self.times, ts) - 1
        return EXACT.add(self.integrals[i], EXACT.multiply(self.values[i], Decimal(ts - self.times[i])))

    def average(self, start: int, end: int) -> Decimal | None:
        """Return the time-weighted average over [start, end), or None with no value in it."""
        last = self.last
        if last and last.start == start and last.end == end:
            return last.average()
        if not self.times or self.times[0] >= end:
            return None
        since = max(start, self.times[0])
        if end <= since:
            return self.value_at(since)
        total = EXACT.subtract(self.integral_at(end), self.integral_at(since))
        self.last = Window(start, end, since, total)
        return self.last.average()

    def rows(self, start: int, end: int) -> list[list[Any]]:
        """Return samples `start` to `end` (exclusive, by position) as `[ts, value]` rows."""
        return [[t, str(v)] for t, v in zip(self.times[start:end], self.values[start:end])]

    def compacted(self, end: int | None) -> list[list[Any]]:
        """Return as `[ts, value, integral]` rows what an average up to `end` reads: the first sample, the one
        current at `end`, any later (each keeps its running integral, so none between is needed)."""
        if not self.times or end is None:
            return []
        current = max(bisect_right(self.times, end) - 1, 0)
        keep = sorted({0, *range(current, len(self.times))})
        return [[self.times[i], str(self.values[i]), str(self.integrals[i])] for i in keep]

    @classmethod
    def from_compacted(cls, rows: list[list[Any]]) -> "TimeWeighted":
        """Return a series holding `compacted` rows as they were."""
        series = cls()
        for ts, value, integral in rows:
            series.times.append(ts)
            series.values.append(Decimal(value))
            series.integrals.append(Decimal(integral))
        return series
