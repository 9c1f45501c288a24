"""The order books' costs: one update of an L3 book, a 100-level depth of it, and a route over 50 levels,
each beside the bare container work it cannot avoid (same run, same process)."""

import random
import statistics
import time
from decimal import Decimal
from itertools import islice
from typing import Any, Callable

from sortedcontainers import SortedDict

from streams.domain.books import Level, LevelBook, Order, OrderBook, OrderUpdate
from streams.domain.consolidated import consolidate
from streams.domain.routing import Route, ranked, route

LEVELS_PER_SIDE = 1000  # a cent apart around 100: 100k orders rest about 50 to a level
DEPTH_LEVELS = 100
WALK_LEVELS, WALK_VENUES, WALK_BOOK_LEVELS = 50, 3, 100
UPDATE_REPEATS, READ_REPEATS = 3, 200
TICK = Decimal("0.01")


def price(rng: random.Random, side: str) -> Decimal:
    """Return a random level's price: bids 99.01-100.00, asks 100.01-101.00."""
    step = rng.randrange(LEVELS_PER_SIDE)
    return Decimal(10_000 - step).scaleb(-2) if side == "bid" else Decimal(10_001 + step).scaleb(-2)


def size(rng: random.Random) -> Decimal:
    """Return a random order size, 0.001 to 10 in steps of 0.001."""
    return Decimal(rng.randrange(1, 10_001)).scaleb(-3)


def resting(rng: random.Random, count: int) -> list[Order]:
    """Return `count` resting orders, half bids, half asks."""
    sides = ("bid", "ask")
    return [Order(str(i), sides[i % 2], price(rng, sides[i % 2]), size(rng)) for i in range(count)]  # type: ignore[arg-type]


def updates(rng: random.Random, orders: list[Order], count: int) -> list[OrderUpdate]:
    """Return a venue's next `count` updates: 40 % new orders, 40 % cancels, 20 % partial fills."""
    live = {o.id: o for o in orders}
    ids, out, next_id = list(live), [], len(orders)
    for seq in range(1, count + 1):
        roll = rng.random()
        if roll < 0.4 or len(ids) < 2:
            side = rng.choice(("bid", "ask"))
            order = Order(str(next_id), side, price(rng, side), size(rng))  # type: ignore[arg-type]
            live[order.id], next_id = order, next_id + 1
            ids.append(order.id)
            out.append(OrderUpdate(seq, seq, order.id, order.side, order.price, order.size))
            continue
        i = rng.randrange(len(ids))
        order = live[ids[i]]
        if roll < 0.8:
            ids[i] = ids[-1]
            ids.pop()
            del live[order.id]
            out.append(OrderUpdate(seq, seq, order.id, order.side, order.price, Decimal(0)))
        else:
            left = max(order.size / 2, TICK).quantize(Decimal("0.001"))
            live[order.id] = order._replace(size=left)
            out.append(OrderUpdate(seq, seq, order.id, order.side, order.price, left))
    return out


def update_seconds(orders: list[Order], stream: list[OrderUpdate]) -> float:
    """Return the fastest time, over repeats on fresh books, to apply `stream` to a book of `orders`."""
    times = []
    for _ in range(UPDATE_REPEATS):
        book = OrderBook("BTC-PERP", "sim")
        book.apply_snapshot(0, 0, orders)
        started = time.perf_counter()
        for u in stream:
            book.apply(u)
        times.append(time.perf_counter() - started)
        assert book.seq == len(stream) and not book.needs_snapshot
    return min(times)


def bare_update_seconds(orders: list[Order], stream: list[OrderUpdate]) -> float:
    """Return the fastest time to do the floor of each update: one dict store and one SortedDict store."""
    times = []
    for _ in range(UPDATE_REPEATS):
        by_id = {o.id: o for o in orders}
        levels = SortedDict({o.price: o.size for o in orders})
        started = time.perf_counter()
        for u in stream:
            by_id[u.id] = u
            levels[u.price] = u.size
        times.append(time.perf_counter() - started)
    return min(times)


def median_seconds(step: Callable[[], Any]) -> float:
    """Return the median seconds of `step()` over the read repeats, after one warm run."""
    step()
    times = []
    for _ in range(READ_REPEATS):
        started = time.perf_counter()
        step()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def bare_depth(book: OrderBook) -> Callable[[], Any]:
    """Return the floor of a depth read: the best 100 keys and values of two bare SortedDicts of the same levels."""
    bids = SortedDict({lv.price: (lv.size, lv.orders) for lv in book.depth(LEVELS_PER_SIDE).bids})
    asks = SortedDict({lv.price: (lv.size, lv.orders) for lv in book.depth(LEVELS_PER_SIDE).asks})
    start = max(len(bids) - DEPTH_LEVELS, 0)
    return lambda: ([(p, bids[p]) for p in bids.islice(start, reverse=True)],
                    [(p, asks[p]) for p in asks.islice(stop=DEPTH_LEVELS)])


def walk_case(rng: random.Random) -> tuple[Callable[[], Any], Callable[[], Any], int]:
    """Return a route over the best 50 offers of a three-venue book, its bare floor, and the levels it walks."""
    depths = []
    for v in range(WALK_VENUES):
        book = LevelBook("BTC-PERP", f"venue{v}")
        asks = [Level(Decimal(10_001 + rng.randrange(300)).scaleb(-2), size(rng), 1) for _ in range(WALK_BOOK_LEVELS)]
        book.apply_snapshot(1, 0, [], asks)
        depths.append(book.depth(WALK_BOOK_LEVELS))
    consolidated = consolidate("BTC-PERP", depths)
    fees = {f"venue{v}": Decimal(v + 1).scaleb(-4) for v in range(WALK_VENUES)}
    best = list(islice(ranked("buy", consolidated.asks, fees, None), WALK_LEVELS))
    amount = sum((lv.size for lv in best), Decimal(0))
    done = route(consolidated, "buy", amount, fees)
    assert isinstance(done, Route)
    walked = sum(leg.levels for leg in done.legs)

    def bare() -> Decimal:
        """Sum the notional of the same 50 levels: the Decimal arithmetic any walk does."""
        notional = Decimal(0)
        for lv in best:
            notional += lv.size * lv.price
        return notional

    return lambda: route(consolidated, "buy", amount, fees), bare, walked


def book_costs(orders: int, update_count: int) -> dict[str, Any]:
    """Return µs per book update, ms per 100-level depth and µs per 50-level route, each beside its floor."""
    rng = random.Random(7)
    resting_orders = resting(rng, orders)
    stream = updates(rng, resting_orders, update_count)
    update_us = update_seconds(resting_orders, stream) * 1e6 / update_count
    bare_update_us = bare_update_seconds(resting_orders, stream) * 1e6 / update_count
    book = OrderBook("BTC-PERP", "sim")
    book.apply_snapshot(0, 0, resting_orders)
    depth_ms = median_seconds(lambda: book.depth(DEPTH_LEVELS)) * 1e3
    bare_depth_ms = median_seconds(bare_depth(book)) * 1e3
    walk, bare_walk, walked = walk_case(rng)
    walk_us, bare_walk_us = median_seconds(walk) * 1e6, median_seconds(bare_walk) * 1e6
    return {
        "orders": orders, "levels_per_side": LEVELS_PER_SIDE, "updates": update_count,
        "update_us": update_us, "baseline_update_us": bare_update_us, "update_ratio": update_us / bare_update_us,
        "depth_levels": DEPTH_LEVELS, "depth_ms": depth_ms, "baseline_depth_ms": bare_depth_ms,
        "depth_ratio": depth_ms / bare_depth_ms,
        "walk_levels": walked, "walk_venues": WALK_VENUES, "walk_us": walk_us, "baseline_walk_us": bare_walk_us,
        "walk_ratio": walk_us / bare_walk_us, "targets": {"update_us": 5.0, "depth_ms": 1.0},
        "what": "OrderBook.apply of a venue's updates (40 % new orders, 40 % cancels, 20 % partial fills) to an L3 "
                "book of `orders` orders on 1,000 levels a side, fastest of 3 passes; OrderBook.depth(100) of that "
                "book, median of 200; routing.route of a buy taking the 50 best all-in offers of 3 venues' books "
                "of 100 levels each, median of 200",
        "baseline": "per update one dict store and one SortedDict store; the same 100 best keys and values read from "
                    "two bare SortedDicts of the same levels; the Decimal notional summed over the same 50 levels",
    }
