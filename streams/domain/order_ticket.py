"""The order ticket: what an order would do to an account, before the trader sends it.

With venues' books, the gateway walks them (`streams.domain.routing`) and `assess`es the route's
average price and fee (source `book`). Without a healthy book, `simulate` estimates the fill
price from the public tape: the minute's taker trades on the order's side, newest first, taken until they add up to the
order's size, the rest at the worst price among them; the reference (mark) price when the
tape has none. A limit price caps it: a buy never pays above its limit, a sell never gets
below it. The account after the fill is `Account.apply_fill` at that price paying the taker
fee, assessed with `Account.margin` under the same quotes as the account before.

An order that only shrinks a position is always allowed. One that adds risk (opens, grows
or flips a position) is refused when its market is degraded or when equity after the fill
would be under initial margin (free collateral would go below zero).
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from quantdesk.markets import TAKER_FEE_RATE
from streams.domain import to_money, to_price, to_ratio
from streams.domain.accounts import Account
from streams.domain.margin import Margin, Quote
from streams.domain.positions import Position

Side = Literal["buy", "sell"]
TAPE_MAX_AGE_MS = 60_000
BPS = Decimal(10_000)


@dataclass(frozen=True)
class Order:
    """What the trader would send: market, side, size (base units, > 0), and a limit price or None."""

    market: str
    side: Side
    size: Decimal
    limit: Decimal | None = None

    @property
    def signed_size(self) -> Decimal:
        """Return the size with its sign: + for a buy, − for a sell."""
        return self.size if self.side == "buy" else -self.size

    def worse(self, a: Decimal, b: Decimal) -> bool:
        """Tell whether price `a` is worse than `b` for this order (higher for a buy, lower for a sell)."""
        return a > b if self.side == "buy" else a < b


@dataclass(frozen=True)
class Print:
    """A trade of the public tape: when, the taker's side, size and price."""

    ts: int
    side: Side
    size: Decimal
    price: Decimal


@dataclass(frozen=True)
class MarketNow:
    """The order's market as the ticket sees it: reference price, tape, newest event time, degradation."""

    reference: Decimal
    tape: tuple[Print, ...] = ()
    now_ms: int = 0
    degraded: str = ""


@dataclass(frozen=True)
class FillEstimate:
    """Where the order would fill, where from (`book`, `tape`, `mark` or `limit`), and its slippage from the
    reference."""

    price: Decimal
    source: Literal["book", "tape", "mark", "limit"]
    reference: Decimal
    slippage_bps: Decimal


@dataclass(frozen=True)
class Ticket:
    """The order's estimated fill and fee, the account before and after, and whether it may go."""

    order: Order
    fill: FillEstimate
    fee: Decimal
    before: Margin
    after: Margin
    position_before: Position | None
    position_after: Position | None
    increases_risk: bool
    allowed: bool
    reason: str


def recent_prints(tape: Iterable[Print], side: Side, now_ms: int) -> list[Print]:
    """Return the taker trades on `side` at most a minute old at `now_ms`, newest first."""
    fresh = [p for p in tape if p.side == side and now_ms - p.ts <= TAPE_MAX_AGE_MS]
    return sorted(fresh, key=lambda p: p.ts, reverse=True)


def tape_price(order: Order, prints: list[Print]) -> Decimal | None:
    """Return the average price of the order taken from `prints` in turn, the rest at the worst; None without."""
    left, cost, worst = order.size, Decimal(0), None
    for p in prints:
        if not left:
            break
        taken = min(left, p.size)
        cost, left = cost + taken * p.price, left - taken
        worst = p.price if worst is None or order.worse(p.price, worst) else worst
    if worst is None:
        return None
    return to_price((cost + left * worst) / order.size)


def estimate_fill(order: Order, market: MarketNow) -> FillEstimate:
    """Return the estimated fill: from the tape, else the reference price; capped by the limit."""
    taped = tape_price(order, recent_prints(market.tape, order.side, market.now_ms))
    price, source = (taped, "tape") if taped is not None else (market.reference, "mark")
    if order.limit is not None and order.worse(price, order.limit):
        price, source = order.limit, "limit"
    return FillEstimate(price, source, market.reference, slippage_bps(order, price, market.reference))


def slippage_bps(order: Order, price: Decimal, reference: Decimal) -> Decimal:
    """Return how far `price` is from `reference` in bps, positive when worse for the order."""
    away = (price - reference) / reference * BPS
    return to_ratio(away if order.side == "buy" else -away)


def taker_fee(size: Decimal, price: Decimal) -> Decimal:
    """Return the taker fee of a fill: 5 bps of its notional."""
    return to_money(size * price * TAKER_FEE_RATE)


def reduces(position: Position | None, signed_size: Decimal) -> bool:
    """Tell whether a fill of `signed_size` only shrinks `position` (no new side, no flip)."""
    if position is None:
        return False
    return (position.size > 0) != (signed_size > 0) and abs(signed_size) <= abs(position.size)


def verdict(order: Order, increases_risk: bool, after: Margin, degraded: str) -> tuple[bool, str]:
    """Return whether the order may go, and why."""
    if not increases_risk:
        return True, "reduces the position: always allowed"
    if degraded:
        return False, f"{order.market} is degraded ({degraded}): only orders that reduce a position are allowed"
    if after.equity < after.initial_margin:
        return False, (f"initial margin breached: equity {after.equity} would be under initial margin "
                       f"{after.initial_margin}")
    return True, f"within initial margin: {after.free_collateral} free collateral after the fill"


def simulate(account: Account, order: Order, quotes: Mapping[str, Quote], market: MarketNow) -> Ticket:
    """Return the ticket of `order` for `account` filled as the tape suggests; `quotes` covers its markets and the
    order's."""
    fill = estimate_fill(order, market)
    return assess(account, order, quotes, fill, taker_fee(order.size, fill.price), market.degraded)


def assess(account: Account, order: Order, quotes: Mapping[str, Quote], fill: FillEstimate, fee: Decimal,
           degraded: str = "") -> Ticket:
    """Return the ticket of `order` for `account` filled at `fill` paying `fee`; `degraded` says why its market is
    degraded ("" when healthy)."""
    index = quotes[order.market].funding_index
    filled = account.apply_fill(order.market, order.signed_size, fill.price, fee, index)
    after, held = filled.margin(quotes), account.positions.get(order.market)
    increases_risk = not reduces(held, order.signed_size)
    allowed, reason = verdict(order, increases_risk, after, degraded)
    return Ticket(order, fill, fee, account.margin(quotes), after, held, filled.positions.get(order.market),
                  increases_risk, allowed, reason)
