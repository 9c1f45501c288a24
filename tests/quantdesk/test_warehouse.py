"""The warehouse's idempotent insert: each id stored once, whatever else its time span holds; money exact."""

from decimal import Decimal
from typing import Any, Iterator

import pytest

from quantdesk.settings import Settings
from quantdesk.warehouse import Warehouse

COLUMNS = ["id", "ts", "market", "price", "conf", "publish_time", "status", "source", "slot"]
START_MS = 1_767_225_600_000


def tick(tick_id: str, ts: int, price: str = "100.5") -> list[Any]:
    """Return an oracle tick row."""
    return [tick_id, ts, "BTC-PERP", Decimal(price), Decimal("0.01"), ts, "trading", "test", 1]


@pytest.fixture
def warehouse(settings: Settings) -> Iterator[Warehouse]:
    """Return the test's migrated warehouse."""
    opened = Warehouse.from_settings(settings)
    opened.migrate()
    yield opened
    opened.close()


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


def test_a_stored_price_keeps_every_digit(warehouse: Warehouse) -> None:
    warehouse.insert_new("oracle_ticks", COLUMNS, [tick("exact", START_MS, "65000.123456789012345678")])
    row = warehouse.rows(f"SELECT price FROM {warehouse.database}.oracle_ticks")[0]
    assert row["price"] == Decimal("65000.123456789012345678")
