"""The current candle of a market at one resolution, folded from live market states and fills.

The same rules as the warehouse's candle views: OHLC from the prices of the ticks the oracle guard
accepted (a market state's `tick_price`; open and close by event time), volume, base volume and
trades from taker fills.
"""

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from quantdesk.messages import Fill

RESOLUTIONS: dict[str, int] = {"1m": 60, "5m": 300, "15m": 900, "1h": 3600, "4h": 14400, "1d": 86400}  # seconds
Resolution = Literal[tuple(RESOLUTIONS)]  # type: ignore[valid-type]  # a candle width REST and Socket.IO accept


def bucket(ts: int, resolution: str) -> int:
    """Return the start (UTC ms) of the candle of `resolution` that holds `ts`."""
    width = RESOLUTIONS[resolution] * 1000
    return ts - ts % width


@dataclass
class Bar:
    """One candle being built; it has prices once a tick arrived."""

    time: int
    open: Decimal | None = None
    high: Decimal | None = None
    low: Decimal | None = None
    close: Decimal | None = None
    open_ts: int = 0
    close_ts: int = 0
    volume: Decimal = Decimal(0)
    base_volume: Decimal = Decimal(0)
    trades: int = 0

    def add_price(self, ts: int, price: Decimal) -> None:
        """Fold in the price of an accepted tick at `ts`."""
        if self.open is None or ts < self.open_ts:
            self.open, self.open_ts = price, ts
        if self.close is None or ts >= self.close_ts:
            self.close, self.close_ts = price, ts
        self.high = price if self.high is None else max(self.high, price)
        self.low = price if self.low is None else min(self.low, price)

    def add_fill(self, fill: Fill) -> bool:
        """Fold a fill in; return whether it counts (the taker side of a trade)."""
        if fill.liquidity != "taker":
            return False
        self.volume += fill.size * fill.price
        self.base_volume += fill.size
        self.trades += 1
        return True

    def view(self) -> dict[str, Any] | None:
        """Return the candle as the REST candles show it (decimals as strings), or None before its first tick."""
        if self.open is None:
            return None
        prices = {"open": self.open, "high": self.high, "low": self.low, "close": self.close,
                  "volume": self.volume, "base_volume": self.base_volume}
        return {"time": self.time, **{k: str(v) for k, v in prices.items()}, "trades": self.trades}
