"""The one Kafka reader, against the real broker: every record from the chosen offsets exactly once, in order; true
ends where Tansu lists a short one; progress committed as its group. Topic creation is the one `create_topics`."""

import time
from collections import defaultdict
from typing import Any

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import NewTopic

from quantdesk.broker import BATCH_FETCH_WAIT_MS, BATCH_PARTITION_BYTES
from quantdesk.kafka.reader import Reader, fetched_ends
from quantdesk.kafka.topics import create_topics
from quantdesk.settings import Settings

PARTITIONS, BATCHES, PER_BATCH = 3, 3, 7
WRITTEN = BATCHES * PER_BATCH  # records per partition


async def written_topic(settings: Settings, name: str) -> list[TopicPartition]:
    """Create a topic and write `BATCHES` record batches of `PER_BATCH` records to each partition, valued
    `<partition>:<n>`; return its partitions."""
    bootstrap, topic = settings.kafka_bootstrap or "", settings.topic(name)
    await create_topics(bootstrap, [NewTopic(topic, PARTITIONS, 1)], "test-admin")
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for p in range(PARTITIONS):
            for b in range(BATCHES):
                await write_batch(producer, topic, p, [f"{p}:{b * PER_BATCH + n}" for n in range(PER_BATCH)])
    finally:
        await producer.stop()
    return [TopicPartition(topic, p) for p in range(PARTITIONS)]


async def write_batch(producer: AIOKafkaProducer, topic: str, partition: int, values: list[str]) -> None:
    """Write `values` as one record batch (Tansu then lists the partition's end as the batch's first offset + 1)."""
    batch = producer.create_batch()
    for value in values:
        assert batch.append(key=None, value=value.encode(), timestamp=None) is not None
    await (await producer.send_batch(batch, topic, partition=partition))


def by_partition(records: list[Any]) -> dict[int, list[str]]:
    """Return the records' values by partition, in the order read."""
    values: dict[int, list[str]] = defaultdict(list)
    for record in records:
        values[record.partition].append(record.value.decode())
    return dict(values)


def expected(partition: int, start: int, end: int = WRITTEN) -> list[str]:
    """Return the values written to a partition at offsets [start, end)."""
    return [f"{partition}:{n}" for n in range(start, end)]


async def test_read_until_gives_every_record_from_its_start_to_the_true_end_once_in_order(settings: Settings) -> None:
    parts = await written_topic(settings, "reader.range")
    async with Reader(settings.kafka_bootstrap or "") as reader:
        ends = await reader.fetched_ends(await reader.end_offsets(parts))
        assert ends == dict.fromkeys(parts, WRITTEN)
        starts = {parts[0]: 0, parts[1]: 8, parts[2]: WRITTEN}  # the last one has nothing to read
        read = by_partition(await reader.read_until(starts, ends))
    assert read == {0: expected(0, 0), 1: expected(1, 8)}


async def test_read_until_a_listed_end_still_reads_its_last_batch_whole(settings: Settings) -> None:
    parts = await written_topic(settings, "reader.listed")
    async with Reader(settings.kafka_bootstrap or "") as reader:
        listed = await reader.end_offsets(parts)
        read = by_partition(await reader.read_until(dict.fromkeys(parts, 1), listed))
    assert read == {p: expected(p, 1) for p in range(PARTITIONS)}


async def test_fetched_ends_with_a_reader_of_its_own(settings: Settings) -> None:
    parts = await written_topic(settings, "reader.ends")
    async with Reader(settings.kafka_bootstrap or "") as reader:
        listed = await reader.end_offsets(parts)
    assert await fetched_ends(settings.kafka_bootstrap or "", listed) == dict.fromkeys(parts, WRITTEN)
    assert await fetched_ends("127.0.0.1:1", {}) == {}  # nothing to ask: no broker is called


async def test_an_assigned_reader_fetches_what_follows_its_offsets_once_also_what_arrives_later(
        settings: Settings) -> None:
    parts = await written_topic(settings, "reader.follow")
    bootstrap = settings.kafka_bootstrap or ""
    async with Reader(bootstrap) as reader:
        assert await reader.partitions([parts[0].topic]) == parts
        reader.assign({parts[0]: 5, parts[1]: WRITTEN})
        read = await fetch_until(reader, WRITTEN - 5)
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
        await producer.start()
        try:
            await write_batch(producer, parts[1].topic, 1, ["1:late-0", "1:late-1"])
            await write_batch(producer, parts[2].topic, 2, ["2:unassigned"])
        finally:
            await producer.stop()
        read += await fetch_until(reader, 2)
        read += await fetch_until(reader, 0)  # nothing more comes
        assert reader.highwater(parts[1]) == WRITTEN + 2 and await reader.position(parts[1]) == WRITTEN + 2
    assert by_partition(read) == {0: expected(0, 5), 1: ["1:late-0", "1:late-1"]}


async def fetch_until(reader: Reader, count: int, quiet_fetches: int = 10) -> list[Any]:
    """Return what the reader fetches until it has `count` records and then `quiet_fetches` fetches bring none."""
    records: list[Any] = []
    quiet = 0
    while len(records) < count or quiet < quiet_fetches:
        fetched = [r for rs in (await reader.fetch(timeout_ms=50)).values() for r in rs]
        quiet = 0 if fetched else quiet + 1
        records += fetched
    return records


async def test_a_group_only_holds_the_progress_the_reader_commits(settings: Settings) -> None:
    parts = await written_topic(settings, "reader.group")
    bootstrap, group = settings.kafka_bootstrap or "", f"{settings.app_id}-reader"
    async with Reader(bootstrap, group) as reader:
        assert await reader.committed(parts[0]) is None
        reader.assign({parts[0]: 3})  # the reader starts where it is told, not where the group stands
        await reader.commit({parts[0]: 9})
        read = await reader.read_until({parts[0]: 3}, {parts[0]: 4})
        assert [r.offset for r in read][0] == 3
    async with Reader(bootstrap, group) as again:
        assert await again.committed(parts[0]) == 9 and await again.committed(parts[1]) is None


async def test_creating_topics_again_keeps_them_as_they_are(settings: Settings) -> None:
    parts = await written_topic(settings, "reader.twice")
    topic = parts[0].topic
    await create_topics(settings.kafka_bootstrap or "", [NewTopic(topic, 1, 1)], "test-admin")
    async with Reader(settings.kafka_bootstrap or "") as reader:
        assert await reader.partitions([topic]) == parts
        assert await reader.fetched_ends(await reader.end_offsets(parts)) == dict.fromkeys(parts, WRITTEN)


async def test_a_reader_that_may_wait_asks_the_broker_a_fraction_as_often(settings: Settings) -> None:
    # Tansu answers a fetch when its wait runs out, data or not: each answer costs it ~0.3 ms of CPU and ~0.03 ms a
    # partition, so the readers that batch anyway (the sink, webhooks, the owners) wait five times as long
    [tp, *_] = await written_topic(settings, "waits")
    counts = {}
    for name, reader in (("quick", Reader(settings.kafka_bootstrap or "")),
                         ("patient", Reader(settings.kafka_bootstrap or "", None, BATCH_FETCH_WAIT_MS,
                                            BATCH_PARTITION_BYTES))):
        async with reader:
            reader.assign({tp: WRITTEN})  # at the end: every fetch waits its full time
            sent, client = [0], reader.consumer._client
            request = client.send

            async def counted(node_id: Any, message: Any, *args: Any, **kwargs: Any) -> Any:
                sent[0] += type(message).__name__.startswith("FetchRequest")
                return await request(node_id, message, *args, **kwargs)
            client.send = counted  # type: ignore[method-assign]
            started = time.monotonic()
            while time.monotonic() - started < 1.0:
                await reader.fetch(timeout_ms=50)
            counts[name] = sent[0]
    assert counts["patient"] <= 1000 / BATCH_FETCH_WAIT_MS + 2 and counts["quick"] >= 2 * counts["patient"], counts
