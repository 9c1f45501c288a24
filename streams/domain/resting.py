"""Our venue's book: the program's resting orders, from their states, as the `books` messages a reader holds.

An order rests while it is open or partly filled at a limit price: what is left of it at its price, a buy on the
bid side. Each state that changes the book moves its market's book on by one `seq` and goes out as a delta of the
one level it changed (size 0 and no orders: the level is gone). The whole book goes out instead every
`SNAPSHOT_EVERY`-th seq from the first, and on the first update `SNAPSHOT_AFTER_MS` of event time past the last
whole book, so a reader that starts late (a gateway reads a window of recent messages) soon holds the book. States
that change nothing (a market order, a state seen before) send nothing.

The states come in apply order (the orders agent's), so the same input gives the same seqs and messages whatever
the timing; a worker started again sends them again under the same ids and seqs, which readers ignore.
"""

from decimal import Decimal
from typing import Any, Iterable

from quantdesk.markets import OUR_VENUE
from quantdesk.messages import BOOK_LEVELS, DECIMAL_BOUND, BookLevel, BookUpdate, OrderState
from streams.domain import EXACT
from streams.domain.books import Level, Order, OrderBook, OrderUpdate, Side

SNAPSHOT_EVERY = 50  # updates of a book between its whole books on `books`
SNAPSHOT_AFTER_MS = 10_000  # nor longer than this in event time, as another venue's (api.books reads ~10 s back)
RESTS = ("open", "partially_filled")
ZERO = Decimal(0)


def book_level(level: Level) -> BookLevel:
    """Return a level as `books` carries it."""
    return BookLevel(price=level.price, size=level.size, orders=level.orders)


class RestingBooks:
    """Every market's book of our resting orders, and the `books` message each change of it makes."""

    def __init__(self) -> None:
        self.books: dict[str, OrderBook] = {}
        self.whole: dict[str, int] = {}  # market -> event time of its book's last whole message
        self.changed: dict[str, set[str]] = {}  # market -> the orders whose rest changed since `take_changed`

    def book(self, market: str, ts: int) -> OrderBook:
        """Return a market's book, empty at seq 0 when it has none yet."""
        book = self.books.get(market)
        if book is None:
            book = self.books[market] = OrderBook(market, OUR_VENUE)
            book.apply_snapshot(0, ts, ())
            self.whole[market] = ts
            self.changed.setdefault(market, set())
        return book

    def refuses(self, state: OrderState) -> str | None:
        """Return why the book cannot rest an order as its state says, or None: its price level would hold a size of
        1e20 or more, past what a level on `books` carries (several orders each within the input's bound)."""
        book = self.books.get(state.market)
        if book is None or state.status not in RESTS or not state.price:
            return None
        was, side = book.resting(state.order), "bid" if state.side == "buy" else "ask"
        held = book.side(side).levels.get(state.price)
        level = EXACT.subtract(held[0] if held else ZERO, was.size if was and was.price == state.price else ZERO)
        if (total := EXACT.add(level, EXACT.subtract(state.size, state.filled_size))) >= DECIMAL_BOUND:
            return f"the {side} level at {state.price} would hold {total}, past the 1e20 a book level carries"
        return None

    def take(self, state: OrderState) -> BookUpdate | None:
        """Rest, resize or remove the order as its new state says; return the message that tells readers, or None
        when the book did not change."""
        book = self.book(state.market, state.ts)
        was = book.resting(state.order)
        side: Side = "bid" if state.side == "buy" else "ask"
        if state.status in RESTS and state.price:
            price, size = state.price, EXACT.subtract(state.size, state.filled_size)
        elif was is not None:
            price, size = was.price, ZERO
        else:
            return None  # it never rested: a market order, or an order closed already
        if was == Order(state.order, side, price, size):
            return None  # it rests so already: a state seen before
        seq = (book.seq or 0) + 1
        assert book.apply(OrderUpdate(seq, state.ts, state.order, side, price, size)) == "applied"
        self.changed.setdefault(book.market, set()).add(state.order)
        return self.message(book, side, price)

    def message(self, book: OrderBook, side: Side, price: Decimal) -> BookUpdate:
        """Return the book's latest update as `books` carries it: the level at `price` of `side`, or the whole book
        every `SNAPSHOT_EVERY` seqs from the first and once `SNAPSHOT_AFTER_MS` passed since the last."""
        seq, ts = book.seq, book.ts
        assert seq is not None and ts is not None
        head = {"id": f"book:{OUR_VENUE}:{book.market}:{seq}", "ts": ts, "venue": OUR_VENUE, "market": book.market,
                "seq": seq}
        if (seq - 1) % SNAPSHOT_EVERY == 0 or ts - self.whole[book.market] >= SNAPSHOT_AFTER_MS:
            self.whole[book.market] = ts
            return BookUpdate(**head, kind="snapshot", bids=tuple(map(book_level, book.bids.top(BOOK_LEVELS))),
                              asks=tuple(map(book_level, book.asks.top(BOOK_LEVELS))))
        held = book.side(side).levels.get(price)
        level = book_level(Level(price, *held) if held else Level(price, ZERO, 0))
        return BookUpdate(**head, kind="delta", **{"bids" if side == "bid" else "asks": (level,)})

    def take_changed(self) -> dict[str, set[str]]:
        """Return, per market whose book changed since the last call, the orders whose rest changed; forget them."""
        changed, self.changed = self.changed, {}
        return changed

    def head(self, market: str) -> dict[str, Any]:
        """Return a market's book's seq and times as a stored row (its resting orders are stored apart: `rest`)."""
        book = self.books[market]
        return {"seq": book.seq, "ts": book.ts, "whole": self.whole[market]}

    def rest(self, market: str, order: str) -> list[str] | None:
        """Return how an order rests in its market's book as a stored row (side, price, size), None if it does not."""
        resting = self.books[market].resting(order)
        return None if resting is None else [resting.side, str(resting.price), str(resting.size)]

    def load(self, heads: dict[str, dict[str, Any]], rests: Iterable[tuple[str, str, list[str]]]) -> None:
        """Take back each market's `head` row and the `rest` rows of its orders, into new books."""
        orders: dict[str, list[Order]] = {market: [] for market in heads}
        for market, order, (side, price, size) in rests:
            orders[market].append(Order(order, side, Decimal(price), Decimal(size)))  # type: ignore[arg-type]
        for market, head in heads.items():
            book = self.books[market] = OrderBook(market, OUR_VENUE)
            book.apply_snapshot(head["seq"], head["ts"], orders[market])
            self.whole[market] = head["whole"]
