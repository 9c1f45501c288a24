"""The orders agent's state as table rows: checkpointed every few seconds, read back on start.

Four tables (journals whose changes each checkpoint carries, `streams.risk.checkpoint`) hold what the orders, our
venue's book and the reorder buffer need to go on exactly as if the worker had never stopped:

- `orders`, key the order's id: its events inside the lateness window and where the older ones left it
  (`OrderHistory.to_row`), or, closed before the window, only who placed it and how it closed.
- `resting`, key `MARKET ORDER`: how an order rests in our venue's book (side, price, size).
- `books`, key the market: its book's seq and times; `~orders` how far the orders' events are forgotten and the
  buffer's clock.
- `applied`, key the buffer's count of releases: the ids a release applied (`reorder.Applied`).
"""

from typing import Any

from streams.domain.orders import Orders
from streams.domain.resting import RestingBooks
from streams.risk.checkpoint import AppliedRows, Journal
from streams.risk.reorder import ReorderBuffer

HEAD = "~orders"  # no market's name: markets are the settings'
TABLES = ("orders", "resting", "books", "applied")  # as the checkpoint log names them


class OrdersStore:
    """The orders agent's four tables: the orders and books changed since the last save go in, whole ones come out."""

    def __init__(self, tables: dict[str, dict[str, Any]] | None = None) -> None:
        """Hold journals of `tables` (as a checkpoint log restores them), whose changes a checkpoint takes."""
        tables = tables or {}
        self.orders, self.resting, self.books, self.applied = (Journal(tables.get(name)) for name in TABLES)
        self.records = AppliedRows(self.applied)

    @property
    def tables(self) -> dict[str, Journal]:
        """Return the tables by the names the checkpoint log gives them."""
        return dict(zip(TABLES, (self.orders, self.resting, self.books, self.applied)))

    def save(self, orders: Orders, books: RestingBooks, buffer: ReorderBuffer) -> None:
        """Write the orders and books changed since the last save, the clocks, and the records of applied ids the
        buffer made or forgot since."""
        for name in orders.take_changed():
            if (row := orders.row(name)) is None:
                self.orders.pop(name, None)
            else:
                self.orders[name] = row
        for market, changed in books.take_changed().items():
            self.books[market] = books.head(market)
            for order in changed:
                if (rest := books.rest(market, order)) is None:
                    self.resting.pop(f"{market} {order}", None)
                else:
                    self.resting[f"{market} {order}"] = rest
        self.books[HEAD] = {**orders.to_row(), **buffer.to_row()}
        self.records.save(buffer)

    def load(self, orders: Orders, books: RestingBooks, buffer: ReorderBuffer) -> None:
        """Rebuild fresh `orders`, `books` and `buffer` from the tables (no change when they are empty)."""
        head = self.books.get(HEAD)
        if head is None:
            return
        orders.load(head, self.orders.items())
        buffer.load_row(head, self.records.records())
        rests = ((*key.split(" ", 1), rest) for key, rest in self.resting.items())
        books.load({market: row for market, row in self.books.items() if market != HEAD}, rests)
