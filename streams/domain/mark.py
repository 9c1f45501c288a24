"""Mark price: the median of oracle, recent fill and premium-adjusted oracle."""

from decimal import Decimal
from functools import lru_cache
from typing import Any

from streams.domain import as_decimal, as_text
from streams.domain.frozen import frozen

PREMIUM_HALF_LIFE_MS = 300_000
FILL_MAX_AGE_MS = 60_000
LN2_PER_HALF_LIFE = Decimal(2).ln() / PREMIUM_HALF_LIFE_MS


@lru_cache(maxsize=64)
def decay(elapsed_ms: int) -> Decimal:
    """Return the weight 2^(−Δt/half-life) of a premium `elapsed_ms` old (as e^(−Δt·ln2/half-life)).

    Kept for the last few ages asked: a tick's mark and its state ask for the same one.
    """
    return (LN2_PER_HALF_LIFE * -elapsed_ms).exp() if elapsed_ms else Decimal(1)


@frozen
class Premium:
    """The fills' premium over the oracle, an exponential average on event time."""

    value: Decimal = Decimal(0)
    last_fill_ts: int | None = None
    last_fill_price: Decimal | None = None

    def after_fill(self, ts: int, price: Decimal, oracle: Decimal) -> "Premium":
        """Return the premium after a fill at `price` when the oracle is `oracle`.

        A fill older than the last one moves nothing: fills of other accounts come from other
        partitions in any order, and a late old print must not become the "last fill" of the mark.
        """
        p = (price - oracle) / oracle
        if self.last_fill_ts is None:
            return Premium(p, ts, price)
        if ts < self.last_fill_ts:
            return self
        w = decay(max(0, ts - self.last_fill_ts))
        return Premium(w * self.value + (1 - w) * p, ts, price)

    def at(self, ts: int) -> Decimal:
        """Return the premium decayed toward 0 up to `ts`."""
        if self.last_fill_ts is None:
            return Decimal(0)
        return self.value * decay(max(0, ts - self.last_fill_ts))

    def to_row(self) -> list[Any]:
        """Return the premium as a stored row: value, last fill time and price."""
        return [str(self.value), self.last_fill_ts, as_text(self.last_fill_price)]

    @classmethod
    def from_row(cls, row: list[Any]) -> "Premium":
        """Return the premium a `to_row` row holds."""
        value, last_fill_ts, last_fill_price = row
        return cls(Decimal(value), last_fill_ts, as_decimal(last_fill_price))

    def recent_fill_price(self, ts: int) -> Decimal | None:
        """Return the last fill price if that fill is at most 60 s old at `ts`."""
        if self.last_fill_ts is None or ts - self.last_fill_ts > FILL_MAX_AGE_MS:
            return None
        return self.last_fill_price


def mark_price(oracle: Decimal, premium: Premium, ts: int) -> Decimal:
    """Return median(oracle, recent fill or oracle, oracle × (1 + premium))."""
    fill = premium.recent_fill_price(ts)
    candidates = sorted([oracle, fill if fill is not None else oracle, oracle * (1 + premium.at(ts))])
    return candidates[1]
