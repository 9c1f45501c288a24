"""The pipeline figure's bookkeeping: what its polls read of the warehouse."""

from types import SimpleNamespace

from bench.pipeline import STORED, row_counts
from quantdesk.warehouse import Warehouse


async def test_a_poll_reads_each_tables_rows_as_count_gives_them(warehouse: Warehouse) -> None:
    db = warehouse.database
    for batch in (3, 2):  # two parts
        warehouse.command(f"INSERT INTO {db}.oracle_ticks (id, ts, market, price, conf, publish_time) "
                          f"SELECT toString(number + {batch * 10}), now64(3), 'BTC-PERP', 1, 0, now64(3) "
                          f"FROM numbers({batch})")
    warehouse.command(f"INSERT INTO {db}.fills (id, ts, market, wallet, side, size, price) "
                      "SELECT toString(number), now64(3), 'BTC-PERP', 'w', 'buy', 1, 1 FROM numbers(4)")
    counts = await row_counts(SimpleNamespace(warehouse=warehouse), STORED)  # type: ignore[arg-type]
    assert counts == {t: warehouse.rows(f"SELECT count() AS n FROM {db}.{t}")[0]["n"] for t in STORED}
    assert (counts["oracle_ticks"], counts["fills"]) == (5, 4) and sum(counts.values()) == 9
