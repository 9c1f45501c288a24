"""The simulated venue's book: market makers quoting ladders around a reference price, and market orders walking it.

Each maker quotes `LEVELS` levels a side in every market on a price grid of its own: its best bid is the grid
price at or below reference × (1 − spread), its best ask the one at or above reference × (1 + spread), each
further level one grid step out; the size at a grid price is the maker's, drawn with it, and stays as the ladder
moves. A grid step is a few bps, so a requote cancels only the orders the move took off the ladder, places the
new ones at its other end, and refills those a fill took from. The
orders rest in an L3 `OrderBook` per market (venue `quantdesk`); a market order takes the best price first and,
at one price, the oldest order first, so its fills, the depth and its slippage agree. Each placement and
cancellation is noted (`changes`) for the simulator to publish on `orders.events`, from which the orders agent
builds the venue's book as readers see it; an order a fill takes whole leaves without one (its fill closes it).
"""

import random
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Iterator, Literal, NamedTuple

from quantdesk.markets import OUR_VENUE
from streams.domain.books import Level, Order, OrderBook, OrderUpdate, Side

LEVELS = 10  # levels a maker quotes on each side
SIZE_STEP = Decimal("0.0001")  # as the traders' sizes, so a fill's size is exact


@dataclass(frozen=True)
class Quoting:
    """How one maker quotes one market: its best level's distance from the reference (a share of it), the grid
    step between its levels, and the sizes it shows, one per grid price in turn (so a level keeps its size, and
    its order, while the ladder moves past it)."""

    spread: Decimal
    grid: Decimal
    sizes: tuple[Decimal, ...]

    def touch(self, reference: Decimal) -> tuple[int, int]:
        """Return where the best bid and ask stand around `reference`, in grid steps: just outside the spread."""
        bid = int((reference * (1 - self.spread) / self.grid).to_integral_value(ROUND_FLOOR))
        ask = int((reference * (1 + self.spread) / self.grid).to_integral_value(ROUND_CEILING))
        return bid, ask

    def ladder(self, bid: int, ask: int) -> Iterator[tuple[Side, Decimal, Decimal]]:
        """Yield each level's side, price and size, `LEVELS` a side from the best bid and ask (in grid steps) out,
        bids above 0."""
        sizes = self.sizes
        for step in range(bid, max(0, bid - LEVELS), -1):
            yield "bid", step * self.grid, sizes[step % len(sizes)]
        for step in range(ask, ask + LEVELS):
            yield "ask", step * self.grid, sizes[step % len(sizes)]


def draw_quoting(rng: random.Random, start: float, tick: Decimal, spread_bps: tuple[float, float]) -> Quoting:
    """Return a maker's quoting of a market starting at `start`: a spread within `spread_bps`, a grid of 1 to 3 bps
    (whole ticks), and sizes of $5k to $20k at the start."""
    spread = Decimal(repr(round(rng.uniform(*spread_bps), 2))) / 10_000
    grid = tick * max(1, round(start * rng.uniform(1.0, 3.0) / 10_000 / float(tick)))
    sizes = tuple(max(SIZE_STEP, Decimal(repr(rng.uniform(5_000, 20_000) / start)).quantize(SIZE_STEP))
                  for _ in range(LEVELS))
    return Quoting(spread, grid, sizes)


class Take(NamedTuple):
    """What a market order took from one resting order: the maker's number, the size, the price and the order."""

    maker: int
    size: Decimal
    price: Decimal
    order: str


class Change(NamedTuple):
    """A maker's order placed (with its size) or cancelled (with what was left of it)."""

    kind: Literal["placed", "cancelled"]
    maker: int
    order: Order


class VenueBook:
    """One market's book on the simulated venue: every maker's ladder as resting orders, requoted and taken from."""

    def __init__(self, market: str, quotings: list[Quoting], ts: int) -> None:
        self.quotings = quotings  # by maker number
        self.book = OrderBook(market, OUR_VENUE)
        self.book.apply_snapshot(0, ts, ())
        self.resting: list[dict[tuple[Side, Decimal], Order]] = [{} for _ in quotings]  # by maker: its orders
        self.placed: dict[str, tuple[int, int]] = {}  # order id -> its maker and placement (time priority)
        self.placements = 0
        self.quoted: dict[int, tuple[int, int]] = {}  # maker -> the touch its ladder stands at
        self.changes: list[Change] = []  # placements and cancellations not yet published

    def rest(self, order: Order, ts: int) -> None:
        """Put `order` on the book as it stands now (size 0: take it off)."""
        outcome = self.book.apply(OrderUpdate((self.book.seq or 0) + 1, ts, *order))
        assert outcome == "applied", outcome

    def requote(self, reference: Decimal, ts: int) -> None:
        """Make every maker's ladder stand around `reference`: cancel the orders off it, place the missing ones
        and refill those a fill took from; a maker whose ladder stands and was not filled does nothing."""
        for maker, quoting in enumerate(self.quotings):
            touch = quoting.touch(reference)
            if self.quoted.get(maker) == touch:
                continue
            wanted = {(side, price): size for side, price, size in quoting.ladder(*touch)}
            resting = self.resting[maker]
            for order in [o for at, o in resting.items() if wanted.get(at) != o.size]:
                self.cancel(order, ts)
            for (side, price), size in wanted.items():
                if (side, price) not in resting:
                    self.place(maker, side, price, size, ts)
            self.quoted[maker] = touch

    def place(self, maker: int, side: Side, price: Decimal, size: Decimal, ts: int) -> None:
        """Rest a new order of a maker."""
        order = Order(f"{self.book.market}:{maker}:{self.placements}", side, price, size)
        self.resting[maker][side, price], self.placed[order.id] = order, (maker, self.placements)
        self.placements += 1
        self.rest(order, ts)
        self.changes.append(Change("placed", maker, order))

    def cancel(self, order: Order, ts: int) -> None:
        """Cancel a resting order."""
        self.changes.append(Change("cancelled", self.placed[order.id][0], order))
        self.remove(order, ts)

    def remove(self, order: Order, ts: int) -> None:
        """Take a resting order off the book."""
        maker, _ = self.placed.pop(order.id)
        del self.resting[maker][order.side, order.price]
        self.rest(order._replace(size=Decimal(0)), ts)

    def pop_changes(self) -> list[Change]:
        """Return the placements and cancellations since the last call, in order."""
        changes, self.changes = self.changes, []
        return changes

    def visible(self, side: Side) -> Decimal:
        """Return the size a market order may take from `side`: all of it but its last level, so a side never
        empties."""
        levels = self.book.side(side).levels  # price -> (size, orders), lowest price first
        if not levels:
            return Decimal(0)
        worst = levels.peekitem(0 if side == "bid" else -1)[1][0]
        return sum((size for size, _ in levels.values()), Decimal(0)) - worst

    def take(self, size: Decimal, ts: int) -> list[Take]:
        """Fill a market order of `size` (> 0 buys, < 0 sells; at most `visible` of the side it takes from), best
        price first, oldest order first at a price; return what it took from each order, in order."""
        side: Side = "ask" if size > 0 else "bid"
        left, takes = abs(size), []
        while left > 0:
            best = self.book.side(side).best()
            assert best is not None, "a market order took more than the visible depth"
            for order in self.queue(side, best):
                taken = min(left, order.size)
                takes.append(Take(self.placed[order.id][0], taken, order.price, order.id))
                self.fill(order, taken, ts)
                left -= taken
                if left == 0:
                    break
        return takes

    def queue(self, side: Side, level: Level) -> list[Order]:
        """Return the orders resting at a level, oldest first."""
        at = [o for resting in self.resting if (o := resting.get((side, level.price))) is not None]
        return sorted(at, key=lambda o: self.placed[o.id][1])

    def fill(self, order: Order, size: Decimal, ts: int) -> None:
        """Take `size` from a resting order: it rests with the rest, or leaves the book when none is left; its maker
        refills it at the next requote."""
        maker, _ = self.placed[order.id]
        self.quoted.pop(maker, None)
        if size == order.size:
            self.remove(order, ts)
            return
        rest = self.resting[maker][order.side, order.price] = order._replace(size=order.size - size)
        self.rest(rest, ts)

    def levels(self, side: Side) -> tuple[Level, ...]:
        """Return every level of a side, best first."""
        return self.book.side(side).top(len(self.book.side(side)))
