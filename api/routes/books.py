"""Books: a market's live order book (consolidated across venues, or one venue's) and its best bid and offer."""

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from api.books import DEFAULT_DEPTH, MAX_DEPTH, BboView, OrderBookView
from api.deps import LiveDep, SettingsDep
from api.errors import RESPONSES
from api.ratelimit import PublicLimit
from api.routes.markets import MarketName, listed
from quantdesk.messages import NAME_CHARS

router = APIRouter(prefix="/api/v1/markets", tags=["markets"], dependencies=[PublicLimit])


@router.get("/{market}/orderbook", response_model=OrderBookView, responses=RESPONSES)
async def get_orderbook(
    settings: SettingsDep, live: LiveDep, market: MarketName,
    depth: Annotated[int, Query(ge=1, le=MAX_DEPTH, description="levels per side")] = DEFAULT_DEPTH,
    venue: Annotated[str | None, Query(min_length=1, max_length=NAME_CHARS, description=(
        "one venue's book (404 when none is held); unset: the consolidated book"))] = None,
) -> OrderBookView:
    """Return a market's order book, best levels first: by default consolidated across venues (each level tagged
    with its venue; the same price on two venues is two levels), or one venue's with `venue`.

    A venue's book is healthy when it is in sequence (not `stale`: it has a snapshot and missed no delta) and not
    `crossed` (best bid at or above best ask). The consolidated book takes only healthy venues' levels and names
    the others in `excluded` with why; `venues` lists every venue's best bid and offer, sequence, event time and
    age. `seq` is the venue's book sequence number, or for the consolidated book the sum of its venues' (it grows
    with every update, so it identifies the same books in the `orderbook` Socket.IO channel). Ages are event time
    against `as_of`, the newest book event of the market held: a replay of the same input gives the same answer
    (how old a source is by the wall clock: `/api/v1/status`).
    """
    listed(settings, market)
    if venue is not None and venue not in live.books.venues(market):
        held = ", ".join(live.books.venues(market)) or "none yet"
        raise HTTPException(404, f"no book of venue {venue!r} for {market}; venues: {held}")
    return live.books.orderbook(market, venue, depth)


@router.get("/{market}/bbo", response_model=BboView, responses=RESPONSES)
async def get_bbo(settings: SettingsDep, live: LiveDep, market: MarketName) -> BboView:
    """Return each venue's best bid and offer of a market (with seq, event time, age and health), and the best of
    its healthy venues (`best_bid`, `best_ask`, each naming its venue)."""
    listed(settings, market)
    return live.books.bbo(market)
