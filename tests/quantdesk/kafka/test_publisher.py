"""The publisher packs a window's events into one Kafka message per partition, each on its key's partition."""

from collections import defaultdict

from aiokafka import AIOKafkaConsumer, TopicPartition
from hypothesis import given
from hypothesis import settings as examples
from hypothesis import strategies as st

from bench.events import kafka_messages
from quantdesk.kafka.publisher import MESSAGE_BYTES, Keyed, Publisher, partition_messages
from quantdesk.settings import Settings
from quantdesk.kafka.topics import ensure_topics
from quantdesk.wire import decode
from tests.conftest import send_raw
from tests.quantdesk.test_wire import mixed

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


@examples(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(0, 300_000)), max_size=40))
def test_a_message_passes_its_byte_bound_only_with_a_single_event(sizes: list[tuple[str, int]]) -> None:
    # a dead letter is up to ~100 KB written: 500 of them in one message passed the producer's 8 MB request and
    # Kafka's 1 MB message, and the worker that sent it stopped on it at every start
    events = [(key, {"n": n, "text": "x" * size}) for n, (key, size) in enumerate(sizes)]
    for sent in (list(partition_messages(events, (0, 1))), list(partition_messages(mixed(events), (0, 1)))):
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
