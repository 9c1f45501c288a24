"""A group's membership on a thread of its own, against the real broker: a member whose loop is held past the
session timeout keeps its partitions; one whose loop falls silent for good leaves them to the others; one whose
whole process was frozen while the others took its partitions writes nothing for them once thawed."""

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import orjson
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from quantdesk.broker import EmbeddedBroker
from quantdesk.kafka.membership import Membership
from quantdesk.kafka.reader import Reader
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


async def new_topic(bootstrap: str, partitions: int = 3) -> str:
    """Create a topic of this test's own (three partitions by default); return its name."""
    name = f"t{uuid.uuid4().hex[:10]}.membership"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1)])
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


async def written(bootstrap: str, log: str) -> list[dict]:
    """Return every record on the one partition of `log`, in order."""
    tp = TopicPartition(log, 0)
    async with Reader(bootstrap) as reader:
        ends = await reader.fetched_ends(await reader.end_offsets([tp]))
        return [orjson.loads(r.value) for r in await reader.read_until({tp: 0}, ends)]


def stopped(pid: int) -> bool:
    """Tell whether a process is stopped (SIGSTOP)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "T"


async def test_a_member_frozen_while_the_others_took_its_partitions_writes_nothing_for_them_once_thawed(
        broker: EmbeddedBroker, tmp_path: Path) -> None:
    # a risk worker's whole process frozen (SIGSTOP, a paused VM) runs on when thawed as if it held its tasks
    bootstrap, theirs, freeze = broker.bootstrap, Held(), tmp_path / "freeze"
    topic, log = await new_topic(bootstrap), await new_topic(bootstrap, 1)
    zombie = subprocess.Popen([sys.executable, "-m", "tests.quantdesk.kafka.zombie", bootstrap, topic, log,
                               str(SESSION_S), str(freeze)], cwd=Path(__file__).parents[3])
    try:
        with other_member(bootstrap, topic, theirs):
            async def split() -> bool:
                return bool(theirs.partitions) and len(theirs.partitions) < 3 and bool(await written(bootstrap, log))
            await eventually(split, timeout=60, what="the zombie holding and writing for some partitions")
            freeze.touch()

            async def frozen() -> bool:
                return stopped(zombie.pid)
            await eventually(frozen, timeout=30, what="the zombie frozen")

            async def all_theirs() -> bool:
                return theirs.partitions == {0, 1, 2}
            await eventually(all_theirs, timeout=30, what="the other member holding every partition")
            before = await written(bootstrap, log)
            taken = max(r["assignments"] for r in before)  # the zombie's assignment the group took back
            os.kill(zombie.pid, signal.SIGCONT)

            async def rejoined() -> list[dict]:
                after = (await written(bootstrap, log))[len(before):]
                return after if any(r["assignments"] > taken for r in after) else []
            after = await eventually(rejoined, timeout=60, what="the zombie writing again, rejoined")
        assert [r for r in after if r["assignments"] <= taken] == []
    finally:
        zombie.kill()
        zombie.wait(10)
