"""The transport ceiling and a naive Faust agent, on the same single-event Kafka messages; the ceiling also over the
pipeline's own batched messages, read alone or read and decoded."""

import asyncio
import statistics
import time
from typing import Any, Callable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from faust.contrib.asgi import faust_app_running

from bench.pipeline import process_cpu_s
from quantdesk.kafka.publisher import Keyed
from quantdesk.settings import Settings
from quantdesk.wire import encode
from streams.app import faust_app


class Arrivals:
    """Count arrivals and time the span from the first to the expected last."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.seen = 0
        self.first = self.last = 0.0
        self.done = asyncio.Event()

    def arrive(self) -> None:
        """Record one arrival."""
        now = time.perf_counter()
        if not self.seen:
            self.first = now
        self.seen += 1
        if self.seen == self.expected:
            self.last = now
            self.done.set()

    def rate(self) -> float:
        """Return arrivals per second between the first and the last."""
        return (self.seen - 1) / (self.last - self.first)


async def publish_single(bootstrap: str, topic: str, events: list[Keyed]) -> None:
    """Send every event as a Kafka message of its own, keyed like the platform keys it."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=5, max_batch_size=1 << 20)
    await producer.start()
    try:
        for _, key, event in events:
            await producer.send(topic, encode(event), key=key.encode())
        await producer.flush()
    finally:
        await producer.stop()


Decode = Callable[[TopicPartition, list[Any]], int]  # decodes a partition's records as a reader would; returns how
                                                     # many of them it took


async def read_pass(consumer: AIOKafkaConsumer, partitions: list[TopicPartition], count: int, timeout: float,
                    decode: Decode | None = None) -> float:
    """Read `count` messages from the beginning of `partitions` (with `decode`, the messages it takes, each batch
    handed to it); return the seconds it took."""
    await consumer.seek_to_beginning(*partitions)
    started, seen = time.perf_counter(), 0
    while seen < count:
        batches = await consumer.getmany(timeout_ms=500, max_records=50_000)
        seen += sum(decode(tp, records) if decode else len(records) for tp, records in batches.items())
        if time.perf_counter() - started > timeout:
            raise TimeoutError(f"read {seen} of {count} messages in {timeout}s")
    return time.perf_counter() - started


async def transport_ceiling(bootstrap: str, topics: list[str], messages: int, events: int | None = None,
                            passes: int = 3, decode: Decode | None = None) -> dict[str, Any]:
    """Return raw aiokafka events/s over the topics' messages (each batch handed to `decode` if given): a warm pass,
    then the median of timed passes, and this process's CPU per event over the timed passes."""
    # a bare consumer at aiokafka's own fetch settings, not `quantdesk.kafka.reader`: the ceiling is raw aiokafka's
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        await consumer.topics()
        partitions = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
        consumer.assign(partitions)
        await read_pass(consumer, partitions, messages, 60, decode)
        cpu = process_cpu_s()
        seconds = [await read_pass(consumer, partitions, messages, 60, decode) for _ in range(passes)]
        cpu = process_cpu_s() - cpu
    finally:
        await consumer.stop()
    count = events or messages
    return {"eps": count / statistics.median(seconds), "passes_eps": [count / s for s in seconds],
            "cpu_us_per_event": 1e6 * cpu / (count * passes), "messages": messages, "events": count}


async def faust_naive(settings: Settings, topic: str, count: int) -> dict[str, Any]:
    """Return events/s of a per-event Faust agent that only counts, from its first event to its last."""
    app = faust_app(settings, settings.kafka_bootstrap or "")
    source = app.topic(topic, key_serializer="raw", value_serializer="raw")
    arrivals = Arrivals(count)

    @app.agent(source, name=f"{settings.app_id}.naive")
    async def naive(stream):  # type: ignore[no-untyped-def]
        """Count every event."""
        async for _ in stream:
            arrivals.arrive()

    async with faust_app_running(app):
        await asyncio.wait_for(arrivals.done.wait(), timeout=60 + count / 500)
    return {"eps": arrivals.rate(), "messages": count}
