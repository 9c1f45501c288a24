"""The real worker end to end: simulator events published in windows until the last is in ClickHouse."""

import asyncio
import os
import time
from typing import Any

from quantdesk.bench.events import kafka_messages, mix
from quantdesk.platform import Runtime
from quantdesk.publisher import Keyed, Publisher

TABLES = {"oracle.ticks": "oracle_ticks", "trades.fills": "fills", "accounts.changes": "account_changes"}
POLL_S = 0.1


def process_cpu_s() -> float:
    """Return the CPU seconds this process (every thread, chDB's included) has used."""
    times = os.times()
    return times.user + times.system


def warm_up_tick(events: list[Keyed]) -> Keyed:
    """Return a tick just before the run, to have the worker joined and warm before the clock starts."""
    topic, key, first = next(e for e in events if e[0] == "oracle.ticks")
    ts = first["ts"] - 1
    return topic, key, {**first, "id": "bench:warm-up", "ts": ts, "publish_time": ts}


def final_ids(events: list[Keyed]) -> dict[str, list[str]]:
    """Return, per derived table, the ids of what the last events cause.

    That is every market's state after its last tick and the account state after the last fill
    (ids as `streams` makes them: `<source id>:state`, `<source id>:<wallet>:<subaccount>:state`).
    """
    last = {e["market"]: e["id"] for topic, _, e in events if topic == "oracle.ticks"}
    ids = {"market_state": [f"{tick_id}:state" for tick_id in last.values()]}
    fills = [e for topic, _, e in events if topic == "trades.fills"]
    if fills:
        ids["account_snapshots"] = [f"{fills[-1]['id']}:{fills[-1]['wallet']}:{fills[-1]['subaccount']}:state"]
    return ids


async def stored(runtime: Runtime, expected: dict[str, int], finals: dict[str, list[str]]) -> bool:
    """Return whether every input table holds its expected rows and every final derived row is stored."""
    wh, db = runtime.warehouse, runtime.warehouse.database
    counts = ", ".join(f"(SELECT count() FROM {db}.{table}) AS {table}" for table in expected)
    row = (await wh.arows(f"SELECT {counts}"))[0]
    if any(row[t] < n for t, n in expected.items()):
        return False
    for table, ids in finals.items():
        sql = f"SELECT count() AS n FROM {db}.{table} WHERE id IN {{ids:Array(String)}}"
        if (await wh.arows(sql, {"ids": ids}))[0]["n"] < len(ids):
            return False
    return True


async def wait_stored(runtime: Runtime, expected: dict[str, int], finals: dict[str, list[str]], timeout: float) -> None:
    """Poll ClickHouse until everything expected is stored, or raise after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not await stored(runtime, expected, finals):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the pipeline did not store {expected} and {finals} within {timeout}s")
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
        await wait_stored(runtime, expected_rows([], 1), {"market_state": [f"{warm[2]['id']}:state"]}, timeout=60)
        started, cpu = time.perf_counter(), process_cpu_s()
        for start in range(0, len(events), window):
            await publisher.send(events[start:start + window])
        published = time.perf_counter()
    await wait_stored(runtime, expected_rows(events, 1), final_ids(events), timeout=60 + len(events) / 100)
    seconds, cpu = time.perf_counter() - started, process_cpu_s() - cpu
    return {"eps": len(events) / seconds, "events": len(events), "seconds": seconds, "cpu_seconds": cpu,
            "cpu_per_wall": cpu / seconds,
            "publish_seconds": published - started, "kafka_messages": kafka_messages(events, window),
            "window": window, "mix": mix(events)}
