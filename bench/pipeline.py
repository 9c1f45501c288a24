"""The real worker end to end: simulator events published in windows until the last is in ClickHouse."""

import asyncio
import os
import sys
import time
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

import orjson

from bench.events import kafka_messages, mix
from bench.feeder import digest
from api.embedded import Runtime
from quantdesk.kafka.publisher import Keyed, Publisher
from quantdesk.kafka.topics import STORED_TABLES
from streams.risk_process import child_settings, cpu_seconds

TABLES = {"oracle.ticks": "oracle_ticks", "trades.fills": "fills", "accounts.changes": "account_changes"}
POLL_S = 0.1
STALL_S = 30.0
SETTLE_S = 0.5  # no table grew for this long: the run's rows are all stored
STEADY = (0.1, 0.9)  # a steady-state rate runs from 10 % of the rows stored to 90 %
STORED = list(STORED_TABLES.values())
WARM_UP = 2  # events (and Kafka messages: one topic each) published before the clock starts


def process_cpu_s() -> float:
    """Return the CPU seconds this process (every thread, chDB's included) has used."""
    times = os.times()
    return times.user + times.system


def cpu_s(runtime: Runtime, broker_pid: int) -> tuple[float, float, float]:
    """Return the CPU seconds used by this process (gateway, feed worker), the risk worker and the broker."""
    return process_cpu_s(), runtime.risk.cpu_seconds(), cpu_seconds(broker_pid)


def warm_up(events: list[Keyed]) -> list[Keyed]:
    """Return a tick and a deposit (of an account of its own) just before the run: once both are stored,
    the feed worker and the risk worker have joined and are warm, and the clock may start."""
    topic, key, first = next(e for e in events if e[0] == "oracle.ticks")
    ts = first["ts"] - 1
    tick = {**first, "id": "bench:warm-up", "ts": ts, "publish_time": ts}
    deposit = {"id": "bench:warm-up-deposit", "ts": ts, "wallet": "bench-warm-up", "subaccount": 0,
               "kind": "deposit", "amount": "1"}
    return [(topic, key, tick), ("accounts.changes", "bench-warm-up:0", deposit)]


def warm_up_ids(warm: list[Keyed]) -> dict[str, list[str]]:
    """Return the ids of what the warm-up causes: its tick's market state and its deposit's account state."""
    (_, _, tick), (_, key, deposit) = warm
    return {"market_state": [f"{tick['id']}:state"], "account_snapshots": [f"{deposit['id']}:{key}:state"]}


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


async def row_counts(runtime: Runtime, tables: list[str]) -> dict[str, int]:
    """Return how many rows each table holds: its parts' rows, as `system.tables` sums them (what `count()` gives).
    A `count()` of every stored table cost 10 ms of CPU a poll, 10 polls a second, in the measured process and
    under the warehouse's lock the sink writes through; this costs 1.3 ms."""
    held = await runtime.warehouse.arows(
        "SELECT name, total_rows FROM system.tables WHERE database = {db:String} AND name IN {tables:Array(String)}",
        {"db": runtime.warehouse.database, "tables": tables})
    rows = {row["name"]: row["total_rows"] for row in held}
    return {table: rows[table] or 0 for table in tables}


async def finals_stored(runtime: Runtime, finals: dict[str, list[str]]) -> bool:
    """Return whether every final derived row is stored."""
    for table, ids in finals.items():
        sql = f"SELECT count() AS n FROM {runtime.warehouse.database}.{table} WHERE id IN {{ids:Array(String)}}"
        if (await runtime.warehouse.arows(sql, {"ids": ids}))[0]["n"] < len(ids):
            return False
    return True


Samples = list[tuple[float, dict[str, int]]]  # (monotonic seconds, rows each stored table held)


async def sample(runtime: Runtime, samples: Samples) -> dict[str, int]:
    """Note how many rows each stored table holds, and when (the middle of the query); return the counts."""
    asked = time.monotonic()
    counts = await row_counts(runtime, STORED)
    samples.append(((asked + time.monotonic()) / 2, counts))
    return counts


async def wait_stored(runtime: Runtime, expected: dict[str, int], finals: dict[str, list[str]],
                      samples: Samples | None = None) -> None:
    """Poll ClickHouse until everything expected is stored, noting each poll in `samples` if given; raise when no
    table grew for STALL_S."""
    last: dict[str, int] = {}
    since = time.monotonic()
    while True:
        if samples is None:
            counts = await row_counts(runtime, [*expected, *finals])
        else:
            counts = await sample(runtime, samples)
        if all(counts[t] >= n for t, n in expected.items()) and await finals_stored(runtime, finals):
            return
        if counts != last:
            last, since = counts, time.monotonic()
        elif time.monotonic() - since > STALL_S:
            raise TimeoutError(f"the pipeline stopped at {counts} for {STALL_S}s; expected {expected} and {finals}")
        await asyncio.sleep(POLL_S)


async def settled_rows(runtime: Runtime, samples: Samples) -> dict[str, int]:
    """Poll on until no table grew for SETTLE_S; return the rows each table holding any holds."""
    counts = samples[-1][1]
    while True:
        await asyncio.sleep(SETTLE_S)
        again = await sample(runtime, samples)
        if again == counts:
            return {table: n for table, n in counts.items() if n}
        counts = again


def crossing(series: list[tuple[float, int]], rows: float) -> float:
    """Return when `rows` rows were stored, interpolated between the polls around it (the first holds fewer)."""
    for (t0, n0), (t1, n1) in zip(series, series[1:]):
        if n1 >= rows:
            return t0 + (t1 - t0) * (rows - n0) / (n1 - n0)
    raise ValueError(f"{rows} rows were never stored: {series[-1]}")


def steady_eps(samples: Samples, tables: list[str], events: int) -> float:
    """Return events/s from the moment STEADY's low share of the rows `tables` gained over the samples were stored
    to its high share (the events in that time taken as the same share of them)."""
    series = [(t, sum(counts[table] for table in tables)) for t, counts in samples]
    base, rows = series[0][1], series[-1][1] - series[0][1]
    low, high = STEADY
    return (high - low) * events / (crossing(series, base + high * rows) - crossing(series, base + low * rows))


def expected_rows(events: list[Keyed]) -> dict[str, int]:
    """Return the rows each input table must hold once every event is stored."""
    counts = mix(events)
    return {table: counts.get(topic, 0) for topic, table in TABLES.items()}


@asynccontextmanager
async def feeder(runtime: Runtime, events: list[Keyed], simulated_as: tuple[int, int],
                 window: int) -> AsyncIterator[asyncio.subprocess.Process]:
    """Run `bench.feeder` with the (count, start ms) the events were simulated with, until it is
    ready to publish the same events; yield it."""
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "bench.feeder",
                                                   stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    assert process.stdin is not None and process.stdout is not None
    count, start_ms = simulated_as
    order = {"settings": orjson.loads(child_settings(runtime.settings, runtime.bootstrap)), "count": count,
             "start_ms": start_ms, "window": window}
    process.stdin.write(orjson.dumps(order) + b"\n")
    try:
        ready = (await process.stdout.readline()).decode().split()
        if ready != ["ready", digest(events)]:
            raise RuntimeError(f"the feeder is not ready to publish the bench's events: {ready}")
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def fed(process: asyncio.subprocess.Process) -> dict[str, float]:
    """Tell the feeder to publish; return its report (the seconds it took, when it sent the last window)."""
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(b"go\n")
    report = orjson.loads(await process.stdout.readline())
    await process.wait()
    return report


async def pipeline_throughput(runtime: Runtime, events: list[Keyed], simulated_as: tuple[int, int], window: int,
                              broker_pid: int) -> dict[str, Any]:
    """Return events/s from the first publish until the last event is queryable in ClickHouse, and in the steady
    state; the seconds from the last window's publish until it is stored; the rows the run stored. The events are
    published by `bench.feeder`, which simulates them as `simulated_as` (count, start ms) says. The CPU
    per event counts this process, the risk worker and the broker (process `broker_pid`), not the feeder."""
    warm = warm_up(events)
    async with feeder(runtime, events, simulated_as, window) as process:
        async with Publisher(runtime.settings, runtime.bootstrap) as publisher:
            await publisher.send(warm)
        await wait_stored(runtime, expected_rows(warm), warm_up_ids(warm))
        samples: Samples = []
        await sample(runtime, samples)
        started, cpu = time.perf_counter(), cpu_s(runtime, broker_pid)
        publishing = asyncio.ensure_future(fed(process))
        await wait_stored(runtime, expected_rows(warm + events), final_ids(events), samples)
        seconds, stored_at = time.perf_counter() - started, time.monotonic()
        gateway, risk, broker = (b - a for a, b in zip(cpu, cpu_s(runtime, broker_pid)))
        published = await publishing
    messages = kafka_messages(events, window, runtime.settings.topic_partitions)
    stored = await settled_rows(runtime, samples)
    return {"eps": len(events) / seconds, "steady_eps": steady_eps(samples, STORED, len(events)),
            "input_steady_eps": steady_eps(samples, list(TABLES.values()), len(events)), "steady_shares": STEADY,
            "polls": len(samples) - 1, "latency_s": stored_at - published["last_window_at"],
            "events": len(events), "seconds": seconds, "cpu_seconds": gateway + risk,
            "cpu_per_wall": (gateway + risk) / seconds, "risk_cpu_seconds": risk, "broker_cpu_seconds": broker,
            "cpu_us_per_event": 1e6 * (gateway + risk + broker) / len(events),
            "publish_seconds": published["publish_seconds"], "kafka_messages": messages, "window": window,
            "mix": mix(events), "stored_rows": stored}
