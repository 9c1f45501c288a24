"""Each role runs its own loops (the feed's readers decode an input message once between them); a worker runs its
app until it is told to stop or the app crashes, and says which it was; an agent's error crashes the app."""

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from quantdesk.kafka.lag import reader_behind
from quantdesk.kafka.publisher import Publisher
from quantdesk.settings import Settings
from quantdesk.warehouse import Warehouse
from quantdesk.kafka.topics import ensure_topics
from streams.app import faust_app
from streams.decode import decode_events
from streams.worker import build_pipeline, run_until_stopped
from tests.conftest import send_raw
from tests.streams.test_endpoints import showing, worker
from tests.waiting import eventually


def test_the_risk_role_runs_the_accounts_loop_and_the_feed_the_markets_orders_sink_and_webhooks_loops(
    settings: Settings, warehouse: Warehouse
) -> None:
    risk = build_pipeline(settings, "127.0.0.1:9092", None, "risk")
    feed = build_pipeline(settings, "127.0.0.1:9092", warehouse, "feed")
    assert risk.loops == ["accounts"] and feed.loops == ["markets", "orders", "sink", "webhooks"]
    assert build_pipeline(settings, "127.0.0.1:9092", warehouse).loops == [
        "accounts", "markets", "orders", "sink", "webhooks"]
    assert risk.app.producer_only and feed.app.producer_only and not feed.app.agents  # no Faust acking on input


async def test_the_feeds_markets_and_orders_agents_and_its_sink_decode_an_input_message_once_between_them(
        settings: Settings, warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    decoded: list[bytes] = []

    def counted(*args: Any) -> Any:
        decoded.append(args[2])
        return decode_events(*args)
    monkeypatch.setattr("streams.ordered.decode_events", counted)
    monkeypatch.setattr("streams.agents.sink.decode_events", counted)
    fills = orjson.dumps([{"id": f"f{n}", "ts": 1_767_225_600_000 + n, "market": "SOL-PERP", "wallet": "w",
                           "side": "buy", "size": "1", "price": "100"} for n in range(2)])
    async with worker(settings, "feed", warehouse) as feed, Publisher(settings, feed.bootstrap) as publisher:
        await send_raw(publisher, "trades.fills", fills)

        await showing(feed, "worker_events_in_total", 2, role="feed", topic="trades.fills")  # once, by the markets'

        async def orders_applied() -> bool:
            return await reader_behind(settings, feed.bootstrap, "orders") == 0  # the fills read: they went by
        await eventually(orders_applied, timeout=60, what="the orders agent past the fills")
        await showing(feed, "worker_sink_rows_total", 2, role="feed", table="fills")
    assert decoded.count(fills) == 1


async def test_a_worker_whose_app_crashes_stops_and_says_so(settings: Settings) -> None:
    bootstrap = settings.kafka_bootstrap or ""
    await ensure_topics(settings, bootstrap)
    app = build_pipeline(settings, bootstrap, None, "risk").app
    worker = asyncio.create_task(run_until_stopped(app))
    await eventually(lambda: asyncio.sleep(0, app.started), timeout=60, what="the worker started")
    assert (settings.data_dir / "faust" / app.conf.id).is_dir()  # Faust's files under the data dir
    assert not Path(f"{app.conf.id}-data").exists()  # not in the working directory, Faust's default
    await app.crash(RuntimeError("a message was not delivered"))

    assert await asyncio.wait_for(worker, 30) is True


async def test_a_worker_whose_agent_fails_stops_and_commits_nothing_past_the_event(settings: Settings) -> None:
    bootstrap = settings.kafka_bootstrap or ""
    await ensure_topics(settings, bootstrap)
    app = faust_app(settings, bootstrap)
    source = app.topic(settings.topic("accounts.changes"), key_serializer="raw", value_serializer="raw")

    def handle(event: object) -> None:
        raise RuntimeError("a bug half-way through an event")

    @app.agent(source)
    async def failing(stream):  # type: ignore[no-untyped-def]
        async for event in stream.noack().events():  # acked once handled, as the accounts agent does
            handle(event)
            event.ack()

    worker = asyncio.create_task(run_until_stopped(app))
    async with Publisher(settings, bootstrap) as publisher:
        await send_raw(publisher, "accounts.changes", b"[]")

        assert await asyncio.wait_for(worker, 60) is True
    assert isinstance(app.crash_reason, RuntimeError)
    assert await committed_offsets(settings, app.conf.id) == {}


async def committed_offsets(settings: Settings, group: str) -> dict[int, int]:
    """Return the offsets a consumer group committed on `accounts.changes`, by partition."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        name = settings.topic("accounts.changes")
        offsets = {p: await consumer.committed(TopicPartition(name, p)) for p in range(settings.topic_partitions)}
    finally:
        await consumer.stop()
    return {p: offset for p, offset in offsets.items() if offset}
