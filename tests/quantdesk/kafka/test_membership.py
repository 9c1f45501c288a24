"""A group's membership on a thread of its own, against the real broker: a member whose loop is held past the
session timeout keeps its partitions; one whose loop falls silent for good leaves them to the others."""

import asyncio
import contextlib
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from quantdesk.broker import EmbeddedBroker
from quantdesk.kafka.membership import Membership
from tests.waiting import eventually

SESSION_S = 2.0


class Held:
    """The partitions a member holds, and every move the group made."""

    def __init__(self) -> None:
        self.partitions: set[int] = set()
        self.moves: list[tuple[str, list[int]]] = []

    async def revoked(self, partitions: list[TopicPartition]) -> None:
        self.partitions -= {tp.partition for tp in partitions}
        self.moves.append(("revoked", sorted(tp.partition for tp in partitions)))

    async def assigned(self, partitions: list[TopicPartition]) -> None:
        self.partitions |= {tp.partition for tp in partitions}
        self.moves.append(("assigned", sorted(tp.partition for tp in partitions)))


async def new_topic(bootstrap: str) -> str:
    """Create a topic of three partitions of this test's own; return its name."""
    name = f"t{uuid.uuid4().hex[:10]}.membership"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 3, 1)])
    finally:
        await admin.close()
    return name


@contextlib.asynccontextmanager
async def member(bootstrap: str, topic: str, held: Held, **options: float) -> AsyncIterator[Membership]:
    """Keep a membership of the topic's group while the block runs, its loop showing it runs meanwhile."""
    async with Membership(bootstrap, f"{topic}-group", topic, held.revoked, held.assigned, SESSION_S,
                          **options) as membership:
        beating = asyncio.create_task(beat(membership))
        try:
            yield membership
        finally:
            beating.cancel()


async def beat(membership: Membership) -> None:
    """Show the membership that this loop runs, as the risk worker's loop does."""
    while True:
        await membership.kept()


@contextlib.contextmanager
def other_member(bootstrap: str, topic: str, held: Held) -> Iterator[None]:
    """Keep another member of the group on a loop and thread of its own while the block runs."""
    leave = threading.Event()

    async def keep() -> None:
        async with member(bootstrap, topic, held):
            while not leave.is_set():
                await asyncio.sleep(0.05)
    thread = threading.Thread(target=asyncio.run, args=(keep(),))
    thread.start()
    try:
        yield
    finally:
        leave.set()
        thread.join(30)


def split_between(ours: Held, theirs: Held) -> Callable[[], Awaitable[bool]]:
    """Return a probe telling whether the two members hold the three partitions between them, each some."""
    async def split() -> bool:
        return bool(ours.partitions and theirs.partitions) and len(ours.partitions | theirs.partitions) == 3
    return split


async def test_a_member_whose_loop_is_held_past_the_session_timeout_keeps_its_partitions(
        broker: EmbeddedBroker) -> None:
    topic, ours, theirs = await new_topic(broker.bootstrap), Held(), Held()
    async with member(broker.bootstrap, topic, ours):
        with other_member(broker.bootstrap, topic, theirs):
            await eventually(split_between(ours, theirs), timeout=30,
                             what="the group's three partitions split between the two members")
            split, moves = (set(ours.partitions), set(theirs.partitions)), (len(ours.moves), len(theirs.moves))
            time.sleep(3 * SESSION_S)  # one event holding the loop: a funding close over very many holders
            await asyncio.sleep(3 * SESSION_S)  # time for the group to move what it would
            assert (ours.partitions, theirs.partitions) == split
            assert (len(ours.moves), len(theirs.moves)) == moves, (ours.moves, theirs.moves)


async def test_a_member_whose_loop_falls_silent_for_good_leaves_its_partitions_to_the_others(
        broker: EmbeddedBroker) -> None:
    topic, ours, theirs = await new_topic(broker.bootstrap), Held(), Held()
    with other_member(broker.bootstrap, topic, theirs):
        async with Membership(broker.bootstrap, f"{topic}-group", topic, ours.revoked, ours.assigned, SESSION_S,
                              max_poll_interval_s=3.0) as membership:
            await eventually(split_between(ours, theirs), timeout=30,
                             what="the group's three partitions split between the two members")
            membership.beat()  # and never again: this loop only waits from now on

            async def all_theirs() -> bool:
                return theirs.partitions == {0, 1, 2} and not ours.partitions
            await eventually(all_theirs, timeout=30, what="the other member holding every partition")
