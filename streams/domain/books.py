"""Order books per market and venue: L3 (every resting order) or L2 (levels only), kept in sequence.

A book is mutable on purpose: an update must cost a few µs on a book of 100k orders, which no
copy-on-write structure gives in Python. Each side is a `Ladder`, its levels a `SortedDict`
(sortedcontainers: price -> (size, orders)) that an update adjusts in place, so depth and BBO are
read off the sorted levels and never re-aggregated. An L3 book (`OrderBook`) keeps its orders by
id and derives its levels from them; an L2-only venue (Hyperliquid's `l2Book` sends whole
snapshots of levels {px, sz, n}) is a `LevelBook`, set from level snapshots or level updates.
Prices and sizes are exact `Decimal`s, used as they arrive: sums of them are exact.

Sequence rules (`seq` is the venue's update number; one per snapshot or update):
- A new book awaits a snapshot and applies no update until it has one.
- A snapshot replaces the book and sets its `seq`, unless it is older than the book (its seq is
  below the book's), which it ignores ("duplicate"): a book never goes back in time. To follow
  a venue that restarted its numbering, start a new book.
- An update with seq <= the book's is a duplicate: ignored, the book unchanged ("duplicate").
- An update with seq == the book's + 1 is applied and becomes the book's seq ("applied").
- An update with seq > the book's + 1 is a gap: it is not applied, and the book marks itself
  as needing a snapshot ("gap"). Until a snapshot comes, every update is ignored ("stale"),
  even the missing one arriving late: the updates seen after the gap were dropped, so only a
  snapshot can bring the book back.

Health: a book that needs a snapshot is `stale`; one whose best bid >= best ask is `crossed`
(a venue's own matching never leaves its book crossed, so the view is wrong, usually after a
missed update). Neither is healthy: `Depth` and `Bbo` carry both flags, and the consolidated
book leaves unhealthy books out. Being flagged does not by itself ask for a snapshot: the
adapter decides whether to resubscribe.
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, NamedTuple

from sortedcontainers import SortedDict

from streams.domain import EXACT

Side = Literal["bid", "ask"]
Outcome = Literal["applied", "duplicate", "gap", "stale"]


class Level(NamedTuple):
    """One price level: price, total size, and how many orders rest there (a NamedTuple: depth builds many)."""

    price: Decimal
    size: Decimal
    orders: int


class Order(NamedTuple):
    """A resting order of an L3 book: venue id, side, price, size (> 0)."""

    id: str
    side: Side
    price: Decimal
    size: Decimal


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """An L3 update: the order `id` now rests at `side`/`price` with `size`; size 0 removes it (cancel, fill)."""

    seq: int
    ts: int
    id: str
    side: Side
    price: Decimal
    size: Decimal


@dataclass(frozen=True, slots=True)
class LevelUpdate:
    """An L2 update: the level at `side`/`price` now holds `size` in `orders` orders; size 0 removes it."""

    seq: int
    ts: int
    side: Side
    price: Decimal
    size: Decimal
    orders: int


@dataclass(frozen=True, slots=True)
class Depth:
    """The top levels of a book, best first per side, with its seq, event time and health."""

    market: str
    venue: str
    seq: int | None
    ts: int | None
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    crossed: bool
    stale: bool

    @property
    def healthy(self) -> bool:
        """Tell whether the book may be shown as it is: in sequence and not crossed."""
        return not (self.crossed or self.stale)


@dataclass(frozen=True, slots=True)
class Bbo:
    """A book's best bid and offer (None on an empty side), with its seq, event time and health."""

    market: str
    venue: str
    seq: int | None
    ts: int | None
    bid: Level | None
    ask: Level | None
    crossed: bool
    stale: bool

    @property
    def healthy(self) -> bool:
        """Tell whether the quote may be shown as it is: in sequence and not crossed."""
        return not (self.crossed or self.stale)


class Ladder:
    """One side's levels, sorted by price; bids read from the highest, asks from the lowest."""

    __slots__ = ("levels", "bids")

    def __init__(self, bids: bool, levels: Iterable[Level] = ()) -> None:
        self.bids = bids
        self.levels: SortedDict = SortedDict({lv.price: (lv.size, lv.orders) for lv in levels if lv.size > 0})

    def add(self, price: Decimal, size: Decimal) -> None:
        """Add one order of `size` at `price`."""
        level = self.levels.get(price)
        self.levels[price] = (size, 1) if level is None else (EXACT.add(level[0], size), level[1] + 1)

    def remove(self, price: Decimal, size: Decimal) -> None:
        """Remove one order of `size` at `price` (it must rest there)."""
        total, count = self.levels[price]
        if count == 1:
            del self.levels[price]
        else:
            self.levels[price] = (EXACT.subtract(total, size), count - 1)

    def resize(self, price: Decimal, change: Decimal) -> None:
        """Change the size of one order at `price` by `change`, its count the same."""
        total, count = self.levels[price]
        self.levels[price] = (EXACT.add(total, change), count)

    def set(self, price: Decimal, size: Decimal, orders: int) -> None:
        """Set the level at `price` to `size` in `orders` orders; size 0 removes it."""
        if size > 0:
            self.levels[price] = (size, orders)
        else:
            self.levels.pop(price, None)

    def best(self) -> Level | None:
        """Return the best level, or None when the side is empty."""
        if not self.levels:
            return None
        price, (size, orders) = self.levels.peekitem(-1 if self.bids else 0)
        return Level(price, size, orders)

    def top(self, n: int) -> tuple[Level, ...]:
        """Return the best `n` levels, best first."""
        levels = self.levels
        best = levels.islice(max(len(levels) - n, 0), reverse=True) if self.bids else levels.islice(stop=n)
        return tuple(Level(p, *levels[p]) for p in best)

    def __len__(self) -> int:
        return len(self.levels)


class Book:
    """What both kinds of book share: market, venue, both sides, seq, event time and the sequence rules."""

    def __init__(self, market: str, venue: str) -> None:
        self.market, self.venue = market, venue
        self.bids, self.asks = Ladder(bids=True), Ladder(bids=False)
        self.seq: int | None = None
        self.ts: int | None = None
        self.needs_snapshot = True

    def side(self, side: Side) -> Ladder:
        """Return the ladder of `side`."""
        return self.bids if side == "bid" else self.asks

    def admits_snapshot(self, seq: int) -> bool:
        """Tell whether a snapshot at `seq` may replace the book (it is not older than the book)."""
        return self.seq is None or seq >= self.seq

    def admit(self, seq: int) -> Outcome:
        """Return what an update at `seq` does by the sequence rules; mark the book stale on a gap."""
        if self.needs_snapshot:
            return "stale"
        assert self.seq is not None  # set by the snapshot that cleared needs_snapshot
        if seq <= self.seq:
            return "duplicate"
        if seq > self.seq + 1:
            self.needs_snapshot = True
            return "gap"
        return "applied"

    def advance(self, seq: int, ts: int) -> None:
        """Record that the update or snapshot at `seq`, of event time `ts`, is applied."""
        self.seq, self.ts = seq, ts

    @property
    def crossed(self) -> bool:
        """Tell whether the best bid is at or above the best offer."""
        bids, asks = self.bids.levels, self.asks.levels
        return bool(bids and asks) and bids.peekitem(-1)[0] >= asks.peekitem(0)[0]

    def depth(self, n: int) -> Depth:
        """Return the best `n` levels of each side with the book's seq and health."""
        return Depth(self.market, self.venue, self.seq, self.ts, self.bids.top(n), self.asks.top(n), self.crossed,
                     self.needs_snapshot)

    def bbo(self) -> Bbo:
        """Return the best bid and offer with the book's seq and health."""
        return Bbo(self.market, self.venue, self.seq, self.ts, self.bids.best(), self.asks.best(), self.crossed,
                   self.needs_snapshot)


class OrderBook(Book):
    """An L3 book: every resting order by id; its levels follow the orders update by update."""

    def __init__(self, market: str, venue: str) -> None:
        super().__init__(market, venue)
        self._orders: dict[str, tuple[Side, Decimal, Decimal]] = {}  # id -> (side, price, size)

    def apply_snapshot(self, seq: int, ts: int, orders: Iterable[Order]) -> Outcome:
        """Replace the book by `orders` as of `seq`, unless the book is newer; tell which."""
        if not self.admits_snapshot(seq):
            return "duplicate"
        self._orders = {o.id: (o.side, o.price, o.size) for o in orders if o.size > 0}
        sides: dict[Side, dict[Decimal, Level]] = {"bid": {}, "ask": {}}
        for side, price, size in self._orders.values():
            level = sides[side].get(price)
            sides[side][price] = Level(price, size, 1) if level is None else Level(
                price, EXACT.add(level.size, size), level.orders + 1)
        self.bids, self.asks = Ladder(True, sides["bid"].values()), Ladder(False, sides["ask"].values())
        self.needs_snapshot = False
        self.advance(seq, ts)
        return "applied"

    def apply(self, update: OrderUpdate) -> Outcome:
        """Apply an order update by the sequence rules; tell what it did."""
        outcome = self.admit(update.seq)
        if outcome == "applied":
            self._rest(update.id, update.side, update.price, update.size)
            self.advance(update.seq, update.ts)
        return outcome

    def _rest(self, order_id: str, side: Side, price: Decimal, size: Decimal) -> None:
        """Make order `order_id` rest at `side`/`price` with `size` (0: remove it), adjusting its levels."""
        old = self._orders.get(order_id)
        if old is not None and old[0] == side and old[1] == price and size > 0:
            # a partial fill or size amend: the level keeps its count
            self.side(side).resize(price, EXACT.subtract(size, old[2]))
            self._orders[order_id] = (side, price, size)
            return
        if old is not None:
            del self._orders[order_id]
            self.side(old[0]).remove(old[1], old[2])
        if size > 0:
            self._orders[order_id] = (side, price, size)
            self.side(side).add(price, size)

    def resting(self, order_id: str) -> Order | None:
        """Return the order `order_id` as it rests, or None when it does not."""
        rest = self._orders.get(order_id)
        return None if rest is None else Order(order_id, *rest)

    def orders(self) -> Iterator[Order]:
        """Yield the resting orders (for an L3 snapshot of the book)."""
        return (Order(i, *rest) for i, rest in self._orders.items())

    def __len__(self) -> int:
        return len(self._orders)


class LevelBook(Book):
    """An L2 book, for venues that publish levels only: set from level snapshots or level updates."""

    def apply_snapshot(self, seq: int, ts: int, bids: Iterable[Level], asks: Iterable[Level]) -> Outcome:
        """Replace the book's levels as of `seq`, unless the book is newer; tell which."""
        if not self.admits_snapshot(seq):
            return "duplicate"
        self.bids, self.asks = Ladder(True, bids), Ladder(False, asks)
        self.needs_snapshot = False
        self.advance(seq, ts)
        return "applied"

    def apply(self, update: LevelUpdate) -> Outcome:
        """Apply a level update by the sequence rules; tell what it did."""
        outcome = self.admit(update.seq)
        if outcome == "applied":
            self.side(update.side).set(update.price, update.size, update.orders)
            self.advance(update.seq, update.ts)
        return outcome

    def apply_levels(self, seq: int, ts: int, bids: Iterable[Level], asks: Iterable[Level]) -> Outcome:
        """Apply a delta of several levels under one `seq` (size 0 removes a level) by the sequence rules; tell what
        it did. A venue's delta is one update: all its levels move the book on by one."""
        outcome = self.admit(seq)
        if outcome == "applied":
            for ladder, levels in ((self.bids, bids), (self.asks, asks)):
                for level in levels:
                    ladder.set(level.price, level.size, level.orders)
            self.advance(seq, ts)
        return outcome
