"""The risk worker's share of the risk tasks, as the risk group assigns them.

The accounts are split into tasks, one per input partition (`streams.agents.accounts`). The risk workers of one
app share them through a consumer group on the checkpoint topic, whose partitions are the tasks: a worker started,
stopped or dead moves tasks, and a task taken over goes on from its own checkpoint. The worker holding task 0 runs
the owners beside it (`streams.agents.owners`). The group's partitions are never read here: each task reads its
own input, and its checkpoint, itself.
"""

import asyncio
import contextlib
import logging
import time
from functools import partial

from aiokafka import TopicPartition

from quantdesk.kafka.membership import MAX_POLL_INTERVAL_S, POLL_S, Membership
from streams.agents.accounts import AccountsAgent, RiskMetrics
from streams.agents.owners import Handed, OwnersAgent
from streams.ordered import Decoded
from streams.pipeline import Pipeline

log = logging.getLogger(__name__)
OWNERS = -1  # the owners' place among the running tasks


class RiskTasks:
    """This worker's share of the risk tasks: the partitions of the checkpoint topic the risk group gives it, each
    run as an `AccountsAgent` from its own checkpoint, the owners beside task 0; a task that fails fails the
    worker. The membership is kept on a thread of its own (`quantdesk.kafka.membership`): a task holding the loop
    longer than the session timeout (a funding close over very many holders) keeps its partition, and a task writes
    its checkpoint only once the group confirms it still holds it (`held`)."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.membership: Membership | None = None
        self.running: dict[int, asyncio.Task[None]] = {}
        self.agents: dict[int, AccountsAgent] = {}
        self.shown = RiskMetrics(pipeline.metrics, pipeline.settings.market_names)
        self.decoded = Decoded()  # each message decoded once for all the tasks here
        self.handed = Handed()  # the tasks' records, as sent, for the owners when they run here

    async def run(self) -> None:
        """Join the risk group and run the tasks it assigns, until cancelled or one of them fails."""
        settings = self.pipeline.settings
        async with Membership(self.pipeline.bootstrap, f"{settings.app_id}-risk", settings.topic("risk.checkpoints"),
                              self.on_partitions_revoked, self.on_partitions_assigned,
                              settings.kafka_session_timeout_s) as membership:
            self.membership = membership
            try:
                while True:  # the membership's thread keeps it, even while a task holds this loop
                    await membership.kept()
                    for task in self.running.values():
                        if task.done():
                            task.result()  # a task's failure is the worker's
            finally:
                await self.stop(list(self.running))

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        """Stop every task given up (and the owners with task 0), before the group gives it to another worker."""
        given_up = [tp.partition for tp in revoked]
        await self.stop(given_up + ([OWNERS] if 0 in given_up else []))

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        """Start each task assigned, from its checkpoint (its partition of the checkpoint topic, paused by the
        membership, is read by the task itself)."""
        for tp in assigned:
            fence = partial(self.held, tp.partition)
            agent = AccountsAgent(self.pipeline, tp.partition, self.shown, self.decoded, fence, self.handed.sent)
            self.agents[tp.partition] = agent
            self.running[tp.partition] = asyncio.create_task(agent.run(), name=f"risk-task-{tp.partition}")
            if tp.partition == 0:
                owners = OwnersAgent(self.pipeline, fence, self.handed)
                self.running[OWNERS] = asyncio.create_task(owners.run(), name="risk-owners")
        log.info("risk tasks %s", sorted(self.running))

    async def held(self, task: int) -> None:
        """Return once the group confirms this worker still holds `task`: a task checkpoints only then, since a
        worker frozen past the session timeout (SIGSTOP, a paused VM) may have lost it to another meanwhile
        (`Membership.holds`). A rebalance under way stops the task while it waits; a group that confirms nothing
        for `MAX_POLL_INTERVAL_S` fails the worker."""
        assert self.membership is not None
        deadline = time.monotonic() + MAX_POLL_INTERVAL_S
        while not await self.membership.holds(task):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the risk group has not confirmed task {task} for {MAX_POLL_INTERVAL_S:.0f} s")
            await asyncio.sleep(POLL_S)

    async def stop(self, tasks: list[int]) -> None:
        """Cancel these tasks and wait until they have stopped; forget their accounts' states."""
        for n in tasks:
            if (task := self.running.pop(n, None)) is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                if (agent := self.agents.pop(n, None)) is not None:
                    self.shown.accounts_by_state.drop(agent.engine.accounts)


def register(pipeline: Pipeline) -> RiskTasks:
    """Register the risk tasks as a loop of the app: a task's failure crashes the app."""
    tasks = RiskTasks(pipeline)
    pipeline.loop(tasks.run, "accounts")
    return tasks
