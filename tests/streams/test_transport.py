"""The worker transport's seek to committed offsets puts partitions without a commit back to their start, and
its consumer commits nothing once its app failed to deliver a message.

aiokafka's own seek leaves them where a fetch moved them; Faust drops what a fetch returns for a
partition it paused meanwhile, so a worker restarted before its first commit skipped that input.
"""

import asyncio

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaTimeoutError
from aiokafka.structs import OffsetAndMetadata

from quantdesk.settings import Settings
from quantdesk.kafka.topics import ensure_topics
from streams.app import faust_app
from streams.transport import seek_to_committed

RECORDS = 3


async def read_all(settings: Settings, group: str) -> tuple[AIOKafkaConsumer, list[TopicPartition]]:
    """Return a started group consumer assigned every partition of `accounts.changes`, having read them all."""
    bootstrap, name = settings.kafka_bootstrap or "", settings.topic("accounts.changes")
    await ensure_topics(settings, bootstrap)
    partitions = [TopicPartition(name, p) for p in range(settings.topic_partitions)]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for tp in partitions:
            for n in range(RECORDS):
                await producer.send_and_wait(name, f"{n}".encode(), partition=tp.partition)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    consumer.assign(partitions)
    seen = 0
    while seen < RECORDS * len(partitions):
        seen += sum(len(batch) for batch in (await consumer.getmany(timeout_ms=500)).values())
    return consumer, partitions


async def test_partitions_without_a_commit_go_back_to_their_start_and_committed_ones_to_their_commit(
        settings: Settings) -> None:
    consumer, (first, second, changelog) = await read_all(settings, f"{settings.app_id}-seek")
    try:
        await consumer.commit({first: OffsetAndMetadata(2, "")})
        assert [await consumer.position(tp) for tp in (first, second, changelog)] == [RECORDS] * 3

        committed = await seek_to_committed(consumer, "earliest", skip=lambda tp: tp == changelog)

        assert committed[first] == 2 and committed[second] is None
        assert [await consumer.position(tp) for tp in (first, second, changelog)] == [2, 0, RECORDS]
    finally:
        await consumer.stop()


async def test_with_the_latest_policy_partitions_without_a_commit_go_to_their_end(settings: Settings) -> None:
    consumer, partitions = await read_all(settings, f"{settings.app_id}-latest")
    try:
        for tp in partitions:
            consumer.seek(tp, 1)

        await seek_to_committed(consumer, "latest", skip=lambda tp: False)

        assert [await consumer.position(tp) for tp in partitions] == [RECORDS] * len(partitions)
    finally:
        await consumer.stop()


async def test_an_app_that_failed_to_deliver_commits_nothing_and_crashes(settings: Settings) -> None:
    consumer, (first, _, _) = await read_all(settings, settings.app_id)
    await consumer.commit({first: OffsetAndMetadata(1, "")})
    app = faust_app(settings, settings.kafka_bootstrap or "")
    failure = KafkaTimeoutError("not delivered")
    app.undelivered = failure
    try:
        assert await asyncio.wait_for(app.consumer._commit({first: 3}), 10) is False  # (unstarted: a commit hangs)

        assert app.crash_reason is failure
        assert await consumer.committed(first) == 1
    finally:
        await consumer.stop()
