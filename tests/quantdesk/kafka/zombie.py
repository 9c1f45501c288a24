"""A member that writes for the partitions it holds, as a risk worker checkpoints its tasks: each write, on `LOG`,
names the partition and how many assignments this member had had then, and goes out only once `Membership.holds`
confirms the partition. Run by `test_membership` in a process of its own, which freezes itself (SIGSTOP) when the
file FREEZE appears, between two rounds of writes, until the test thaws it.

    python -m tests.quantdesk.kafka.zombie BOOTSTRAP TOPIC LOG SESSION_S FREEZE
"""

import asyncio
import os
import signal
import sys
from pathlib import Path

import orjson
from aiokafka import AIOKafkaProducer, TopicPartition

from quantdesk.kafka.membership import Membership


async def write_while_holding(bootstrap: str, topic: str, log: str, session_s: float, freeze: Path) -> None:
    """Join the group of `topic`; write on `log` for every partition held, each write confirmed first; freeze when
    told."""
    held: set[int] = set()
    assignments = 0

    async def revoked(partitions: list[TopicPartition]) -> None:
        held.difference_update(tp.partition for tp in partitions)

    async def assigned(partitions: list[TopicPartition]) -> None:
        nonlocal assignments
        assignments += 1
        held.update(tp.partition for tp in partitions)
        print("assigned", assignments, sorted(held), flush=True)

    async with AIOKafkaProducer(bootstrap_servers=bootstrap) as producer, \
            Membership(bootstrap, f"{topic}-group", topic, revoked, assigned, session_s) as membership:
        while True:
            await membership.kept()
            if freeze.exists():
                freeze.unlink()
                os.kill(os.getpid(), signal.SIGSTOP)
            for partition in sorted(held):
                generation = assignments
                if await membership.holds(partition):
                    record = {"partition": partition, "assignments": generation}
                    await producer.send_and_wait(log, orjson.dumps(record))


if __name__ == "__main__":
    asyncio.run(write_while_holding(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), Path(sys.argv[5])))
