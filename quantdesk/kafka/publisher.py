"""Publish events to the input topics, many events of one Kafka partition per message; the messages of runs of events
written together, as spans of their buffers."""

from collections import defaultdict
from functools import lru_cache
from typing import Any, Iterable, Iterator

import numpy as np
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

from quantdesk.settings import Settings
from quantdesk.wire import EncodedRun, encode_batch

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


Events = Iterable[tuple[str, Any] | EncodedRun]  # keyed events, and runs of them written together


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


def partitions_of(keys: list[str], partitions: tuple[int, ...]) -> np.ndarray:
    """Return the partition of each key, as `partition_of` (a key per account: looked up in a table, ~30 ns each)."""
    table = _LANDING.get(partitions)
    if table is None or len(table) > 1 << 18:  # as many as `partition_of` holds
        table = _LANDING[partitions] = {}
    landing = list(map(table.get, keys))
    if None in landing:
        for i in [i for i, p in enumerate(landing) if p is None]:
            landing[i] = table[keys[i]] = partition_of(keys[i], partitions)
    return np.array(landing, dtype=np.int64)


_LANDING: dict[tuple[int, ...], dict[str, int]] = {}


Span = tuple[Any, int, int]  # a buffer and a range of it: events written one after another, commas between


def partition_messages(
    events: Events, partitions: tuple[int, ...], max_per_message: int = 500
) -> Iterator[tuple[int, str, bytes]]:
    """Yield (partition, key, JSON array) messages: each partition's events in order, at most `max_per_message` and
    `MESSAGE_BYTES` each.

    Events of many keys share a message when their keys map to one partition; each still lands on
    the partition its own key maps to. A message's key is its first event's key (consumers read the
    key of every event from the event, never from the message).
    """
    for partition, key, spans in partition_records(events, partitions, max_per_message):
        yield partition, key, json_array(spans)


def partition_records(
    events: Events, partitions: tuple[int, ...], max_per_message: int = 500
) -> Iterator[tuple[int, str, list[Span]]]:
    """Yield `partition_messages`' messages as (partition, key, spans of their events), partition by partition (a
    run's rows side by side on one partition are one span of its buffer)."""
    by_partition: dict[int, list[tuple[str, Any] | EncodedRun]] = defaultdict(list)
    for item in events:
        if isinstance(item, EncodedRun):
            for partition, part in by_partitions(item, partitions):
                by_partition[partition].append(part)
        else:
            by_partition[partition_of(item[0], partitions)].append(item)
    for partition, batch in by_partition.items():
        for key, spans in packed(batch, max_per_message):
            yield partition, key, spans


def json_array(spans: list[Span]) -> bytes:
    """Return spans of events as one JSON array (a message `bounded` wrote whole: itself)."""
    if len(spans) == 1 and type(spans[0][0]) is bytes and spans[0][1:] == (1, len(spans[0][0]) - 1):
        return spans[0][0]
    parts: list[Any] = [b"["]
    for buffer, start, stop in spans:
        parts += [b","] * (len(parts) > 1) + [memoryview(buffer)[start:stop]]
    return b"".join([*parts, b"]"])


def by_partitions(run: EncodedRun, partitions: tuple[int, ...]) -> Iterator[tuple[int, EncodedRun]]:
    """Yield a run's parts whose rows side by side go to one partition, in order, each with its partition."""
    landing = partitions_of(run.run_keys(), partitions)
    cuts = [0, *(np.flatnonzero(np.diff(landing)) + 1).tolist(), len(run)] if len(run) else []
    for start, stop in zip(cuts, cuts[1:]):
        yield int(landing[start]), run.part(start, stop)


def packed(batch: list[tuple[str, Any] | EncodedRun], max_per_message: int) -> Iterator[tuple[str, list[Span]]]:
    """Yield (first key, spans) messages of one partition's events and runs, in order, at most `max_per_message`
    and `MESSAGE_BYTES` each."""
    single: list[tuple[str, Any]] = []
    runs: list[EncodedRun] = []
    for item in [*batch, None]:
        if isinstance(item, tuple) and runs or isinstance(item, EncodedRun) and single or item is None:
            for start in range(0, len(single), max_per_message):
                yield from ((key, [(value, 1, len(value) - 1)])
                            for key, value in bounded(single[start:start + max_per_message]))
            yield from run_messages(runs, max_per_message)
            single, runs = [], []
        if isinstance(item, tuple):
            single.append(item)
        elif item is not None:
            runs.append(item)


def run_messages(runs: list[EncodedRun], max_per_message: int) -> Iterator[tuple[str, list[Span]]]:
    """Yield (first key, spans) messages of runs' rows, in order, each filled up to `max_per_message` rows and
    `MESSAGE_BYTES` (a row larger alone: a message of its own)."""
    spans: list[Span] = []
    key, count, size = "", 0, 1  # size: `[`, then each row and a comma (the last one's becomes `]`)
    for run in runs:
        r = 0
        while r < len(run):
            at = run.start + r
            fits = int(np.searchsorted(run.ends, run.ends[at] + MESSAGE_BYTES - size, side="right")) - 1 - run.start
            stop = min(fits, len(run), r + max_per_message - count)
            if stop <= r and count:  # not one more row fits: this message is full
                yield key, spans
                spans, count, size = [], 0, 1
                continue
            stop = max(stop, r + 1)
            spans.append((run.data, int(run.ends[at]), int(run.ends[run.start + stop]) - 1))
            key = key if count else run.keys[at]
            count, size, r = count + stop - r, size + int(run.ends[run.start + stop] - run.ends[at]), stop
    if count:
        yield key, spans


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
