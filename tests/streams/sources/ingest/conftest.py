"""Fake Solana and Hermes servers, ingest settings pointing at them, and topic readers."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from quantdesk.broker import free_port
from quantdesk.settings import Settings
from quantdesk.wire import decode
from tests.streams.sources.ingest.chain_kit import CHAIN_MARKETS
from tests.streams.sources.ingest.fake_hermes import FakeHermes
from tests.streams.sources.ingest.fake_solana import FakeSolana


@pytest.fixture
async def node() -> AsyncIterator[FakeSolana]:
    """Start a fake Solana RPC node."""
    fake = await FakeSolana().start()
    yield fake
    await fake.stop()


@pytest.fixture
async def hermes() -> AsyncIterator[FakeHermes]:
    """Start a fake Hermes replaying the fixtures."""
    fake = await FakeHermes().start()
    yield fake
    await fake.stop()


def pointed_at(settings: Settings, *nodes: FakeSolana, hermes_url: str = "ws://127.0.0.1:9/ws",
               **extra: Any) -> Settings:
    """Return settings whose endpoints are the fakes, with a free ingest port."""
    update = {
        "solana_rpc_urls": tuple(n.url for n in nodes), "solana_ws_urls": tuple(n.ws_url for n in nodes),
        "hermes_url": hermes_url, "chain_markets": CHAIN_MARKETS, "ingest_port": free_port(),
        "rpc_cooldown_s": 60.0, **extra,
    }
    return settings.model_copy(update=update)


async def read_topic(settings: Settings, topic: str) -> list[dict[str, Any]]:
    """Return every event on a topic, from the beginning to its current end."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer.topics()
        name = settings.topic(topic)
        parts = [TopicPartition(name, p) for p in sorted(consumer.partitions_for_topic(name) or ())]
        if not parts:
            return []
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        events: list[dict[str, Any]] = []
        todo = {tp for tp, end in ends.items() if end > 0}
        while todo:
            for records in (await consumer.getmany(*todo, timeout_ms=500)).values():
                events += [e for r in records for e in decode(r.value)]
            todo = {tp for tp in todo if await consumer.position(tp) < ends[tp]}
        return events
    finally:
        await consumer.stop()


async def metrics_text(settings: Settings) -> str:
    """Return the ingest service's Prometheus text."""
    async with httpx.AsyncClient() as http:
        return (await http.get(f"http://127.0.0.1:{settings.ingest_port}/metrics")).text


def metric(text: str, name: str, **labels: str) -> float:
    """Return the sum of the samples of `name` carrying `labels`, from Prometheus text (0 when none)."""
    return sum(sample.value for family in text_string_to_metric_families(text) for sample in family.samples
               if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()))
