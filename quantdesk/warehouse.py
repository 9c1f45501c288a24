"""ClickHouse (chDB embedded or a server): migrations, idempotent inserts, queries."""

import asyncio
import contextlib
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import clickhouse_connect
import pyarrow as pa
import pyarrow.compute as pc
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError, OperationalError

from quantdesk.settings import Settings

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
LOOKUP_BYTES = 64 << 10  # ids per lookup query, in bytes: as hex, well under ClickHouse's 256 KiB max_query_size
STRICT_NULLS = {"input_format_null_as_default": 0}  # a None outside a Nullable column is refused, not stored as 0 or ''
ARROW_TYPES = {"String": pa.string(), "Bool": pa.bool_(), "UInt8": pa.uint8(), "UInt16": pa.uint16(),
               "UInt32": pa.uint32(), "UInt64": pa.uint64(), "Int8": pa.int8(), "Int16": pa.int16(),
               "Int32": pa.int32(), "Int64": pa.int64(), "Float32": pa.float32(), "Float64": pa.float64()}
DATETIME64_MS = (-2_208_988_800_000, 10_413_792_000_000)  # [1900-01-01, 2300-01-01): what DateTime64 holds
# What the client raises for a value that has no exact Arrow form (UnicodeEncodeError is a ValueError).
UNCONVERTIBLE = (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, ValueError, TypeError)
# ClickHouse error names that blame the data, not the server (any other error is retried).
BAD_DATA = re.compile(r"CANNOT_PARSE|CANNOT_CONVERT|CANNOT_INSERT_NULL|TYPE_MISMATCH|ILLEGAL_TYPE|OUT_OF_RANGE"
                      r"|OUT_OF_BOUND|DECIMAL_OVERFLOW|TOO_LARGE_STRING|INCORRECT_DATA|CANNOT_READ")


class Unstorable(ValueError):
    """Rows that cannot be stored exactly (the rest of their batch was stored), by id, with why."""

    def __init__(self, refused: dict[str, str]) -> None:
        super().__init__(f"{len(refused)} rows cannot be stored exactly: {refused}")
        self.refused = refused


class Unreachable(OperationalError):
    """A ClickHouse server refused the connection or did not answer in time (a ClickHouseError, as the sink retries
    any that does not blame the data)."""


@dataclass
class Stored:
    """What an insert stored (new rows) and refused (id -> why)."""

    new: int = 0
    refused: dict[str, str] = field(default_factory=dict)


def migration_files(directory: Path = MIGRATIONS_DIR) -> list[Path]:
    """Return the versioned migration files in the order they apply."""
    return sorted(directory.glob("[0-9][0-9][0-9][0-9]_*.sql"))


def statements(sql: str, database: str) -> list[str]:
    """Split a migration into statements, with `{db}` set to the database."""
    body = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    return [s.strip() for s in body.replace("{db}", database).split(";") if s.strip()]


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
    """Return decimals as Arrow ones, texts and floats via their text; raise ArrowInvalid for a value that does
    not fit exactly (never cut to the scale)."""
    try:
        return pa.array(values, decimal)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        texts = pa.array([None if v is None else str(v) for v in values], pa.string())
        return pc.cast(texts, decimal)


def column_array(values: Sequence[Any], column: pa.Field) -> pa.Array:
    """Return a column's values as Arrow ones, exactly as ClickHouse will hold them, or raise a ValueError that
    names the column."""
    try:
        array = decimal_array(values, column.type) if pa.types.is_decimal(column.type) else pa.array(values, column.type)
    except UNCONVERTIBLE as exc:
        raise ValueError(f"{column.name}: {type(exc).__name__}: {exc}") from exc
    if not column.nullable and array.null_count:
        raise ValueError(f"{column.name}: None in a column that is not Nullable")
    if pa.types.is_timestamp(column.type) and len(array) > array.null_count:
        low, high = pc.min_max(array.cast(pa.int64())).values()
        if low.as_py() < DATETIME64_MS[0] or high.as_py() >= DATETIME64_MS[1]:
            raise ValueError(f"{column.name}: a time outside what DateTime64 holds, 1900 to 2299")
    return array


def arrow_table(schema: pa.Schema, rows: Sequence[Sequence[Any]]) -> pa.Table:
    """Return the rows (cells in the schema's column order) as an Arrow table; raise for a value that has no exact
    form in its column (one of `UNCONVERTIBLE`)."""
    cells = zip(*rows) if rows else ([] for _ in schema)
    arrays = [column_array(values, column) for values, column in zip(cells, schema)]
    return pa.Table.from_arrays(arrays, schema=schema)


def convertible(schema: pa.Schema, rows: Sequence[Sequence[Any]]) -> tuple[pa.Table, list[Sequence[Any]], dict[str, str]]:
    """Return the rows with an exact Arrow form, as a table and as they are, and why each other one has none (by
    id); each row is tried alone only when the whole batch fails."""
    try:
        return arrow_table(schema, rows), list(rows), {}
    except UNCONVERTIBLE:
        pass
    good, refused = [], {}
    for row in rows:
        try:
            arrow_table(schema, [row])
            good.append(row)
        except UNCONVERTIBLE as exc:
            refused[row[0]] = str(exc)
    return arrow_table(schema, good), good, refused


def blames_data(exc: ClickHouseError) -> bool:
    """Return whether ClickHouse refused an insert for its data, which no retry will change."""
    return BAD_DATA.search(str(exc)) is not None


def read_only_limits(max_rows: int, max_seconds: float | None = None) -> dict[str, Any]:
    """Return the settings that run someone's query read-only, refusing a result over `max_rows` (0: no limit) and
    a run past `max_seconds`."""
    # readonly=2 refuses every write yet lets the limits travel with the query (the query could lift them: it is
    # for analysts and admins, each query theirs to answer for)
    limits: dict[str, Any] = {"readonly": 2, "max_result_rows": max_rows, "result_overflow_mode": "throw"}
    if max_seconds is not None:
        limits["max_execution_time"] = max_seconds
    return limits


class Warehouse:
    """One ClickHouse database: chDB's calls are serialised (one engine per process), a server's go side by side."""

    def __init__(self, dsn: str, database: str, answer_s: int | None = None) -> None:
        """Open `database` at `dsn`; a server that does not answer within `answer_s` seconds (connecting, or a
        query's result; None: clickhouse-connect's 300 s) raises `Unreachable`."""
        self.dsn = dsn
        self.database = database
        self.answer_s = answer_s
        self.embedded = dsn.startswith("chdb:")
        self.lock: contextlib.AbstractContextManager[Any] = (
            threading.Lock() if self.embedded else contextlib.nullcontext())
        with self.reaching():
            self.client = self.connect()
        self.reader: Any = None  # the client of others' read-only queries, opened on the first
        self.schemas: dict[tuple[str, tuple[str, ...]], pa.Schema] = {}

    @classmethod
    def from_settings(cls, settings: Settings, answer_s: int | None = None) -> "Warehouse":
        """Open the warehouse the settings name."""
        return cls(settings.resolved_clickhouse_dsn(), settings.clickhouse_database, answer_s)

    def connect(self, longest_query_s: int = 0, **options: Any) -> Client:
        """Open a client; a server's takes each call in a request of its own (a session would refuse a second
        query while one runs) and waits `answer_s` for an answer, plus `longest_query_s` a query may run."""
        if not self.embedded:
            options["autogenerate_session_id"] = False
            if self.answer_s is not None:
                options.update(connect_timeout=self.answer_s, send_receive_timeout=self.answer_s + longest_query_s)
        return clickhouse_connect.get_client(dsn=self.dsn, **options)

    @contextlib.contextmanager
    def reaching(self) -> Iterator[None]:
        """Hold the engine for one call; a server that cannot be reached raises `Unreachable`."""
        with self.lock:
            try:
                yield
            except OperationalError as exc:
                if self.embedded:  # in-process: nothing to reach
                    raise
                said = "cannot be reached" if self.answer_s is None else f"did not answer within {self.answer_s} s"
                raise Unreachable(f"ClickHouse {said}") from exc  # the cause names the server

    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        """Run one statement that returns no rows."""
        with self.reaching():
            return self.client.command(sql, parameters=parameters)

    def rows(self, sql: str, parameters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run a query and return its rows as dicts."""
        with self.reaching():
            result = self.client.query(sql, parameters=parameters)
        return [dict(zip(result.column_names, row)) for row in result.result_rows]

    async def arows(self, sql: str, parameters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run a query off the event loop."""
        return await asyncio.to_thread(self.rows, sql, parameters)

    def read_only(self, sql: str, max_rows: int, max_seconds: float | None = None) -> pa.Table:
        """Run someone's query as ClickHouse's `readonly`, `{db}` this database, and return its rows as Arrow;
        ClickHouse refuses any write, a result over `max_rows` (0: no limit) and a run past `max_seconds`."""
        with self.reaching():
            if self.reader is None:  # a client of its own (in chDB `readonly` stays with the client that ran it),
                # waiting as long as the first caller's queries may run (the gateway's are all 10 s)
                self.reader = self.connect(int(max_seconds or 0), database=self.database)
            return self.reader.query_arrow(sql.replace("{db}", self.database),
                                           settings=read_only_limits(max_rows, max_seconds))

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
        with self.reaching():
            self.client.insert(f"{self.database}.schema_migrations", [[path.stem]], column_names=["version"])
        return path.stem

    def existing_ids(self, table: str, ids: Sequence[str]) -> set[str]:
        """Return which of `ids` the table holds, among all its rows (its `by_id` projection finds them by id
        alone), `LOOKUP_BYTES` of ids a query (hex, as binding a parameter escapes it char by char in Python)."""
        sql = (f"SELECT id FROM {self.database}.{table} "
               "WHERE id IN (SELECT arrayJoin(splitByChar('\\n', unhex('{}'))))")
        return set().union(*(self.ids(sql.format(hex_lines(run))) for run in byte_chunks(ids, LOOKUP_BYTES)))

    def ids(self, sql: str) -> set[str]:
        """Return the ids a query selects."""
        with self.reaching():
            result = self.client.query(sql)
        return {row[0] for row in result.result_rows}

    def insert_new(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        """Insert the rows whose id the table does not hold yet; return how many. Raise `Unstorable` for rows that
        cannot be stored exactly, once the others are stored."""
        stored = self.store(table, columns, rows)
        if stored.refused:
            raise Unstorable(stored.refused)
        return stored.new

    def store(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Stored:
        """Insert the rows whose id (first column) the table does not hold yet, each exactly or not at all: rows
        that cannot be are refused alone, the others stored. Raise ClickHouseError when ClickHouse fails.

        An id stored before, at whatever event time, is not stored again. The new rows go as one Arrow table,
        which pyarrow builds in C where clickhouse-connect's Native insert loops in Python.
        """
        block, unique, refused = convertible(self.arrow_schema(table, columns), list({r[0]: r for r in rows}.values()))
        known = self.existing_ids(table, [row[0] for row in unique])
        fresh = [row for row in unique if row[0] not in known]
        if not fresh:
            return Stored(0, refused)
        if known:
            block = block.filter(pa.array([row[0] not in known for row in unique]))
        try:
            with self.reaching():
                self.client.insert_arrow(f"{self.database}.{table}", block, settings=STRICT_NULLS)
        except ClickHouseError as exc:
            if not blames_data(exc):
                raise
            return self.bisect(table, columns, fresh, refused, exc)
        return Stored(len(fresh), refused)

    def bisect(self, table: str, columns: Sequence[str], rows: list[Sequence[Any]], refused: dict[str, str],
               exc: ClickHouseError) -> Stored:
        """Store the halves of a batch ClickHouse refused for its data apart, down to the rows it refuses alone."""
        if len(rows) == 1:
            return Stored(0, {**refused, rows[0][0]: f"refused by ClickHouse: {exc}"})
        halves = [self.store(table, columns, part) for part in (rows[: len(rows) // 2], rows[len(rows) // 2:])]
        return Stored(sum(h.new for h in halves), {k: v for part in (refused, *(h.refused for h in halves))
                                                   for k, v in part.items()})

    def arrow_schema(self, table: str, columns: Sequence[str]) -> pa.Schema:
        """Return the Arrow schema of the table's `columns`, from their ClickHouse types (described once)."""
        key = (table, tuple(columns))
        if key not in self.schemas:
            types = {c["name"]: c["type"] for c in self.rows(f"DESCRIBE TABLE {self.database}.{table}")}
            self.schemas[key] = pa.schema([pa.field(name, arrow_type(types[name]), "Nullable(" in types[name])
                                           for name in columns])
        return self.schemas[key]

    async def astore(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Stored:
        """Store rows off the event loop."""
        return await asyncio.to_thread(self.store, table, columns, rows)

    def close(self) -> None:
        """Close the clients."""
        with self.lock:
            self.client.close()
            if self.reader is not None:
                self.reader.close()
