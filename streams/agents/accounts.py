"""Accounts agent: ticks, fills and account changes in event-time order through the risk engine.

It reads every input partition itself (assigned, not balanced by a group: one risk worker owns
every account), from the offsets its last checkpoint names, so what it has applied and where it
reads on are one record (`streams.checkpoint`): a restarted worker goes on from exactly that,
never from offsets Faust's acking may have moved past a message it never delivered.

Events wait in a `ReorderBuffer` until the newest event time is the grace past them and no input
partition not read to its end could still hold an earlier one; a partition counts as read to its
end once it has stayed there `IDLE_S` (the end a fetch reported may be stale). Once input stops
for `IDLE_S`, everything held is applied but what a partition with unread input could precede.
With the simulated venue on, a plan's fills (and, the first time, the liquidator's float) are
published with the plan, and nothing later is applied until they come back through the input
topics, wherever that puts them in wall-clock time: a replay puts them at the same place every time.

A release publishes what it caused, waits until the broker holds it, then writes one checkpoint:
the rows of the engine's tables it changed and, per partition, the offset of the first message
holding an event not yet applied. A worker stopped anywhere in between applies those events again
and publishes the same ids, which every reader takes once.
"""

import asyncio
import logging
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

import aiokafka
from aiokafka import TopicPartition

from quantdesk.broker import FETCH_MAX_WAIT_MS
from quantdesk.messages import AccountChange, DeadLetter, Fill, LiquidationPlan, OracleTick
from quantdesk.publisher import Keyed, group_by_topic
from quantdesk.simulator import LIQUIDATOR, liquidation_fills, liquidator_float
from streams.app import Pipeline
from streams.checkpoint import CheckpointLog, Journal, Offsets, write
from streams.decode import decode_events, validate
from streams.durable import EngineStore
from streams.engine import Event, Outputs, ReorderBuffer, RiskEngine
from streams.progress import IDLE_S, InputProgress, PartitionEnd

log = logging.getLogger(__name__)
CHECK_S = IDLE_S / 4  # how often held events are checked for partitions gone quiet
YIELD_EVERY = 100  # events applied between two chances for the event loop to run other tasks
SETTLE_EVERY = 1000  # events applied between two checkpoints, in a long release
MODELS = {"oracle.ticks": OracleTick, "trades.fills": Fill, "accounts.changes": AccountChange}
TABLES = ("accounts", "risk_markets", "risk_applied")


def account_key(event: Any) -> str:
    """Return an event's `wallet:subaccount`."""
    return f"{event.wallet}:{event.subaccount}"


def offset_key(tp: TopicPartition) -> str:
    """Return how a checkpoint names a partition."""
    return f"{tp.topic}:{tp.partition}"


@dataclass
class Unapplied:
    """An input message's offset and how many of its events are still to be applied."""

    offset: int
    waiting: int


class Positions:
    """Where each input partition is to be read from again: its first message holding an event not applied."""

    def __init__(self, start: dict[Any, int]) -> None:
        self.next = dict(start)
        self.queues: dict[Any, deque[Unapplied]] = defaultdict(deque)
        self.holder: dict[str, Unapplied] = {}

    def read(self, tp: Any, offset: int, ids: list[str]) -> None:
        """Note a message read at `offset` whose events `ids` wait to be applied."""
        self.next[tp] = offset + 1
        if ids:
            unapplied = Unapplied(offset, len(ids))
            self.queues[tp].append(unapplied)
            self.holder.update(dict.fromkeys(ids, unapplied))

    def applied(self, ids: Iterable[str]) -> None:
        """Count these events as applied."""
        for i in ids:
            self.holder.pop(i).waiting -= 1

    def offsets(self) -> dict[Any, int]:
        """Return, per partition, the offset to read from again: nothing before it waits to be applied."""
        for queue in self.queues.values():
            while queue and not queue[0].waiting:
                queue.popleft()
        return {tp: self.queues[tp][0].offset if self.queues[tp] else end for tp, end in self.next.items()}


class AccountsWorker:
    """The engine, its reorder buffer and checkpointed tables, input progress and positions."""

    def __init__(self, pipeline: Pipeline) -> None:
        settings = pipeline.settings
        self.pipeline = pipeline
        self.engine = RiskEngine(settings.markets)
        self.buffer = ReorderBuffer(settings.reorder_grace_ms)
        self.tables = {name: Journal() for name in TABLES}
        self.store = EngineStore(*self.tables.values())
        self.log = CheckpointLog(pipeline.bootstrap, settings.topic("risk.checkpoints"))
        self.progress = InputProgress()
        self.positions = Positions({})
        self.start: dict[Any, int] = {}
        self.logical = {settings.topic(t): t for t in MODELS}
        self.venue = settings.simulator_venue
        self.consumer: aiokafka.AIOKafkaConsumer | None = None
        self.last_input = time.monotonic()

    async def restore(self) -> dict[str, int]:
        """Load the engine from the last checkpoint; return the offsets it covers."""
        restored = await self.log.restore()
        for name, rows in restored.tables.items():
            self.tables[name].rows = rows
        self.store.load(self.engine, self.buffer)
        return restored.offsets

    async def run(self) -> None:
        """Restore, then read every input partition from the checkpoint's offsets on, until cancelled."""
        offsets = await self.restore()
        settings = self.pipeline.settings
        self.consumer = consumer = aiokafka.AIOKafkaConsumer(
            bootstrap_servers=self.pipeline.bootstrap.split(","), group_id=settings.app_id,
            enable_auto_commit=False, fetch_max_wait_ms=FETCH_MAX_WAIT_MS, auto_offset_reset="earliest")
        await consumer.start()
        try:
            parts = [TopicPartition(name, p) for name in self.logical for p in range(settings.topic_partitions)]
            consumer.assign(parts)
            for tp in parts:
                self.start[tp] = offsets.get(offset_key(tp), 0)
                consumer.seek(tp, self.start[tp])
            self.positions = Positions(self.start)
            checked = time.monotonic()
            while True:
                fetched = await consumer.getmany(timeout_ms=int(CHECK_S * 1000))
                for tp, records in fetched.items():
                    for record in records:
                        await self.take(tp, record)
                if time.monotonic() - checked >= CHECK_S:
                    await self.on_timer()
                    checked = time.monotonic()
        finally:
            self.consumer = None
            await consumer.stop()

    async def take(self, tp: Any, record: Any) -> None:
        """Buffer a Kafka message's valid events; apply and publish those now due."""
        topic = self.logical[tp.topic]
        good, dead = decode_events(MODELS[topic], topic, record.value, record.timestamp, self.engine.unknown)
        if topic == "accounts.changes":
            await self.pipeline.publish("dlq", ((d.topic, d) for d in dead))
        self.progress.saw(tp, record.offset, good)
        held = self.buffer.push(good, self.ceiling())
        self.positions.read(tp, record.offset, [e.id for e in held])
        await self.release(self.buffer.due())
        self.last_input = time.monotonic()

    def ends(self) -> list[PartitionEnd]:
        """Return every input partition's end offset (None until fetched) and where reading it started."""
        consumer = self.consumer
        return [(tp, consumer.highwater(tp) if consumer else None, start) for tp, start in self.start.items()]

    def ceiling(self) -> int | None:
        """Return the newest event time safe to apply, as far as the input partitions have been read."""
        return self.progress.ceiling(self.ends(), time.monotonic())

    async def on_timer(self) -> None:
        """Apply what partitions gone quiet made due, and, once input stopped coming, everything no partition
        with unread input could still precede."""
        if not self.buffer:
            return
        ceiling = self.ceiling()
        if time.monotonic() - self.last_input >= IDLE_S:
            await self.release(self.buffer.drain(ceiling))
        else:
            self.buffer.push([], ceiling)
            await self.release(self.buffer.due())

    async def release(self, events: Iterator[Event]) -> None:
        """Apply events one by one (a plan stops the rest until its fills come), settling every `SETTLE_EVERY`."""
        out, applied, venue = Outputs(), [], []
        for n, event in enumerate(events, 1):
            caused = self.engine.apply(event)
            venue += self.venue_fills(caused.liquidations, out)
            out.extend(caused)
            applied.append(event)
            if n % SETTLE_EVERY == 0:
                await self.settle(applied, out, venue)
                out, applied, venue = Outputs(), [], []
            elif n % YIELD_EVERY == 0:
                await asyncio.sleep(0)  # let other tasks run between slices of a long release
        await self.settle(applied, out, venue)

    def venue_fills(self, plans: list[LiquidationPlan], out: Outputs) -> list[Keyed]:
        """With the simulated venue on, return the fills carrying out these plans (and the liquidator's float
        while it has no account), and hold later events until they come back."""
        if not self.venue or not plans:
            return []
        float_ = liquidator_float(plans[0].ts)
        sent = [float_] if self.needs_float(float_[2]["id"]) else []
        sent += [fill for plan in plans for fill in liquidation_fills(plan)]
        valid = [(topic, key, event) for topic, key, event in sent if self.usable(topic, event, out)]
        self.buffer.expect(event["id"] for _, _, event in valid)
        return valid

    def needs_float(self, float_id: str) -> bool:
        """Tell whether the liquidator's float must go with these plans: it has no account, none on its way."""
        seen = float_id in self.buffer.seen or float_id in self.buffer.awaited
        return f"{LIQUIDATOR}:0" not in self.engine.accounts and not seen

    def usable(self, topic: str, event: dict[str, Any], out: Outputs) -> bool:
        """Tell whether a venue event validates; dead-letter it otherwise (it is then never awaited)."""
        checked = validate(MODELS[topic], topic, event, event.get("ts", 0), self.engine.unknown)
        if isinstance(checked, DeadLetter):
            out.dead_letters.append(checked)
        return not isinstance(checked, DeadLetter)

    async def settle(self, applied: list[Event], out: Outputs, venue: list[Keyed]) -> None:
        """Publish what `applied` caused and wait until the broker holds it; then checkpoint the tables it
        changed with the offsets it brings the input to."""
        if not applied:
            return
        await self.publish(out)
        for topic, keyed in group_by_topic(venue).items():
            await self.pipeline.publish(topic, keyed)
        await self.pipeline.flush()
        self.store.save(self.engine, self.buffer, applied, out)
        self.positions.applied(e.id for e in applied)
        offsets = self.positions.offsets()
        await write(self.log, await self.pipeline.app.maybe_start_producer(), self.tables,
                    {offset_key(tp): offset for tp, offset in offsets.items()})
        if self.consumer is not None:  # the group's offsets only show progress: the checkpoint is the record
            await self.consumer.commit(offsets)

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


def register(pipeline: Pipeline) -> AccountsWorker:
    """Register the accounts loop as a task of the app: its failure crashes the app."""
    worker = AccountsWorker(pipeline)

    @pipeline.app.task
    async def accounts_loop() -> None:
        """Run the accounts worker; crash the app if it fails."""
        try:
            await worker.run()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            log.exception("the accounts worker failed; the worker stops")
            await pipeline.app.crash(exc)

    return worker
