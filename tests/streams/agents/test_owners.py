"""The owners agent stopped mid-run and started again from its checkpoint publishes exactly what owners never
stopped publish: the same messages on the same partitions in the same order, none lost, none twice; and so do owners
that take the records of their worker's tasks as the tasks sent them."""

import asyncio
import contextlib
from functools import partial
from types import SimpleNamespace
from typing import Any, AsyncIterator, Iterable

import orjson
from aiokafka import TopicPartition

from quantdesk.kafka.publisher import Publisher
from quantdesk.kafka.reader import Reader
from quantdesk.kafka.topics import ensure_topics
from quantdesk.messages import HolderSide, RiskOutcomes, account_key
from quantdesk.settings import Settings
from streams.agents.owners import OUTPUTS, Handed, OwnersAgent
from streams.app import faust_app
from streams.domain.alerts import Thresholds
from streams.ordered import offset_key
from quantdesk.kafka.publisher import partition_messages
from streams.pipeline import Pipeline
from streams.risk.checkpoint import CheckpointLog, Fence, Restored
from streams.risk.outputs import Outputs
from streams.risk.owners import Owners
from tests.streams.risk.test_shards import MARKETS_NAMES, PARTITIONS, inputs, run, shards
from tests.streams.risk.test_store import MARKETS
from tests.waiting import eventually

STEPS = 500  # simulated steps: enough for the crash's liquidations, their insurance credits and completions
TASKS = len(PARTITIONS)
Published = dict[str, dict[int, list[bytes]]]  # topic -> partition -> each event's bytes, in order


class Kept(Owners):
    """Owners that keep every release the tasks send them, in the order sent."""

    def __init__(self) -> None:
        super().__init__(MARKETS_NAMES, Thresholds(), TASKS)
        self.sent: list[RiskOutcomes] = []

    def take(self, outcomes: RiskOutcomes) -> list[str]:
        """Keep the release, then take it."""
        self.sent.append(outcomes)
        return super().take(outcomes)


def replayed(releases: Iterable[RiskOutcomes]) -> tuple[Owners, Outputs]:
    """Return owners never stopped, fed `releases` in order, and all they raised."""
    owners, out = Owners(MARKETS_NAMES, Thresholds(), TASKS), Outputs()
    for outcomes in releases:
        owners.take(outcomes)
        out.extend(owners.due()[0])
    return owners, out


def stopping_point(sent: list[RiskOutcomes]) -> tuple[list[RiskOutcomes], RiskOutcomes, list[RiskOutcomes]]:
    """Return the releases read before the stop, the one read last, and the rest: every task's up to the first
    release with liquidation outcomes but one task's (one without them there), held back to its latest release that,
    read last, applies records and leaves liquidation outcomes waiting."""
    first = min(o.release for o in sent if o.outcomes)
    late = next(t for t in range(TASKS) if not any(o.outcomes for o in sent if (o.task, o.release) == (t, first)))
    for last in sorted({o.release for o in sent if o.task == late and o.release < first}, reverse=True):
        before = [o for o in sent if o.release <= first and (o.task != late or o.release < last)]
        [stop] = [o for o in sent if (o.task, o.release) == (late, last)]
        owners, _ = replayed(before)
        owners.take(stop)
        if owners.due()[1] and any(not isinstance(r, HolderSide) for _, _, r in owners.waiting):
            read = {(o.task, o.release) for o in [*before, stop]}
            return before, stop, [o for o in sent if (o.task, o.release) not in read]
    raise AssertionError("no release of the late task stops the owners with liquidation outcomes waiting")


def split(messages: Iterable[tuple[str, int, bytes]]) -> Published:
    """Return each JSON array message's events as their own bytes, per topic and partition, in order."""
    got: Published = {topic: {} for topic in OUTPUTS}
    for topic, partition, value in messages:
        events = [orjson.dumps(e) for e in orjson.loads(value)]
        assert b"[" + b",".join(events) + b"]" == value  # so each event's bytes are exactly the ones sent
        got[topic].setdefault(partition, []).extend(events)
    return got


def expected(out: Outputs) -> Published:
    """Return what the owners agent publishes of `out`, keyed and batched as its pipeline does."""
    keyed = {"accounts.ledger": [(account_key(e.wallet, e.subaccount), e) for e in out.ledger],
             "mikey.signals": [(s.subject, s) for s in out.signals], "audit.log": [(a.subject, a) for a in out.audit]}
    return split((topic, partition, value) for topic, events in keyed.items()
                 for partition, _, value in partition_messages(events, PARTITIONS))


def count(events: Published) -> int:
    """Return how many events there are, on every topic and partition."""
    return sum(len(e) for parts in events.values() for e in parts.values())


async def published(settings: Settings) -> Published:
    """Return every event on the owners' output topics, per topic and partition, in order."""
    names = {settings.topic(t): t for t in OUTPUTS}
    parts = [TopicPartition(name, p) for name in names for p in PARTITIONS]
    async with Reader(settings.kafka_bootstrap or "") as reader:
        records = await reader.read_until(dict.fromkeys(parts, 0), await reader.end_offsets(parts))
    return split((names[r.topic], r.partition, r.value) for r in sorted(records, key=lambda r: (r.topic, r.offset)))


async def send(publisher: Publisher, settings: Settings, releases: list[RiskOutcomes],
               ends: dict[TopicPartition, int]) -> None:
    """Send each release on its task's partition of `risk.outcomes`, as the task does; move `ends` past them."""
    topic = settings.topic("risk.outcomes")
    sent = [(o.task, await publisher.producer.send(topic, o.model_dump_json().encode(), partition=o.task))
            for o in releases]
    for task, delivery in sent:
        ends[TopicPartition(topic, task)] = (await delivery).offset + 1


async def checkpoint_records(settings: Settings) -> int:
    """Return how many records the owners' checkpoint log holds now."""
    tp = TopicPartition(settings.topic("risk.owners"), 0)
    async with Reader(settings.kafka_bootstrap or "") as reader:
        return (await reader.fetched_ends(await reader.end_offsets([tp])))[tp]


async def checkpoint(settings: Settings) -> Restored:
    """Return what the owners' checkpoint log holds now, as a restarted agent reads it."""
    return await CheckpointLog(settings.kafka_bootstrap or "", settings.topic("risk.owners"), 0).restore()


@contextlib.asynccontextmanager
async def owners_running(settings: Settings, fence: Fence | None = None,
                         handed: Handed | None = None) -> AsyncIterator[OwnersAgent]:
    """Run an owners agent on an app of its own, checkpointing once `fence` lets it, taking what its tasks hand over
    from `handed`, until the block exits; then stop it as `RiskTasks.stop` does."""
    bootstrap = settings.kafka_bootstrap or ""
    pipeline = Pipeline(settings, faust_app(settings, bootstrap), None, bootstrap, role="risk")
    agent = OwnersAgent(pipeline, fence, handed)
    task = asyncio.create_task(agent.run())
    try:
        yield agent
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await (await pipeline.app.maybe_start_producer()).stop()


def without_through(row: dict[str, Any]) -> dict[str, Any]:
    """Return an owners' row without the tasks' keys (moved on by releases that apply nothing, unwritten)."""
    return {name: value for name, value in row.items() if name != "through"}


async def test_owners_stopped_with_records_waiting_and_restored_publish_what_owners_never_stopped_publish(
        settings: Settings) -> None:
    settings = settings.model_copy(update={"markets": MARKETS})
    kept = Kept()
    run(shards(TASKS), inputs(STEPS), kept)  # the tasks' releases, in the order they sent them
    before, stop, rest = stopping_point(kept.sent)
    whole, out = replayed(kept.sent)
    want = expected(out)
    await ensure_topics(settings, settings.kafka_bootstrap or "")
    ends = dict.fromkeys((TopicPartition(settings.topic("risk.outcomes"), t) for t in range(TASKS)), 0)
    async with Publisher(settings, settings.kafka_bootstrap or "") as publisher:
        async with owners_running(settings) as stopped:
            await send(publisher, settings, before, ends)

            async def read_before() -> bool:
                return all(stopped.positions.next.get(tp, 0) >= end for tp, end in ends.items())
            await eventually(read_before, timeout=10, what="the releases before the stop read")
            await send(publisher, settings, [stop], ends)  # moves the least task key on: records applied, others wait
            at_stop = {offset_key(tp): end for tp, end in ends.items()}

            async def checkpointed() -> Restored | None:
                restored = await checkpoint(settings)
                return restored if restored.offsets == at_stop else None
            await eventually(checkpointed, timeout=10, what="a checkpoint after the last release read")
        restored = await checkpoint(settings)  # what the restarted agent starts from
        waiting = {r["kind"] for r in restored.tables["owners"]["owners"]["waiting"]}
        assert restored.offsets == at_stop and waiting == {"holder_side", "insurance_credit", "liquidation_completion"}
        so_far = await published(settings)  # some published before the stop, more to come, each partition in order
        assert 0 < count(so_far) < count(want)
        assert all(events == want[t][p][:len(events)] for t, parts in so_far.items() for p, events in parts.items())

        asked: list[int] = []

        async def fence() -> None:  # the group's word that this worker still holds task 0 (`RiskTasks.held`)
            asked.append(await checkpoint_records(settings))
        async with owners_running(settings, fence) as restarted:
            await send(publisher, settings, rest, ends)

            async def caught_up() -> bool:
                return all(restarted.positions.next.get(tp, 0) >= end for tp, end in ends.items()) \
                    and not restarted.owners.waiting \
                    and without_through((await checkpoint(settings)).tables.get("owners", {}).get("owners", {})) \
                    == without_through(orjson.loads(orjson.dumps(restarted.owners.to_row())))
            await eventually(caught_up, timeout=15, what="every release read, applied and checkpointed")
    got = await published(settings)
    for topic in OUTPUTS:
        assert got[topic] == want[topic], topic
    written = await checkpoint_records(settings)
    assert asked and asked == list(range(asked[0], written))  # the word asked before each checkpoint, none without
    # re-applied records can raise nothing new (a signal in its cool-down) yet move the open interest
    assert without_through(restarted.owners.to_row()) == without_through(whole.to_row())


class Counted(Handed):
    """A hand-over that counts the messages the owners took from it."""

    def __init__(self) -> None:
        super().__init__()
        self.taken = 0

    def take(self, tp: Any, offset: int) -> RiskOutcomes | None:
        """Take as `Handed` does; count a message found."""
        outcomes = super().take(tp, offset)
        self.taken += outcomes is not None
        return outcomes


async def test_owners_take_their_workers_records_as_sent_and_publish_what_decoding_them_publishes(
        settings: Settings) -> None:
    # decoding each release again (every holder side with its fill) took the owners ~0.1 s of a quick run's ~6 s
    settings = settings.model_copy(update={"markets": MARKETS})
    kept = Kept()
    run(shards(TASKS), inputs(STEPS), kept)
    want = expected(replayed(kept.sent)[1])
    await ensure_topics(settings, settings.kafka_bootstrap or "")
    topic, handed = settings.topic("risk.outcomes"), Counted()
    async with Publisher(settings, settings.kafka_bootstrap or "") as publisher:
        async with owners_running(settings, handed=handed) as owners:
            async def opened() -> bool:
                return handed.open
            await eventually(opened, timeout=10, what="the owners restored and reading")
            ends = {}
            for outcomes in kept.sent:  # as a task sends them: handed over once the broker has each
                tp = TopicPartition(topic, outcomes.task)
                sent = await publisher.producer.send(topic, outcomes.model_dump_json().encode(), partition=tp.partition)
                sent.add_done_callback(partial(handed.sent, tp, outcomes))
                ends[tp] = (await sent).offset + 1

            async def caught_up() -> bool:
                return all(owners.positions.next.get(tp, 0) >= end for tp, end in ends.items()) \
                    and not owners.owners.waiting
            await eventually(caught_up, timeout=15, what="every release read and applied")
            assert handed.taken > len(kept.sent) // 2 and not any(handed.kept.values())  # none left behind
            handed.sent(tp, kept.sent[0], delivered(ends[tp] + 10))  # one the owners will not have read
            assert any(handed.kept.values())
        assert not handed.open and not any(handed.kept.values())  # stopped: what was kept goes, and nothing more
        handed.sent(tp, kept.sent[0], delivered(ends[tp] + 11))
        assert not any(handed.kept.values())
    got = await published(settings)
    for name in OUTPUTS:
        assert got[name] == want[name], name


def delivered(offset: int) -> asyncio.Future[Any]:
    """Return a send's future, done, the broker having put the message at `offset`."""
    future = asyncio.get_running_loop().create_future()
    future.set_result(SimpleNamespace(offset=offset))
    return future
