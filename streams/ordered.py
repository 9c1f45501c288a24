"""Input read in event-time order: every partition of some topics, read by the worker itself and released
through a `ReorderBuffer`.

A worker that folds input into state must fold it in one order whatever the arrival order, so that a replay
or a restart gives the same result. It reads every input partition itself (assigned, not balanced by a group:
it owns all of them), from offsets it chooses, and lets events out once the newest event time is the grace
past them and no partition not read to its end could still hold an earlier one; a partition counts as read
to its end once it has stayed there `IDLE_S` (the end a fetch reported may be stale). Once input stops for
`IDLE_S`, everything held is applied but what a partition with unread input could precede.

A reader remembers applied ids only while some input can bring them again: a restart reads on from the offsets
its checkpoints name (the risk tasks', `streams.risk.checkpoint`; the feed's markets and orders agents',
`streams.checkpointed`), and what was read before that is never read again. An event more than
`QUANTDESK_MAX_LATENESS_MS` behind the newest event time it applied, whose id it no longer remembers, goes to `dlq`
as late: it cannot be told from one applied long ago. Memory so stays bounded by that window, not by all history.

A feed reader that reads again what an earlier run applied (from a checkpoint older than its last release) applies
it without sending what it causes again (`again`; the risk tasks send again what followed their checkpoint, under
the same ids): the messages before the offsets its group last committed (`show_progress`: everything before them
applied and what it caused delivered). Its outputs carry the same ids, but a reader that remembers only the newest
ids (the gateway) would take an old market state as news.
"""

import time
from collections import OrderedDict, defaultdict, deque
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

from aiokafka import TopicPartition

from quantdesk.kafka.lag import progress_group
from quantdesk.kafka.reader import Reader
from quantdesk.messages import DeadLetter, Message, dump
from streams.pipeline import Pipeline
from streams.decode import Check, as_bytes, dead_letter, decode_events
from streams.risk.reorder import Applied, Event, ReorderBuffer
from streams.progress import IDLE_S, InputProgress, PartitionEnd

CHECK_S = IDLE_S / 4  # how often held events are checked for partitions gone quiet
SHOW_S = 0.25  # how often the lag and the reorder buffer's depth are shown (a scrape comes every few seconds)
# progress unchanged is committed again this often: Kafka forgets a group's offsets 7 days after their last commit
# (`offsets.retention.minutes`), and with them what an idle feed's next start must not send again
RECOMMIT_S = 3600.0


async def told(reader: Reader, parts: list[TopicPartition]) -> dict[TopicPartition, int]:
    """Return, per partition, the offset the reader's group last committed, before which an earlier run applied
    every event and delivered what it caused (never past the partition's end: a topic made anew)."""
    ends = await reader.fetched_ends(await reader.end_offsets(parts))
    committed = {tp: await reader.committed(tp) or 0 for tp in parts}
    return {tp: min(offset, ends[tp]) for tp, offset in committed.items() if offset}


def offset_key(tp: TopicPartition) -> str:
    """Return how a checkpoint names a partition."""
    return f"{tp.topic}:{tp.partition}"


def late_reason(max_lateness_ms: int) -> str:
    """Return why an event too late to apply is a dead letter."""
    return (f"late: more than {max_lateness_ms} ms of event time behind the newest event applied; "
            "an event this late cannot be told from one applied already")


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


Split = tuple[list[Any], list[DeadLetter]]  # a message's valid events and its dead letters


class Decoded:
    """Messages decoded once for every reader of one process that reads them with the same model (a worker's risk
    tasks; the feed worker's markets and orders agents and its sink): the newest, up to `most` events in all, by
    partition and offset, each split as no `check` would refuse any of it, and the messages a reader here sent
    itself, as it sent them (the markets' epochs, for a worker's following tasks). A reader far behind the others
    decodes what it reads itself."""

    def __init__(self, most: int = 50_000) -> None:
        self.most, self.events = most, 0
        self.kept: OrderedDict[tuple[Any, int], Split] = OrderedDict()

    def get(self, tp: Any, offset: int, decode: Callable[[], Split]) -> Split:
        """Return the message at `offset` of partition `tp` split, by `decode` unless kept; keep it."""
        split = self.kept.get((tp, offset))
        if split is None:
            split = self.keep(tp, offset, decode())
        return list(split[0]), split[1]  # a list of its own: a reader may filter it

    def sent(self, tp: Any, events: list[Any], delivery: Any) -> None:
        """Keep the valid `events` this process sent as one message to partition `tp`, at the offset `delivery` (the
        send's future, done) gives, unless the send failed or a reader decoded them first: a reader here takes them
        instead of decoding them."""
        if delivery.cancelled() or delivery.exception() is not None:
            return
        offset = delivery.result().offset
        if (tp, offset) not in self.kept:
            self.keep(tp, offset, (events, []))

    def keep(self, tp: Any, offset: int, split: Split) -> Split:
        """Keep the message at `offset` of partition `tp` as `split`, letting the oldest go past the bound; return
        it."""
        self.kept[(tp, offset)] = split
        self.events += len(split[0]) + len(split[1])
        while self.events > self.most:
            good, dead = self.kept.popitem(last=False)[1]
            self.events -= len(good) + len(dead)
        return split


class OrderedInput:
    """Reads its input partitions and releases their valid events in apply order to `release`."""

    reads_told = True  # whether a start sends nothing for what an earlier run applied and delivered (`told`)

    def __init__(self, pipeline: Pipeline, topics: dict[str, type[Message]], reader: str,
                 task: int | None = None, shared: Decoded | None = None) -> None:
        """Read `topics` (logical name -> model) for `pipeline`, showing progress as `reader` (`quantdesk.kafka.lag`),
        as its risk `task` if it is one, taking messages decoded by other readers from `shared` if given."""
        settings = pipeline.settings
        self.pipeline, self.models, self.partitions = pipeline, topics, settings.topic_partitions
        self.bootstrap, self.group = pipeline.bootstrap, progress_group(settings, reader, task)
        self.task, self.shared = task, shared
        self.names = {settings.topic(t): t for t in topics}  # broker name -> logical
        self.buffer = ReorderBuffer(settings.reorder_grace_ms, settings.max_lateness_ms, self.timeless)
        self.progress = InputProgress()
        self.positions = Positions({})
        self.start: dict[Any, int] = {}
        self.consumer: Reader | None = None
        self.last_input = time.monotonic()
        self.shown: dict[Any, int] = {}
        self.shown_at = 0.0  # when `shown` was last committed (monotonic)
        metrics, self.reader = pipeline.metrics, reader if task is None else f"{reader}{task}"
        self.events_in = metrics.reading(topics)
        self.held = metrics.child("worker_reorder_buffer_events", reader=self.reader)
        self.lag: dict[Any, Any] = {}
        self.gauges_shown = 0.0
        self.told: dict[Any, int] = {}  # per partition: what an earlier run applied and delivered comes before it
        self.again: set[str] = set()  # the ids of events read from there and not released yet

    def check(self, event: Any) -> str | None:
        """Return why a valid event cannot be used (it becomes a dead letter), or None."""
        return None

    def timeless(self, event: Any) -> bool:
        """Tell whether an event is taken however late it comes, once more or not (`ReorderBuffer`): none, here."""
        return False

    def speaks_for(self, topic: str, tp: Any) -> bool:
        """Tell whether this reader counts a partition's events and sends its dead letters: a risk task those of its
        own partition (every task reads some topics whole), any other reader all."""
        return self.task is None or tp.partition == self.task

    def arrived(self, topic: str, events: list[Any]) -> list[Any]:
        """Return the valid events of a message read from `topic` that are to be applied (all of them, here)."""
        return events

    def input_partitions(self) -> list[TopicPartition]:
        """Return the partitions read: every partition of the topics."""
        return [TopicPartition(name, p) for name in self.names for p in range(self.partitions)]

    async def dead_letters(self, topic: str, dead: list[DeadLetter]) -> None:
        """Publish the dead letters of a message read from `topic` (where this reader owns them)."""

    async def release(self, events: Iterator[Event]) -> None:
        """Apply events now due, in apply order."""
        raise NotImplementedError

    async def read(self, offsets: dict[str, int]) -> None:
        """Read every partition of the topics from `offsets` (the start where none is given) until cancelled."""
        # the group only shows progress (`show_progress`): the reader starts where `offsets` say
        self.consumer = reader = await Reader(self.bootstrap, self.group).start()
        try:
            parts = self.input_partitions()
            if self.reads_told:
                self.told = await told(reader, parts)  # before `assign`: finding the ends moves the reader
            self.start = {tp: offsets.get(offset_key(tp), 0) for tp in parts}
            reader.assign(self.start)
            self.positions = Positions(self.start)
            for tp in parts:
                self.lag_gauge(tp)  # every partition shown from the first scrape
            checked = time.monotonic()
            while True:
                fetched = await reader.fetch(timeout_ms=int(CHECK_S * 1000))
                for tp, records in fetched.items():
                    for record in records:
                        await self.take(self.names[tp.topic], tp, record)
                if time.monotonic() - checked >= CHECK_S:
                    await self.on_timer()
                    checked = time.monotonic()
        finally:
            self.consumer = None
            await reader.stop()

    async def take(self, topic: str, tp: Any, record: Any) -> None:
        """Buffer a Kafka message's valid events; apply those now due."""
        check: Check = self.check

        def decode(check: Check | None = check) -> Split:
            return decode_events(self.models[topic], topic, record.value, record.timestamp, check)
        if self.shared is None:
            good, dead = decode()
        else:  # the readers' checks differ: shared unchecked, the same split as checked while this check refuses none
            good, dead = self.shared.get(tp, record.offset, lambda: decode(None))
            if any(map(check, good)):  # decoded again with it: its dead letter holds the item as written
                good, dead = decode()
        good = self.arrived(topic, good)
        own = self.speaks_for(topic, tp)
        again = record.offset < self.told.get(tp, 0)
        if own:
            if not again:
                await self.dead_letters(topic, dead)
            self.events_in[topic].inc(len(good) + len(dead))
        if any(self.buffer.late(e) for e in good):
            good = await self.refuse_late(topic, good, own and not again)
        self.progress.saw(tp, record.offset, good)
        held = self.buffer.push(good, self.ceiling())
        self.positions.read(tp, record.offset, [e.id for e in held])
        if again:
            self.again.update(e.id for e in held)
        await self.release(self.buffer.due())
        self.last_input = time.monotonic()

    async def refuse_late(self, topic: str, events: list[Event], letters: bool = True) -> list[Event]:
        """Send the late events to `dlq` if `letters` (another risk task sends those of a partition not its own),
        whatever their topic; return the others. (An event late for two readers gets one dead letter: its id is
        made from its bytes.)"""
        buffer = self.buffer
        if letters:
            reason = late_reason(buffer.max_lateness_ms)
            await self.pipeline.publish("dlq", ((topic, dead_letter(topic, e.ts, reason, as_bytes(dump(e))))
                                                for e in events if buffer.late(e)))
        return [e for e in events if not buffer.late(e)]

    def settled(self, applied: list[Event]) -> tuple[Applied, list[Applied]]:
        """Count events as applied; forget the ids no input can bring again (`ReorderBuffer.settle`): a restart
        reads from the first message not wholly applied (as its checkpoint names it); return the record made and those
        forgotten."""
        self.positions.applied(e.id for e in applied)
        if self.again:
            self.again.difference_update(e.id for e in applied)
        read = self.positions.next
        committed = self.positions.offsets()
        return self.buffer.settle(applied, {offset_key(tp): n for tp, n in read.items()},
                                  {offset_key(tp): n for tp, n in committed.items()})

    def ends(self) -> list[PartitionEnd]:
        """Return every input partition's end offset (None until fetched) and where reading it started."""
        consumer = self.consumer
        return [(tp, consumer.highwater(tp) if consumer else None, start) for tp, start in self.start.items()]

    def ceiling(self) -> int | None:
        """Return the newest event time safe to apply, as far as the input partitions have been read."""
        return self.progress.ceiling(self.ends(), time.monotonic())

    async def on_timer(self) -> None:
        """Apply what partitions gone quiet made due, and, once input stopped coming, everything no partition
        with unread input could still precede; show how far reading stands."""
        if self.buffer:
            ceiling = self.ceiling()
            if time.monotonic() - self.last_input >= IDLE_S:
                await self.release(self.buffer.drain(ceiling))
            else:
                self.buffer.push([], ceiling)
                await self.release(self.buffer.due())
        await self.show_progress()
        if time.monotonic() - self.gauges_shown >= SHOW_S:
            self.show_gauges()

    def show_gauges(self) -> None:
        """Show each partition's unread messages (its end minus where reading stands) and the events held."""
        for tp, end, start in self.ends():
            if end is not None:
                self.lag_gauge(tp).set(max(0, end - self.progress.next_offset.get(tp, start)))
        self.held.set(len(self.buffer))
        self.gauges_shown = time.monotonic()

    def lag_gauge(self, tp: TopicPartition) -> Any:
        """Return the lag gauge of an input partition, bound once."""
        gauge = self.lag.get(tp)
        if gauge is None:
            gauge = self.lag[tp] = self.pipeline.metrics.child(
                "worker_consumer_lag", reader=self.reader, topic=self.names[tp.topic], partition=str(tp.partition))
        return gauge

    async def show_progress(self) -> None:
        """Commit, as the reader's group, the offsets before which everything read has been applied (and what it
        caused delivered), by this run or an earlier one (`told`: one stopped while reading again leaves it as it
        found it): what `/ready` and a draining stop count, and what the next start sends nothing again before. A
        reader positions itself from its own record (a checkpoint, or the start), never from these."""
        offsets = {tp: max(offset, self.told.get(tp, 0)) for tp, offset in self.positions.offsets().items()}
        stale = time.monotonic() - self.shown_at >= RECOMMIT_S
        if self.consumer is not None and self.group is not None and (offsets != self.shown or stale):
            await self.consumer.commit(offsets)
            self.shown, self.shown_at = offsets, time.monotonic()
