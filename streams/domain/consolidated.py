"""The consolidated book of one market: every healthy venue's levels side by side, each tagged with its venue.

Levels at the same price on different venues stay separate entries, because a router costs each
venue apart (their taker fees differ) and sends each leg to one venue; within a price, entries go
by venue name so the order is the same every time. A venue whose book is stale or crossed is left
out of the levels and the consolidated BBO and named in `excluded` with why; its own BBO is still
listed, flagged. Books of different venues that cross each other are not a fault (it is a real
arbitrage between venues) and are not flagged.
"""

import heapq
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

from streams.domain.books import Bbo, Depth


class VenueLevel(NamedTuple):
    """A price level of one venue in the consolidated book."""

    venue: str
    price: Decimal
    size: Decimal
    orders: int


@dataclass(frozen=True, slots=True)
class Consolidated:
    """Every healthy venue's levels best first per side, each venue's BBO, and the venues left out with why."""

    market: str
    bids: tuple[VenueLevel, ...]
    asks: tuple[VenueLevel, ...]
    venues: tuple[Bbo, ...]
    excluded: tuple[tuple[str, str], ...]

    @property
    def best_bid(self) -> VenueLevel | None:
        """Return the highest bid of the healthy venues, or None."""
        return self.bids[0] if self.bids else None

    @property
    def best_ask(self) -> VenueLevel | None:
        """Return the lowest offer of the healthy venues, or None."""
        return self.asks[0] if self.asks else None


def unhealthy(depth: Depth) -> str:
    """Return why a venue's book may not be consolidated, or "" when it may."""
    if depth.stale:
        return "stale: awaiting a snapshot"
    if depth.crossed:
        bid, ask = depth.bids[0].price, depth.asks[0].price
        return f"crossed: best bid {bid} >= best ask {ask}"
    return ""


def consolidate(market: str, depths: Iterable[Depth]) -> Consolidated:
    """Return the consolidated book of `market` from each venue's depth (one per venue)."""
    books = sorted(depths, key=lambda d: d.venue)
    healthy = [d for d in books if not unhealthy(d)]
    bids = heapq.merge(*([VenueLevel(d.venue, *lv) for lv in d.bids] for d in healthy),
                       key=lambda lv: (-lv.price, lv.venue))
    asks = heapq.merge(*([VenueLevel(d.venue, *lv) for lv in d.asks] for d in healthy),
                       key=lambda lv: (lv.price, lv.venue))
    venues = tuple(Bbo(d.market, d.venue, d.seq, d.ts, d.bids[0] if d.bids else None,
                       d.asks[0] if d.asks else None, d.crossed, d.stale) for d in books)
    excluded = tuple((d.venue, why) for d in books if (why := unhealthy(d)))
    return Consolidated(market, tuple(bids), tuple(asks), venues, excluded)
