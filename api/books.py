"""The gateway's live order books: a `LevelBook` per market and venue, fed by the `books` topic, and the views of
them that REST (`/markets/{m}/orderbook`, `/bbo`) and Socket.IO (`orderbook`, `bbo`) serve, one shape for both.

The books are the domain's (`streams.domain.books`: sequence rules, `stale` until a snapshot and after a gap,
`crossed`); consolidation is `streams.domain.consolidated` (only healthy venues' levels, each tagged with its
venue; unhealthy ones named with why). Here is only what the gateway adds:

- Where the live reader starts on `books`: `BOOK_WARM_UP_MESSAGES` back from each partition's end. A venue sends
  a snapshot of each book at least every ~10 s and a partition carries a few messages a second, so that window
  holds the last snapshot of every busy book: a fresh gateway shows healthy books after reading a few hundred
  messages, not the topic's history. Deltas read before a book's first snapshot are ignored by the sequence
  rules; a book whose window held no snapshot stays `stale` until its next one (within ~10 s).
- Ages: a venue's `age_ms` is `as_of` minus its book's event time, `as_of` being the newest event time of any
  book of the market the gateway holds. Event time, never the wall clock, so the same input read again gives the
  same answer; how old a source is by the wall clock is `/status`'s question (`api.status`).
- The consolidated view's `seq` is the sum of its venues' book seqs. A book's seq never goes back, so the sum
  grows with every update any venue's book takes: on one gateway, two views with the same `seq` show the same
  books (a REST answer and a Socket.IO event can be matched by it).
- A view is pushed whole (its top `DEFAULT_DEPTH` levels per side) rather than as changed levels: the client
  keeps the last view it received, so client and server hold the same book by construction, with nothing for a
  client to apply wrongly.
"""

import logging
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, Field, ValidationError

from quantdesk.messages import BookLevel, BookUpdate
from streams.domain.books import Bbo, Level, LevelBook
from streams.domain.consolidated import VenueLevel, consolidate, unhealthy

log = logging.getLogger(__name__)
DEFAULT_DEPTH = 50  # levels per side a REST view has by default, and every orderbook push
MAX_DEPTH = 500
BOOK_WARM_UP_MESSAGES = 500  # per partition of `books`, read back from its end when the gateway starts


class BookLevelView(BaseModel):
    """One price level and the venue it rests on."""

    venue: str
    price: Decimal
    size: Annotated[Decimal, Field(description="base units resting at the price")]
    orders: int


class VenueBook(BaseModel):
    """One venue's book of the market: seq, event time, age, best bid and offer, and health."""

    venue: str
    seq: Annotated[int | None, Field(description="the venue's own book sequence number")]
    ts: Annotated[int | None, Field(description="event time (UTC ms) of the book's last update")]
    age_ms: Annotated[int | None, Field(description="`as_of` minus `ts`: event time, not the wall clock")]
    bid: BookLevelView | None
    ask: BookLevelView | None
    crossed: Annotated[bool, Field(description="best bid at or above best ask: the view is wrong")]
    stale: Annotated[bool, Field(description="awaiting a snapshot (none yet, or a missed delta)")]
    healthy: bool


class Excluded(BaseModel):
    """A venue left out of the consolidated levels, and why."""

    venue: str
    reason: str


class OrderBookView(BaseModel):
    """A market's order book: consolidated across healthy venues (`venue` null), or one venue's."""

    market: str
    venue: Annotated[str | None, Field(description="the venue shown; null: every healthy venue consolidated")]
    depth: int
    seq: Annotated[int, Field(description="the venue's book seq; consolidated: the sum of every venue's")]
    ts: Annotated[int | None, Field(description="event time of the venue's last update; consolidated: `as_of`")]
    as_of: Annotated[int | None, Field(description="the newest event time of any book of this market held")]
    healthy: Annotated[bool, Field(description="venue: neither crossed nor stale; consolidated: a venue is healthy")]
    crossed: Annotated[bool, Field(description="venue: its book is crossed; consolidated: always false (venues "
                                               "crossing each other is an arbitrage, not a fault)")]
    stale: Annotated[bool, Field(description="venue: awaiting a snapshot; consolidated: no venue is healthy")]
    bids: list[BookLevelView]
    asks: list[BookLevelView]
    venues: list[VenueBook]
    excluded: list[Excluded]


class BboView(BaseModel):
    """The best bid and offer of each venue of a market, and the consolidated best over its healthy venues."""

    market: str
    as_of: int | None
    best_bid: BookLevelView | None
    best_ask: BookLevelView | None
    venues: list[VenueBook]


def level_view(venue: str, level: Level | VenueLevel) -> BookLevelView:
    """Return a price level as a view, tagged with the venue it rests on."""
    return BookLevelView(venue=venue, price=level.price, size=level.size, orders=level.orders)


def quote(venue: str, level: Level | None) -> BookLevelView | None:
    """Return a venue's best level as a view, None on an empty side."""
    return None if level is None else level_view(venue, level)


def best(level: VenueLevel | None) -> BookLevelView | None:
    """Return a consolidated best level as a view, None on an empty side."""
    return None if level is None else level_view(level.venue, level)


def venue_book(bbo: Bbo, as_of: int | None) -> VenueBook:
    """Return a venue's entry: its BBO, seq, event time, age against `as_of` and health."""
    age = None if bbo.ts is None or as_of is None else as_of - bbo.ts
    return VenueBook(venue=bbo.venue, seq=bbo.seq, ts=bbo.ts, age_ms=age, bid=quote(bbo.venue, bbo.bid),
                     ask=quote(bbo.venue, bbo.ask), crossed=bbo.crossed, stale=bbo.stale, healthy=bbo.healthy)


def as_levels(held: tuple[BookLevel, ...]) -> list[Level]:
    """Return a message's levels as the domain's."""
    return [Level(lv.price, lv.size, lv.orders) for lv in held]


class LiveBooks:
    """Every venue's book of each listed market, as the `books` topic brings them."""

    def __init__(self, known_markets: tuple[str, ...] | set[str] = ()) -> None:
        self.known = set(known_markets)
        self.books: dict[str, dict[str, LevelBook]] = {}  # market -> venue -> book
        self.bbo_sent: dict[str, Any] = {}  # market -> the last BBO `bbo_moved` reported

    def apply(self, event: dict[str, Any]) -> bool:
        """Apply one `books` event; return whether a book changed (applied, or a gap that made it stale). An invalid
        event is logged and skipped: the workers dead-letter bad input, the gateway only must not stop on it."""
        try:
            update = BookUpdate.model_validate(event)
        except ValidationError as exc:
            log.warning("skipped an invalid books event %r: %s", event.get("id"), exc.errors()[0]["msg"])
            return False
        if update.market not in self.known:
            return False
        venues = self.books.setdefault(update.market, {})
        book = venues.get(update.venue) or venues.setdefault(update.venue, LevelBook(update.market, update.venue))
        bids, asks = as_levels(update.bids), as_levels(update.asks)
        if update.kind == "snapshot":
            return book.apply_snapshot(update.seq, update.ts, bids, asks) == "applied"
        return book.apply_levels(update.seq, update.ts, bids, asks) in ("applied", "gap")

    def venues(self, market: str) -> dict[str, LevelBook]:
        """Return the books of a market by venue, in venue order."""
        return dict(sorted(self.books.get(market, {}).items()))

    def as_of(self, market: str) -> int | None:
        """Return the newest event time of any book of a market (None before one)."""
        return max((b.ts for b in self.books.get(market, {}).values() if b.ts is not None), default=None)

    def orderbook(self, market: str, venue: str | None = None, depth: int = DEFAULT_DEPTH) -> OrderBookView:
        """Return a market's book to `depth` levels per side: one venue's (it must be held), or consolidated."""
        as_of, held = self.as_of(market), self.venues(market)
        if venue is not None:
            shown = held[venue].depth(depth)
            why = unhealthy(shown)
            return OrderBookView(
                market=market, venue=venue, depth=depth, seq=shown.seq or 0, ts=shown.ts, as_of=as_of,
                healthy=shown.healthy, crossed=shown.crossed, stale=shown.stale,
                bids=[level_view(venue, lv) for lv in shown.bids], asks=[level_view(venue, lv) for lv in shown.asks],
                venues=[venue_book(held[venue].bbo(), as_of)],
                excluded=[Excluded(venue=venue, reason=why)] if why else [])
        book = consolidate(market, (b.depth(depth) for b in held.values()))
        return OrderBookView(
            market=market, venue=None, depth=depth, seq=sum(b.seq or 0 for b in held.values()), ts=as_of,
            as_of=as_of, healthy=len(book.excluded) < len(book.venues), crossed=False,
            stale=len(book.excluded) == len(book.venues),
            bids=[level_view(lv.venue, lv) for lv in book.bids[:depth]],
            asks=[level_view(lv.venue, lv) for lv in book.asks[:depth]],
            venues=[venue_book(bbo, as_of) for bbo in book.venues],
            excluded=[Excluded(venue=v, reason=why) for v, why in book.excluded])

    def bbo(self, market: str) -> BboView:
        """Return each venue's best bid and offer of a market, and the best of its healthy venues."""
        as_of = self.as_of(market)
        book = consolidate(market, (b.depth(1) for b in self.venues(market).values()))
        return BboView(market=market, as_of=as_of, best_bid=best(book.best_bid),
                       best_ask=best(book.best_ask), venues=[venue_book(bbo, as_of) for bbo in book.venues])

    def bbo_moved(self, market: str) -> BboView | None:
        """Return a market's BBO when a price, size or health in it moved since the last one returned, else None
        (a new seq or event time alone is no move)."""
        view = self.bbo(market)
        moved = view.model_dump(include={"best_bid", "best_ask"}), [
            v.model_dump(include={"venue", "bid", "ask", "crossed", "stale"}) for v in view.venues]
        if self.bbo_sent.get(market) == moved:
            return None
        self.bbo_sent[market] = moved
        return view
