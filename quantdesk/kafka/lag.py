"""How far the platform's readers are behind their input: what `/ready`, `quantdesk replay --wait` and a clean
stop ask. Each risk task shows its progress as the consumer group `<app id>-task<n>` over the partitions it reads
(`task_partitions`), the owners beside task 0 as `<app id>-owners`, the market worker as `<app id>-markets`, the
orders worker as `<app id>-orders`, the sink as `<app id>-feed`."""

import asyncio
import time
from typing import Iterable

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from quantdesk.kafka.reader import Reader
from quantdesk.settings import Settings
from quantdesk.kafka.topics import (FOLLOWER_INPUTS, INTERNAL_TOPICS, MARKET_INPUTS, ORDER_INPUTS, OWN_PARTITION_INPUTS,
                                   RISK_INPUTS, STORED_TABLES)


async def behind(bootstrap: str, group: str, parts: list[TopicPartition]) -> int:
    """Return how many messages of `parts` the group has not committed."""
    async with Lag(bootstrap) as lag:
        return await lag.behind(group, parts)


def partitions(settings: Settings, topics: Iterable[str]) -> list[TopicPartition]:
    """Return every partition of the logical `topics`."""
    return [TopicPartition(settings.topic(t), p) for t in topics for p in range(settings.topic_partitions)]


def task_partitions(settings: Settings, task: int) -> list[TopicPartition]:
    """Return the input partitions risk task `task` reads. Task 0, the markets' author: every partition of the risk
    inputs. Every other task: every partition of the markets' epochs and admins' commands, its own of fills and
    changes (`OWN_PARTITION_INPUTS`)."""
    if task == 0:
        return partitions(settings, RISK_INPUTS)
    return [TopicPartition(settings.topic(t), p) for t in FOLLOWER_INPUTS for p in range(settings.topic_partitions)
            if p == task or t not in OWN_PARTITION_INPUTS]


READERS = {"risk": ("", RISK_INPUTS), "owners": ("-owners", INTERNAL_TOPICS), "markets": ("-markets", MARKET_INPUTS),
           "orders": ("-orders", ORDER_INPUTS), "store": ("-feed", STORED_TABLES)}  # the sink last: what the others publish comes before it


def progress_group(settings: Settings, reader: str, task: int | None = None) -> str:
    """Return the consumer group a reader (`risk`, `markets`, `orders`, `store`) commits its progress as: a risk
    task's its own."""
    return settings.app_id + READERS[reader][0] + ("" if task is None else f"-task{task}")


class Lag:
    """How far consumer groups are behind, over one reader (the partitions' ends) and one admin client (a group's
    committed offsets in one request), however many groups are asked in turn: `/ready` asks seven."""

    def __init__(self, bootstrap: str) -> None:
        self.reader = Reader(bootstrap)
        self.admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap.split(","))

    async def __aenter__(self) -> "Lag":
        await self.reader.start()
        try:
            await self.admin.start()
        except BaseException:  # a failed start leaves nothing running
            await self.reader.stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self.admin.close()
        finally:
            await self.reader.stop()

    async def behind(self, group: str, parts: list[TopicPartition]) -> int:
        """Return how many messages of `parts` the group has not committed (its ends read first)."""
        ends = await self.reader.fetched_ends(await self.reader.consumer.end_offsets(parts))
        committed = await self.admin.list_consumer_group_offsets(group, partitions=parts)
        done = {tp: max(0, c.offset) for tp, c in committed.items()}  # -1: nothing committed
        return sum([max(0, end - done.get(tp, 0)) for tp, end in ends.items()])

    async def reader_behind(self, settings: Settings, reader: str) -> int:
        """Return how many published messages a reader (all its groups together) has not applied or stored."""
        if reader == "risk":
            return sum([await self.behind(progress_group(settings, reader, task), task_partitions(settings, task))
                        for task in range(settings.topic_partitions)])
        return await self.behind(progress_group(settings, reader), partitions(settings, READERS[reader][1]))


async def reader_behind(settings: Settings, bootstrap: str, reader: str) -> int:
    """Return how many published messages a reader (all its groups together) has not applied or stored."""
    async with Lag(bootstrap) as lag:
        return await lag.reader_behind(settings, reader)


async def unapplied(settings: Settings, bootstrap: str) -> dict[str, int]:
    """Return how many input messages the risk tasks and the market worker have not applied, and how many
    messages the sink has not stored (all 0: everything published so far is applied and stored). The sink is
    counted last: what the others publish before they commit comes before it (a reader's ends are read only once
    the readers before it were asked)."""
    async with Lag(bootstrap) as lag:
        return {reader: await lag.reader_behind(settings, reader) for reader in READERS}


async def applied_within(settings: Settings, bootstrap: str, seconds: float, poll_s: float = 0.2) -> bool:
    """Wait until everything published so far is applied and stored; tell whether it was within `seconds`."""
    deadline = time.monotonic() + seconds
    while any((await unapplied(settings, bootstrap)).values()):
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(poll_s)
    return True

