"""Hourly funding on event time: period TWAPs, the clamped rate and the cumulative index.

The period [H − 1 h, H) closes when the first oracle tick with `ts ≥ H` arrives. A period
is funded only when at least one oracle tick falls inside it: a price merely held over from
an earlier hour is not an oracle price in the period (the feed was silent or stale), so a
tick that jumps several hours funds at most the hour of the previous tick and no silent hour.
"""

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from streams.domain import to_money, to_price, to_rate
from streams.domain.twap import TimeWeighted

HOUR_MS = 3_600_000
HOURS_PER_DAY = 24


@dataclass(frozen=True)
class FundedHour:
    """A closed, funded hour of one market."""

    market: str
    start: int
    end: int
    oracle_twap: Decimal
    mark_twap: Decimal
    rate: Decimal
    cumulative_index: Decimal


def hour_end(ts: int) -> int:
    """Return the first whole hour strictly after `ts` (ms)."""
    return (ts // HOUR_MS + 1) * HOUR_MS


def funding_rate(mark_twap: Decimal, oracle_twap: Decimal, max_rate: Decimal) -> Decimal:
    """Return the hourly rate: premium of mark over oracle over 24, clamped to ±max."""
    premium = (mark_twap - oracle_twap) / oracle_twap / HOURS_PER_DAY
    return to_rate(min(max(premium, -max_rate), max_rate))


def funding_owed(size: Decimal, cum_now: Decimal, cum_at_settle: Decimal) -> Decimal:
    """Return what a position of `size` owes since its last settle (positive: it pays)."""
    return to_money(size * (cum_now - cum_at_settle))


class MarketFunding:
    """One market's funding clock: fed oracle and mark samples, it closes funded hours."""

    def __init__(self, market: str, max_rate: Decimal, cumulative_index: Decimal = Decimal(0)) -> None:
        self.market = market
        self.max_rate = max_rate
        self.cumulative_index = cumulative_index
        self.period_end: int | None = None
        self.oracle = TimeWeighted()
        self.mark = TimeWeighted()

    def record_mark(self, ts: int, mark: Decimal) -> None:
        """Record the mark price from `ts` on."""
        self.mark.add(ts, mark)

    def record_oracle(self, ts: int, price: Decimal) -> list[FundedHour]:
        """Record a valid oracle price; return the funded hours this tick closes."""
        if self.period_end is None:
            self.period_end = hour_end(ts)
        closed = self._close_through(ts)
        self.oracle.add(ts, price)
        return closed

    def _close_through(self, ts: int) -> list[FundedHour]:
        """Close every hour that ends at or before `ts` (only the first can hold a tick)."""
        if ts < self.period_end:
            return []
        closed = self._close()
        self.period_end = hour_end(ts)
        self._forget_before(self.period_end - HOUR_MS)
        return closed

    def _close(self) -> list[FundedHour]:
        """Close the open hour; return it if an oracle tick fell inside it."""
        end = self.period_end
        start = end - HOUR_MS
        if not self.oracle.any_in(start, end):
            return []
        return [self._funded(start, end)]

    def _funded(self, start: int, end: int) -> FundedHour:
        """Fund [start, end): TWAPs, rate and the index moved by rate × oracle TWAP."""
        oracle_twap = to_price(self.oracle.average(start, end))
        mark = self.mark.average(start, end)
        mark_twap = oracle_twap if mark is None else to_price(mark)
        rate = funding_rate(mark_twap, oracle_twap, self.max_rate)
        self.cumulative_index = to_price(self.cumulative_index + rate * oracle_twap)
        return FundedHour(self.market, start, end, oracle_twap, mark_twap, rate, self.cumulative_index)

    def _forget_before(self, start: int) -> None:
        """Drop samples no open period needs (keep the ones current at `start`)."""
        self.oracle.prune(start)
        self.mark.prune(start)

    def to_row(self) -> dict[str, Any]:
        """Return the clock as a stored row, with only the samples its open hour still reads."""
        return {"cumulative_index": str(self.cumulative_index), "period_end": self.period_end,
                "oracle_samples": self.oracle.compacted(self.period_end),
                "mark_samples": self.mark.compacted(self.period_end)}

    def load_row(self, row: dict[str, Any]) -> None:
        """Take back a `to_row` row."""
        self.cumulative_index, self.period_end = Decimal(row["cumulative_index"]), row["period_end"]
        self.oracle = TimeWeighted.from_compacted(row["oracle_samples"])
        self.mark = TimeWeighted.from_compacted(row["mark_samples"])
