"""Analysts' reads of the warehouse: read-only SQL and whole-table exports by event time, as CSV or Parquet."""

from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import clickhouse_connect
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from clickhouse_connect.driver.client import Client

from quantdesk.settings import Settings
from quantdesk.warehouse import read_only_limits

READ_ONLY = {"readonly": 1}  # ClickHouse itself refuses INSERT, ALTER, DROP and CREATE, whatever the text
MAX_ROWS = 100_000  # what `quantdesk sql` returns at most unless told
FORMATS = ("csv", "parquet")
PAGE_ROWS = 100_000  # rows an export holds in memory at once


def reader(settings: Settings) -> Client:
    """Open a client whose bare table names mean the configured database (chDB clients on one path share data)."""
    return clickhouse_connect.get_client(dsn=settings.resolved_clickhouse_dsn(), database=settings.clickhouse_database)


def query_table(client: Client, sql: str, database: str, max_rows: int = MAX_ROWS) -> pa.Table:
    """Run a read-only query, `{db}` set to the database, and return its rows as an Arrow table; ClickHouse refuses
    a result longer than `max_rows` (0: no limit)."""
    return client.query_arrow(sql.replace("{db}", database), settings=read_only_limits(max_rows))


def write_table(table: pa.Table, out: Path) -> None:
    """Write a table as CSV or Parquet, by the file's suffix."""
    if out.suffix == ".parquet":
        pq.write_table(table, out)
    elif out.suffix == ".csv":
        pacsv.write_csv(table, out)
    else:
        raise ValueError(f"--out must end in .csv or .parquet, not {out.name}")


def exportable(client: Client, database: str) -> list[str]:
    """Return the tables that hold a `ts` column, the ones an export can cut by event time."""
    result = client.query("SELECT table FROM system.columns WHERE database = {db:String} AND name = 'ts' "
                          "ORDER BY table", parameters={"db": database}, settings=READ_ONLY)
    return [row[0] for row in result.result_rows]


def instant(text: str) -> int:
    """Return an ISO time (UTC unless it says) or epoch milliseconds as epoch milliseconds."""
    if text.lstrip("-").isdigit():
        return int(text)
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return int((moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp() * 1000)


def page_sql(database: str, table: str) -> str:
    """Return the query for the next page of a table's final rows with `ts` in [start, end), after a (ts, id)."""
    return (f"SELECT * FROM {database}.{table} FINAL WHERE ts >= fromUnixTimestamp64Milli({{start:Int64}}, 'UTC') "
            f"AND ts < fromUnixTimestamp64Milli({{end:Int64}}, 'UTC') "
            f"AND (ts, id) > (fromUnixTimestamp64Milli({{after_ts:Int64}}, 'UTC'), {{after_id:String}}) "
            f"ORDER BY ts, id LIMIT {{page:UInt64}}")


def pages(client: Client, database: str, table: str, start: int, end: int) -> Iterator[pa.Table]:
    """Yield a table's rows in [start, end) page by page, each page after the last one's (ts, id): chDB
    materialises a whole Arrow result, so a page bounds the memory an export needs."""
    sql = page_sql(database, table)
    after = {"after_ts": start - 1, "after_id": ""}
    while True:
        page = client.query_arrow(sql, parameters={"start": start, "end": end, "page": PAGE_ROWS, **after},
                                  settings=READ_ONLY)
        if page.num_rows:
            yield page
        if page.num_rows < PAGE_ROWS:
            return
        last = page.slice(page.num_rows - 1)
        after = {"after_ts": last.column("ts").cast(pa.timestamp("ms", "UTC")).cast(pa.int64())[0].as_py(),
                 "after_id": last.column("id")[0].as_py()}


def export(client: Client, database: str, table: str, start: int, end: int, fmt: str, out: Path) -> int:
    """Write a table's rows with `ts` in [start, end) to `out` page by page; return how many were written."""
    tables = exportable(client, database)
    if table not in tables:
        raise ValueError(f"no table {table!r} to export; these can be: {', '.join(tables)}")
    if fmt not in FORMATS:
        raise ValueError(f"--format must be one of {', '.join(FORMATS)}, not {fmt}")
    written = 0
    writer: pq.ParquetWriter | pacsv.CSVWriter | None = None
    try:
        for page in pages(client, database, table, start, end):
            writer = writer or open_writer(fmt, out, page.schema)
            writer.write_table(page)
            written += page.num_rows
        if writer is None:  # no rows: still a readable file with the table's columns
            columns = query_table(client, f"SELECT * FROM {database}.{table} LIMIT 0", database).schema
            writer = open_writer(fmt, out, columns)
    finally:
        if writer is not None:
            writer.close()
    return written


def open_writer(fmt: str, out: Path, schema: pa.Schema) -> "pq.ParquetWriter | pacsv.CSVWriter":
    """Open a Parquet or CSV file for record batches of `schema`."""
    return pq.ParquetWriter(out, schema) if fmt == "parquet" else pacsv.CSVWriter(out, schema)
