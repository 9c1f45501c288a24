"""Publish events to the input topics, many events of one partition key per Kafka message."""

from collections import defaultdict
from typing import Any, Iterable

from aiokafka import AIOKafkaProducer

from quantdesk.settings import Settings
from quantdesk.wire import encode_batch

Keyed = tuple[str, str, Any]  # (logical topic, partition key, event)


def partition_key(topic: str, event: dict[str, Any]) -> str:
    """Return DESIGN.md's key of an event: its market, or `wallet:subaccount` for accounts."""
    if "wallet" in event:
        return f"{event['wallet']}:{event.get('subaccount', 0)}"
    return str(event.get("market", topic))


def group_in_order(events: Iterable[Keyed]) -> dict[tuple[str, str], list[Any]]:
    """Group events by (topic, key), keeping each key's order."""
    groups: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for topic, key, event in events:
        groups[(topic, key)].append(event)
    return groups


class Publisher:
    """A producer that batches events per partition key."""

    def __init__(self, settings: Settings, bootstrap: str) -> None:
        self.settings = settings
        self.producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=2,
                                         max_batch_size=1 << 20, max_request_size=8 << 20)

    async def __aenter__(self) -> "Publisher":
        await self.producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.producer.stop()

    async def send(self, events: Iterable[Keyed], max_per_message: int = 500) -> int:
        """Send events, at most `max_per_message` of one key per Kafka message; return the count."""
        sent = 0
        for (topic, key), batch in group_in_order(events).items():
            for start in range(0, len(batch), max_per_message):
                chunk = batch[start:start + max_per_message]
                await self.producer.send(self.settings.topic(topic), encode_batch(chunk), key=key.encode())
                sent += len(chunk)
        await self.producer.flush()
        return sent

    async def send_raw(self, topic: str, value: bytes, key: str = "raw") -> None:
        """Send bytes as they are (for tools and tests that need malformed input)."""
        await self.producer.send_and_wait(self.settings.topic(topic), value, key=key.encode())
