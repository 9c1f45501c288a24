"""The orders agent's tables: orders and our venue's book rebuilt from them at any checkpoint go on exactly like ones
never stopped."""

import random
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from quantdesk.messages import Fill, OrderEvent
from streams.agents.orders import folded
from streams.domain.orders import Orders
from streams.domain.resting import RestingBooks
from streams.orders_store import OrdersStore
from streams.risk.checkpoint import Restored
from streams.risk.reorder import ReorderBuffer
from tests.streams.cuts import cut_run, in_releases

T0 = 1_767_225_600_000
WINDOW_MS = 5_000  # the lateness window: orders' events forgotten, closed orders kept as how they closed


def events(seed: int, count: int) -> list[OrderEvent | Fill]:
    """Return `count` seeded order events and fills of two markets and three wallets: placements (limit and market),
    fills in parts, cancellations, and hostile ones (a fill of no order, an overfill, a second placement, a
    cancellation by another wallet), 0 to 2 s apart."""
    rng, ts, out = random.Random(seed), T0, []
    placed: list[dict[str, Any]] = []
    for n in range(count):
        ts += rng.choice((0, 1, 100, 700, 2_000))
        roll = rng.random()
        if roll < 0.35 or not placed:
            order = {"order": f"o{n}", "market": rng.choice(("SOL-PERP", "BTC-PERP")), "wallet": rng.choice("ABC"),
                     "side": rng.choice(("buy", "sell")), "size": rng.choice(("1", "2.5", "10")),
                     "price": rng.choice(("99", "100", "100.5", "101"))}
            market_order = rng.random() < 0.1
            placed.append(order)
            out.append(OrderEvent.model_validate({
                "id": f"p{n}", "ts": ts, "kind": "placed", **order, "price": None if market_order else order["price"],
                "order_type": "Market" if market_order else "Limit"}))
            continue
        order = rng.choice(placed[-30:])
        if roll < 0.8:
            size = rng.choice(("0.5", "1", "2.5", "20"))  # 20 overfills any of them
            out.append(Fill.model_validate({"id": f"f{n}", "ts": ts, "market": order["market"],
                                            "wallet": order["wallet"], "side": order["side"], "size": size,
                                            "price": order["price"], "liquidity": "maker", "order": order["order"]}))
        elif roll < 0.93:
            wallet = order["wallet"] if rng.random() < 0.9 else "Z"
            out.append(OrderEvent.model_validate({"id": f"c{n}", "ts": ts, "market": order["market"], "wallet": wallet,
                                                  "kind": "cancelled", "order": order["order"]}))
        else:
            out.append(Fill.model_validate({"id": f"f{n}", "ts": ts, "market": "SOL-PERP", "wallet": "A",
                                            "side": "buy", "size": "1", "price": "100", "liquidity": "maker",
                                            "order": f"ghost{n}"}))
    return out


class Run:
    """Orders, our venue's book and the reorder buffer as the orders agent drives them, saving into a store whose
    checkpoints fold into a log as the broker would hold it (JSON)."""

    def __init__(self, log: Restored | None = None) -> None:
        self.orders, self.books, self.buffer = Orders(), RestingBooks(), ReorderBuffer(0, WINDOW_MS)
        self.log = log or Restored()
        self.store = OrdersStore(orjson.loads(orjson.dumps(self.log.tables)))
        self.store.load(self.orders, self.books, self.buffer)

    def release(self, chunk: list[Any]) -> list[bytes]:
        """Apply a chunk of events as one release, as the agent does; return what it sends, as bytes."""
        self.buffer.push(chunk)
        applied = list(self.buffer.drain())
        states, books, refused = folded(self.orders, self.books, applied)
        self.orders.forget_before(self.buffer.released - WINDOW_MS)
        if applied:
            self.buffer.settle(applied, {}, {})
        return [m.model_dump_json().encode() for m in [*states, *books, *refused]]

    def checkpoint(self) -> None:
        """Save what changed since the last checkpoint and fold it into the log."""
        self.store.save(self.orders, self.books, self.buffer)
        changes = {name: table.take_changes() for name, table in self.store.tables.items()}
        self.log.fold(orjson.loads(orjson.dumps({"tables": changes, "offsets": {}})))

    def held(self) -> tuple[Any, ...]:
        """Return everything the orders, books and buffer hold, comparable."""
        orders, books = self.orders, self.books
        histories = {name: (h.order, h.settled, h.steps, h.refused, h.last) for name, h in orders.histories.items()}
        rests = {m: (b.seq, b.ts, sorted(b.orders()), b.bids.top(1000), b.asks.top(1000), books.whole[m])
                 for m, b in books.books.items()}
        return (histories, orders.closed, orders.forgotten, sorted(set(orders.times)), rests, self.buffer.to_row(),
                sorted(self.buffer.seen))


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000), st.lists(st.integers(1, 30), min_size=1, max_size=6), st.integers(1, 5))
def test_orders_rebuilt_at_any_checkpoint_go_on_exactly_like_ones_never_stopped(
        seed: int, sizes: list[int], every: int) -> None:
    chunks, whole = in_releases(events(seed, 500), sizes), Run()
    outs, cuts = cut_run(whole, chunks, every, 4)
    assert whole.orders.closed and any(b'"kind":"snapshot"' in m for out in outs for m in out)
    for cut, (tables, _) in cuts.items():
        again = Run(Restored(tables))
        later = [again.release(chunk) for chunk in chunks[cut:]]
        assert later == outs[cut:], f"cut at {cut}"
        assert again.held() == whole.held(), f"cut at {cut}"
        again.checkpoint()
        whole.checkpoint()
        assert again.log.tables == whole.log.tables
