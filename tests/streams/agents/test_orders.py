"""The orders agent in a real feed worker over Tansu and chDB: each order's lifecycle stored as a row per version,
whatever order its events were published in; every hostile order event or fill a dead letter with why; a worker
started again from the input's start stores nothing twice."""

from decimal import Decimal as D

from quantdesk.kafka.publisher import Publisher
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
