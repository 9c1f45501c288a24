"""One market's live figures: last valid oracle, 5-minute TWAP, premium, mark and status."""

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from quantdesk.messages import Fill, MarketState, OracleTick
from streams.domain import as_decimal, as_text, to_stored
from streams.domain.mark import Premium, mark_price
from streams.domain.oracle_guard import LIMITS, fresh_for_mark, is_stale, rejection
from streams.domain.twap import TimeWeighted

TWAP_WINDOW_MS = 300_000


def discovers_price(fill: Fill) -> bool:
    """Tell whether a fill's price is one the market made: a liquidation closes at the price its plan took
    from the mark, so it moves neither premium nor mark (they would feed on themselves), and the venue's
    fills, which come back whenever the venue answers, leave the market's figures the same in every run."""
    return not (fill.model_extra or {}).get("liquidation")  # an extra field: `getattr` would raise and catch


@dataclass
class MarketTracker:
    """Fold ticks and fills of one market into its state, on event time."""

    market: str
    oracle: Decimal | None = None
    conf: Decimal | None = None
    last_valid_ts: int | None = None
    mark: Decimal | None = None
    premium: Premium = field(default_factory=Premium)
    twap: TimeWeighted = field(default_factory=lambda: TimeWeighted(TWAP_WINDOW_MS))
    reason: str = ""

    def twap_5m(self, ts: int) -> Decimal | None:
        """Return the oracle TWAP over the 5 minutes before `ts`."""
        return self.twap.average(ts - TWAP_WINDOW_MS, ts)

    def on_tick(self, tick: OracleTick) -> MarketState:
        """Apply a tick; return the market state it causes, naming the tick's price when the guard accepted it."""
        accepted = self.apply_tick(tick)
        return self.state(tick.id, tick.ts, tick_price=tick.price if accepted else None)

    def apply_tick(self, tick: OracleTick) -> bool:
        """Apply a tick: a valid one moves oracle, TWAP and mark; a bad one degrades the market. Tell which."""
        why = rejection(tick, self.twap_5m(tick.ts))
        if why:
            self.reason = why
            return False
        self.oracle, self.conf, self.last_valid_ts, self.reason = tick.price, tick.conf, tick.ts, ""
        self.twap.add(tick.ts, tick.price)
        if fresh_for_mark(tick):
            self.mark = mark_price(tick.price, self.premium, tick.ts)
        return True

    def on_fill(self, fill: Fill, newest_ts: int | None = None) -> MarketState | None:
        """Apply a fill; return the market state it causes (None before any oracle price), stale or not against
        `newest_ts` (the fill's time unless given)."""
        return self.state(fill.id, fill.ts, newest_ts) if self.apply_fill(fill) else None

    def apply_fill(self, fill: Fill) -> bool:
        """Move the premium and the mark; tell whether it could (it needs an oracle price first, and a price the
        market made)."""
        if self.oracle is None or not discovers_price(fill):
            return False
        self.premium = self.premium.after_fill(fill.ts, fill.price, self.oracle)
        self.mark = mark_price(self.oracle, self.premium, fill.ts)
        return True

    def degraded(self, newest_ts: int) -> bool:
        """Return whether the market is degraded: last tick rejected, or stale against `newest_ts`."""
        return bool(self.reason) or is_stale(self.last_valid_ts, newest_ts)

    def stale_after(self) -> int:
        """Return the newest event time at which the last valid tick is still fresh (it needs one)."""
        assert self.last_valid_ts is not None
        return self.last_valid_ts + LIMITS.stale_after_ms

    def state(self, source_id: str, ts: int, newest_ts: int | None = None,
              tick_price: Decimal | None = None) -> MarketState:
        """Return the market state message caused by event `source_id` (an accepted tick's gives its price)."""
        stale = is_stale(self.last_valid_ts, newest_ts if newest_ts is not None else ts)
        reason = self.reason or ("stale: no valid tick for over 60 s" if stale else "")
        return MarketState(
            id=f"{source_id}:state", ts=ts, market=self.market, oracle_price=self.oracle,
            conf=self.conf, mark_price=to_stored(self.mark), oracle_twap_5m=to_stored(self.twap_5m(ts)),
            premium=to_stored(self.premium.at(ts)), last_fill_price=self.premium.last_fill_price,
            status="degraded" if reason else "healthy", reason=reason, tick_price=tick_price,
        )

    def to_row(self) -> dict[str, Any]:
        """Return the guard and mark state as a stored row (the 5-minute TWAP's samples are stored apart)."""
        return {"oracle": as_text(self.oracle), "conf": as_text(self.conf), "last_valid_ts": self.last_valid_ts,
                "mark": as_text(self.mark), "reason": self.reason, "premium": self.premium.to_row()}

    def load_row(self, row: dict[str, Any], twap: list[list[Any]]) -> None:
        """Take back a `to_row` row and the 5-minute TWAP's `[ts, price]` samples."""
        self.oracle, self.conf, self.mark = as_decimal(row["oracle"]), as_decimal(row["conf"]), as_decimal(row["mark"])
        self.last_valid_ts, self.reason = row["last_valid_ts"], row["reason"]
        self.premium = Premium.from_row(row["premium"])
        for ts, price in twap:
            self.twap.add(ts, Decimal(price))
