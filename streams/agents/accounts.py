"""Accounts agent: ticks, fills and account changes in event-time order through the risk engine, as tasks.

The accounts are split into tasks, one per input partition: task n holds the accounts whose key lands in
partition n (`RiskEngine.holds`), and task 0 speaks for the markets. The risk workers of one app share the tasks
through a consumer group (`RiskTasks`): a worker started, stopped or dead moves tasks, and a task taken over goes
on from its own checkpoint.

Market state has one author, task 0: it reads every partition of every input (others' account changes move
nothing of its own, but they move its clock as they would one engine's), and sends each market's epochs
(`MarketEpoch`: the market after a tick, or after a fill before its first oracle) on the first partition of
`markets.epochs`, each release's in one message that ends with a `through` epoch: every event up to that time is
applied. Every other task reads every partition of the epochs and takes its markets from them, never recomputing
one, every admin's command, and only its own partition of fills and changes (`quantdesk.kafka.lag.task_partitions`);
it applies nothing past the last `through` it read (`ReorderBuffer.bound`, kept in its checkpoint), so its own
events fall between the epochs where one engine holding every account would apply them. Every task reads through
`streams.ordered` from the offsets its last checkpoint names, so what it has applied and where it reads on are one
record (`streams.risk.checkpoint`, on the task's own partition of the checkpoint topic): a task restarted goes on
from exactly that, never from offsets Faust's acking may have moved past a message it never delivered. An author
restarted sends the epochs after its checkpoint again, with the same ids, which the others take once.

With the simulated venue on, a plan's fills (and, the first time, the liquidator's float) are
published with the plan, and nothing later is applied until they come back through the input
topics, wherever that puts them in wall-clock time: a replay puts them at the same place every time.
They come back to the task that made the plan: the liquidator subaccount that fills it is in the same partition.
A task restarted makes again the plans its checkpoint had not seen, and sends none of the venue's events an earlier
run sent after that checkpoint (`venue_since`): they come back through the input as they are.

A release publishes what it caused and waits until the broker holds it. Every `QUANTDESK_RISK_CHECKPOINT_S` of
wall-clock time, once anything was applied, the task then writes one checkpoint (`streams.checkpointed`): the rows of
the engine's tables the releases since the last changed, as they stand, and, per partition, the offset of the first
message holding an event not yet applied. A worker stopped anywhere in between applies those events again and
publishes the same ids, which every reader takes once.
"""

import asyncio
import time
from functools import partial
from operator import attrgetter
from typing import Any, Callable, Iterable, Iterator, TypeVar

import orjson
from aiokafka import TopicPartition

from quantdesk.kafka.lag import task_partitions
from quantdesk.kafka.publisher import Keyed, group_by_topic, partition_of
from quantdesk.kafka.reader import Reader
from quantdesk.kafka.records import warm
from quantdesk.kafka.topics import EPOCHS
from quantdesk.messages import (AccountChange, AdminCommand, DeadLetter, Fill, LiquidationPlan, MarketEpoch,
                                OracleTick, RiskOutcomes, account_key)
from quantdesk.process import CollectorPaused
from quantdesk.wire import decode, encode_batch
from streams.domain.alerts import Thresholds
from streams.domain.account_state import AccountState
from streams.metrics import AccountsByState, Observations, WorkerMetrics
from streams.checkpointed import CheckpointedInput
from streams.ordered import Decoded, offset_key
from streams.pipeline import Pipeline
from streams.risk.checkpoint import CheckpointLog, Fence, Journal
from streams.risk.engine import RiskEngine
from streams.risk.liquidator import LIQUIDATOR, venue_events
from streams.risk.outputs import Outputs, by_topic
from streams.risk.reorder import PAST, Event, Key, order_key
from streams.risk.store import EngineStore

YIELD_EVERY = 100  # events applied between two chances for the event loop to run other tasks
SETTLE_EVERY = 1000  # events applied between two publishes, in a long release
MODELS = {"oracle.ticks": OracleTick, "trades.fills": Fill, "accounts.changes": AccountChange,
          "admin.commands": AdminCommand}  # what the markets' author, task 0, reads
FOLLOWER_MODELS = {EPOCHS: MarketEpoch, "trades.fills": Fill, "accounts.changes": AccountChange,
                   "admin.commands": AdminCommand}  # what every other task reads
T = TypeVar("T")
HandOver = Callable[[TopicPartition, RiskOutcomes, Any], None]  # a release's records, where they went, the send's future
OUTPUTS = ("accounts.state", "accounts.history", "accounts.ledger", "funding.rates", "funding.payments",
           "risk.liquidations", "audit.log", "mikey.signals", "dlq")


class RiskMetrics:
    """What a worker's risk tasks show, together: one set of families, each shown from the first scrape."""

    def __init__(self, metrics: WorkerMetrics, markets: Iterable[str]) -> None:
        metrics.publishing(OUTPUTS)
        metrics.reading({**MODELS, **FOLLOWER_MODELS})
        self.accounts_by_state = AccountsByState(metrics, [state.value for state in AccountState])
        self.remargin = Observations(metrics.child("worker_remargin_seconds"))  # written by `show`
        metrics.child("worker_insurance_fund_usd")  # shown at 0 until the owners, beside task 0, set it
        self.planned = {m: metrics.child("worker_liquidations_planned_total", market=m) for m in markets}
        self.filled = {m: metrics.child("worker_liquidations_filled_total", market=m) for m in markets}


class AccountsAgent(CheckpointedInput):
    """The engine behind ordered input, its checkpointed tables, and the simulated venue."""

    reads_told = False  # what it causes after its checkpoint is sent again, under the same ids
    interval = "risk_checkpoint_s"

    def __init__(self, pipeline: Pipeline, task: int, shown: RiskMetrics, shared: Decoded | None = None,
                 fence: Fence | None = None, hand_over: HandOver | None = None) -> None:
        """Run risk task `task` for `pipeline`, showing what it does in the worker's `shown` families, sharing the
        messages it decodes with the worker's other tasks through `shared` (they check events alike: the markets
        are the settings'), checkpointing once `fence` confirms this worker holds the task (none: no check), handing
        each release's records, once sent, to the worker's owners through `hand_over` (none: they decode them)."""
        settings = pipeline.settings
        epochs = None if settings.topic_partitions == 1 else "author" if task == 0 else "follow"
        super().__init__(pipeline, FOLLOWER_MODELS if epochs == "follow" else MODELS, "risk", task, shared)
        numbered = tuple(range(settings.topic_partitions))
        self.engine = RiskEngine(settings.markets, Thresholds.of(settings),
                                 holds=lambda key: partition_of(key, numbered) == task, speaks_for_markets=task == 0,
                                 epochs=epochs)
        self.epochs_partition = TopicPartition(settings.topic(EPOCHS), 0)  # where the author sends them
        if epochs == "follow":
            self.buffer.bound = 0  # nothing goes out before the author has said how far it applied
        self.marked: tuple[int, Key | None] = (0, None)  # the last `through` epoch this author sent: time and key
        self.applied_key: Key | None = None  # the apply order key of the last event this task applied
        self.author_applied: Key | None = None  # (a follower) the author's, as its last `through` epoch said
        self.claimed: Key = (0, 0, "")  # the last key this task told the owners it has applied through
        self.store = EngineStore.journaled()
        self.log: CheckpointLog = CheckpointLog(pipeline.bootstrap, settings.topic("risk.checkpoints"), task)
        self.reads = task_partitions(settings, task)
        self.outcomes = TopicPartition(settings.topic("risk.outcomes"), task)  # the task's own partition
        self.outcomes_end = 0  # where that partition ends after the outcomes this task sent last
        self.sent_before: set[str] = set()  # records sent before a restart, not to be sent again
        self.venue_before: set[str] = set()  # the venue's events sent before a restart, not to be sent again
        self.venue = settings.simulator_venue
        self.metrics = pipeline.metrics
        self.figures = shown
        self.fence = fence
        self.hand_over = hand_over
        warm()  # the account states' record writer, before the first release

    def check(self, event: Any) -> str | None:
        """Return why an event names a market the engine does not list, or None."""
        return self.engine.unknown(event)

    def speaks_for(self, topic: str, tp: Any) -> bool:
        """Tell whether this task counts a partition's events and sends its dead letters (late ones too): every tick
        (only the author reads them), no epoch, and its own partition of the rest (a plan's fills come back late to
        the author, which reads every fill: the task that waits for them decides)."""
        if topic == EPOCHS:
            return False
        return topic == "oracle.ticks" or super().speaks_for(topic, tp)

    def arrived(self, topic: str, events: list[Any]) -> list[Any]:
        """Return the events to apply; a `through` epoch moves the bound of what may be applied instead."""
        if topic != EPOCHS:
            return events
        for epoch in events:
            if epoch.kind == "through":
                self.buffer.bound = epoch.ts
                self.author_applied = epoch.applied or self.author_applied
        return [epoch for epoch in events if epoch.kind != "through"]

    def input_partitions(self) -> list[TopicPartition]:
        """Return the partitions this task reads (`task_partitions`): the author every input's, the others the
        epochs' and admins' commands', and their own of fills and changes."""
        return self.reads

    async def dead_letters(self, topic: str, dead: list[DeadLetter]) -> None:
        """Publish the dead letters of account changes and admins' commands (the market agent owns those of ticks
        and fills)."""
        if topic in ("accounts.changes", "admin.commands"):
            await self.pipeline.publish("dlq", ((d.topic, d) for d in dead))

    async def run(self) -> None:
        """Load the engine from the last checkpoint, then read on from the offsets it covers, until cancelled."""
        restored = await self.log.restore()
        self.outcomes_end = restored.offsets.get(offset_key(self.outcomes), 0)
        self.sent_before = await self.sent_since(self.outcomes_end)
        self.venue_before = await self.venue_since(restored.offsets) if self.venue else set()
        self.store = EngineStore.journaled(restored.tables)
        self.store.load(self.engine, self.buffer)
        self.figures.accounts_by_state.take({key: a.state.value for key, a in self.engine.accounts.items()})
        self.checkpointed = (self.buffer.releases, time.monotonic())
        await self.read(restored.offsets)

    async def release(self, events: Iterator[Event]) -> None:
        """Apply events one by one (a plan stops the rest until its fills come), settling every `SETTLE_EVERY`."""
        out, applied, venue = Outputs(), [], []
        for n, event in enumerate(events, 1):
            caused = self.apply(event)
            venue += self.venue_fills(caused.liquidations, out)
            out.extend(caused)
            applied.append(event)
            if n % SETTLE_EVERY == 0:
                await self.settle(applied, out, venue)
                out, applied, venue = Outputs(), [], []
            elif n % YIELD_EVERY == 0:
                await asyncio.sleep(0)  # let other tasks run between slices of a long release
        await self.settle(applied, out, venue)

    def apply(self, event: Event) -> Outputs:
        """Apply one event through the engine, the collector held off (`CollectorPaused`); time a tick's re-margin
        and count a liquidation's fill."""
        if type(event) is Fill and event.model_extra and event.model_extra.get("liquidation") \
                and event.wallet != LIQUIDATOR and self.engine.held(account_key(event.wallet, event.subaccount)):
            self.figures.filled[event.market].inc()  # the liquidated account's side of a close, by the task holding it
        started = time.perf_counter()
        with CollectorPaused():
            caused = self.engine.apply(event)
        tick = event.tick if type(event) is MarketEpoch else event  # a follower's ticks come inside epochs
        if type(tick) is OracleTick:
            self.figures.remargin.observe(time.perf_counter() - started)
            self.metrics.oracle_seen(tick.market, tick.ts)
        return caused

    def venue_fills(self, plans: list[LiquidationPlan], out: Outputs) -> list[Keyed]:
        """With the simulated venue on, return the fills carrying out these plans, but those an earlier run sent
        after this task's checkpoint (they come back through the input all the same); later events wait for them."""
        if not self.venue or not plans:
            return []
        sent = venue_events(plans, self.engine.accounts, self.buffer, self.engine.unknown, out, self.partitions)
        return not_sent_before(sent, lambda venue: venue[2]["id"], self.venue_before)

    async def settle(self, applied: list[Event], out: Outputs, venue: list[Keyed]) -> None:
        """Publish what `applied` caused, and the release's records for the owners, and wait until the broker holds
        them; then checkpoint the tables it changed with the offsets it brings the input (and its outcomes) to."""
        if not applied:
            return
        await self.publish(out)
        for topic, events in group_by_topic(venue).items():
            await self.pipeline.publish(topic, events)
        last = max(order_key(e) for e in applied)
        self.applied_key = last if self.applied_key is None else max(self.applied_key, last)
        if self.engine.epochs == "author":
            await self.send_epochs(out.epochs)
        settled = self.settled(applied)
        sent = await self.send_outcomes(settled[0].n, self.owners_through(), out)
        await self.pipeline.flush()
        self.outcomes_end = sent.result().offset + 1
        self.show(out)
        await self.checkpoint()
        await self.show_progress()

    def save(self) -> dict[str, Journal]:
        """Write what the releases since the last checkpoint changed into the store's journals; return them."""
        self.store.save(self.engine, self.buffer)
        return self.store.tables

    def offsets(self) -> dict[str, int]:
        """Return the input's offsets a checkpoint names, and where the task's partition of outcomes ends after what
        it sent (`sent_since`, after a restart)."""
        return {**super().offsets(), offset_key(self.outcomes): self.outcomes_end}

    async def on_timer(self) -> None:
        """Apply what is due and show progress; tell the tasks (the markets' author) or the owners (the others) how far
        this task has applied, if that moved."""
        await super().on_timer()  # a checkpoint if one is due, too
        if self.engine.epochs == "author":
            await self.send_epochs([])
        elif self.engine.epochs == "follow" and (through := self.owners_through()) > self.claimed:
            await self.send_outcomes(self.buffer.releases, through, Outputs())

    def owners_through(self) -> Key:
        """Return the apply order key before which this task will send the owners no record (but a late event's): the
        last it applied. A follower, which reads only its own fills, goes on to where the author has applied (it has
        read every fill), as far as what the follower holds and has not read yet allows, and not while it waits for
        its plans' fills (not read yet, they may come at any time)."""
        own = self.applied_key or (0, 0, "")
        if self.engine.epochs != "follow" or self.author_applied is None or self.buffer.awaited:
            return own
        bounds = [self.author_applied]
        if self.buffer.heap:
            bounds.append(self.buffer.heap[0][0])
        if (ceiling := self.ceiling()) is not None:
            bounds.append((ceiling, PAST, ""))
        return max(own, min(bounds))

    async def send_epochs(self, epochs: list[MarketEpoch]) -> None:
        """Send the markets' epochs, ending with how far every market event is applied, in one message on the first
        partition of the epochs topic (nothing when there are none and that has not moved)."""
        mark = (self.epochs_through(), self.applied_key)
        if not epochs and mark == self.marked:
            return
        marker = MarketEpoch(id=f"through:{mark[0]}", ts=mark[0], kind="through", applied=mark[1])
        producer, app = await self.pipeline.app.maybe_start_producer(), self.pipeline.app
        where, batch = self.epochs_partition, [*epochs, marker]
        sent = await producer.send(where.topic, None, encode_batch(batch), where.partition, None, None)
        sent.add_done_callback(app.delivered)
        if self.shared is not None:  # the followers in this worker take them as they are, not decoded again
            sent.add_done_callback(partial(self.shared.sent, where, batch))
        self.marked = mark

    def epochs_through(self) -> int:
        """Return the event time up to which every event this task read, or may still read but a late one, is
        applied: short of what it holds, and of what unread input may still hold."""
        buffer, ceiling = self.buffer, self.ceiling()
        held = buffer.heap[0][0][0] - 1 if buffer.heap else buffer.newest
        return max(0, held if ceiling is None else min(held, ceiling))

    async def send_outcomes(self, release: int, through: Key, out: Outputs) -> Any:
        """Send the release's records for the owners, but those sent before a restart, with how far it applied, on
        the task's own partition of `risk.outcomes` (`streams.agents.owners`): one message, so a record never goes
        without its key. Return the send's future."""
        outcomes = RiskOutcomes(task=self.task, release=release, through=through,
                                sides=self.unsent(out.sides), outcomes=self.unsent(out.outcomes))
        producer, app = await self.pipeline.app.maybe_start_producer(), self.pipeline.app
        sent = await producer.send(self.outcomes.topic, None, outcomes.model_dump_json().encode(), self.task, None,
                                   None)
        sent.add_done_callback(app.delivered)
        if self.hand_over is not None:
            sent.add_done_callback(partial(self.hand_over, self.outcomes, outcomes))
        self.claimed = max(self.claimed, through)
        return sent

    def unsent(self, records: list[Any]) -> list[Any]:
        """Return the records not sent before a restart (the task applies their events again after its checkpoint)."""
        return not_sent_before(records, attrgetter("id"), self.sent_before)

    async def sent_since(self, start: int) -> set[str]:
        """Return the ids of the records this task sent from offset `start` of its outcomes partition on: after
        its last checkpoint, before it stopped."""
        async with Reader(self.bootstrap) as reader:
            listed = (await reader.end_offsets([self.outcomes]))[self.outcomes]
            if listed <= start:
                return set()
            end = (await reader.fetched_ends({self.outcomes: listed}))[self.outcomes]
            messages = await reader.read_until({self.outcomes: start}, {self.outcomes: end})
        sent = [RiskOutcomes.model_validate_json(m.value) for m in messages if m.offset < end]
        return {r.id for o in sent for r in [*o.sides, *o.outcomes]}

    async def venue_since(self, offsets: dict[str, int]) -> set[str]:
        """Return the ids of the venue's events (a plan's fills, a liquidator's float: the liquidator's or tagged
        with a plan) in this task's own partitions of fills and changes from where its checkpoint `offsets` read them
        on: an earlier run sent them after its checkpoint and stopped. The plans made again do not send them again:
        a copy sent again might come after this run has forgotten their ids, and be refused as late."""
        settings, ids = self.pipeline.settings, set()
        parts = [TopicPartition(settings.topic(t), self.task) for t in ("trades.fills", "accounts.changes")]
        async with Reader(self.bootstrap) as reader:
            ends = await reader.fetched_ends(await reader.end_offsets(parts))
            async for records in reader.scan({tp: offsets.get(offset_key(tp), 0) for tp in parts}, ends):
                ids.update(event["id"] for record in records for event in venue_items(record.value))
        return ids

    def show(self, out: Outputs) -> None:
        """Show the accounts by state, the plans made (per market each closes), the re-margins timed and the newest
        ticks."""
        self.figures.accounts_by_state.update(out.states.singles())
        self.figures.remargin.write()
        self.metrics.show_ticks()
        for plan in out.liquidations:
            for market in {close.market for close in plan.closes}:
                self.figures.planned[market].inc()

    async def publish(self, out: Outputs) -> None:
        """Send what the engine caused, each to its topic and key."""
        for topic, events in by_topic(out):
            await self.pipeline.publish(topic, events)


def not_sent_before(items: list[T], id_of: Callable[[T], str], before: set[str]) -> list[T]:
    """Return the items whose id is not among those an earlier run sent (`before`); forget those ids, as they will not
    come again."""
    if not before:
        return items
    again = {id_of(item) for item in items} & before
    before -= again
    return [item for item in items if id_of(item) not in again]


def venue_items(value: bytes | None) -> list[dict[str, Any]]:
    """Return the events of an input message that the venue sent: the liquidator's, or a plan's fill (what is not
    JSON, or not an event, is none)."""
    try:
        events = decode(value or b"[]")
    except orjson.JSONDecodeError:
        return []
    return [e for e in (events if isinstance(events, list) else [events]) if isinstance(e, dict)
            and isinstance(e.get("id"), str) and (e.get("wallet") == LIQUIDATOR or e.get("liquidation"))]
