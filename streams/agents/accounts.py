"""Accounts agent: ticks, fills and account changes in event-time order through the risk engine.

Events wait in a `ReorderBuffer` until the newest event time is the grace past them and no input
partition this agent has not read to its end could still hold an earlier one; after a quiet
`IDLE_S` everything held is applied. With the simulated venue on, a plan's fills are awaited
before anything later is applied, so a replay puts them at the same place every time.
"""

import asyncio
import logging
import time
from typing import Any, Iterable, Iterator

from quantdesk.messages import AccountChange, Fill, LiquidationPlan, OracleTick
from quantdesk.simulator import liquidation_fills
from streams.app import Pipeline
from streams.decode import decode_events
from streams.engine import Event, Outputs, ReorderBuffer, RiskEngine

log = logging.getLogger(__name__)
IDLE_S = 0.2
VENUE_WAIT_S = 10.0
NO_EVENT = -1
MODELS = {"oracle.ticks": OracleTick, "trades.fills": Fill, "accounts.changes": AccountChange}
PartitionEnd = tuple[Any, int | None]  # (topic partition, its end offset or None when unknown)


def account_key(event: Any) -> str:
    """Return an event's `wallet:subaccount`."""
    return f"{event.wallet}:{event.subaccount}"


class InputProgress:
    """How far this agent has read each input partition: next offset and newest event time."""

    def __init__(self) -> None:
        self.next_offset: dict[Any, int] = {}
        self.newest: dict[Any, int] = {}

    def saw(self, tp: Any, offset: int, events: list[Event]) -> None:
        """Record a message read at `offset` with its valid events."""
        self.next_offset[tp] = offset + 1
        if events:
            self.newest[tp] = max(self.newest.get(tp, NO_EVENT), *(e.ts for e in events))

    def ceiling(self, ends: Iterable[PartitionEnd]) -> int | None:
        """Return the newest event time safe to apply: below every partition with records unread."""
        unread = [self.newest.get(tp, NO_EVENT) - 1 for tp, end in ends
                  if end is None or self.next_offset.get(tp, 0) < end]
        return min(unread, default=None)


def partition_ends(app: Any, topics: set[str]) -> list[PartitionEnd]:
    """Return the end offset of every assigned partition of `topics` (None until fetched)."""
    consumer = app.consumer
    return [(tp, highwater(consumer, tp)) for tp in consumer.assignment() if tp.topic in topics]


def highwater(consumer: Any, tp: Any) -> int | None:
    """Return a partition's end offset, None when unknown (not fetched, or just unassigned)."""
    try:
        return consumer.highwater(tp)
    except AssertionError:
        return None


class AccountsWorker:
    """The engine, its reorder buffer, input progress, and when input last came."""

    def __init__(self, pipeline: Pipeline) -> None:
        settings = pipeline.settings
        self.pipeline = pipeline
        self.engine = RiskEngine(settings.markets)
        self.buffer = ReorderBuffer(settings.reorder_grace_ms)
        self.progress = InputProgress()
        self.inputs = {settings.topic(t) for t in MODELS}
        self.venue = settings.simulator_venue
        self.lock = asyncio.Lock()
        self.last_input = self.awaiting_since = time.monotonic()

    async def take(self, tp: Any, offset: int, topic: str, raw: bytes | None, ts: int) -> None:
        """Buffer a Kafka message's valid events; apply and publish those now due."""
        good, dead = decode_events(MODELS[topic], topic, raw, ts, self.engine.unknown)
        if topic == "accounts.changes":
            await self.pipeline.publish("dlq", ((d.topic, d) for d in dead))
        self.progress.saw(tp, offset, good)
        async with self.lock:
            self.buffer.push(good, self.progress.ceiling(partition_ends(self.pipeline.app, self.inputs)))
            await self.release(self.buffer.due())
        self.last_input = time.monotonic()

    async def on_timer(self) -> None:
        """Stop waiting for a venue that went quiet; apply everything held once input did."""
        now = time.monotonic()
        if self.buffer.awaited and now - self.awaiting_since >= VENUE_WAIT_S:
            log.warning("liquidation fills %s did not come back; applying on", sorted(self.buffer.awaited))
            self.buffer.awaited.clear()
        if self.buffer and now - self.last_input >= IDLE_S:
            async with self.lock:
                await self.release(self.buffer.drain())

    async def release(self, events: Iterator[Event]) -> None:
        """Apply events one by one (a plan stops the rest until its fills come); publish the result."""
        out = Outputs()
        for event in events:
            caused = self.engine.apply(event)
            self.await_fills(caused.liquidations)
            out.extend(caused)
        await self.publish(out)

    def await_fills(self, plans: list[LiquidationPlan]) -> None:
        """With the simulated venue on, hold later events until these plans' fills arrive."""
        if self.venue and plans:
            self.buffer.expect(fill["id"] for plan in plans for _, _, fill in liquidation_fills(plan))
            self.awaiting_since = time.monotonic()

    async def publish(self, out: Outputs) -> None:
        """Send what the engine caused, each to its topic and key."""
        send = self.pipeline.publish
        await send("accounts.state", ((account_key(s), s) for s in out.states))
        await send("funding.rates", ((r.market, r) for r in out.funding_rates))
        await send("funding.payments", ((account_key(p), p) for p in out.funding_payments))
        await send("risk.liquidations", ((account_key(p), p) for p in out.liquidations))
        await send("audit.log", ((a.subject, a) for a in out.audit))
        await send("dlq", ((d.topic, d) for d in out.dead_letters))


def register(pipeline: Pipeline) -> AccountsWorker:
    """Register the accounts agent on ticks, fills and changes, and its timer."""
    settings = pipeline.settings
    worker = AccountsWorker(pipeline)
    logical = {settings.topic(t): t for t in MODELS}
    source = pipeline.app.topic(*logical, key_serializer="raw", value_serializer="raw")

    @pipeline.app.agent(source, name=f"{settings.app_id}.accounts")
    async def accounts_agent(stream):  # type: ignore[no-untyped-def]
        """Feed every input message to the worker."""
        async for event in stream.events():
            message = event.message
            await worker.take(message.tp, message.offset, logical[message.topic], event.value,
                              int(message.timestamp * 1000))

    @pipeline.app.timer(IDLE_S)
    async def release_idle() -> None:
        """Release held events when input went quiet."""
        await worker.on_timer()

    return worker
