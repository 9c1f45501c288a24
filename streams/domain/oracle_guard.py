"""The oracle guard: which ticks may move margin, which may move mark, and why not."""

from dataclasses import dataclass
from decimal import Decimal

from quantdesk.messages import OracleTick


@dataclass(frozen=True)
class GuardLimits:
    """Thresholds of DESIGN.md's oracle guard."""

    max_conf_ratio: Decimal = Decimal("0.02")
    max_age_margin_ms: int = 60_000
    max_age_mark_ms: int = 5_000
    # Pyth stamps publish_time in whole seconds, at or before the moment a tick is received (its `ts`): what is
    # ahead beyond clock skew between Pythnet and the receiver is a bad or forged stamp, and it would make the
    # tick look fresh for the age checks above. 5 s is the mark window: a clock that far off is not trusted.
    max_publish_ahead_ms: int = 5_000
    max_twap_deviation: Decimal = Decimal("0.5")
    stale_after_ms: int = 60_000


LIMITS = GuardLimits()


def rejection(tick: OracleTick, twap_5m: Decimal | None, limits: GuardLimits = LIMITS) -> str | None:
    """Return why a tick must not reach margin, or None when it may."""
    if tick.price <= 0:
        return f"price {tick.price} is not positive"
    if tick.status != "trading":
        return f"status is {tick.status!r}, not trading"
    if tick.conf / tick.price > limits.max_conf_ratio:
        return f"confidence {tick.conf} is over {limits.max_conf_ratio:%} of price"
    if tick.ts - tick.publish_time > limits.max_age_margin_ms:
        return f"published {tick.ts - tick.publish_time} ms before the tick"
    if tick.publish_time - tick.ts > limits.max_publish_ahead_ms:
        return f"published {tick.publish_time - tick.ts} ms after the tick (over {limits.max_publish_ahead_ms} ms)"
    if twap_5m and abs(tick.price - twap_5m) / twap_5m > limits.max_twap_deviation:
        return f"price {tick.price} is over 50% away from the 5-minute TWAP {twap_5m:.6f}"
    return None


def fresh_for_mark(tick: OracleTick, limits: GuardLimits = LIMITS) -> bool:
    """Return whether a valid tick is recent enough to move the mark price."""
    return tick.ts - tick.publish_time <= limits.max_age_mark_ms


def is_stale(last_valid_ts: int | None, newest_ts: int, limits: GuardLimits = LIMITS) -> bool:
    """Return whether a market's last valid tick is too old against the newest event seen."""
    return last_valid_ts is None or newest_ts - last_valid_ts > limits.stale_after_ms
