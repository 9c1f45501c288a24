"""One market as the risk engine keeps it: oracle verdict and mark, funding clock, positions on the board."""

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from quantdesk.markets import Market
from quantdesk.messages import Fill, MarketEpoch, OracleTick
from streams.domain import as_decimal, as_text
from streams.domain.alerts import AlertGate
from streams.domain.funding import FundedHour, MarketFunding
from streams.domain.margin import Quote
from streams.domain.market_tracker import MarketTracker, discovers_price
from streams.domain.positions import Position
from streams.risk.board import MarketBook


@dataclass
class MarketRisk:
    """One market as the engine keeps it: oracle verdict and mark, funding clock, position columns."""

    params: Market
    tracker: MarketTracker
    funding: MarketFunding
    book: MarketBook = field(default_factory=MarketBook)
    last_fill_price: Decimal | None = None
    repriced: tuple[int, Decimal] | None = None  # (apply count, price) of the last re-mark of the book
    alerts: AlertGate = field(default_factory=AlertGate)  # MIKEY's gate for this market's funding
    funding_sign: int = 0  # the sign of the last non-zero funding rate
    paused: str | None = None  # why an admin paused the market: its liquidations wait until resumed

    @classmethod
    def of(cls, params: Market) -> "MarketRisk":
        """Return a market with no price yet."""
        return cls(params, MarketTracker(params.name), MarketFunding(params.name, params.max_funding_per_hour))

    @property
    def name(self) -> str:
        """Return the market's name."""
        return self.params.name

    def quote(self) -> Quote:
        """Return the margin quote: last valid oracle (the last fill price before any)."""
        oracle = self.tracker.oracle or self.last_fill_price
        return Quote(oracle, self.params.mmr, self.params.imr, self.funding.cumulative_index)

    def on_tick(self, tick: OracleTick) -> list[FundedHour] | None:
        """Apply a tick; return the funded hours it closes, or None when the guard rejects it."""
        self.tracker.apply_tick(tick)
        if self.tracker.reason:
            return None
        closed = self.funding.record_oracle(tick.ts, tick.price)
        self._record_mark(tick.ts)
        return closed

    def quoted_by(self, fill: Fill) -> bool:
        """Tell whether a fill moves the last fill price: one the market made (`discovers_price`), or any while
        nothing quotes the market (a liquidation's fill before any oracle or fill: its position is margined at it)."""
        return discovers_price(fill) or (self.tracker.oracle is None and self.last_fill_price is None)

    def on_fill(self, fill: Fill) -> None:
        """Move the premium, mark and last fill price (`quoted_by`)."""
        if self.quoted_by(fill):
            self.last_fill_price = fill.price
        if self.tracker.apply_fill(fill):
            self._record_mark(fill.ts)

    def follow(self, epoch: MarketEpoch) -> None:
        """Take what a margin check and a liquidation read from the market's epoch (its author keeps the rest)."""
        tracker = self.tracker
        tracker.oracle, tracker.last_valid_ts, tracker.reason = epoch.oracle, epoch.last_valid_ts, epoch.reason
        self.last_fill_price, self.funding.cumulative_index = epoch.last_fill_price, epoch.cumulative_index

    def _record_mark(self, ts: int) -> None:
        """Feed the current mark to the funding clock."""
        if self.tracker.mark is not None:
            self.funding.record_mark(ts, self.tracker.mark)

    def reparametrise(self, params: Market) -> None:
        """Put the market under new margin and funding parameters: its book's rates and the funding cap (the hour
        in progress closes under the cap in force at its close)."""
        self.params = params
        self.funding.max_rate = params.max_funding_per_hour
        self.book.set_rates(float(params.mmr), float(params.imr))

    def hold(self, slot: int, position: Position | None) -> None:
        """Make the book hold `position` for the account in `slot` (None: flat here)."""
        if position is None:
            if slot in self.book.row:
                self.book.remove_position(slot)
        elif slot in self.book.row:
            self.book.update_position(slot, float(position.size), float(position.entry))
        else:
            self.book.add_position(slot, float(position.size), float(position.entry),
                                   float(self.params.mmr), float(self.params.imr))

    def holders(self) -> list[int]:
        """Return the slots of the accounts holding a position here, in slot order."""
        return sorted(self.book.row)

    def healthy(self, newest_tick_ts: int) -> bool:
        """Tell whether liquidations may go on here: the oracle is neither rejected nor stale, and no admin paused
        the market."""
        return self.paused is None and not self.tracker.degraded(newest_tick_ts)

    def to_row(self) -> dict[str, Any]:
        """Return the market as a stored row: guard and mark, funding clock, last fill and last re-mark (the
        5-minute TWAP's samples and the book are stored apart: with the accounts)."""
        repriced = self.repriced
        return {**self.tracker.to_row(), **self.funding.to_row(), "last_fill_price": as_text(self.last_fill_price),
                "repriced": [repriced[0], str(repriced[1])] if repriced else None,
                "alerts": self.alerts.to_row(), "funding_sign": self.funding_sign, "paused": self.paused}

    def load_row(self, row: dict[str, Any], twap: list[list[Any]]) -> None:
        """Take back a `to_row` row and the 5-minute TWAP's samples."""
        self.tracker.load_row(row, twap)
        self.funding.load_row(row)
        self.last_fill_price = as_decimal(row["last_fill_price"])
        self.repriced = (row["repriced"][0], Decimal(row["repriced"][1])) if row["repriced"] else None
        self.alerts = AlertGate.from_row(row["alerts"]) if row.get("alerts") else AlertGate()
        self.funding_sign = row.get("funding_sign", 0)
        self.paused = row.get("paused")
