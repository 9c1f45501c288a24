"""The real worker end to end: simulator events published in windows until the last is in ClickHouse."""

import asyncio
import time
from typing import Any

from quantdesk.bench.events import kafka_messages, mix
from quantdesk.platform import Runtime
from quantdesk.publisher import Keyed, Publisher

TABLES = {"oracle.ticks": "oracle_ticks", "trades.fills": "fills", "accounts.changes": "account_changes"}
POLL_S = 0.05


def warm_up_tick(events: list[Keyed]) -> Keyed:
    """Return a tick just before the run, to have the worker joined and warm before the clock starts."""
    topic, key, first = next(e for e in events if e[0] == "oracle.ticks")
    ts = first["ts"] - 1
    return topic, key, {**first, "id": "bench:warm-up", "ts": ts, "publish_time": ts}


def final_state_ids(events: list[Keyed]) -> list[str]:
    """Return the ids of the market states the last tick of every market causes."""
    last = {e["market"]: e["id"] for topic, _, e in events if topic == "oracle.ticks"}
    return [f"{tick_id}:state" for tick_id in last.values()]


async def stored(runtime: Runtime, expected: dict[str, int], state_ids: list[str]) -> bool:
    """Return whether every input table holds its expected rows and every final state is stored."""
    db = runtime.warehouse.database
    counts = ", ".join(f"(SELECT count() FROM {db}.{table}) AS {table}" for table in expected)
    sql = f"SELECT {counts}, (SELECT count() FROM {db}.market_state WHERE id IN {{ids:Array(String)}}) AS finals"
    row = (await runtime.warehouse.arows(sql, {"ids": state_ids}))[0]
    return row.pop("finals") == len(state_ids) and all(row[t] >= n for t, n in expected.items())


async def wait_stored(runtime: Runtime, expected: dict[str, int], state_ids: list[str], timeout: float) -> None:
    """Poll ClickHouse until everything expected is stored, or raise after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not await stored(runtime, expected, state_ids):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the pipeline did not store {expected} and {state_ids} within {timeout}s")
        await asyncio.sleep(POLL_S)


def expected_rows(events: list[Keyed], extra_ticks: int) -> dict[str, int]:
    """Return the rows each input table must hold once every event is stored."""
    counts = mix(events)
    return {table: counts.get(topic, 0) + (extra_ticks if table == "oracle_ticks" else 0)
            for topic, table in TABLES.items()}


async def pipeline_throughput(runtime: Runtime, events: list[Keyed], window: int) -> dict[str, Any]:
    """Return events/s from the first publish until the last event is queryable in ClickHouse."""
    warm = warm_up_tick(events)
    async with Publisher(runtime.settings, runtime.bootstrap) as publisher:
        await publisher.send([warm])
        await wait_stored(runtime, expected_rows([], 1), [f"{warm[2]['id']}:state"], timeout=60)
        started = time.perf_counter()
        for start in range(0, len(events), window):
            await publisher.send(events[start:start + window])
        published = time.perf_counter()
    await wait_stored(runtime, expected_rows(events, 1), final_state_ids(events), timeout=60 + len(events) / 500)
    seconds = time.perf_counter() - started
    return {"eps": len(events) / seconds, "events": len(events), "seconds": seconds,
            "publish_seconds": published - started, "kafka_messages": kafka_messages(events, window),
            "window": window, "mix": mix(events)}
