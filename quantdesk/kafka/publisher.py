"""Publish events to the input topics, many events of one Kafka partition per message."""

from collections import defaultdict
from functools import lru_cache
from typing import Any, Iterable, Iterator

import numpy as np
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

from quantdesk.kafka.records import Built, record_batches
from quantdesk.settings import Settings
from quantdesk.wire import Encoded, EncodedRun, encode_batch

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


def partition_batches(events: Events, partitions: tuple[int, ...], batch_bytes: int,
                      timestamp: int) -> list[tuple[int, Built]]:
    """Return the messages `partition_messages` gives as record batches written whole, each with its partition (a
    run's rows go from its buffer into the batch, copied once)."""
    batches: list[tuple[int, Built]] = []
    records = list(partition_records(events, partitions))
    for partition in dict.fromkeys(p for p, _, _ in records):
        held = [(key, spans) for p, key, spans in records if p == partition]
        data, starts, stops = joined([span for _, spans in held for span in spans])
        first = np.cumsum([0, *(len(spans) for _, spans in held)])
        text = "".join(key for key, _ in held)
        key_at = np.cumsum([0, *(len(k) if text.isascii() else len(k.encode()) for k, _ in held)])
        batches += [(partition, Built(batch, count)) for batch, count in record_batches(
            data, starts, stops, np.arange(len(starts)), first, text.encode(), key_at, timestamp, batch_bytes)]
    return batches


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


def joined(spans: list[Span]) -> tuple[bytes | np.ndarray, np.ndarray, np.ndarray]:
    """Return the spans' buffers as one (a single buffer: itself) and where each span starts and stops in it."""
    placed: dict[int, int] = {}  # where each buffer starts, by identity: a run's spans share it
    buffers, starts, stops, size = [], [], [], 0
    for buffer, start, stop in spans:
        if (base := placed.get(id(buffer))) is None:
            base = placed[id(buffer)] = size
            buffers.append(buffer)
            size += len(buffer)
        starts.append(base + start)
        stops.append(base + stop)
    data = buffers[0] if len(buffers) == 1 else b"".join(buffers)
    return data, np.array(starts, np.int64), np.array(stops, np.int64)


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


def keyed_batches(events: Events, partitions: tuple[int, ...], batch_bytes: int,
                  timestamp: int) -> list[tuple[int, Built]]:
    """Return a compacted topic's record batches, each with its partition: one record per key, its events in order
    as a JSON array, on the partition the producer's partitioner picks for the key; a partition's records in the order
    their keys first come, in batches of at most `batch_bytes` (`quantdesk.kafka.records`). One state per account
    costs ~0.2 µs so, against ~1.7 through aiokafka's builder."""
    data, starts, stops, keys = laid_out(events)
    ids: dict[str, Any] = dict.fromkeys(keys)
    if len(ids) == len(keys):  # most calls: each key once
        order, first = np.arange(len(keys)), np.arange(len(keys) + 1)
    else:
        ids = {key: n for n, key in enumerate(ids)}
        key_ids = np.fromiter(map(ids.__getitem__, keys), np.int64, len(keys))
        order = np.argsort(key_ids, kind="stable")  # each key's events together, in order
        first = np.zeros(len(ids) + 1, np.int64)
        np.cumsum(np.bincount(key_ids, minlength=len(ids)), out=first[1:])
    named, first = bounded_records(list(ids), first, (stops - starts)[order])
    counts = np.diff(first)
    landing = partitions_of(named, partitions)
    batches = []
    for partition in np.unique(landing).tolist():
        records = np.flatnonzero(landing == partition)
        lengths = counts[records]
        at = np.zeros(len(records) + 1, np.int64)
        np.cumsum(lengths, out=at[1:])
        pieces = order[np.repeat(first[records] - at[:-1], lengths) + np.arange(at[-1])]
        held = [named[r] for r in records.tolist()]
        text = "".join(held)
        key_at = np.zeros(len(held) + 1, np.int64)
        np.cumsum(list(map(len, held)) if text.isascii() else [len(k.encode()) for k in held], out=key_at[1:])
        batches += [(partition, Built(batch, count)) for batch, count in record_batches(
            data, starts, stops, pieces, at, text.encode(), key_at, timestamp, batch_bytes)]
    return batches


def bounded_records(keys: list[str], first: np.ndarray, sizes: np.ndarray,
                    max_per_message: int = 500) -> tuple[list[str], np.ndarray]:
    """Return records cut so that each holds at most `max_per_message` events and `MESSAGE_BYTES` unless it holds
    one: the key of each and where each starts (record r held events [first[r], first[r + 1]) of `sizes` bytes)."""
    counts = np.diff(first)
    value = np.add.reduceat(sizes, first[:-1]) + counts + 1 if len(sizes) else np.zeros(0, np.int64)
    over = np.flatnonzero((counts > 1) & ((counts > max_per_message) | (value > MESSAGE_BYTES)))
    if not len(over):
        return keys, first
    cuts, named = [first], [*keys, ""]  # (the last cut ends the last record)
    for r in over.tolist():
        taken, size = 0, 1
        for i in range(int(first[r]), int(first[r + 1])):
            if taken and (taken == max_per_message or size + sizes[i] + 1 > MESSAGE_BYTES):
                cuts.append(np.array([i]))
                named.append(keys[r])
                taken, size = 0, 1
            taken, size = taken + 1, size + sizes[i] + 1
    at = np.concatenate(cuts)
    order = np.argsort(at, kind="stable")
    return [named[i] for i in order[:-1].tolist()], at[order]


def laid_out(events: Events) -> tuple[bytes | np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Return every event's JSON in one buffer, where each starts and stops in it, and their keys, in order."""
    buffers: list[bytes] = []
    placed: dict[int, int] = {}  # where each run's buffer starts, by identity: a run's parts share it
    starts: list[np.ndarray] = []
    stops: list[np.ndarray] = []
    single: list[int] = []  # the starts and stops of single events since the last run
    keys: list[str] = []
    size = 0
    for item in [*events, None]:
        if isinstance(item, tuple):
            key, event = item
            json = event.json if isinstance(event, Encoded) else encode_batch([event])[1:-1]
            buffers.append(json)
            single += (size, size + len(json))
            keys.append(key)
            size += len(json)
            continue
        if single:
            starts.append(np.array(single[::2], np.int64))
            stops.append(np.array(single[1::2], np.int64))
            single = []
        if item is None:
            break
        if (base := placed.get(id(item.data))) is None:
            base = placed[id(item.data)] = size
            buffers.append(item.data)
            size += len(item.data)
        ends = item.ends[item.start:item.stop + 1]
        starts.append(base + ends[:-1])
        stops.append(base + ends[1:] - 1)
        keys += item.run_keys()
    empty = np.zeros(0, np.int64)
    data = buffers[0] if len(buffers) == 1 else b"".join(buffers)  # one run alone: its own buffer, not copied
    return data, np.concatenate([empty, *starts]), np.concatenate([empty, *stops]), keys


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
