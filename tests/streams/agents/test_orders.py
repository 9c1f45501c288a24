"""The orders agent in a real feed worker over Tansu and chDB: each order's lifecycle stored as a row per version,
whatever order its events were published in; every hostile order event or fill a dead letter with why; what rests
published on `books` as our venue's book; a worker started again from the input's start stores nothing twice and
numbers the book as before."""

from decimal import Decimal as D

import orjson

from quantdesk.kafka.publisher import Publisher
from quantdesk.kafka.reader import Reader
from quantdesk.markets import OUR_VENUE
from quantdesk.settings import Settings
from quantdesk.warehouse import Warehouse
from tests.conftest import send_raw
from tests.streams.test_endpoints import showing, value, worker
from tests.waiting import eventually

T0 = 1_767_225_600_000


def order_event(n: str, ts: int, kind: str = "placed", **fields: object) -> tuple[str, str, dict]:
    """Return an order event of W on `orders.events`: by default a buy limit order `o1` of 10 at 100."""
    event = {"id": f"ev:{n}", "ts": ts, "market": "SOL-PERP", "wallet": "W", "kind": kind, "order": "o1"}
    if kind == "placed":
        event |= {"side": "buy", "size": "10", "price": "100", "order_type": "Limit"}
    return "orders.events", "W:0", event | fields


def fill(n: str, ts: int, size: str, price: str, **fields: object) -> tuple[str, str, dict]:
    """Return W's maker buy fill of order `o1` on `trades.fills`."""
    return "trades.fills", "W:0", {"id": f"fill:{n}", "ts": ts, "market": "SOL-PERP", "wallet": "W", "side": "buy",
                                   "size": size, "price": price, "liquidity": "maker", "order": "o1", **fields}


async def rows(warehouse: Warehouse, sql: str) -> list[dict]:
    """Return a query's rows, `{db}` the test's database."""
    return await warehouse.arows(sql.replace("{db}", warehouse.database))


async def test_a_lifecycle_is_stored_a_version_a_row_and_hostile_events_are_dead_letters(
        settings: Settings, warehouse: Warehouse) -> None:
    hostile = [order_event("kind", T0, kind="amended"), order_event("negative", T0, size="-1", order="o2"),
               order_event("bare", T0, order=None), order_event("doge", T0, market="DOGE-PERP", order="o3"),
               fill("orphan", T0 + 1, "1", "100", order="o9"), fill("over", T0 + 3, "7", "100")]
    lifecycle = [fill("a", T0 + 2, "4", "99.5"), order_event("place", T0),  # the fill published first
                 fill("b", T0 + 4, "6", "100.25"), order_event("late", T0 + 5, kind="cancelled")]
    async with worker(settings, "feed", warehouse), Publisher(settings, settings.kafka_bootstrap or "") as publisher:
        await publisher.send([*lifecycle[:2], *hostile, *lifecycle[2:]])
        await send_raw(publisher, "orders.events", b'{"not": "an order"')

        async def versions() -> list[dict]:
            found = await rows(warehouse, "SELECT id, version, status, filled_size, average_price, cause "
                                          "FROM {db}.orders ORDER BY version")
            return found if len(found) == 3 else []
        stored = await eventually(versions, what="the order's three versions")

        async def letters() -> list[str]:
            found = await rows(warehouse, "SELECT topic, reason FROM {db}.dead_letters")
            return sorted(f"{r['topic']}: {r['reason']}" for r in found) if len(found) == 8 else []
        dead = await eventually(letters, what="eight dead letters")
        events = await rows(warehouse, "SELECT id FROM {db}.order_events ORDER BY id")
    assert [(r["id"], r["status"], r["filled_size"], r["average_price"], r["cause"]) for r in stored] == [
        ("o1:1", "open", 0, None, "ev:place"), ("o1:2", "partially_filled", 4, D("99.5"), "fill:a"),
        ("o1:3", "filled", 10, D("99.95"), "fill:b")]  # (4 × 99.5 + 6 × 100.25) / 10 = 999.5 / 10
    assert dead == sorted([
        "orders.events: invalid kind: Input should be 'placed', 'cancelled', 'position_opened' or 'position_closed'",
        "orders.events: invalid size: Input should be greater than 0",
        "orders.events: invalid message: Value error, an order event of kind 'placed' needs order",
        "orders.events: unknown market 'DOGE-PERP'",
        "orders.events: not JSON: unexpected end of data: line 1 column 19 (char 18)",
        "trades.fills: orders: a fill of order o9, which was not placed",
        "trades.fills: orders: a fill of 7 overfills order o1: 6 left of 10",
        "orders.events: orders: a cancellation of order o1, which is filled already"])
    assert [r["id"] for r in events] == ["ev:doge", "ev:late", "ev:place"]  # as every input: each that validates

    async with worker(settings, "feed", warehouse) as again:  # reads its input from the start again
        await showing(again, "worker_events_out_total", 3, role="feed", topic="orders.state")
        page = await showing(again, "worker_sink_batch_rows_sum", 3, role="feed", table="orders")  # the sink read them
    assert value(page, "worker_sink_rows_total", role="feed", table="orders") == 0
    assert len(await rows(warehouse, "SELECT id FROM {db}.orders")) == 3


async def published_books(settings: Settings) -> list[dict]:
    """Return every event on `books`, partition by partition in offset order (a message carries a batch)."""
    async with Reader(settings.kafka_bootstrap or "") as reader:
        parts = await reader.partitions([settings.topic("books")])
        records = await reader.read_until(dict.fromkeys(parts, 0), await reader.end_offsets(parts))
    return [event for r in records for event in orjson.loads(r.value)]


async def test_what_rests_goes_out_on_books_as_our_venues_book_the_same_seqs_after_a_restart(
        settings: Settings, warehouse: Warehouse) -> None:
    asks = [order_event("ask", T0 + 1, order="o2", side="sell", price="101", size="3"),
            order_event("market", T0 + 1, order="o3", side="sell", price=None, size="1", order_type="Market")]
    lifecycle = [order_event("place", T0), fill("a", T0 + 2, "4", "99.5"), fill("b", T0 + 4, "6", "100.25")]
    async with worker(settings, "feed", warehouse), Publisher(settings, settings.kafka_bootstrap or "") as publisher:
        await publisher.send([*lifecycle, *asks])

        async def four() -> list[dict]:
            found = await published_books(settings)
            return found if len(found) == 4 else []
        first = await eventually(four, what="four updates of our venue's book")
    seen = [(b["kind"], b["seq"], b["ts"], [(lv["price"], lv["size"], lv["orders"]) for lv in b["bids"] + b["asks"]])
            for b in first]
    assert seen == [("snapshot", 1, T0, [("100", "10", 1)]),  # the market order never rests
                    ("delta", 2, T0 + 1, [("101", "3", 1)]), ("delta", 3, T0 + 2, [("100", "6", 1)]),
                    ("delta", 4, T0 + 4, [("100", "0", 0)])]
    assert {(b["venue"], b["market"]) for b in first} == {(OUR_VENUE, "SOL-PERP")}
    async with worker(settings, "feed", warehouse) as again:  # reads its input from the start again
        await showing(again, "worker_events_out_total", 4, role="feed", topic="books")
    assert (await published_books(settings))[4:] == first  # the same ids and seqs: readers ignore them
