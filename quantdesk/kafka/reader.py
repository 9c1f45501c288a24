"""The platform's one Kafka reader: partitions it assigns itself and reads from offsets it chooses.

No consumer group balances its partitions: every replica of a gateway sees all of them, and a worker that folds
input in order owns all of its input. A `group`, when given, only names where the reader commits its progress
(what `quantdesk.kafka.lag` counts); it never positions the reader. Fetches wait at most `FETCH_MAX_WAIT_MS`.
"""

from typing import Any, AsyncIterator, Iterable, Mapping, Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition

from quantdesk.broker import FETCH_MAX_WAIT_MS

FETCHED_END_TRIES = 100  # fetches `fetched_ends` waits for before it keeps the listed end
PARTITION_BYTES = 1 << 20  # what a fetch brings of one partition at most (aiokafka's default)


class Reader:
    """Read assigned partitions from chosen offsets, without a group to balance them."""

    def __init__(self, bootstrap: str | Sequence[str], group: str | None = None, wait_ms: int = FETCH_MAX_WAIT_MS,
                 partition_bytes: int = PARTITION_BYTES) -> None:
        """Read from the brokers at `bootstrap`, committing progress as `group` if given; each fetch waits at most
        `wait_ms` and brings at most `partition_bytes` of a partition."""
        servers = bootstrap.split(",") if isinstance(bootstrap, str) else list(bootstrap)
        # "earliest": a seek past what the broker still holds reads what it holds, and skips none of it
        self.consumer = AIOKafkaConsumer(bootstrap_servers=servers, group_id=group, enable_auto_commit=False,
                                         fetch_max_wait_ms=wait_ms, max_partition_fetch_bytes=partition_bytes,
                                         auto_offset_reset="earliest")

    async def start(self) -> "Reader":
        """Connect to the broker (a failed start leaves nothing running)."""
        try:
            await self.consumer.start()
        except BaseException:
            await self.consumer.stop()
            raise
        return self

    async def stop(self) -> None:
        """Disconnect."""
        await self.consumer.stop()

    async def __aenter__(self) -> "Reader":
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def partitions(self, topics: Iterable[str]) -> list[TopicPartition]:
        """Return every partition of `topics` the broker lists (partition 0 of a topic it does not list yet)."""
        await self.consumer.topics()
        return [TopicPartition(t, p) for t in topics for p in sorted(self.consumer.partitions_for_topic(t) or {0})]

    def assign(self, starts: Mapping[TopicPartition, int]) -> None:
        """Read exactly these partitions, each from its offset in `starts`."""
        self.consumer.assign(list(starts))
        for tp, offset in starts.items():
            self.consumer.seek(tp, offset)

    async def fetch(self, *parts: TopicPartition, timeout_ms: int,
                    max_records: int | None = None) -> dict[TopicPartition, list[Any]]:
        """Return the records fetched within `timeout_ms` (of `parts` only, when given), by partition."""
        return await self.consumer.getmany(*parts, timeout_ms=timeout_ms, max_records=max_records)

    async def position(self, tp: TopicPartition) -> int:
        """Return the offset the next record read from `tp` has."""
        return await self.consumer.position(tp)

    def highwater(self, tp: TopicPartition) -> int | None:
        """Return `tp`'s end as the last fetch reported it (None before one)."""
        return self.consumer.highwater(tp)

    async def end_offsets(self, parts: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        """Return each partition's end as ListOffsets answers it (Tansu's may fall short of its last batch)."""
        return await self.consumer.end_offsets(list(parts))

    async def fetched_ends(self, listed: Mapping[TopicPartition, int],
                           tries: int = FETCHED_END_TRIES) -> dict[TopicPartition, int]:
        """Return the high watermark a fetch reports for each partition, read from its `listed` end − 1 (Tansu's
        ListOffsets answers the first offset of a partition's last record batch + 1); the listed end where no
        fetch answered within `tries`, and 0 for an empty partition (nothing to ask). Assigns the others."""
        written = {tp: end for tp, end in listed.items() if end}
        if not written:
            return dict(listed)
        self.assign({tp: end - 1 for tp, end in written.items()})
        for _ in range(tries):
            if all(self.highwater(tp) is not None for tp in written):
                break
            await self.fetch(timeout_ms=FETCH_MAX_WAIT_MS)
        return {**listed, **{tp: self.highwater(tp) or end for tp, end in written.items()}}

    async def read_until(self, starts: Mapping[TopicPartition, int],
                         ends: Mapping[TopicPartition, int]) -> list[Any]:
        """Return every record from `starts` on, fetched until each partition's position reaches its end in `ends`,
        in offset order per partition (`scan`)."""
        return [record async for fetched in self.scan(starts, ends) for record in fetched]

    async def scan(self, starts: Mapping[TopicPartition, int],
                   ends: Mapping[TopicPartition, int]) -> AsyncIterator[list[Any]]:
        """Yield the records from `starts` on, a partition's fetched records at a time, until each partition's
        position reaches its end in `ends`; the last fetch's records past an end come too (a listed end may fall
        short of its last batch). Assigns the partitions that have records to read."""
        todo = {tp: end for tp, end in ends.items() if end > starts[tp]}
        self.assign({tp: starts[tp] for tp in todo})
        while todo:
            for fetched in (await self.fetch(*todo, timeout_ms=FETCH_MAX_WAIT_MS)).values():
                yield fetched
            for tp in [tp for tp, end in todo.items() if await self.position(tp) >= end]:
                del todo[tp]

    async def committed(self, tp: TopicPartition) -> int | None:
        """Return the offset the reader's group committed for `tp` (None without one)."""
        return await self.consumer.committed(tp)

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Commit `offsets` as the reader's group: its progress, for others to count."""
        await self.consumer.commit(dict(offsets))


async def fetched_ends(bootstrap: str | Sequence[str], listed: Mapping[TopicPartition, int],
                       tries: int = FETCHED_END_TRIES) -> dict[TopicPartition, int]:
    """Return each partition's end as a fetch reports it (see `Reader.fetched_ends`), with a reader of its own (none
    when every partition is empty)."""
    if not any(listed.values()):
        return dict(listed)
    async with Reader(bootstrap) as reader:
        return await reader.fetched_ends(listed, tries)
