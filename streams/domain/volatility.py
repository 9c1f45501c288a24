"""Realised volatility on event time, exactly: the last minute's against its 24-hour baseline.

Returns are log returns between consecutive valid oracle prices, `ln(p / p_prev)`, taken with `Decimal.ln` in
a fixed context (correctly rounded, so the same on every machine; no float, no libm) and squared to a fixed
quantum, so the running sums below add and subtract exactly and a replay gives the same figures byte for byte.

- 1-minute realised variance: the sum of squared returns in the 60 s up to now.
- 24-hour baseline: the sum of squared returns in the day up to now (per-minute buckets) over the minutes it
  covers (from the first price, at most 1 440): the variance an ordinary minute of that day had.

Volatility is the square root of a variance (a per-minute standard deviation of log returns).
"""

from collections import deque
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Any

from streams.domain import as_decimal, as_text

MINUTE_MS = 60_000
DAY_MS = 86_400_000
LOG = Context(prec=34, rounding=ROUND_HALF_EVEN)  # logarithms, quotients and square roots
SUM = Context(prec=80, rounding=ROUND_HALF_EVEN)  # running sums of quantised squares: exact
SQUARE = Decimal("1e-32")  # quantum of a squared return (a 1e-12 move squares to 1e-24: kept)
ZERO = Decimal(0).quantize(SQUARE)


def log_return(price: Decimal, previous: Decimal) -> Decimal:
    """Return ln(price / previous) in the fixed context."""
    return LOG.divide(price, previous).ln(LOG)


def squared(value: Decimal) -> Decimal:
    """Return value² on the fixed quantum."""
    return LOG.multiply(value, value).quantize(SQUARE, ROUND_HALF_EVEN, SUM)


def root(value: Decimal) -> Decimal:
    """Return √value in the fixed context."""
    return value.sqrt(LOG)


class RealisedVolatility:
    """One market's squared log returns: the last minute's one by one, the day's summed per minute."""

    def __init__(self) -> None:
        self.previous: Decimal | None = None
        self.first_ts: int | None = None
        self.last_ts = 0
        self.recent: deque[tuple[int, Decimal]] = deque()
        self.recent_sum = ZERO
        self.minutes: deque[list] = deque()  # [minute number, sum of squares in it]
        self.day_sum = ZERO

    def add(self, ts: int, price: Decimal) -> None:
        """Take a valid oracle price at `ts` (prices arrive in event-time order; an older one is ignored)."""
        if self.previous is None:
            self.previous, self.first_ts, self.last_ts = price, ts, ts
            return
        if ts < self.last_ts:
            return
        square = squared(log_return(price, self.previous))
        self.previous, self.last_ts = price, ts
        self.recent.append((ts, square))
        self.recent_sum = SUM.add(self.recent_sum, square)
        minute = ts // MINUTE_MS
        if self.minutes and self.minutes[-1][0] == minute:
            self.minutes[-1][1] = SUM.add(self.minutes[-1][1], square)
        else:
            self.minutes.append([minute, square])
        self.day_sum = SUM.add(self.day_sum, square)
        self._forget_before(ts)

    def _forget_before(self, ts: int) -> None:
        """Drop returns out of the minute and minutes out of the day that end at `ts`."""
        while self.recent and self.recent[0][0] <= ts - MINUTE_MS:
            self.recent_sum = SUM.subtract(self.recent_sum, self.recent.popleft()[1])
        oldest = (ts - DAY_MS) // MINUTE_MS
        while self.minutes and self.minutes[0][0] <= oldest:
            self.day_sum = SUM.subtract(self.day_sum, self.minutes.popleft()[1])

    def history_ms(self) -> int:
        """Return how much event time the prices cover, at most a day."""
        return 0 if self.first_ts is None else min(self.last_ts - self.first_ts, DAY_MS)

    def minute_variance(self) -> Decimal:
        """Return the realised variance of the last minute."""
        return self.recent_sum

    def baseline_variance(self) -> Decimal | None:
        """Return the day's variance per minute, None before a minute of history."""
        covered = self.history_ms()
        if covered < MINUTE_MS:
            return None
        return LOG.divide(SUM.multiply(self.day_sum, MINUTE_MS), Decimal(covered))

    def to_row(self) -> dict[str, Any]:
        """Return the last price and the sums as a stored row (the returns, `recent` and `minutes`, stored apart)."""
        return {"previous": as_text(self.previous), "first_ts": self.first_ts, "last_ts": self.last_ts,
                "recent_sum": str(self.recent_sum), "day_sum": str(self.day_sum)}

    def load_row(self, row: dict[str, Any], recent: list[list[Any]], minutes: list[list[Any]]) -> None:
        """Take back a `to_row` row and the `[ts, square]` returns and `[minute, sum]` buckets stored apart, leaving
        out what the last price's minute and day no longer hold (a store may keep a slice's pruned head)."""
        self.previous, self.first_ts, self.last_ts = as_decimal(row["previous"]), row["first_ts"], row["last_ts"]
        self.recent_sum, self.day_sum = Decimal(row["recent_sum"]), Decimal(row["day_sum"])
        oldest = (self.last_ts - DAY_MS) // MINUTE_MS
        self.recent = deque((ts, Decimal(square)) for ts, square in recent if ts > self.last_ts - MINUTE_MS)
        self.minutes = deque([minute, Decimal(total)] for minute, total in minutes if minute > oldest)
