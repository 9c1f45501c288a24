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

READ_ONLY = {"readonly": 1}  # ClickHouse itself refuses INSERT, ALTER, DROP and CREATE, whatever the text
FORMATS = ("csv", "parquet")


def reader(settings: Settings) -> Client:
    """Open a client whose bare table names mean the configured database (chDB clients on one path share data)."""
    return clickhouse_connect.get_client(dsn=settings.resolved_clickhouse_dsn(), database=settings.clickhouse_database)


def query_table(client: Client, sql: str, database: str) -> pa.Table:
    """Run a read-only query, `{db}` set to the database, and return its rows as an Arrow table."""
    return client.query_arrow(sql.replace("{db}", database), settings=READ_ONLY)


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


def window_sql(database: str, table: str) -> str:
    """Return the query for a table's final rows with `ts` in [start, end), in event-time order."""
    return (f"SELECT * FROM {database}.{table} FINAL WHERE ts >= fromUnixTimestamp64Milli({{start:Int64}}, 'UTC') "
            f"AND ts < fromUnixTimestamp64Milli({{end:Int64}}, 'UTC') ORDER BY ts, id")


def batches(client: Client, sql: str, start: int, end: int) -> Iterator[pa.RecordBatch]:
    """Yield the query's rows as Arrow record batches, as ClickHouse streams its blocks."""
    with client.query_arrow_stream(sql, parameters={"start": start, "end": end}, settings=READ_ONLY) as stream:
        yield from stream


def export(client: Client, database: str, table: str, start: int, end: int, fmt: str, out: Path) -> int:
    """Write a table's rows with `ts` in [start, end) to `out` block by block; return how many were written."""
    tables = exportable(client, database)
    if table not in tables:
        raise ValueError(f"no table {table!r} to export; these can be: {', '.join(tables)}")
    if fmt not in FORMATS:
        raise ValueError(f"--format must be one of {', '.join(FORMATS)}, not {fmt}")
    written = 0
    writer: pq.ParquetWriter | pacsv.CSVWriter | None = None
    try:
        for batch in batches(client, window_sql(database, table), start, end):
            writer = writer or open_writer(fmt, out, batch.schema)
            writer.write_batch(batch)
            written += batch.num_rows
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
