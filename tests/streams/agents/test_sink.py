"""The sink stores valid input events exactly, skips invalid ones, writes nested derived values as JSON,
retries a batch while the warehouse is away, and dead-letters alone a row it cannot store exactly."""

import asyncio
import logging
from decimal import Decimal

import orjson
import pytest

from aiokafka import AIOKafkaProducer

from api.embedded import running
from quantdesk.kafka.publisher import Publisher
from quantdesk.settings import Settings
from quantdesk.warehouse import Warehouse
from streams.agents.sink import TableWriter, stored_events, stored_split
from tests.waiting import eventually

TS = 1_767_225_600_000


def fill(fill_id: str, **changes: object) -> dict:
    """Return a fill as the wire carries it, with `changes` applied."""
    return {"id": fill_id, "ts": TS, "market": "SOL-PERP", "wallet": "W", "subaccount": 1, "side": "buy",
            "size": "0.123456789012345678", "price": "101.5", "fee": "-0.01", "liquidity": "maker",
            "signature": "sig", "slot": 7, **changes}


def test_a_message_with_an_invalid_fill_stores_only_the_valid_ones(warehouse: Warehouse) -> None:
    raw = orjson.dumps([fill("a"), fill("bad", size="-1"), fill("b", liquidation="plan-9"), "junk"])
    events = stored_events("trades.fills", raw)
    assert [e["id"] for e in events] == ["a", "b"]
    writer = TableWriter(warehouse, "fills")
    warehouse.insert_new("fills", writer.columns, [writer.row(e) for e in events])
    rows = warehouse.rows(f"SELECT id, size, fee, liquidation FROM {warehouse.database}.fills ORDER BY id")
    assert rows == [{"id": "a", "size": Decimal("0.123456789012345678"), "fee": Decimal("-0.01"), "liquidation": ""},
                    {"id": "b", "size": Decimal("0.123456789012345678"), "fee": Decimal("-0.01"),
                     "liquidation": "plan-9"}]


def test_a_valid_message_gives_every_field_as_the_model_holds_it(warehouse: Warehouse) -> None:
    events = stored_events("trades.fills", orjson.dumps([fill("a"), fill("b", price=101.25)]))
    assert events[1]["price"] == Decimal("101.25") and events[0]["size"] == Decimal("0.123456789012345678")
    row = TableWriter(warehouse, "fills").row(events[0])
    assert row[:3] == ["a", TS, "SOL-PERP"] and row[-1] == ""


def test_bytes_that_are_not_json_store_nothing_and_a_derived_topics_are_dead_lettered_with_why() -> None:
    assert stored_split("oracle.ticks", b"{oops", 7) == ([], [])  # an input's owner agent dead-letters it
    assert stored_split("accounts.history", None, 7) == ([], [])  # a tombstone holds no event
    events, [letter] = stored_split("accounts.history", b'[{"id": "cut', 7)
    assert events == [] and letter.reason.startswith("cannot be stored: not JSON:")
    assert (letter.topic, letter.ts, letter.payload) == ("accounts.history", 7, '[{"id": "cut')
    events, letters = stored_split("accounts.history", orjson.dumps([snapshot("a", "1"), [1], {"ts": TS}]), 7)
    assert [e["id"] for e in events] == ["a"]
    assert [(d.ts, d.reason, d.payload) for d in letters] == [
        (7, "cannot be stored: not an object with an id", "[1]"),
        (TS, "cannot be stored: not an object with an id", f'{{"ts":{TS}}}')]


def test_nested_derived_values_are_stored_as_json(warehouse: Warehouse) -> None:
    positions = [{"market": "SOL-PERP", "size": "2"}]
    events = stored_events("accounts.history", orjson.dumps({"id": "s", "ts": TS, "positions": positions}))
    writer = TableWriter(warehouse, "account_snapshots")
    assert orjson.loads(writer.row(events[0])[writer.columns.index("positions")]) == positions


async def test_a_batch_the_warehouse_refuses_is_retried_until_stored(
    warehouse: Warehouse, caplog: pytest.LogCaptureFixture
) -> None:
    # the table is away (as in an outage), so the insert fails; once it is back the same batch lands, once
    db = warehouse.database
    writer = TableWriter(warehouse, "fills")
    warehouse.command(f"RENAME TABLE {db}.fills TO {db}.fills_away")
    storing = asyncio.create_task(writer.store(stored_events("trades.fills", orjson.dumps([fill("a"), fill("b")]))))

    async def refused() -> bool:
        return any("storing 2 rows in fills failed" in r.getMessage() for r in caplog.records)

    with caplog.at_level(logging.ERROR, logger="streams.agents.sink"):
        await eventually(refused, what="a refused insert")
    assert not storing.done()
    warehouse.command(f"RENAME TABLE {db}.fills_away TO {db}.fills")
    assert await asyncio.wait_for(storing, 30) == (2, [])
    assert [r["id"] for r in warehouse.rows(f"SELECT id FROM {db}.fills ORDER BY id")] == ["a", "b"]


def snapshot(snapshot_id: str, collateral: str) -> dict:
    """Return an account snapshot as the risk worker publishes it on `accounts.history`."""
    figures = dict.fromkeys(("equity", "maintenance_margin", "initial_margin", "free_collateral", "health"), "1")
    return {"id": snapshot_id, "ts": TS, "wallet": "W", "subaccount": 0, "state": "funded", "collateral": collateral,
            **figures, "leverage": None, "positions": []}


async def test_a_row_that_cannot_be_stored_is_dead_lettered_alone_and_the_sink_goes_on(settings: Settings) -> None:
    # a derived topic skips the input bounds: 1e25 does not fit Decimal(38, 18), which once crashed the sink
    batch = [snapshot("a", "1"), snapshot("huge", "1e25"), snapshot("b", "2")]
    async with running(settings, simulator=False) as runtime, Publisher(settings, runtime.bootstrap) as publisher:
        db = runtime.warehouse.database
        await publisher.send([("accounts.history", "W:0", s) for s in batch])

        async def dead() -> list[dict]:
            return await runtime.warehouse.arows(f"SELECT topic, reason, payload FROM {db}.dead_letters")

        [letter] = await eventually(dead, what="the unstorable snapshot dead-lettered")
        assert letter["topic"] == "accounts.history" and letter["reason"].startswith("cannot be stored: collateral:")
        assert orjson.loads(letter["payload"]) == snapshot("huge", "1e25")
        await publisher.send([("accounts.history", "W:0", snapshot("c", "3"))])

        async def stored() -> list[str]:
            rows = await runtime.warehouse.arows(f"SELECT id FROM {db}.account_snapshots ORDER BY id")
            return [r["id"] for r in rows] if len(rows) == 3 else []

        assert await eventually(stored, what="the good snapshots, and one sent after") == ["a", "b", "c"]
        assert len(await dead()) == 1


async def test_a_derived_message_that_holds_no_events_is_dead_lettered_and_the_rest_stored(settings: Settings) -> None:
    # only the workers write a derived topic: what is wrong in one is their fault, shown on dlq, never dropped unseen
    async with running(settings, simulator=False) as runtime:
        db, topic = runtime.warehouse.database, settings.topic("accounts.history")
        producer = AIOKafkaProducer(bootstrap_servers=runtime.bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait(topic, b'[{"id": "cut', partition=0)
            await producer.send_and_wait(topic, orjson.dumps([snapshot("a", "1"), "junk"]), partition=0)
        finally:
            await producer.stop()

        async def dead() -> list[dict]:
            rows = await runtime.warehouse.arows(f"SELECT topic, reason, payload FROM {db}.dead_letters ORDER BY reason")
            return rows if len(rows) == 2 else []

        letters = await eventually(dead, what="both faults dead-lettered")
        assert [(d["topic"], d["reason"][:34], d["payload"]) for d in letters] == [
            ("accounts.history", "cannot be stored: not JSON: unexpe", '[{"id": "cut'),
            ("accounts.history", "cannot be stored: not an object wi", '"junk"')]
        rows = await runtime.warehouse.arows(f"SELECT id FROM {db}.account_snapshots")
        assert [r["id"] for r in rows] == ["a"]


def test_order_events_and_states_are_stored_exactly_once_by_id(warehouse: Warehouse) -> None:
    placed = {"id": "p", "ts": TS, "market": "SOL-PERP", "wallet": "W", "kind": "placed", "side": "buy",
              "size": "0.123456789012345678", "price": "99.5", "order_type": "Limit", "order": "o1"}
    cancel = {"id": "c", "ts": TS + 1, "market": "SOL-PERP", "wallet": "W", "kind": "cancelled", "order": "o1"}
    raw = orjson.dumps([placed, {**cancel, "id": "bad", "kind": "amended"}, cancel])
    writer = TableWriter(warehouse, "order_events")
    for _ in range(2):
        warehouse.insert_new(writer.table, writer.columns, [writer.row(e) for e in stored_events("orders.events", raw)])
    assert warehouse.rows(f"SELECT id, kind, side, size, price, `order` FROM {warehouse.database}.order_events "
                          "ORDER BY id") == [
        {"id": "c", "kind": "cancelled", "side": None, "size": None, "price": None, "order": "o1"},
        {"id": "p", "kind": "placed", "side": "buy", "size": Decimal("0.123456789012345678"), "price": Decimal("99.5"),
         "order": "o1"}]
    state = {"id": "o1:2", "ts": TS + 1, "order": "o1", "wallet": "W", "subaccount": 0, "market": "SOL-PERP",
             "side": "buy", "size": "3", "price": "99.5", "order_type": "Limit", "status": "partially_filled",
             "filled_size": "1", "average_price": "99.333333333333333333", "version": 2, "placed_ts": TS, "cause": "f"}
    states = TableWriter(warehouse, "orders")
    for _ in range(2):
        events = stored_events("orders.state", orjson.dumps([state]))
        warehouse.insert_new(states.table, states.columns, [states.row(e) for e in events])
    [row] = warehouse.rows(f"SELECT id, average_price, toUnixTimestamp64Milli(placed_ts) AS placed, version "
                           f"FROM {warehouse.database}.orders")
    assert row == {"id": "o1:2", "average_price": Decimal("99.333333333333333333"), "placed": TS, "version": 2}
    fills = TableWriter(warehouse, "fills")
    events = stored_events("trades.fills", orjson.dumps([fill("a", order="o1"), fill("b")]))
    warehouse.insert_new("fills", fills.columns, [fills.row(e) for e in events])
    assert warehouse.rows(f"SELECT id, `order` FROM {warehouse.database}.fills ORDER BY id") == [
        {"id": "a", "order": "o1"}, {"id": "b", "order": ""}]
