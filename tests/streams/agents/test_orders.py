"""The orders agent in a real feed worker over Tansu and chDB: each order's lifecycle stored as a row per version,
whatever order its events were published in; every hostile order event or fill a dead letter with why; what rests
published on `books` as our venue's book; a worker started again from the input's start stores nothing twice and
numbers the book as before. Without a broker: what it remembers of the ids it applied, and what it refuses as late."""

from decimal import Decimal as D
from types import SimpleNamespace
from typing import Any

import orjson
from aiokafka import TopicPartition as TP

from quantdesk.kafka.publisher import MESSAGE_BYTES, Publisher
from quantdesk.kafka.reader import Reader
from quantdesk.markets import OUR_VENUE
from quantdesk.messages import LETTER_CHARS
from quantdesk.settings import Settings
from quantdesk.warehouse import Warehouse
from streams.agents.orders import OrdersAgent
from streams.metrics import WorkerMetrics
from tests.conftest import send_raw
from tests.streams.agents.test_markets import feed_reading, quiet, worker_reading
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

    async with worker(settings, "feed", warehouse) as again, \
            Publisher(settings, settings.kafka_bootstrap or "") as publisher:  # reads its input from the start again
        await publisher.send([order_event("again", T0 + 6, order="o4")])
        await showing(again, "worker_sink_rows_total", 1, role="feed", table="orders")
        page = await showing(again, "worker_events_out_total", 1, role="feed", topic="orders.state")
    assert value(page, "worker_events_out_total", role="feed", topic="dlq") == 0  # the letters were sent once
    assert len(await rows(warehouse, "SELECT id FROM {db}.orders")) == 4


async def records(settings: Settings, topic: str) -> list[Any]:
    """Return every message on a topic, partition by partition in offset order."""
    async with Reader(settings.kafka_bootstrap or "") as reader:
        parts = await reader.partitions([settings.topic(topic)])
        return await reader.read_until(dict.fromkeys(parts, 0), await reader.end_offsets(parts))


async def published_books(settings: Settings) -> list[dict]:
    """Return every event on `books`, partition by partition in offset order (a message carries a batch)."""
    return [event for r in await records(settings, "books") for event in orjson.loads(r.value)]


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
    async with worker(settings, "feed", warehouse) as again, \
            Publisher(settings, settings.kafka_bootstrap or "") as publisher:  # reads its input from the start again
        await publisher.send([order_event("pull", T0 + 5, "cancelled", order="o2")])

        async def five() -> list[dict]:
            found = await published_books(settings)
            return found if len(found) == 5 else []
        books = await eventually(five, what="the update the cancellation makes")
        page = await showing(again, "worker_events_out_total", 1, role="feed", topic="books")
    assert books[:4] == first  # what the first run sent is not sent again: its book is rebuilt, and goes on
    assert (books[4]["kind"], books[4]["seq"], books[4]["asks"]) == ("delta", 5, [
        {"price": "101", "size": "0", "orders": 0}])
    assert value(page, "worker_events_out_total", role="feed", topic="orders.state") == 1


def orders_reading(ends: dict[TP, int], metrics: WorkerMetrics | None = None) -> OrdersAgent:
    """Return an orders worker with a minute's lateness window whose consumer reports `ends`, showing what it does
    in `metrics` (what it publishes: `worker.pipeline.sent`)."""
    return feed_reading(OrdersAgent, ends, Settings(max_lateness_ms=60_000), metrics)


def message(offset: int, *events: tuple[str, str, dict]) -> SimpleNamespace:
    """Return a Kafka record holding the events' values as a JSON array."""
    return SimpleNamespace(offset=offset, timestamp=T0, value=orjson.dumps([event for _, _, event in events]))


async def test_the_worker_remembers_applied_ids_for_the_lateness_window_not_for_all_history() -> None:
    # it reads every fill: 20,000 of them 100 ms apart in messages of 100, a minute's window: ~600 ids, not 20,000
    fills, events = TP(Settings().topic("trades.fills"), 0), TP(Settings().topic("orders.events"), 0)
    worker = orders_reading({fills: 200, events: 0})
    quiet(worker)
    remembered = []
    for offset in range(200):
        first = T0 + offset * 10_000
        await worker.take("trades.fills", fills, message(offset, *(fill(f"{first}:{n}", first + 100 * n, "1", "100",
                                                                        order=None) for n in range(100))))
        remembered.append(len(worker.buffer.seen))
    assert max(remembered[100:]) <= 800, remembered[::20]
    assert not any(worker.pipeline.sent.values())  # fills of no order: nothing to say, nothing refused


async def test_an_order_event_later_than_the_window_is_a_dead_letter_and_a_late_fill_is_left_to_the_others() -> None:
    events, fills = TP(Settings().topic("orders.events"), 0), TP(Settings().topic("trades.fills"), 0)
    ends = {events: 1, fills: 1}
    worker = orders_reading(ends)
    await worker.take("orders.events", events, message(0, order_event("1", T0 + 240_000)))
    await worker.take("trades.fills", fills, message(0, fill("1", T0 + 240_000, "1", "100")))
    quiet(worker)
    await worker.on_timer()
    assert [s.filled_size for s in worker.pipeline.sent["orders.state"]] == [D(0), D(1)]
    ends.update({events: 2, fills: 2})
    late, cancel = order_event("2", T0, order="o2"), order_event("3", T0 + 240_001, "cancelled")
    await worker.take("orders.events", events, message(1, late, cancel))
    await worker.take("trades.fills", fills, message(1, fill("2", T0, "1", "100")))
    quiet(worker)
    await worker.on_timer()
    [letter] = worker.pipeline.sent["dlq"]  # the late placement; the late fill's letter is the markets worker's
    assert orjson.loads(letter.payload)["id"] == "ev:2" and letter.reason.startswith("late: more than 60000 ms")
    assert [(s.status, s.filled_size) for s in worker.pipeline.sent["orders.state"]][2:] == [("cancelled", D(1))]


async def test_a_fill_the_feeds_markets_and_orders_agents_both_read_is_counted_once() -> None:
    # the feed's "events in" of trades.fills counted every fill twice, once a reader
    fills = TP(Settings().topic("trades.fills"), 0)
    markets, _ = worker_reading({fills: 1})
    orders = orders_reading({fills: 1}, markets.pipeline.metrics)
    hostile = ("trades.fills", "W:0", {"id": "fill:bad", "ts": T0, "market": "SOL-PERP"})
    for reader in (markets, orders):
        await reader.take("trades.fills", fills, message(0, fill("1", T0, "1", "100"), hostile))
    page = markets.pipeline.metrics.render().decode()
    assert 'worker_events_in_total{role="feed",topic="trades.fills"} 2.0' in page
    assert len(markets.pipeline.sent["dlq"]) == 1 and not orders.pipeline.sent["dlq"]  # the markets agent's letter


async def test_the_worker_keeps_an_orders_events_for_the_window_and_of_a_closed_order_only_how_it_closed() -> None:
    # 2,000 orders a second apart, each filled half a second after its placement, a minute's window: the events of
    # ~60 orders are kept, not 4,000 events, and a later cancellation of the first is refused as it always was
    events, fills = TP(Settings().topic("orders.events"), 0), TP(Settings().topic("trades.fills"), 0)
    ends = {events: 2_000, fills: 2_000}
    worker = orders_reading(ends)
    for n in range(2_000):
        ts = T0 + 1_000 * n
        await worker.take("orders.events", events, message(n, order_event(f"p{n}", ts, order=f"o{n}")))
        await worker.take("trades.fills", fills, message(n, fill(f"{n}", ts + 500, "10", "100", order=f"o{n}")))
    quiet(worker)
    await worker.on_timer()
    states = worker.pipeline.sent["orders.state"]
    assert [s.status for s in states] == ["open", "filled"] * 2_000
    orders = worker.orders
    assert len(orders.closed) >= 1_930 and len(orders.histories) <= 70
    assert sum(len(h.steps) for h in orders.histories.values()) <= 140 and len(orders.times) <= 140
    ends.update({events: 2_001})
    await worker.take("orders.events", events, message(2_000, order_event("late", T0 + 2_000_000, "cancelled")))
    quiet(worker)
    await worker.on_timer()
    [letter] = worker.pipeline.sent["dlq"]
    assert letter.reason == "orders: a cancellation of order o1, which is filled already"


async def test_an_input_message_whose_dead_letters_pass_a_kafka_request_is_refused_and_the_feed_goes_on(
        settings: Settings, warehouse: Warehouse) -> None:
    # 3 MB of bytes that are not UTF-8: written as `\xNN`, then escaped again in the letter's JSON, its payload
    # passes the producer's 8 MB request (and Kafka's 1 MB message) by far; and 150 events of 40 KB of quotes each
    binary = bytes(range(128, 256)) * (3 << 20 >> 7)
    quotes = orjson.dumps([order_event(f"q{n}", T0, kind="amended", note='"' * 20_000)[2] for n in range(150)])
    async with worker(settings, "feed", warehouse) as feed, \
            Publisher(settings, settings.kafka_bootstrap or "") as publisher:
        await send_raw(publisher, "orders.events", binary)
        await send_raw(publisher, "orders.events", quotes)
        await publisher.send([order_event("place", T0 + 1)])

        async def letters() -> list[dict]:
            found = await rows(warehouse, "SELECT reason, lengthUTF8(payload) AS size FROM {db}.dead_letters")
            return found if len(found) == 151 else []
        dead = await eventually(letters, what="151 dead letters")
        await eventually(lambda: rows(warehouse, "SELECT id FROM {db}.orders"), what="the order placed after them")
        assert feed.app.crash_reason is None
    assert max(r["size"] for r in dead) == LETTER_CHARS  # the first 64 Ki characters, how long it was, its digest
    assert sum(r["reason"].startswith("not JSON") for r in dead) == 1
    assert max(len(r.value) for r in await records(settings, "dlq")) <= MESSAGE_BYTES
