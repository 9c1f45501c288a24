"""Time-weighted averages on event time: each value holds until the next one's timestamp."""

from collections import deque
from decimal import Decimal


class TimeWeighted:
    """A series of (ts ms, value) samples that answers time-weighted averages."""

    def __init__(self, horizon_ms: int | None = None) -> None:
        self.samples: deque[tuple[int, Decimal]] = deque()
        self.horizon_ms = horizon_ms

    def add(self, ts: int, value: Decimal) -> None:
        """Record `value` from `ts` on (samples arrive in event-time order)."""
        if self.samples and ts < self.samples[-1][0]:
            return
        self.samples.append((ts, value))
        if self.horizon_ms is not None:
            self.prune(ts - self.horizon_ms)

    def prune(self, before: int) -> None:
        """Drop samples no average from `before` on needs (keep the one current then)."""
        while len(self.samples) > 1 and self.samples[1][0] <= before:
            self.samples.popleft()

    def value_at(self, ts: int) -> Decimal | None:
        """Return the value current at `ts`, or None before the first sample."""
        current = None
        for sample_ts, value in self.samples:
            if sample_ts > ts:
                break
            current = value
        return current

    def average(self, start: int, end: int) -> Decimal | None:
        """Return the time-weighted average over [start, end), or None with no value in it."""
        total = Decimal(0)
        weight = 0
        points = [(max(ts, start), v) for ts, v in self.samples if ts < end]
        points = [p for i, p in enumerate(points) if i + 1 == len(points) or points[i + 1][0] > start]
        for (ts, value), nxt in zip(points, [p[0] for p in points[1:]] + [end]):
            total += value * (nxt - ts)
            weight += nxt - ts
        if weight == 0:
            return points[-1][1] if points else None
        return total / weight
