"""Time-weighted averages on event time: each value holds until the next one's timestamp.

Averages come from running integrals (value × ms summed from the first sample), so one costs
a binary search instead of a pass over the window. The integrals are kept exactly: their
arithmetic runs in a wide decimal context, and only the final division rounds.
"""

from bisect import bisect_left, bisect_right
from decimal import Context, Decimal

EXACT = Context(prec=80)


class TimeWeighted:
    """A series of (ts ms, value) samples that answers time-weighted averages."""

    def __init__(self, horizon_ms: int | None = None) -> None:
        self.times: list[int] = []
        self.values: list[Decimal] = []
        self.integrals: list[Decimal] = []
        self.horizon_ms = horizon_ms

    def add(self, ts: int, value: Decimal) -> None:
        """Record `value` from `ts` on (samples arrive in event-time order; older ones are ignored)."""
        if self.times and ts < self.times[-1]:
            return
        self.integrals.append(self.integral_at(ts) if self.times else Decimal(0))
        self.times.append(ts)
        self.values.append(value)
        if self.horizon_ms is not None:
            self.prune(ts - self.horizon_ms)

    def prune(self, before: int) -> None:
        """Drop samples no average from `before` on needs (keep the one current then)."""
        drop = bisect_right(self.times, before) - 1
        if drop > 0:
            del self.times[:drop], self.values[:drop], self.integrals[:drop]

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
        if not self.times or self.times[0] >= end:
            return None
        start = max(start, self.times[0])
        if end <= start:
            return self.value_at(start)
        total = EXACT.subtract(self.integral_at(end), self.integral_at(start))
        return total / (end - start)
