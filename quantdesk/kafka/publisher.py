"""Publish events to the input topics, many events of one Kafka partition per message."""

import asyncio
from collections import defaultdict
from functools import lru_cache
from typing import Any, Iterable, Iterator

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

from quantdesk.settings import Settings
from quantdesk.wire import Encoded, encode_batch

Keyed = tuple[str, str, Any]  # (logical topic, partition key, event)
# A send counts once every in-sync replica has it (at least `topics.MIN_INSYNC_REPLICAS` of 3): one broker lost
# loses no acknowledged write. Tansu, one broker, takes it at acks=1's cost. (Tansu refuses idempotent producers.)
PRODUCER_ACKS = "all"
# A message's bytes at most, unless it holds a single event: well within Kafka's default 1 MB (`message.max.bytes`)
MESSAGE_BYTES = 512 << 10
# A produce request's bytes at most: what one message a release sends may reach (`markets.epochs`, `risk.outcomes`);
# the production brokers take messages this large (docker/compose.yaml)
REQUEST_BYTES = 8 << 20


def partition_key(topic: str, event: dict[str, Any]) -> str:
    """Return DESIGN.md's key of an event: its market, or `wallet:subaccount` for accounts."""
    if "wallet" in event:
        return f"{event['wallet']}:{event.get('subaccount', 0)}"
    return str(event.get("market", topic))


def group_by_topic(events: Iterable[Keyed]) -> dict[str, list[tuple[str, Any]]]:
    """Group (topic, key, event) triples by topic, keeping their order."""
    groups: dict[str, list[tuple[str, Any]]] = defaultdict(list)
    for topic, key, event in events:
        groups[topic].append((key, event))
    return groups


def messages(events: Iterable[tuple[str, Any]], max_per_message: int = 500) -> Iterator[tuple[str, bytes]]:
    """Yield (key, JSON array) Kafka messages: each key's events in order, at most `max_per_message` and
    `MESSAGE_BYTES` each."""
    by_key: dict[str, list[Any]] = defaultdict(list)
    for key, event in events:
        by_key[key].append(event)
    for key, batch in by_key.items():
        if len(batch) == 1 and isinstance(batch[0], Encoded):  # most keys of a compacted topic: one state, written
            yield key, b"[" + batch[0].json + b"]"
            continue
        for start in range(0, len(batch), max_per_message):
            yield from bounded([(key, event) for event in batch[start:start + max_per_message]])


def bounded(chunk: list[tuple[str, Any]]) -> Iterator[tuple[str, bytes]]:
    """Yield (first key, JSON array) messages of the keyed events in order: the chunk whole, or halved until each
    part is within `MESSAGE_BYTES` or a single event."""
    value = encode_batch(event for _, event in chunk)
    if len(value) <= MESSAGE_BYTES or len(chunk) == 1:
        yield chunk[0][0], value
        return
    half = len(chunk) // 2
    yield from bounded(chunk[:half])
    yield from bounded(chunk[half:])


@lru_cache(maxsize=1 << 18)  # a key per account: a smaller cache than the accounts hashes each key again
def partition_of(key: str, partitions: tuple[int, ...]) -> int:
    """Return the partition the producer's default partitioner picks for `key` (murmur2 of its bytes)."""
    return DefaultPartitioner()(key.encode(), list(partitions), [])


def partition_messages(
    events: Iterable[tuple[str, Any]], partitions: tuple[int, ...], max_per_message: int = 500
) -> Iterator[tuple[int, str, bytes]]:
    """Yield (partition, key, JSON array) messages: each partition's events in order, at most `max_per_message` and
    `MESSAGE_BYTES` each.

    Events of many keys share a message when their keys map to one partition; each still lands on
    the partition its own key maps to. A message's key is its first event's key (consumers read the
    key of every event from the event, never from the message).
    """
    by_partition: dict[int, list[tuple[str, Any]]] = defaultdict(list)
    for key, event in events:
        by_partition[partition_of(key, partitions)].append((key, event))
    for partition, batch in by_partition.items():
        for start in range(0, len(batch), max_per_message):
            for key, value in bounded(batch[start:start + max_per_message]):
                yield partition, key, value


async def send_batches(producer: AIOKafkaProducer, topic: str,
                       records: Iterable[tuple[int, str, bytes]]) -> list["asyncio.Future[Any]"]:
    """Send (partition, key, value) records to a topic, each partition's in order, in as few produce batches as the
    producer's batch size allows; return the batches' futures. Each record stays its own, with its key (a compacted
    topic keeps the last per key): one state per account costs ~1.7 µs of CPU so, against ~9 through `send`, which
    makes a future and looks the partition up for each."""
    builders: dict[int, Any] = {}
    sent = []
    for partition, key, value in records:
        builder = builders.get(partition) or builders.setdefault(partition, producer.create_batch())
        if builder.append(key=key.encode(), value=value, timestamp=None) is None:  # full: a batch's first always fits
            sent.append(await producer.send_batch(builder, topic, partition=partition))
            builder = builders[partition] = producer.create_batch()
            builder.append(key=key.encode(), value=value, timestamp=None)
    for partition, builder in builders.items():
        sent.append(await producer.send_batch(builder, topic, partition=partition))
    return sent


class Publisher:
    """A producer that batches events per Kafka partition."""

    def __init__(self, settings: Settings, bootstrap: str) -> None:
        self.settings = settings
        self.producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=PRODUCER_ACKS, linger_ms=2,
                                         max_batch_size=1 << 20, max_request_size=REQUEST_BYTES)

    async def __aenter__(self) -> "Publisher":
        await self.producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.producer.stop()

    async def send(self, events: Iterable[Keyed], max_per_message: int = 500) -> int:
        """Send events, at most `max_per_message` of one partition per Kafka message; return the count."""
        sent = 0
        for topic, batch in group_by_topic(events).items():
            name = self.settings.topic(topic)
            partitions = tuple(sorted(await self.producer.partitions_for(name)))
            for partition, key, value in partition_messages(batch, partitions, max_per_message):
                await self.producer.send(name, value, key=key.encode(), partition=partition)
            sent += len(batch)
        await self.producer.flush()
        return sent
