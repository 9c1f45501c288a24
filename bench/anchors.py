"""The pipeline figure's anchors, over its own messages and rows: reading and decoding them (the decode ceiling), the
domain work alone (the domain floor), decoding once and storing the input rows (the pass-through), and storing the
rows the run stored (the storage floor)."""

import time
from collections import defaultdict
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.pipeline import TABLES, WARM_UP, process_cpu_s
from bench.signals import MODELS, fold
from bench.transport import transport_ceiling
from quantdesk.kafka.publisher import Keyed
from quantdesk.messages import INPUT_MODELS
from quantdesk.settings import Settings
from quantdesk.warehouse import STRICT_NULLS, Warehouse
from streams.agents.sink import TableWriter, stored_events
from streams.decode import decode_events
from streams.domain.alerts import Thresholds
from streams.risk.reorder import order_key

DOMAIN_REPEATS = 2  # folds of the domain floor; the fastest counts
BULK_ROWS = 100_000  # rows an insert of the storage floor
TIMEOUT_S = 120.0


Ends = dict[TopicPartition, int]  # where each input partition ended once the pipeline figure was measured


def input_consumer(settings: Settings) -> AIOKafkaConsumer:
    """Return a bare consumer (no group) at aiokafka's own fetch settings."""
    return AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None, enable_auto_commit=False,
                            auto_offset_reset="earliest")


async def input_ends(settings: Settings) -> Ends:
    """Return where each partition of the pipeline's input topics ends now (later figures publish ticks after)."""
    consumer = input_consumer(settings)
    await consumer.start()
    try:
        await consumer.topics()
        names = [settings.topic(t) for t in TABLES]
        return await consumer.end_offsets([TopicPartition(t, p) for t in names
                                           for p in sorted(consumer.partitions_for_topic(t) or ())])
    finally:
        await consumer.stop()


def ours(ends: Ends, tp: TopicPartition, records: list[Any]) -> list[Any]:
    """Return the records the pipeline figure published (the warm-up's included), not the later figures'."""
    return [r for r in records if r.offset < ends[tp]]


async def decode_ceiling(settings: Settings, ends: Ends, events: int) -> dict[str, Any]:
    """Return events/s of a raw consumer that reads the pipeline's input messages and decodes every one into events
    as the platform's readers do (`decode_events` with the input models)."""
    logical = {settings.topic(t): t for t in TABLES}
    decoded = [0]

    def decode(tp: TopicPartition, records: list[Any]) -> int:
        """Decode the pipeline's records as the topic's reader does; count the events; return how many records."""
        name, taken = logical[tp.topic], ours(ends, tp, records)
        for record in taken:
            decoded[0] += len(decode_events(INPUT_MODELS[name], name, record.value, record.timestamp)[0])
        return len(taken)

    passes, events = 3, events + WARM_UP
    ceiling = await transport_ceiling(settings.kafka_bootstrap or "", list(logical), sum(ends.values()), events,
                                      passes, decode)
    if decoded[0] != events * (passes + 1):
        raise RuntimeError(f"decoded {decoded[0]} events in {passes + 1} passes of {events}")
    return {**ceiling, "what": "raw AIOKafkaConsumer (no group) over the pipeline's input messages, each decoded by "
                               "streams.decode.decode_events with its input model; warm pass, median of 3"}


def domain_floor(settings: Settings, events: list[Keyed]) -> dict[str, Any]:
    """Return events/s and CPU µs per event of the risk engine, the open interest and the markets fold over the
    pipeline's events in apply order, in this process, no I/O (the fold of `bench.signals`, the settings' rules
    on)."""
    ordered = sorted((MODELS[t].model_validate(e) for t, _, e in events), key=order_key)
    thresholds = Thresholds.of(settings)
    seconds = min(fold(settings, ordered, thresholds)[0] for _ in range(DOMAIN_REPEATS))
    return {"eps": len(ordered) / seconds, "cpu_us_per_event": 1e6 * seconds / len(ordered), "events": len(ordered),
            "repeats": DOMAIN_REPEATS,
            "what": "RiskEngine.apply, OpenInterest.take and Markets.apply over the pipeline's events in apply order, "
                    "rules on, CPU time of one process (so events/s is per core), fastest of the repeats"}


async def passthrough(settings: Settings, ends: Ends, events: int) -> dict[str, Any]:
    """Return events/s of a consumer that reads the pipeline's input messages, decodes each once and stores its
    rows as the sink does (`stored_events`, `TableWriter.store`: dedupe and Arrow insert), into a fresh database."""
    warehouse = Warehouse(settings.resolved_clickhouse_dsn(), f"{settings.clickhouse_database}_passthrough")
    consumer = input_consumer(settings)
    try:
        warehouse.migrate()
        writers = {settings.topic(t): (t, TableWriter(warehouse, table)) for t, table in TABLES.items()}
        await consumer.start()
        consumer.assign(list(ends))
        started, cpu = time.perf_counter(), process_cpu_s()
        stored = await store_input(consumer, writers, ends, settings.sink_batch_size)
        seconds, cpu = time.perf_counter() - started, process_cpu_s() - cpu
    finally:
        await consumer.stop()
        warehouse.close()
    if stored != events + WARM_UP:
        raise RuntimeError(f"the pass-through stored {stored} rows of {events + WARM_UP}")
    return {"eps": stored / seconds, "seconds": seconds, "cpu_us_per_event": 1e6 * cpu / stored, "events": stored,
            "batch": settings.sink_batch_size,
            "what": "raw AIOKafkaConsumer (no group) over the pipeline's input messages, each decoded once "
                    "(streams.agents.sink.stored_events) and its rows stored by TableWriter.store into a fresh "
                    "database, up to sink_batch_size messages a read; first read to last stored"}


async def store_input(consumer: AIOKafkaConsumer, writers: dict[str, tuple[str, TableWriter]], ends: Ends,
                      batch: int) -> int:
    """Read the pipeline's input messages from the start and store their events' rows table by table as they come;
    return how many were new."""
    seen, stored, messages = 0, 0, sum(ends.values())
    deadline = time.monotonic() + TIMEOUT_S
    while seen < messages:
        grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for tp, records in (await consumer.getmany(timeout_ms=500, max_records=batch)).items():
            taken = ours(ends, tp, records)
            seen += len(taken)
            grouped[tp.topic] += [e for r in taken for e in stored_events(writers[tp.topic][0], r.value)]
        for topic, rows in grouped.items():
            stored += (await writers[topic][1].store(rows))[0]
        if time.monotonic() > deadline:
            raise TimeoutError(f"read {seen} of {messages} messages in {TIMEOUT_S}s")
    return stored


def storage_floor(settings: Settings, rows: dict[str, int]) -> dict[str, Any]:
    """Return rows/s and seconds of bulk Arrow inserts, BULK_ROWS at a time, of as many rows of each table as the
    pipeline run stored there, read back from its database, into a fresh one (its views fed as the run's)."""
    dsn = settings.resolved_clickhouse_dsn()
    run, floor = Warehouse(dsn, settings.clickhouse_database), Warehouse(dsn, f"{settings.clickhouse_database}_floor")
    try:
        floor.migrate()
        blocks = {}
        for table, count in rows.items():
            columns = ", ".join(f"`{c}`" for c in TableWriter(floor, table).columns)
            blocks[table] = run.read_only(f"SELECT {columns} FROM {{db}}.{table} LIMIT {count}", 0)
        started, cpu = time.perf_counter(), process_cpu_s()
        for table, block in blocks.items():
            for offset in range(0, block.num_rows, BULK_ROWS):
                floor.client.insert_arrow(f"{floor.database}.{table}", block.slice(offset, BULK_ROWS),
                                          settings=STRICT_NULLS)
        seconds, cpu = time.perf_counter() - started, process_cpu_s() - cpu
    finally:
        run.close()
        floor.close()
    total = sum(block.num_rows for block in blocks.values())
    return {"rows_per_s": total / seconds, "seconds": seconds, "rows": total, "cpu_us_per_row": 1e6 * cpu / total,
            "per_table": {table: block.num_rows for table, block in blocks.items()}, "batch": BULK_ROWS,
            "what": "client.insert_arrow of the rows the pipeline run stored (as many per table, read back from its "
                    "database) into a fresh database, BULK_ROWS rows an insert, its materialised views included"}
