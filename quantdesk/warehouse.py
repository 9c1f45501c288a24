"""ClickHouse (chDB embedded or a server): migrations, idempotent inserts, queries."""

import asyncio
import re
import threading
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import clickhouse_connect
import pyarrow as pa
import pyarrow.compute as pc

from quantdesk.settings import Settings

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
LOOKUP_SPAN = 2  # stored ids fetched per id asked for, at most, before the dedupe looks ids up instead
LOOKUP_BYTES = 64 << 10  # ids per lookup query, in bytes: as hex, well under ClickHouse's 256 KiB max_query_size
STRICT_NULLS = {"input_format_null_as_default": 0}  # a None outside a Nullable column is refused, not stored as 0 or ''
ARROW_TYPES = {"String": pa.string(), "Bool": pa.bool_(), "UInt8": pa.uint8(), "UInt16": pa.uint16(),
               "UInt32": pa.uint32(), "UInt64": pa.uint64(), "Int8": pa.int8(), "Int16": pa.int16(),
               "Int32": pa.int32(), "Int64": pa.int64(), "Float32": pa.float32(), "Float64": pa.float64()}


def migration_files(directory: Path = MIGRATIONS_DIR) -> list[Path]:
    """Return the versioned migration files in the order they apply."""
    return sorted(directory.glob("[0-9][0-9][0-9][0-9]_*.sql"))


def statements(sql: str, database: str) -> list[str]:
    """Split a migration into statements, with `{db}` set to the database."""
    body = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    return [s.strip() for s in body.replace("{db}", database).split(";") if s.strip()]


def between(first_ms: int, last_ms: int) -> str:
    """Return the condition `ts` within [first_ms, last_ms]."""
    return f"ts BETWEEN fromUnixTimestamp64Milli({int(first_ms)}) AND fromUnixTimestamp64Milli({int(last_ms)})"


def byte_chunks(texts: Sequence[str], most: int) -> Iterator[list[str]]:
    """Yield the texts in order, in runs of at most `most` UTF-8 bytes (a longer text alone)."""
    run: list[str] = []
    size = 0
    for text in texts:
        length = len(text.encode()) + 1
        if run and size + length > most:
            yield run
            run, size = [], 0
        run.append(text)
        size += length
    if run:
        yield run


def hex_lines(texts: Sequence[str]) -> str:
    """Return the texts, one a line, as hex: an SQL literal that needs no escaping."""
    return "\n".join(texts).encode().hex()


def arrow_type(column_type: str) -> pa.DataType:
    """Return the Arrow type whose values ClickHouse stores unchanged in a column of `column_type`."""
    if wrapped := re.fullmatch(r"(?:Nullable|LowCardinality)\((.+)\)", column_type):
        return arrow_type(wrapped.group(1))
    if decimal := re.fullmatch(r"Decimal\((\d+), (\d+)\)", column_type):
        return pa.decimal128(int(decimal.group(1)), int(decimal.group(2)))
    if stamp := re.fullmatch(r"DateTime64\(3(?:, '(.+)')?\)", column_type):
        return pa.timestamp("ms", tz=stamp.group(1))  # ints are ms, as ClickHouse holds them
    if column_type not in ARROW_TYPES:
        raise ValueError(f"no Arrow type for the ClickHouse type {column_type}")
    return ARROW_TYPES[column_type]


def decimal_array(values: Sequence[Any], decimal: pa.DataType) -> pa.Array:
    """Return decimals as Arrow ones; texts and floats via their text, digits past the scale cut (as Native did)."""
    try:
        return pa.array(values, decimal)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        texts = pa.array([None if v is None else str(v) for v in values], pa.string())
        return pc.cast(texts, options=pc.CastOptions(decimal, allow_decimal_truncate=True))


def arrow_table(schema: pa.Schema, rows: Sequence[Sequence[Any]]) -> pa.Table:
    """Return the rows (cells in the schema's column order) as an Arrow table."""
    arrays = [decimal_array(values, field.type) if pa.types.is_decimal(field.type) else pa.array(values, field.type)
              for values, field in zip(zip(*rows), schema)]
    return pa.Table.from_arrays(arrays, schema=schema)


class Warehouse:
    """One ClickHouse database: every call is serialised (chDB is one engine per process)."""

    def __init__(self, dsn: str, database: str) -> None:
        self.dsn = dsn
        self.database = database
        self.client = clickhouse_connect.get_client(dsn=dsn)
        self.lock = threading.Lock()
        self.schemas: dict[tuple[str, tuple[str, ...]], pa.Schema] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> "Warehouse":
        """Open the warehouse the settings name."""
        return cls(settings.resolved_clickhouse_dsn(), settings.clickhouse_database)

    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        """Run one statement that returns no rows."""
        with self.lock:
            return self.client.command(sql, parameters=parameters)

    def rows(self, sql: str, parameters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run a query and return its rows as dicts."""
        with self.lock:
            result = self.client.query(sql, parameters=parameters)
        return [dict(zip(result.column_names, row)) for row in result.result_rows]

    async def arows(self, sql: str, parameters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run a query off the event loop."""
        return await asyncio.to_thread(self.rows, sql, parameters)

    def migrate(self) -> list[str]:
        """Apply every migration not yet recorded; return the versions applied now."""
        self.command(f"CREATE DATABASE IF NOT EXISTS {self.database}")
        self.command(
            f"CREATE TABLE IF NOT EXISTS {self.database}.schema_migrations "
            "(version String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) "
            "ENGINE = MergeTree ORDER BY version"
        )
        done = {r["version"] for r in self.rows(f"SELECT version FROM {self.database}.schema_migrations")}
        applied = [self._apply(f) for f in migration_files() if f.stem not in done]
        return applied

    def _apply(self, path: Path) -> str:
        """Apply one migration file and record its version."""
        for sql in statements(path.read_text(), self.database):
            self.command(sql)
        with self.lock:
            self.client.insert(f"{self.database}.schema_migrations", [[path.stem]], column_names=["version"])
        return path.stem

    def existing_ids(self, table: str, ids: Sequence[str], first_ms: int, last_ms: int) -> set[str]:
        """Return which of `ids`, stamped within [first_ms, last_ms], the table already holds."""
        # A batch of new events mostly meets only its neighbours' rows in its time span: fetch those
        # whole when few, else send the ids (hex, as binding a parameter escapes it char by char in Python).
        if not ids:
            return set()
        most = LOOKUP_SPAN * len(ids)
        stored = self.ids_between(table, first_ms, last_ms, limit=most + 1)
        if len(stored) <= most:
            return stored.intersection(ids)
        return self.ids_among(table, ids, first_ms, last_ms)

    def ids_between(self, table: str, first_ms: int, last_ms: int, limit: int) -> set[str]:
        """Return the ids (at most `limit` rows) the table holds stamped within [first_ms, last_ms]."""
        return self.ids(f"SELECT id FROM {self.database}.{table} WHERE {between(first_ms, last_ms)} LIMIT {int(limit)}")

    def ids_among(self, table: str, ids: Sequence[str], first_ms: int, last_ms: int) -> set[str]:
        """Return which of `ids` the table holds stamped within [first_ms, last_ms], `LOOKUP_BYTES` of ids a query."""
        sql = (f"SELECT id FROM {self.database}.{table} WHERE {between(first_ms, last_ms)} "
               "AND id IN (SELECT arrayJoin(splitByChar('\\n', unhex('{}'))))")
        return set().union(*(self.ids(sql.format(hex_lines(run))) for run in byte_chunks(ids, LOOKUP_BYTES)))

    def ids(self, sql: str) -> set[str]:
        """Return the ids a query selects."""
        with self.lock:
            result = self.client.query(sql)
        return {row[0] for row in result.result_rows}

    def insert_new(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        """Insert the rows whose id (first column) the table does not hold yet; return how many.

        Every row's second column is its event time in ms (`ts`), which bounds the lookup. The new rows go
        as one Arrow table, which pyarrow builds in C where clickhouse-connect's Native insert loops in Python.
        """
        unique = {row[0]: row for row in rows}
        stamps = [row[1] for row in unique.values()]
        known = self.existing_ids(table, list(unique), min(stamps, default=0), max(stamps, default=0))
        fresh = [row for key, row in unique.items() if key not in known]
        if fresh:
            block = arrow_table(self.arrow_schema(table, columns), fresh)
            with self.lock:
                self.client.insert_arrow(f"{self.database}.{table}", block, settings=STRICT_NULLS)
        return len(fresh)

    def arrow_schema(self, table: str, columns: Sequence[str]) -> pa.Schema:
        """Return the Arrow schema of the table's `columns`, from their ClickHouse types (described once)."""
        key = (table, tuple(columns))
        if key not in self.schemas:
            types = {c["name"]: c["type"] for c in self.rows(f"DESCRIBE TABLE {self.database}.{table}")}
            self.schemas[key] = pa.schema([(name, arrow_type(types[name])) for name in columns])
        return self.schemas[key]

    async def ainsert_new(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> int:
        """Insert new rows off the event loop."""
        return await asyncio.to_thread(self.insert_new, table, columns, rows)

    def close(self) -> None:
        """Close the client."""
        with self.lock:
            self.client.close()
