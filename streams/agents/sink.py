"""ClickHouse sink: batches every stored topic and inserts each row once (dedupe on id).

A row the warehouse cannot store exactly (a value that does not fit its column) is dead-lettered alone, on
`dlq` with why, and the rest of its batch is stored; only a failing ClickHouse is waited out and retried.
"""

import asyncio
import logging
import time
from collections import defaultdict
from typing import Any, Callable

from aiokafka import TopicPartition
from clickhouse_connect.driver.exceptions import ClickHouseError

from quantdesk.broker import BATCH_FETCH_WAIT_MS, BATCH_PARTITION_BYTES
from quantdesk.kafka.lag import progress_group
from quantdesk.kafka.reader import Reader
from quantdesk.messages import INPUT_MODELS, DeadLetter, Message
from quantdesk.kafka.topics import STORED_TABLES
from quantdesk.warehouse import DATETIME64_MS, Warehouse
from quantdesk.wire import decode, encode
from streams.metrics import WorkerMetrics
from streams.ordered import Decoded, Split
from streams.pipeline import Pipeline
from streams.decode import as_bytes, dead_letter, decode_events

log = logging.getLogger(__name__)
RETRY_FIRST_S, RETRY_MOST_S = 0.25, 30.0
Refused = list[tuple[dict[str, Any], str]]  # events the warehouse cannot store, each with why



def as_body(event: dict[str, Any]) -> dict[str, Any]:
    """Return a row whose `body` is the whole event (a liquidation plan)."""
    return {**event, "body": event}


SHAPES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {"risk.liquidations": as_body}


class TableWriter:
    """Turns events into rows of one table, by the table's own column names."""

    def __init__(self, warehouse: Warehouse, table: str, metrics: WorkerMetrics | None = None) -> None:
        """Write `table`, counting into a worker's `metrics` (a registry of its own outside a worker)."""
        self.warehouse = warehouse
        self.table = table
        metrics = metrics or WorkerMetrics("all")
        self.stored_rows = metrics.child("worker_sink_rows_total", table=table)
        self.batch_rows = metrics.child("worker_sink_batch_rows", table=table)
        self.batch_seconds = metrics.child("worker_sink_batch_seconds", table=table)
        self.retries = metrics.child("worker_sink_retries_total", table=table)
        described = [c for c in warehouse.rows(f"DESCRIBE TABLE {warehouse.database}.{table}")
                     if c["default_type"] != "MATERIALIZED"]  # the warehouse's own (`audit_log.processed_at`)
        self.columns = [c["name"] for c in described]
        assert self.columns[:2] == ["id", "ts"], f"{table} must start with id, ts (the sink dedupes on them)"
        self.textual = [i for i, c in enumerate(described) if c["type"] == "String"]

    def row(self, event: dict[str, Any]) -> list[Any]:
        """Return the event as a row; nested values in text columns become JSON."""
        cells = [event.get(name) for name in self.columns]
        for i in self.textual:
            if not isinstance(cells[i], str):
                cells[i] = "" if cells[i] is None else encode(cells[i]).decode()
        return cells

    def rows(self, events: list[dict[str, Any]]) -> tuple[dict[str, tuple[list[Any], dict[str, Any]]], Refused]:
        """Return the events' rows with their events, by id, and each event that has no row with why."""
        built, refused = {}, []
        for event in events:
            try:
                row = self.row(event)
            except (TypeError, ValueError) as exc:  # a text column orjson cannot write: an int past 64 bits
                refused.append((event, f"{self.table}: {exc}"))
            else:
                built[row[0]] = (row, event)
        return built, refused

    async def store(self, events: list[dict[str, Any]]) -> tuple[int, Refused]:
        """Write the events, retrying with backoff while ClickHouse fails (the stream waits meanwhile); return how
        many were new, and each event that cannot be stored exactly with why.

        Nothing read is acked before it is stored, so a worker stopped while retrying reads it again.
        """
        built, refused = self.rows(events)
        rows = [row for row, _ in built.values()]
        wait, started = RETRY_FIRST_S, time.perf_counter()
        while True:
            try:
                stored = await self.warehouse.astore(self.table, self.columns, rows)
                break
            except ClickHouseError as exc:
                log.error("storing %d rows in %s failed, retrying in %.1f s: %s", len(rows), self.table, wait, exc)
                self.retries.inc()
                await asyncio.sleep(wait)
                wait = min(2 * wait, RETRY_MOST_S)
        self.batch_seconds.observe(time.perf_counter() - started)
        self.batch_rows.observe(len(events))
        self.stored_rows.inc(stored.new)
        return stored.new, refused + [(built[key][1], why) for key, why in stored.refused.items()]


def unstored(topic: str, refused: Refused) -> list[DeadLetter]:
    """Return a dead letter for each event the warehouse cannot store: its id from the event's bytes, its time the
    event's where the dead letters' table holds that time, so storing the same batch again gives the same rows."""
    return [dead_letter(topic, stamp(event.get("ts")), f"cannot be stored: {why}", as_bytes(event))
            for event, why in refused]


def stamp(ts: Any) -> int:
    """Return `ts` when it is event time the dead letters' table holds, else 0."""
    fits = isinstance(ts, int) and not isinstance(ts, bool) and 0 <= ts < DATETIME64_MS[1]
    return ts if fits else 0


def stored_events(topic: str, raw: bytes | None) -> list[dict[str, Any]]:
    """Return the events of a message worth storing, as dicts of their fields (`stored_split`)."""
    return stored_split(topic, raw, 0)[0]


def stored_split(topic: str, raw: bytes | None, ts: int) -> tuple[list[dict[str, Any]], list[DeadLetter]]:
    """Return the events of a message worth storing, as dicts of their fields, and dead letters (dated `ts`, the
    record's time) for what a derived topic's message holds that cannot be an event: bytes that are not JSON, an
    item that is not an object with an id. (An input's owner agent dead-letters what does not validate; a derived
    topic is written by the workers alone, so what is wrong in it is a fault to show, never to drop unseen.)"""
    if topic in INPUT_MODELS:
        return [fields(e) for e in decode_events(INPUT_MODELS[topic], topic, raw, 0)[0]], []
    if raw is None:  # a tombstone: no event
        return [], []
    try:
        items = decode(raw)
    except (ValueError, RecursionError) as exc:
        return [], [dead_letter(topic, ts, f"cannot be stored: not JSON: {exc}", raw)]
    shape = SHAPES.get(topic, dict)
    events = [shape(i) for i in items if isinstance(i, dict) and "id" in i]
    if len(events) == len(items):
        return events, []
    return events, [dead_letter(topic, stamp(i.get("ts")) if isinstance(i, dict) else ts,
                                "cannot be stored: not an object with an id", as_bytes(i))
                    for i in items if not (isinstance(i, dict) and "id" in i)]


def fields(event: Message) -> dict[str, Any]:
    """Return a validated event's values, extra fields included, as the model holds them (no dump)."""
    extra = event.model_extra
    return {**vars(event), **extra} if extra else vars(event)


class Sink:
    """Reads every stored topic's partitions and writes them to ClickHouse in batches; commits (as the group
    `<app id>-feed`) only what is stored, so a sink stopped anywhere reads on from the last stored batch."""

    def __init__(self, pipeline: Pipeline, tables: dict[str, str] = STORED_TABLES,
                 shared: Decoded | None = None) -> None:
        """Store `tables` (topic -> table), taking input messages the feed's other readers decoded from `shared`."""
        settings, warehouse = pipeline.settings, pipeline.warehouse
        assert warehouse is not None
        self.pipeline, self.settings, self.metrics, self.shared = pipeline, settings, pipeline.metrics, shared
        self.writers = {settings.topic(t): (t, TableWriter(warehouse, table, self.metrics))
                        for t, table in tables.items()}
        self.metrics.publishing(["dlq"])
        self.lag: dict[TopicPartition, Any] = {}

    async def run(self) -> None:
        """Store batches from the committed offsets on (each partition's start without one), until cancelled."""
        settings = self.settings
        async with Reader(self.pipeline.bootstrap, progress_group(settings, "store"), BATCH_FETCH_WAIT_MS,
                          BATCH_PARTITION_BYTES) as reader:  # it gathers for `sink_batch_seconds` anyway
            parts = [TopicPartition(name, p) for name in self.writers for p in range(settings.topic_partitions)]
            read_to = {tp: await reader.committed(tp) or 0 for tp in parts}
            reader.assign(read_to)
            self.lag = {tp: self.metrics.child("worker_consumer_lag", reader="store", topic=self.writers[tp.topic][0],
                                               partition=str(tp.partition)) for tp in parts}
            while True:
                batch = await take(reader, settings.sink_batch_size, settings.sink_batch_seconds)
                if batch:
                    await self.store(batch)
                    stored = {tp: records[-1].offset + 1 for tp, records in batch.items()}
                    await reader.commit(stored)
                    read_to.update(stored)
                self.show_lag(reader, read_to)

    def show_lag(self, reader: Reader, read_to: dict[TopicPartition, int]) -> None:
        """Show each partition's messages not yet read (its end minus where reading stands)."""
        for tp, gauge in self.lag.items():
            end = reader.highwater(tp)
            if end is not None:
                gauge.set(max(0, end - read_to[tp]))

    def events(self, topic: str, tp: TopicPartition, record: Any) -> tuple[list[dict[str, Any]], list[DeadLetter]]:
        """Return a record's events worth storing and its dead letters (`stored_split`), an input message's taken
        from `shared` when the feed's other readers decoded it (its dead letters, dated by the record as theirs are,
        are theirs to publish)."""
        model = INPUT_MODELS.get(topic)
        if model is None or self.shared is None:
            return stored_split(topic, record.value, record.timestamp)

        def decode() -> Split:
            return decode_events(model, topic, record.value, record.timestamp)
        return [fields(e) for e in self.shared.get(tp, record.offset, decode)[0]], []

    async def store(self, batch: dict[TopicPartition, list[Any]]) -> None:
        """Write a batch's events table by table (the awaited insert is the backpressure); dead-letter each event
        that cannot be stored exactly, and wait until the broker holds those letters."""
        grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
        dead: list[DeadLetter] = []
        for tp, records in batch.items():
            logical, _ = self.writers[tp.topic]
            for record in records:
                events, letters = self.events(logical, tp, record)
                grouped[tp.topic] += events
                dead += letters
        for topic, events in grouped.items():
            logical, writer = self.writers[topic]
            _, refused = await writer.store(events)
            dead += unstored(logical, refused)
        await self.pipeline.publish("dlq", ((d.topic, d) for d in dead))
        await self.pipeline.flush()


async def take(reader: Reader, most: int, seconds: float) -> dict[TopicPartition, list[Any]]:
    """Return up to `most` records, gathered for at most `seconds` once the first arrives, by partition."""
    batch: dict[TopicPartition, list[Any]] = defaultdict(list)
    count, deadline = 0, None
    while count < most:
        left = seconds if deadline is None else deadline - time.monotonic()
        if left <= 0:
            break
        fetched = await reader.fetch(timeout_ms=int(left * 1000), max_records=most - count)
        for tp, records in fetched.items():
            batch[tp] += records
            count += len(records)
        if count and deadline is None:
            deadline = time.monotonic() + seconds
        if not fetched and deadline is None:
            return {}
    return batch


def register(pipeline: Pipeline, tables: dict[str, str] = STORED_TABLES, shared: Decoded | None = None) -> Sink:
    """Register the sink over every topic that has a table, decoding input with the feed's other readers through
    `shared`, as a task of the app: its failure crashes the app."""
    sink = Sink(pipeline, tables, shared)
    pipeline.loop(sink.run, "sink")
    return sink
