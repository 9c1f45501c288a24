"""The publisher packs a window's events into one Kafka message per partition, each on its key's partition."""

import asyncio
from collections import defaultdict

import orjson
import numpy as np
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.record.default_records import DefaultRecordBatch
from hypothesis import given
from hypothesis import settings as examples
from hypothesis import strategies as st

from bench.events import kafka_messages
from quantdesk.kafka.publisher import (MESSAGE_BYTES, Keyed, Publisher, keyed_batches, partition_batches,
                                      partition_messages, partition_of)
from quantdesk.settings import Settings
from quantdesk.kafka.topics import ensure_topics
from quantdesk.wire import Encoded, EncodedRun, decode
from tests.conftest import send_raw

WALLETS = 40


def interleaved_changes(rounds: int) -> list[Keyed]:
    """Return deposits of many accounts, interleaved, each account's numbered in order."""
    return [("accounts.changes", f"W{w}:0", {"id": f"W{w}:{n}", "wallet": f"W{w}", "subaccount": 0, "n": n})
            for n in range(rounds) for w in range(WALLETS)]


async def read_all(settings: Settings, topic: str, count: int) -> list[tuple[int, bytes, bytes]]:
    """Return a topic's messages as (partition, key, value), each partition in offset order: at least `count`,
    then whatever else comes within a second."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        name = settings.topic(topic)
        await consumer._client._wait_on_metadata(name)
        partitions = [TopicPartition(name, p) for p in sorted(consumer.partitions_for_topic(name) or ())]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        got: list[tuple[int, bytes, bytes]] = []
        while batches := await consumer.getmany(timeout_ms=5000 if len(got) < count else 1000):
            got += [(r.partition, r.key, r.value) for records in batches.values() for r in records]
        assert len(got) >= count, f"only {len(got)} of {count} messages arrived"
        return got
    finally:
        await consumer.stop()


async def producer_partitions(publisher: Publisher, keys: list[str]) -> dict[str, int]:
    """Return the partition the producer itself picks for each key (one keyed message each, to `dlq`)."""
    for key in keys:
        await send_raw(publisher, "dlq", key.encode(), key=key)
    return {value.decode(): partition for partition, _, value in await read_all(publisher.settings, "dlq", len(keys))}


async def test_a_window_of_many_accounts_lands_as_one_message_per_partition(settings: Settings) -> None:
    await ensure_topics(settings, settings.kafka_bootstrap or "")
    events = interleaved_changes(5)
    async with Publisher(settings, settings.kafka_bootstrap or "") as publisher:
        assert await publisher.send(events) == len(events)
        expected = await producer_partitions(publisher, [f"W{w}:0" for w in range(WALLETS)])

    messages = await read_all(settings, "accounts.changes", settings.topic_partitions)
    by_partition: dict[int, list[dict]] = defaultdict(list)
    for partition, key, value in messages:
        batch = decode(value)
        assert key.decode() == f"{batch[0]['wallet']}:0"
        by_partition[partition] += batch
    assert len(messages) == len(by_partition) == settings.topic_partitions
    assert sum(len(batch) for batch in by_partition.values()) == len(events)
    for partition, batch in by_partition.items():
        assert {expected[f"{e['wallet']}:0"] for e in batch} == {partition}
        for wallet in {e["wallet"] for e in batch}:
            assert [e["n"] for e in batch if e["wallet"] == wallet] == list(range(5))


def test_a_partition_past_the_limit_splits_in_order() -> None:
    events = [(key, {"n": n}) for n, (_, key, _) in enumerate(interleaved_changes(25))]
    sent = list(partition_messages(events, (0,), max_per_message=400))
    assert [len(decode(value)) for _, _, value in sent] == [400, 400, 200]
    assert [e["n"] for _, _, value in sent for e in decode(value)] == list(range(1000))


def run_of(events: list[tuple[str, dict]]) -> EncodedRun:
    """Return keyed events as one run written together, each followed by a comma."""
    written = [orjson.dumps(e) + b"," for _, e in events]
    return EncodedRun(b"".join(written), np.cumsum([0, *map(len, written)]), [k for k, _ in events], 0, len(events), 0)


@examples(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(0, 300_000)), max_size=40))
def test_a_message_passes_its_byte_bound_only_with_a_single_event(sizes: list[tuple[str, int]]) -> None:
    # a dead letter is up to ~100 KB written: 500 of them in one message passed the producer's 8 MB request and
    # Kafka's 1 MB message, and the worker that sent it stopped on it at every start
    events = [(key, {"n": n, "text": "x" * size}) for n, (key, size) in enumerate(sizes)]
    mixed = [run_of(events[start:start + 7]) if start % 2 else events[start:start + 7] for start in range(0, 40, 7)]
    written = [item for part in mixed for item in (part if isinstance(part, list) else [part])]  # runs and singles
    for sent_in in (events, written):  # the same messages, as record batches written whole
        assert records(partition_batches(sent_in, (0, 1), 1 << 20, 0)) == list(partition_messages(sent_in, (0, 1)))
    for sent in (list(partition_messages(events, (0, 1))), records(keyed_batches(events, (0,), 1 << 20, 0)),
                 list(partition_messages(written, (0, 1))), records(keyed_batches(written, (0,), 1 << 20, 0))):
        assert all(len(value) <= MESSAGE_BYTES or len(decode(value)) == 1 for _, _, value in sent)
        assert sorted(e["n"] for _, _, value in sent for e in decode(value)) == list(range(len(events)))
        for _, key, value in sent:  # each message's key is its first event's, and its events keep their order
            batch = decode(value)
            assert key == events[batch[0]["n"]][0] and [e["n"] for e in batch] == sorted(e["n"] for e in batch)


def test_the_bench_counts_one_message_per_partition_and_window() -> None:
    events = interleaved_changes(5)
    assert kafka_messages(events, window=100, partitions=3) == 2 * 3
    assert kafka_messages(events, window=100, partitions=1) == 2


async def test_a_send_counts_once_every_in_sync_replica_has_it() -> None:
    publisher = Publisher(Settings(), "127.0.0.1:9")  # not started: only how its producer is made
    assert publisher.producer._sender._acks == -1  # acks=all, as aiokafka sends it


def records(batches: list[tuple[int, object]]) -> list[tuple[int, str, bytes]]:
    """Return the (partition, key, value) records of built batches, in order."""
    return [(partition, r.key.decode(), r.value) for partition, batch in batches
            for r in DefaultRecordBatch(bytes(batch._build()))]  # type: ignore[attr-defined]


def test_a_key_holds_one_record_of_its_events_in_order_from_runs_and_single_events_alike() -> None:
    keys = [f"W{n}:0" for n in range(50)]
    first = [(k, {"key": k, "n": 0}) for k in keys]  # a run of one state per key, single states, the run's rest, a run
    again = [(k, Encoded(0, orjson.dumps({"key": k, "n": 1}))) for k in keys[::5]]
    third = [(k, {"key": k, "n": 2}) for k in keys[::2]]
    run = run_of(first)
    got = records(keyed_batches([run.part(0, 20), *again, run.part(20, 50), run_of(third)], (0, 1, 2), 1 << 20, 0))
    assert sorted(key for _, key, _ in got) == sorted(keys)  # one record a key
    for partition, key, value in got:
        assert partition == partition_of(key, (0, 1, 2)) and all(e["key"] == key for e in decode(value))
        before = keys.index(key) < 20  # its first state in the run's first part, before the single ones
        assert [e["n"] for e in decode(value)] == [  # its own events, in the order they came
            *([0] if before else []), *([1] if key in keys[::5] else []), *([] if before else [0]),
            *([2] if key in keys[::2] else [])]
    came = list(dict.fromkeys([*keys[:20], *(k for k, _ in again), *keys[20:]]))
    for partition in (0, 1, 2):  # keys in the order they first came
        assert [key for p, key, _ in got if p == partition] == [
            k for k in came if partition_of(k, (0, 1, 2)) == partition]


def test_a_key_with_many_or_large_events_holds_several_records_each_within_the_bounds() -> None:
    events = [("A", {"n": n}) for n in range(1200)] + [("B", {"n": n, "pad": "x" * 200_000}) for n in range(5)]
    got = records(keyed_batches([run_of(events[:700]), *events[700:]], (0,), 1 << 20, 0))
    assert [len(decode(v)) for _, k, v in got if k == "A"] == [500, 500, 200]
    assert all(len(v) <= MESSAGE_BYTES for _, k, v in got if k == "B") and sum(k == "B" for _, k, _ in got) == 3
    assert [e["n"] for _, k, v in got for e in decode(v) if k == "B"] == list(range(5))


async def test_keyed_batches_go_to_the_broker_few_each_record_on_its_partition_in_order(settings: Settings) -> None:
    # 3,000 account states of ~600 bytes in batches of at most 16 KiB: each partition's ~600 KB in ~40 batches
    await ensure_topics(settings, settings.kafka_bootstrap or "")
    events = [(f"W{n}:0", {"n": n, "pad": "x" * 580}) for n in range(3000)]
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, max_batch_size=16 << 10)
    await producer.start()
    try:
        name = settings.topic("accounts.state")
        sent = [await producer.send_batch(batch, name, partition=partition)
                for partition, batch in keyed_batches([run_of(events)], (0, 1, 2), 16 << 10, 1_764_000_000_000)]
        delivered = await asyncio.gather(*sent)
    finally:
        await producer.stop()
    assert 3 * 30 < len(delivered) < 3 * 60  # batches full to the size asked, not one per record
    got = await read_all(settings, "accounts.state", len(events))
    expected = [(partition_of(k, (0, 1, 2)), k.encode(), b"[" + orjson.dumps(e) + b"]") for k, e in events]
    assert sorted(got) == sorted(expected)  # each once, with its key
    for partition in range(3):
        assert [r[2] for r in got if r[0] == partition] == [v for p, _, v in expected if p == partition]
