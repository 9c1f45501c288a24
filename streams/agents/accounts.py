"""Accounts agent: ticks, fills and account changes in event-time order through the risk engine.

Events wait in a `ReorderBuffer` until the newest event time is the grace past them and no input
partition this agent has not read to its end could still hold an earlier one; a partition counts
as read to its end once it has stayed there `IDLE_S` (the end a fetch reported may be stale: its
producer may have written more since). Held events are looked at again every `CHECK_S`, as
partitions go quiet without new input, and after a quiet `IDLE_S` everything held is applied but what
a partition known to hold unread input could still precede (a partition fetched, not yet delivered). With
the simulated venue on, a plan's fills are awaited before anything later is applied, so a replay
puts them at the same place every time.

The engine's state lives in three Faust tables (`streams.durable`), written after every release
and read back once their changelogs are recovered, before the first event. A message is acked
only once every event it carried has been applied, in offset order, so the committed offset
never passes an event the tables do not reflect: a restarted worker reads held events again
and drops the ones it had applied.
"""

import asyncio
import logging
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

import faust

from quantdesk.messages import AccountChange, Fill, LiquidationPlan, OracleTick
from quantdesk.simulator import liquidation_fills
from streams.app import Pipeline
from streams.decode import decode_events
from streams.durable import EngineStore
from streams.engine import Event, Outputs, ReorderBuffer, RiskEngine
from streams.progress import IDLE_S, InputProgress, partition_ends

log = logging.getLogger(__name__)
CHECK_S = IDLE_S / 4  # how often held events are checked for partitions gone quiet
VENUE_WAIT_S = 10.0
YIELD_EVERY = 100  # events applied between two chances for the event loop to run other tasks
PUBLISH_EVERY = 1000  # events applied between two publishes of what they caused, in a long release
MODELS = {"oracle.ticks": OracleTick, "trades.fills": Fill, "accounts.changes": AccountChange}
TABLES = ("accounts", "risk_markets", "risk_applied")


def account_key(event: Any) -> str:
    """Return an event's `wallet:subaccount`."""
    return f"{event.wallet}:{event.subaccount}"


@dataclass
class Unapplied:
    """An input message and how many of its events are still to be applied."""

    event: Any
    waiting: int


class Acks:
    """Input messages acked in offset order, each once all the events it carried are applied."""

    def __init__(self) -> None:
        self.queues: dict[Any, deque[Unapplied]] = defaultdict(deque)
        self.holder: dict[str, Unapplied] = {}

    def hold(self, tp: Any, event: Any, ids: list[str]) -> None:
        """Queue a message until the events `ids` are applied."""
        unapplied = Unapplied(event, len(ids))
        self.queues[tp].append(unapplied)
        self.holder.update(dict.fromkeys(ids, unapplied))

    def applied(self, ids: Iterable[str]) -> None:
        """Count these events as applied."""
        for i in ids:
            self.holder.pop(i).waiting -= 1

    def due(self) -> Iterator[Any]:
        """Yield each partition's leading messages whose events are all applied, in offset order."""
        for queue in self.queues.values():
            while queue and not queue[0].waiting:
                yield queue.popleft().event


class AccountsWorker:
    """The engine, its reorder buffer and tables, input progress and acks, and when input last came."""

    def __init__(self, pipeline: Pipeline, store: EngineStore) -> None:
        settings = pipeline.settings
        self.pipeline = pipeline
        self.engine = RiskEngine(settings.markets)
        self.buffer = ReorderBuffer(settings.reorder_grace_ms)
        self.store = store
        self.restored = False
        self.progress = InputProgress()
        self.acks = Acks()
        self.inputs = {settings.topic(t) for t in MODELS}
        self.venue = settings.simulator_venue
        self.lock = asyncio.Lock()
        self.last_input = self.awaiting_since = time.monotonic()

    def restore(self) -> None:
        """Load the engine from the recovered tables, once, before the first event."""
        if not self.restored:
            self.store.load(self.engine, self.buffer)
            self.restored, self.awaiting_since = True, time.monotonic()

    async def take(self, event: Any, topic: str) -> None:
        """Buffer a Kafka message's valid events; apply and publish those now due."""
        message = event.message
        good, dead = decode_events(MODELS[topic], topic, event.value, int(message.timestamp * 1000),
                                   self.engine.unknown)
        if topic == "accounts.changes":
            await self.pipeline.publish("dlq", ((d.topic, d) for d in dead))
        self.progress.saw(message.tp, message.offset, good)
        async with self.lock:
            held = self.buffer.push(good, self.ceiling())
            self.acks.hold(message.tp, event, [e.id for e in held])
            await self.release(self.buffer.due())
        self.last_input = time.monotonic()

    def ceiling(self) -> int | None:
        """Return the newest event time safe to apply, as far as the input partitions have been read."""
        return self.progress.ceiling(partition_ends(self.pipeline.app, self.inputs), time.monotonic())

    async def on_timer(self) -> None:
        """Stop waiting for a venue that went quiet; apply what partitions gone quiet made due, and, once
        input stopped coming, everything no partition with unread input could still precede."""
        if self.buffer.awaited and time.monotonic() - self.awaiting_since >= VENUE_WAIT_S:
            log.warning("liquidation fills %s did not come back; applying on", sorted(self.buffer.awaited))
            self.buffer.awaited.clear()
        if not self.buffer:
            return
        async with self.lock:
            ceiling = self.ceiling()
            if time.monotonic() - self.last_input >= IDLE_S:  # read after the lock: input may have come meanwhile
                await self.release(self.buffer.drain(ceiling))
            else:
                self.buffer.push([], ceiling)
                await self.release(self.buffer.due())

    async def release(self, events: Iterator[Event]) -> None:
        """Apply events one by one (a plan stops the rest until its fills come); publish, store, then ack.

        A long release publishes every `PUBLISH_EVERY` events, so the sink stores while the engine
        goes on; a worker stopped before the store reapplies those events and publishes the same ids.
        """
        out, unsent, applied = Outputs(), Outputs(), []
        for n, event in enumerate(events, 1):
            caused = self.engine.apply(event)
            self.await_fills(caused.liquidations)
            unsent.extend(caused)
            applied.append(event)
            if n % PUBLISH_EVERY == 0:
                await self.publish(unsent)
                out, unsent = out.extend(unsent), Outputs()
            elif n % YIELD_EVERY == 0:
                await asyncio.sleep(0)  # let other tasks run between slices of a long release
        await self.publish(unsent)
        self.store.save(self.engine, self.buffer, applied, out.extend(unsent))
        self.acks.applied(e.id for e in applied)
        for done in self.acks.due():
            done.ack()

    def await_fills(self, plans: list[LiquidationPlan]) -> None:
        """With the simulated venue on, hold later events until these plans' fills arrive."""
        if self.venue and plans:
            self.buffer.expect(fill["id"] for plan in plans for _, _, fill in liquidation_fills(plan))
            self.awaiting_since = time.monotonic()

    async def publish(self, out: Outputs) -> None:
        """Send what the engine caused, each to its topic and key."""
        send, states = self.pipeline.publish, [(account_key(s), s) for s in out.states]
        await send("accounts.state", states)
        await send("accounts.history", states)
        await send("funding.rates", ((r.market, r) for r in out.funding_rates))
        await send("funding.payments", ((account_key(p), p) for p in out.funding_payments))
        await send("risk.liquidations", ((account_key(p), p) for p in out.liquidations))
        await send("audit.log", ((a.subject, a) for a in out.audit))
        await send("dlq", ((d.topic, d) for d in out.dead_letters))


def state_tables(app: faust.App, partitions: int) -> list[faust.Table]:
    """Declare the engine's tables, partitioned like its inputs; keys hash to partitions, so the timer may write."""
    return [app.Table(name, partitions=partitions, use_partitioner=True) for name in TABLES]


def register(pipeline: Pipeline) -> AccountsWorker:
    """Register the accounts agent on ticks, fills and changes, its tables and its timer."""
    settings = pipeline.settings
    tables = state_tables(pipeline.app, settings.topic_partitions)
    worker = AccountsWorker(pipeline, EngineStore(*tables))
    logical = {settings.topic(t): t for t in MODELS}
    source = pipeline.app.topic(*logical, key_serializer="raw", value_serializer="raw")

    @tables[0].on_recover
    async def restore() -> None:
        """Load the engine once the tables are recovered (Faust holds the streams until then)."""
        worker.restore()

    @pipeline.app.agent(source, name=f"{settings.app_id}.accounts")
    async def accounts_agent(stream):  # type: ignore[no-untyped-def]
        """Feed every input message to the worker, which acks it once applied."""
        async for event in stream.noack().events():
            await worker.take(event, logical[event.message.topic])

    @pipeline.app.timer(CHECK_S)
    async def release_idle() -> None:
        """Release held events that partitions gone quiet made due, or all of them when input went quiet."""
        await worker.on_timer()

    return worker
