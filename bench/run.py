"""Run every measurement on the bench's own embedded stack and write the report."""

import asyncio
import resource
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench import report
from bench.anchors import decode_ceiling, domain_floor, input_ends, passthrough, storage_floor
from bench.api import api_rps
from bench.books import book_costs
from bench.events import simulated
from bench.fanout import tick_to_client
from bench.fixed_margin import fixed_margin_costs
from bench.holders import holder_costs
from bench.pipeline import TABLES, WARM_UP, pipeline_throughput
from bench.remargin import remargin_scaling
from bench.signals import signal_cost
from bench.snapshots import snapshot_costs
from bench.sizing import Sizing
from bench.stack import bench_platform, bench_settings, fresh_chdb, scoped
from bench.store import candles_query, sink_rows
from bench.transport import faust_naive, publish_single, transport_ceiling
from quantdesk.broker import EmbeddedBroker
from quantdesk.kafka.topics import create_topics, new_topic
from quantdesk.process import tune_collector
from quantdesk.settings import Settings

DAY_MS = 86_400_000


def raise_open_files_limit() -> None:
    """Let this process hold a socket per Socket.IO client."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def transport_figures(settings: Settings, sizing: Sizing, start_ms: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return the raw aiokafka ceiling and the naive Faust rate over the same single-event messages."""
    events = simulated(settings, sizing.single_messages, start_ms)[0][:sizing.single_messages]
    bootstrap, topic = settings.kafka_bootstrap or "", settings.topic("bench.single")
    await create_topics(bootstrap, [new_topic(settings, "bench.single")], "quantdesk-bench-admin")
    await publish_single(bootstrap, topic, events)
    ceiling = await transport_ceiling(bootstrap, [topic], len(events))
    return ceiling, await faust_naive(scoped(settings, "naive"), topic, len(events))


async def platform_figures(settings: Settings, sizing: Sizing, start_ms: int, broker_pid: int) -> dict[str, Any]:
    """Return pipeline throughput, the batched transport ceiling, where the input partitions ended then, tick-to-client
    latency and API rps, and the pipeline's events."""
    events, sim = simulated(settings, sizing.pipeline_events, start_ms)
    async with bench_platform(settings) as runtime:
        pipeline = await pipeline_throughput(runtime, events, (sizing.pipeline_events, start_ms), sizing.publish_window,
                                             broker_pid)
        batched = await transport_ceiling(runtime.bootstrap, [settings.topic(t) for t in TABLES],
                                          pipeline["kafka_messages"] + WARM_UP, pipeline["events"] + WARM_UP)
        ends = await input_ends(settings)
        latency = [await tick_to_client(runtime, sim, n, sizing.client_processes, sizing.latency_ticks,
                                        sizing.latency_rate_hz) for n in sizing.clients]
        api = await api_rps(runtime, sizing.api_seconds, sizing.api_concurrency)
    return {"pipeline": pipeline, "batched": batched, "ends": ends, "latency": latency, "api": api, "events": events}


RISK_SHARDS = (1, 2, 3)


async def shard_figures(settings: Settings, sizing: Sizing, start_ms: int, broker_pid: int) -> list[dict[str, Any]]:
    """Return the pipeline's rate and CPU per event with 1, 2 and 3 risk workers sharing the risk tasks, each run
    on a platform of its own names over the same events."""
    events, _ = simulated(settings, sizing.shard_events, start_ms)
    figures = []
    for shards in RISK_SHARDS:
        own = scoped(settings, f"shards{shards}").model_copy(
            update={"risk_shards": shards, "topic_prefix": f"{settings.topic_prefix}shards{shards}."})
        async with bench_platform(own) as runtime:
            pipeline = await pipeline_throughput(runtime, events, (sizing.shard_events, start_ms),
                                                 sizing.publish_window, broker_pid)
        figures.append({"risk_shards": shards, **{k: pipeline[k] for k in (
            "events", "eps", "steady_eps", "cpu_us_per_event", "risk_cpu_seconds", "broker_cpu_seconds")}})
    return figures


async def kafka_anchors(settings: Settings, live: dict[str, Any]) -> dict[str, Any]:
    """Return the anchors that read the pipeline's input messages: the decode ceiling and the pass-through."""
    events = live["pipeline"]["events"]
    return {"decode_ceiling": await decode_ceiling(settings, live["ends"], events),
            "passthrough": await passthrough(settings, live["ends"], events)}


async def local_anchors(settings: Settings, live: dict[str, Any]) -> dict[str, Any]:
    """Return the anchors without the broker: the domain floor over the pipeline's events, the storage floor over the
    rows it stored."""
    return {"domain_floor": await asyncio.to_thread(domain_floor, settings, live["events"]),
            "storage_floor": await asyncio.to_thread(storage_floor, settings, live["pipeline"]["stored_rows"])}


async def store_figures(settings: Settings, sizing: Sizing, start_ms: int) -> dict[str, Any]:
    """Return the sink's insert rate and the candles query time, each beside its baseline."""
    dsn, database = settings.resolved_clickhouse_dsn(), settings.clickhouse_database
    events, _ = simulated(settings, sizing.sink_rows * 2, start_ms)
    sink = await asyncio.to_thread(sink_rows, dsn, database, events, sizing.sink_rows, settings.sink_batch_size)
    candles = await candles_query(dsn, database, sizing.candle_ticks, sizing.candle_repeats, start_ms)
    return {"sink": sink, "candles": candles}


async def pipeline_alone(sizing: Sizing, out: Path, events: int) -> dict[str, Any]:
    """Return the pipeline figure alone over `events` events (its scalar fields), on a fresh embedded stack."""
    tune_collector()
    fresh_chdb(out)
    start_ms = int(datetime.now(timezone.utc).timestamp() * 1000) - DAY_MS
    broker = await asyncio.to_thread(EmbeddedBroker().start)
    try:
        settings = bench_settings(out, broker.bootstrap, sizing)
        published, _ = simulated(settings, events, start_ms)
        assert broker.process is not None
        async with bench_platform(settings) as runtime:
            pipeline = await pipeline_throughput(runtime, published, (events, start_ms), sizing.publish_window,
                                                 broker.process.pid)
    finally:
        await asyncio.to_thread(broker.stop)
    return {key: value for key, value in pipeline.items() if not isinstance(value, (list, dict))}


async def run_bench(sizing: Sizing, out: Path, command: str) -> dict[str, Any]:
    """Measure everything on a fresh embedded stack; write and return the report."""
    raise_open_files_limit()
    tune_collector()  # as `quantdesk up` does, before the baselines too
    fresh_chdb(out)
    started, wall = time.perf_counter(), datetime.now(timezone.utc)
    start_ms = int(wall.timestamp() * 1000) - DAY_MS
    broker = await asyncio.to_thread(EmbeddedBroker().start)
    try:
        settings = bench_settings(out, broker.bootstrap, sizing)
        ceiling, naive = await transport_figures(settings, sizing, start_ms)
        assert broker.process is not None
        live = await platform_figures(settings, sizing, start_ms, broker.process.pid)
        anchors = await kafka_anchors(settings, live)
        shards = await shard_figures(settings, sizing, start_ms, broker.process.pid)
    finally:
        await asyncio.to_thread(broker.stop)
    anchors |= await local_anchors(settings, live)
    stored = await store_figures(settings, sizing, start_ms)
    result = {
        "schema": 1, "mode": sizing.name, "command": command, "started_at": wall.isoformat(timespec="seconds"),
        "machine": report.machine(),
        **report.throughput_figures(ceiling, live["batched"], naive, live["pipeline"], anchors),
        "tick_to_client_ms": live["latency"],
        "risk_shards": report.shard_figures(shards),
        "remargin_us_per_position": await asyncio.to_thread(remargin_scaling, sizing.positions, sizing.remargin_repeats),
        "holders": await asyncio.to_thread(holder_costs, sizing.holders, sizing.holder_repeats),
        "fixed_margin": await asyncio.to_thread(fixed_margin_costs, sizing.kernel_holders, sizing.holder_repeats),
        "snapshots": await asyncio.to_thread(snapshot_costs, sizing.snapshot_holders, sizing.holder_repeats),
        "signals_us_per_event": await asyncio.to_thread(signal_cost, settings, sizing.pipeline_events, start_ms),
        "books": await asyncio.to_thread(book_costs, sizing.book_orders, sizing.book_updates),
        "candles_query_ms": stored["candles"],
        "sink_rows_per_s": stored["sink"],
        "api_rps": live["api"],
    }
    result["seconds"] = time.perf_counter() - started
    report.write(out, result)
    return result
