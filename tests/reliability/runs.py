"""What the crash runs share: an embedded platform of a run's own over a replay, how far a group has applied, and
the stored tables once nothing more arrives, as rows alike whichever process read them."""

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from api.embedded import Runtime
from quantdesk.broker import free_port
from quantdesk.kafka.lag import unapplied
from quantdesk.kafka.reader import fetched_ends
from quantdesk.kafka.topics import STORED_TABLES
from quantdesk.settings import Settings
from tests.waiting import eventually

TABLES = tuple(STORED_TABLES.values())  # every table the sink stores, inputs and outputs
QUERY = """
import json, sys, clickhouse_connect
client = clickhouse_connect.get_client(dsn=sys.argv[1])
result = client.query(sys.argv[2])
print(json.dumps([dict(zip(result.column_names, row)) for row in result.result_rows], default=str))
"""


def fresh(settings: Settings) -> Settings:
    """Return settings with their own topics, groups, database and port, and a lateness window of 10 minutes:
    the day's applied ids are forgotten as it goes, across the kills."""
    name = f"t{uuid.uuid4().hex[:10]}"
    return settings.model_copy(update={"topic_prefix": f"{name}.", "app_id": name, "clickhouse_database": name,
                                       "api_port": free_port(), "kafka_session_timeout_s": 6.0,
                                       "max_lateness_ms": 600_000})


def query(data: Path, sql: str) -> list[dict[str, Any]]:
    """Return a query's rows on a stopped platform's warehouse (chDB opens a path in one process at a time)."""
    done = subprocess.run([sys.executable, "-c", QUERY, f"chdb://{data / 'chdb'}", sql], capture_output=True,
                          timeout=120, check=True)
    return json.loads(done.stdout)


def comparable(rows: list[dict[str, Any]]) -> list[tuple]:
    """Return rows as tuples of the JSON values `query` gives, so that runs read in any process compare."""
    return [tuple(r.values()) for r in json.loads(json.dumps(rows, default=str))]


def stored(data: Path, tables: tuple[str, ...] = TABLES) -> dict[str, list[tuple]]:
    """Return every table of a stopped platform's warehouse, ordered by id."""
    return {t: comparable(query(data, f"SELECT * FROM quantdesk.{t} ORDER BY id")) for t in tables}


async def progress(bootstrap: str, group: str, parts: list[TopicPartition]) -> tuple[int, int]:
    """Return how many messages of `parts` the group has committed, and how many there are."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        listed = await consumer.end_offsets(parts)
        ends = {**listed, **await fetched_ends([bootstrap], {tp: end for tp, end in listed.items() if end})}
        committed = [min(await consumer.committed(tp) or 0, ends[tp]) for tp in parts]
        return sum(committed), sum(ends.values())
    finally:
        await consumer.stop()


async def settled(runtime: Runtime) -> bool:
    """Tell whether every worker has applied, and the sink stored, everything published."""
    return not any((await unapplied(runtime.settings, runtime.bootstrap)).values())


async def tables(runtime: Runtime, names: tuple[str, ...] = TABLES) -> dict[str, list[tuple]]:
    """Return the named tables' rows, ordered by id, once no more arrive."""
    db = runtime.warehouse.database

    async def counted() -> tuple:
        return tuple([(await runtime.warehouse.arows(f"SELECT count() AS n FROM {db}.{t}"))[0]["n"] for t in names])
    last: tuple = ()

    async def still() -> bool:
        nonlocal last
        now = await counted()
        same, last = now == last and await settled(runtime), now
        return same
    try:
        await eventually(still, timeout=300, what="every output stored", interval=1.0)
    except AssertionError as exc:  # say what is missing: rows still coming, or a reader that applies nothing
        behind = await unapplied(runtime.settings, runtime.bootstrap)
        raise AssertionError(f"{exc}: rows {dict(zip(names, last))}, unapplied {behind}") from None
    return {t: comparable(await runtime.warehouse.arows(f"SELECT * FROM {db}.{t} ORDER BY id")) for t in names}
