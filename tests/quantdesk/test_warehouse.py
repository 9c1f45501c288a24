"""The warehouse's idempotent insert: each id stored once, whatever else its time span holds; every value exact."""

import signal
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest
from clickhouse_connect.driver.exceptions import OperationalError

from quantdesk.settings import Settings
from quantdesk.warehouse import Unreachable, Unstorable, Warehouse, arrow_type, migration_files
from tests.quantdesk.clickhouse_http import own_clickhouse

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


def test_an_id_stored_once_is_never_stored_again_whatever_its_event_time(warehouse: Warehouse) -> None:
    # a simulator started again once reused its ids with new times: 1,041 tick rows held 390 ids
    assert warehouse.insert_new("oracle_ticks", COLUMNS, [tick("sim:tick:1", START_MS)]) == 1
    days_later = [tick("sim:tick:1", START_MS + 3 * 86_400_000), tick("sim:tick:2", START_MS + 3 * 86_400_000)]
    assert warehouse.insert_new("oracle_ticks", COLUMNS, days_later) == 1
    months_later = [tick("sim:tick:1", START_MS + 90 * 86_400_000), tick("sim:tick:2", START_MS - 86_400_000)]
    assert warehouse.insert_new("oracle_ticks", COLUMNS, months_later) == 0  # other partitions (months) too
    assert stored_ids(warehouse) == ["sim:tick:1", "sim:tick:2"]


def test_a_batch_whose_ids_outgrow_one_query_is_looked_up_in_parts(warehouse: Warehouse) -> None:
    # 3,000 ids of ~80 bytes are ~480 KB as hex, past ClickHouse's 256 KiB query limit if sent in one query
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


SNAPSHOT = ["id", "ts", "wallet", "subaccount", "state", "collateral", "equity", "maintenance_margin",
            "initial_margin", "free_collateral", "leverage", "health", "positions"]
ODD_TEXT = 'say "hi"\nthen \\ leave\ttabbed — naïve ✓ 🚀'


def snapshot(snapshot_id: str, ts: int, leverage: Decimal | None, positions: list[dict[str, Any]]) -> list[Any]:
    """Return an account snapshot row with money at every scale, as the sink makes it."""
    return [snapshot_id, ts, ODD_TEXT, 4_294_967_295, "liquidatable",
            Decimal("12345678901234567890.123456789012345678"), Decimal("-0.000000000000000001"),
            Decimal("-98765.432109876543210987"), Decimal("0E-18"), Decimal("1E+2"), leverage,
            Decimal("0.999999999999999999"), orjson.dumps(positions).decode()]


def test_every_value_of_a_row_is_stored_exactly(warehouse: Warehouse) -> None:
    positions = [{"market": "SOL-PERP", "size": "-2.000000000000000001", "note": ODD_TEXT}]
    rows = [snapshot("none", START_MS + 123, None, positions), snapshot("zero", START_MS + 1, Decimal("0"), []),
            snapshot("early", 1, Decimal("-3.5"), positions)]
    assert warehouse.insert_new("account_snapshots", SNAPSHOT, rows) == 3
    stored = warehouse.rows(f"SELECT *, toUnixTimestamp64Milli(ts) AS ms FROM {warehouse.database}.account_snapshots")
    by_id = {r["id"]: [r["ms"] if name == "ts" else r[name] for name in SNAPSHOT] for r in stored}
    assert by_id == {row[0]: row for row in rows}
    assert by_id["none"][SNAPSHOT.index("leverage")] is None and by_id["zero"][SNAPSHOT.index("leverage")] == 0
    assert orjson.loads(by_id["none"][-1]) == positions


MARKET_STATE = ["id", "ts", "market", "oracle_price", "conf", "mark_price", "premium", "status", "reason"]


def test_decimal_texts_and_floats_are_stored_exactly(warehouse: Warehouse) -> None:
    # derived topics reach the sink as decoded JSON: their decimals are texts (or a stray float)
    row = ["m", START_MS, "SOL-PERP", "65000.123456789012345678", 0.1, "-99999999999999999999.999999999999999999",
           "1E-18", "trading", ""]
    assert warehouse.insert_new("market_state", MARKET_STATE, [row]) == 1
    stored = warehouse.rows(f"SELECT oracle_price, conf, mark_price, premium FROM {warehouse.database}.market_state")
    assert stored == [{"oracle_price": Decimal("65000.123456789012345678"), "conf": Decimal("0.1"),
                       "mark_price": Decimal("-99999999999999999999.999999999999999999"), "premium": Decimal("1E-18")}]


@pytest.mark.parametrize("premium", ["1.1234567890123456789", "1e20", "-1e25", 1e308, "NaN", "abc", True])
def test_a_decimal_that_does_not_fit_its_column_exactly_is_refused_not_cut(warehouse: Warehouse, premium: object) -> None:
    row = ["m", START_MS, "SOL-PERP", "1", "0", "1", premium, "trading", ""]
    with pytest.raises(Unstorable) as refused:
        warehouse.insert_new("market_state", MARKET_STATE, [row])
    assert list(refused.value.refused) == ["m"] and refused.value.refused["m"].startswith("premium: ")
    assert warehouse.rows(f"SELECT id FROM {warehouse.database}.market_state") == []


@pytest.mark.parametrize(("column", "value"), [("ts", 10**20), ("ts", 10**16), ("publish_time", -2_208_988_800_001),
                                               ("slot", -1), ("slot", 2**64), ("market", None), ("price", None),
                                               ("market", "\ud800")])
def test_a_value_outside_its_column_type_is_refused(warehouse: Warehouse, column: str, value: object) -> None:
    bad = tick("bad", START_MS)
    bad[COLUMNS.index(column)] = value
    with pytest.raises(Unstorable) as refused:
        warehouse.insert_new("oracle_ticks", COLUMNS, [bad])
    assert list(refused.value.refused) == ["bad"] and refused.value.refused["bad"].startswith(f"{column}: ")
    assert stored_ids(warehouse) == []


def test_a_mixed_batch_stores_its_good_rows_and_reports_each_bad_one(warehouse: Warehouse) -> None:
    rows = [tick(f"t{n}", START_MS + n) for n in range(6)]
    rows[1][COLUMNS.index("price")] = "1e25"
    rows[4][COLUMNS.index("slot")] = -1
    stored = warehouse.store("oracle_ticks", COLUMNS, rows)
    assert stored.new == 4 and sorted(stored.refused) == ["t1", "t4"]
    assert stored.refused["t1"].startswith("price: ") and stored.refused["t4"].startswith("slot: ")
    assert stored_ids(warehouse) == ["t0", "t2", "t3", "t5"]
    again = warehouse.store("oracle_ticks", COLUMNS, rows)  # the good ones once, the bad ones refused again
    assert again.new == 0 and sorted(again.refused) == ["t1", "t4"]


def test_column_types_map_to_the_arrow_types_clickhouse_reads_back_unchanged() -> None:
    assert arrow_type("Nullable(Decimal(38, 18))") == pa.decimal128(38, 18)
    assert arrow_type("DateTime64(3, 'UTC')") == pa.timestamp("ms", tz="UTC")
    assert arrow_type("LowCardinality(String)") == pa.string()
    with pytest.raises(ValueError):
        arrow_type("DateTime64(6, 'UTC')")


def test_migrations_apply_once_and_record_their_versions(settings: Settings) -> None:
    warehouse = Warehouse.from_settings(settings)
    first, second = warehouse.migrate(), warehouse.migrate()
    assert first == [p.stem for p in migration_files()] and first[0] == "0001_events" and second == []
    tables = {r["name"] for r in warehouse.rows(f"SHOW TABLES FROM {settings.clickhouse_database}")}
    assert {"oracle_ticks", "fills", "candles", "dead_letters", "schema_migrations"} <= tables


def test_a_server_silent_or_gone_raises_unreachable_within_its_timeout_for_every_caller_at_once(
        settings: Settings, tmp_path: Path) -> None:
    with own_clickhouse(tmp_path / "server") as (server, dsn):
        warehouse = Warehouse(dsn, settings.clickhouse_database, answer_s=1)
        warehouse.migrate()
        assert warehouse.rows("SELECT count() AS n FROM {db:Identifier}.fills", {"db": warehouse.database}) == [
            {"n": 0}]

        def outcome(_: int) -> Exception | None:
            try:
                warehouse.rows("SELECT 1")
            except Exception as exc:
                return exc
            return None

        server.send_signal(signal.SIGSTOP)  # silent: connections taken, nothing answered
        started = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            silent = list(pool.map(outcome, range(8)))
        waited = time.monotonic() - started
        server.send_signal(signal.SIGCONT)
        assert warehouse.rows("SELECT 1 AS one") == [{"one": 1}]
        server.kill()
        server.wait(timeout=10)
        gone = outcome(0)

    for exc in (*silent, gone):
        assert isinstance(exc, Unreachable), exc
        assert str(exc) == "ClickHouse did not answer within 1 s", exc
        assert isinstance(exc.__cause__, OperationalError), exc.__cause__  # the driver's, naming the server
    assert waited < 4, f"8 callers took {waited:.1f} s: one after another, not side by side"  # 8 s one by one
