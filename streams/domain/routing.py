"""Where to send size: the ticket's walk of the consolidated book, split across venues at the best total cost.

A taker order of `size` on `side` takes the other side's levels (a buy takes offers, a sell takes
bids), best first, where best means best *after the venue's taker fee*: a buy ranks an offer at
price x (1 + fee rate), a sell a bid at price x (1 - fee rate); ties go to the better raw price,
then the venue name. Every unit's cost is its level's price plus its venue's fee, independent
of the others, so taking in that order gives the lowest total cost (greedy is optimal here). A
limit caps the raw price: a buy takes no offer above it, a sell no bid below it.

What comes back is a `Route`: the fills grouped into one leg per venue (in the order the walk
first reached each), with the figures a ticket shows; or a `Refusal` when the visible depth
(within the limit) cannot fill the size, saying how much it can.

- Average price: notional / size, fees excluded, to the PRICE quantum.
- Fee: per leg, its notional x its venue's taker rate, to the MONEY quantum (one order per venue
  pays one fee); the route's fee is the legs' sum.
- All-in: what a buy pays (notional + fee) or a sell receives (notional - fee).
- Impact in bps: of the average price against the touch, the best raw price on the side taken
  (the consolidated best offer for a buy, best bid for a sell), positive when worse for the
  order, to the RATIO quantum. Against the touch and not the mid, so a one-level fill shows 0.
- Each leg's reason: `price` when its venue shows the touch; `fee` when it was taken ahead of a
  better raw price elsewhere because its fee is lower; `depth` when every better-priced level
  was taken first and size was still left.
"""

import heapq
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal, localcontext
from itertools import takewhile
from typing import Literal

from streams.domain import EXACT, ZERO, to_money, to_price, to_ratio
from streams.domain.consolidated import Consolidated, VenueLevel

Side = Literal["buy", "sell"]
Reason = Literal["price", "fee", "depth"]
BPS = Decimal(10_000)
ONE = Decimal(1)


@dataclass(frozen=True, slots=True)
class Take:
    """Size taken from one venue's level."""

    venue: str
    price: Decimal
    size: Decimal


@dataclass(frozen=True, slots=True)
class Leg:
    """The part of the route sent to one venue: its fills, average price, fee, and why it is there."""

    venue: str
    size: Decimal
    average_price: Decimal
    notional: Decimal
    fee_rate: Decimal
    fee: Decimal
    takes: tuple[Take, ...]
    reason: Reason
    why: str

    @property
    def levels(self) -> int:
        """Return how many of the venue's levels the leg consumes (the last maybe in part)."""
        return len(self.takes)


@dataclass(frozen=True, slots=True)
class Route:
    """The whole order's walk: its legs, average price, fee, all-in figure and impact against the touch."""

    side: Side
    size: Decimal
    limit: Decimal | None
    legs: tuple[Leg, ...]
    touch: Decimal
    average_price: Decimal
    notional: Decimal
    fee: Decimal
    all_in: Decimal
    impact_bps: Decimal

    @property
    def levels_by_venue(self) -> dict[str, int]:
        """Return how many levels each venue's leg consumes."""
        return {leg.venue: leg.levels for leg in self.legs}


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why the order cannot be routed: the visible depth (within the limit) holds only `fillable`."""

    side: Side
    size: Decimal
    limit: Decimal | None
    fillable: Decimal
    reason: str


def within(side: Side, price: Decimal, limit: Decimal | None) -> bool:
    """Tell whether a level's raw price respects the limit (a buy at or below it, a sell at or above)."""
    return limit is None or (price <= limit if side == "buy" else price >= limit)


def all_in_price(side: Side, price: Decimal, rate: Decimal) -> Decimal:
    """Return what one unit at `price` costs a buy, or yields a sell, after a taker fee of `rate`."""
    return price * (ONE + rate) if side == "buy" else price * (ONE - rate)


def ranking(side: Side, levels: list[VenueLevel], rate: Decimal,
            limit: Decimal | None) -> Iterator[tuple[tuple[Decimal, Decimal, str], VenueLevel]]:
    """Yield one venue's levels within the limit, best first, each with its rank key (best all-in is lowest)."""
    sign = 1 if side == "buy" else -1
    for lv in takewhile(lambda lv: within(side, lv.price, limit), levels):
        yield (sign * all_in_price(side, lv.price, rate), sign * lv.price, lv.venue), lv


def ranked(side: Side, levels: tuple[VenueLevel, ...], fees: Mapping[str, Decimal],
           limit: Decimal | None) -> Iterator[VenueLevel]:
    """Yield the levels within the limit, best all-in first (a venue's own levels are already in that order)."""
    by_venue: dict[str, list[VenueLevel]] = {}
    for lv in levels:
        by_venue.setdefault(lv.venue, []).append(lv)
    per_venue = [ranking(side, venue_levels, fees[venue], limit) for venue, venue_levels in by_venue.items()]
    return (lv for _, lv in heapq.merge(*per_venue, key=lambda pair: pair[0]))


def walk(side: Side, size: Decimal, levels: Iterator[VenueLevel]) -> list[Take]:
    """Take `size` from `levels` in turn; return the takes (short of `size` when the levels run out)."""
    takes, left = [], size
    for lv in levels:
        if not left:
            break
        taken = min(left, lv.size)
        takes.append(Take(lv.venue, lv.price, taken))
        left -= taken
    return takes


def reason(side: Side, first: Take, touch: Decimal, levels: tuple[VenueLevel, ...], before: set[tuple[str, Decimal]],
           fees: Mapping[str, Decimal]) -> tuple[Reason, str]:
    """Return why a leg whose first take is `first` is in the route; `before` holds the levels taken ahead of it."""
    if first.price == touch:
        return "price", f"{first.venue} shows the best price, {first.price}"
    better = [lv for lv in levels if lv.venue != first.venue and (lv.price < first.price if side == "buy" else
                                                                   lv.price > first.price)]
    skipped = [lv for lv in better if (lv.venue, lv.price) not in before]
    if skipped:
        lv = skipped[0]
        return "fee", (f"{first.venue}'s taker fee {fees[first.venue]} makes {first.price} better all-in than "
                       f"{lv.venue}'s {lv.price} at fee {fees[lv.venue]}")
    return "depth", f"the better-priced levels ({len(better)}) were all taken first"


def legs(side: Side, takes: list[Take], touch: Decimal, levels: tuple[VenueLevel, ...],
         fees: Mapping[str, Decimal]) -> tuple[Leg, ...]:
    """Group the takes into one leg per venue, in the order the walk first reached each venue."""
    by_venue: dict[str, list[Take]] = {}
    firsts: dict[str, tuple[Take, set[tuple[str, Decimal]]]] = {}
    for i, take in enumerate(takes):
        if take.venue not in by_venue:
            firsts[take.venue] = (take, {(t.venue, t.price) for t in takes[:i]})
        by_venue.setdefault(take.venue, []).append(take)
    out = []
    for venue, venue_takes in by_venue.items():
        size = sum((t.size for t in venue_takes), ZERO)
        notional = sum((t.size * t.price for t in venue_takes), ZERO)
        first, before = firsts[venue]
        why = reason(side, first, touch, levels, before, fees)
        out.append(Leg(venue, size, to_price(notional / size), notional, fees[venue], to_money(notional * fees[venue]),
                       tuple(venue_takes), *why))
    return tuple(out)


def impact_bps(side: Side, average: Decimal, touch: Decimal) -> Decimal:
    """Return how far `average` is from the touch in bps, positive when worse for the order."""
    away = (average - touch) / touch * BPS
    return to_ratio(away if side == "buy" else -away)


def route(book: Consolidated, side: Side, size: Decimal, fees: Mapping[str, Decimal],
          limit: Decimal | None = None) -> Route | Refusal:
    """Return the route of a taker order of `size` (> 0) on `side`, or why not; `fees` has every venue's taker rate.
    Its sums are exact (`EXACT`): in the default context's 28 digits a route of 38-digit sizes took more than the
    order, or refused one the depth fills exactly."""
    if size <= 0:
        raise ValueError(f"an order's size must be positive, not {size}")
    with localcontext(EXACT):
        return _route(book, side, size, fees, limit)


def _route(book: Consolidated, side: Side, size: Decimal, fees: Mapping[str, Decimal],
           limit: Decimal | None) -> Route | Refusal:
    """Return the route of `route`, in the context the caller set."""
    levels = book.asks if side == "buy" else book.bids
    takes = walk(side, size, ranked(side, levels, fees, limit))
    filled = sum((t.size for t in takes), ZERO)
    if filled < size:
        capped = f" within the limit {limit}" if limit is not None else ""
        return Refusal(side, size, limit, filled, f"the visible depth{capped} fills {filled} of {size}")
    touch = levels[0].price
    route_legs = legs(side, takes, touch, levels, fees)
    notional = sum((leg.notional for leg in route_legs), ZERO)
    fee = sum((leg.fee for leg in route_legs), ZERO)
    average = to_price(notional / size)
    return Route(side, size, limit, route_legs, touch, average, notional, fee,
                 notional + fee if side == "buy" else notional - fee, impact_bps(side, average, touch))
