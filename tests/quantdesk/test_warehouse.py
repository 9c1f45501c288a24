"""The warehouse's idempotent insert: each id stored once, whatever else its time span holds; money exact."""

from decimal import Decimal
from typing import Any

from quantdesk.warehouse import Warehouse

COLUMNS = ["id", "ts", "market", "price", "conf", "publish_time", "status", "source", "slot"]
START_MS = 1_767_225_600_000


def tick(tick_id: str, ts: int, price: str = "100.5") -> list[Any]:
    """Return an oracle tick row."""
    return [tick_id, ts, "BTC-PERP", Decimal(price), Decimal("0.01"), ts, "trading", "test", 1]


def stored_ids(warehouse: Warehouse) -> list[str]:
    """Return every stored tick id, duplicates included, sorted."""
    return sorted(r["id"] for r in warehouse.rows(f"SELECT id FROM {warehouse.database}.oracle_ticks"))


def test_a_batch_among_few_stored_rows_stores_only_its_new_ids(warehouse: Warehouse) -> None:
    odd_ids = ["it's", "back\\slash", "tab\there", "naïve"]
    assert warehouse.insert_new("oracle_ticks", COLUMNS, [tick(i, START_MS + n) for n, i in enumerate(odd_ids)]) == 4
    again = [tick(i, START_MS + n) for n, i in enumerate([*odd_ids, "new", "new"])]
    assert warehouse.insert_new("oracle_ticks", COLUMNS, again) == 1
    assert stored_ids(warehouse) == sorted([*odd_ids, "new"])


def test_a_batch_among_many_stored_rows_of_its_time_span_stores_only_its_new_ids(warehouse: Warehouse) -> None:
    crowd = [tick(f"crowd:{n}", START_MS + n) for n in range(50)]
    assert warehouse.insert_new("oracle_ticks", COLUMNS, crowd) == 50
    late = [tick("late", START_MS + 5), tick("crowd:40", START_MS + 40)]
    assert warehouse.insert_new("oracle_ticks", COLUMNS, late) == 1
    assert len(stored_ids(warehouse)) == 51


def test_a_batch_whose_ids_outgrow_one_query_is_looked_up_in_parts(warehouse: Warehouse) -> None:
    # 9,000 stored rows in the span make the dedupe send the batch's ids: 3,000 of ~80 bytes are ~480 KB
    # as hex, past ClickHouse's 256 KiB query limit if sent in one query
    assert warehouse.insert_new("oracle_ticks", COLUMNS, [tick(f"n{n}", START_MS + n) for n in range(9000)]) == 9000
    long_ids = [f"sim:fill:taker:{n}:1:{'W' * 44}:0:state" for n in range(3000)]
    batch = [tick(i, START_MS + 3 * n) for n, i in enumerate(long_ids)]
    assert warehouse.insert_new("oracle_ticks", COLUMNS, [*batch, tick("n7", START_MS + 7)]) == 3000
    assert warehouse.insert_new("oracle_ticks", COLUMNS, [*batch, tick("n8", START_MS + 8)]) == 0
    assert len(stored_ids(warehouse)) == 12_000


def test_a_stored_price_keeps_every_digit(warehouse: Warehouse) -> None:
    warehouse.insert_new("oracle_ticks", COLUMNS, [tick("exact", START_MS, "65000.123456789012345678")])
    row = warehouse.rows(f"SELECT price FROM {warehouse.database}.oracle_ticks")[0]
    assert row["price"] == Decimal("65000.123456789012345678")
