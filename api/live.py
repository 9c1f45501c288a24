"""Live caches fed by the derived topics: the newest state of every market, pushed on."""

import asyncio
import logging
from typing import Any, Awaitable, Callable

from aiokafka import AIOKafkaConsumer, TopicPartition

from quantdesk.settings import Settings
from quantdesk.wire import decode

log = logging.getLogger(__name__)
Handler = Callable[[str, dict[str, Any]], Awaitable[None]]
FEED_TOPICS = ("markets.state",)
WARM_UP_MESSAGES = 200


class LiveState:
    """The newest derived figures, per market."""

    def __init__(self) -> None:
        self.markets: dict[str, dict[str, Any]] = {}

    def apply(self, topic: str, event: dict[str, Any]) -> bool:
        """Record an event; return whether it is newer than what was held."""
        held = self.markets.get(event["market"])
        if held is not None and held["ts"] > event["ts"]:
            return False
        self.markets[event["market"]] = event
        return True


class LiveFeed:
    """Read the derived topics without a consumer group (every replica sees everything)."""

    def __init__(self, settings: Settings, bootstrap: str, state: LiveState, on_event: Handler) -> None:
        self.settings, self.bootstrap, self.state, self.on_event = settings, bootstrap, state, on_event
        self.names = {settings.topic(t): t for t in FEED_TOPICS}
        self.task: asyncio.Task[None] | None = None
        self.consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        """Assign every partition, step back a little to warm the cache, and start reading."""
        self.consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False,
                                         group_id=None, auto_offset_reset="earliest")
        await self.consumer.start()
        await self.consumer.topics()
        parts = [TopicPartition(t, p) for t in self.names
                 for p in sorted(self.consumer.partitions_for_topic(t) or {0})]
        self.consumer.assign(parts)
        ends = await self.consumer.end_offsets(parts)
        for tp, end in ends.items():
            self.consumer.seek(tp, max(0, end - WARM_UP_MESSAGES))
        self.task = asyncio.create_task(self.run(), name="live-feed")

    async def run(self) -> None:
        """Apply and hand on every event until stopped."""
        assert self.consumer is not None
        while True:
            batches = await self.consumer.getmany(timeout_ms=200, max_records=1000)
            for tp, messages in batches.items():
                for message in messages:
                    await self.handle(self.names[tp.topic], message.value)

    async def handle(self, topic: str, raw: bytes | None) -> None:
        """Apply one Kafka message's events; pass on the ones that are news."""
        for event in decode(raw or b"[]"):
            if self.state.apply(topic, event):
                await self.on_event(topic, event)

    async def stop(self) -> None:
        """Stop reading."""
        if self.task:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        if self.consumer:
            await self.consumer.stop()
