"""The accounts agent's bookkeeping without a broker: where reading resumes, what a quiet input releases."""

import asyncio
import gc
import time
from decimal import Decimal as D
from types import SimpleNamespace
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka import TopicPartition as TP

from quantdesk.kafka.topics import EPOCHS, ensure_topics
from quantdesk.messages import AccountChange, AccountSnapshot, Fill, MarketEpoch, OracleTick, RiskOutcomes
from quantdesk.settings import Settings
from streams.agents.accounts import AccountsAgent, HandOver, RiskMetrics
from streams.agents.markets import MarketsAgent
from streams.agents.orders import OrdersAgent
from streams.agents.owners import Handed
from streams.decode import decode_events
from streams.metrics import WorkerMetrics
from streams.ordered import Decoded, Positions, offset_key
from streams.risk.liquidator import LIQUIDATOR
from streams.progress import IDLE_S
from tests.streams.risk.events import T0, change, fill, tick


def test_reading_resumes_at_each_partitions_first_message_with_an_event_not_applied() -> None:
    positions = Positions({"ticks/0": 0, "fills/0": 0, "changes/0": 7})
    positions.read("ticks/0", 0, ["a", "b"])
    positions.read("ticks/0", 1, [])  # nothing new in it (dropped as seen, or dead letters only)
    positions.read("ticks/0", 2, ["c"])
    positions.read("fills/0", 0, ["d"])
    positions.applied(["c", "d", "a"])
    assert positions.offsets() == {"ticks/0": 0, "fills/0": 1, "changes/0": 7}  # m2 is applied, m0 waits for b
    positions.applied(["b"])
    assert positions.offsets() == {"ticks/0": 3, "fills/0": 1, "changes/0": 7}


class Consumer:
    """What the worker asks its consumer: the partitions' ends; commits are only shown progress."""

    def __init__(self, ends: dict[TP, int]) -> None:
        self.ends = ends
        self.committed: list[dict[TP, int]] = []

    def highwater(self, tp: TP) -> int:
        return self.ends[tp]

    async def commit(self, offsets: dict[TP, int]) -> None:
        self.committed.append(offsets)


class Producer:
    """A producer that holds checkpoints in a list, as the broker would at offsets 0, 1, …"""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    async def send(self, topic: str, key: Any, value: bytes, *args: Any) -> "asyncio.Future[Any]":
        future = asyncio.get_running_loop().create_future()
        future.set_result(SimpleNamespace(offset=len(self.sent)))
        self.sent.append(value)
        return future


def worker_reading(settings: Settings, ends: dict[TP, int], task: int = 0, partitions: int = 1,
                   checkpoint_s: float = 0.0, shared: Decoded | None = None, producer: "Producer | None" = None,
                   hand_over: HandOver | None = None) -> tuple[AccountsAgent, list[Any], "Producer"]:
    """Return an accounts worker (task `task` of `partitions` input partitions: the one task of one, by default)
    whose consumer reports `ends`, the states it publishes and what it sends itself (checkpoints, epochs) through
    `producer` (one of its own by default); it checkpoints every `checkpoint_s` seconds (by default after every
    release), shares decoded messages with the worker's other tasks through `shared` and hands its records to the
    worker's owners through `hand_over`."""
    settings = settings.model_copy(update={"topic_partitions": partitions, "risk_checkpoint_s": checkpoint_s})
    published: list[Any] = []
    producer = producer or Producer()

    async def publish(topic: str, keyed: Any) -> None:
        published.extend(AccountSnapshot.model_validate_json(value.json) for _, value in keyed
                         if topic == "accounts.state")

    async def nothing() -> None:
        pass

    async def started() -> Producer:
        return producer
    app = SimpleNamespace(maybe_start_producer=started, delivered=lambda sent: None)
    metrics = WorkerMetrics("risk")
    pipeline = SimpleNamespace(settings=settings, bootstrap="localhost:9092", app=app, publish=publish, flush=nothing,
                               metrics=metrics)
    worker = AccountsAgent(pipeline, task, RiskMetrics(metrics, settings.market_names),  # type: ignore[arg-type]
                           shared, hand_over=hand_over)
    worker.consumer, worker.start = Consumer(ends), dict.fromkeys(ends, 0)  # type: ignore[assignment]
    worker.positions = Positions(worker.start)
    return worker, published, producer


async def test_once_input_stops_nothing_is_applied_that_a_partition_with_unread_input_could_precede() -> None:
    settings = Settings()
    ticks, changes = TP(settings.topic("oracle.ticks"), 0), TP(settings.topic("accounts.changes"), 0)
    worker, published, producer = worker_reading(settings, {ticks: 5, changes: 1})
    worker.progress.saw(ticks, 2, [tick(T0 + 100, "100")])  # offsets 3 and 4 fetched, not yet delivered
    deposits = [change(T0 + 50, "deposit", "10"), change(T0 + 150, "deposit", "20")]
    value = orjson.dumps([d.model_dump(mode="json") for d in deposits])
    await worker.take("accounts.changes", changes, SimpleNamespace(offset=0, timestamp=T0, value=value))
    worker.last_input -= 2 * IDLE_S
    await worker.on_timer()
    assert [s.collateral for s in published] == [D("10")]  # the second deposit waits for the ticks
    checkpoint = orjson.loads(producer.sent[-1])
    assert checkpoint["offsets"][f"{changes.topic}:0"] == 0  # its message is read again after a restart
    # the first deposit's id is remembered: its message is read again, and it was read before offset 1
    assert list(checkpoint["tables"]["risk_applied"].values()) == [
        {"ids": [deposits[0].id], "read": {f"{ticks.topic}:0": 0, f"{changes.topic}:0": 1}, "newest": T0 + 50}]


def record(offset: int, *events: Any) -> SimpleNamespace:
    """Return a Kafka record holding `events` as a JSON array."""
    return SimpleNamespace(offset=offset, timestamp=T0, value=orjson.dumps([e.model_dump(mode="json") for e in events]))


def checkpoints(producer: Producer) -> list[dict]:
    """Return the checkpoint records a worker sent, in order."""
    return [r for r in map(orjson.loads, producer.sent) if "tables" in r]


async def test_a_task_checkpoints_once_its_interval_has_passed_what_every_release_since_changed() -> None:
    # a checkpoint after every release made a 1 % move over 100k holders write ~44 MB of rows (1.2 s of CPU) per tick
    settings = Settings()
    changes = TP(settings.topic("accounts.changes"), 0)
    worker, published, producer = worker_reading(settings, {changes: 3}, checkpoint_s=60.0)
    worker.checkpointed = (0, time.monotonic())  # as a task started (`run`) has it

    async def released(offset: int, wallet: str, amount: str) -> None:
        await worker.take("accounts.changes", changes, record(offset, change(T0 + offset, "deposit", amount, wallet)))
        worker.progress.at_end = {tp: since - 2 * IDLE_S for tp, since in worker.progress.at_end.items()}
        worker.last_input -= 2 * IDLE_S
        await worker.on_timer()
    for offset, wallet, amount in ((0, "a", "10"), (1, "b", "20"), (2, "a", "5")):
        await released(offset, wallet, amount)
    assert [(s.wallet, s.collateral) for s in published] == [("a", D("10")), ("b", D("20")), ("a", D("15"))]
    assert worker.buffer.releases > 1 and checkpoints(producer) == []  # published, not checkpointed yet
    worker.checkpointed = (worker.checkpointed[0], time.monotonic() - 60)  # the interval passed
    await worker.on_timer()
    [checkpoint] = checkpoints(producer)
    tables = checkpoint["tables"]
    assert {k: row["account"]["collateral"] for k, row in tables["accounts"].items()} == {
        "a:0": "15.000000000", "b:0": "20.000000000"}  # each account once, as it stands
    assert checkpoint["offsets"][f"{changes.topic}:0"] == 3  # and every release's record of ids applied
    assert sorted(i for r in tables["risk_applied"].values() for i in r["ids"]) == sorted(
        f"deposit:{wallet}:{T0 + offset}" for offset, wallet in ((0, "a"), (1, "b"), (2, "a")))
    await worker.on_timer()
    assert len(checkpoints(producer)) == 1  # nothing applied since: nothing written


async def test_a_following_task_applies_its_own_events_only_up_to_where_the_author_has_applied() -> None:
    settings = Settings()
    epochs, changes = TP(settings.topic(EPOCHS), 0), TP(settings.topic("accounts.changes"), 1)
    worker, published, producer = worker_reading(settings, {epochs: 2, changes: 1}, task=1, partitions=2)
    wallet = next(w for w in (f"w{n}" for n in range(50)) if worker.engine.held(f"{w}:0"))
    async def quiet() -> None:  # input stopped: everything held is applied, but past the bound
        worker.progress.at_end = {tp: since - 2 * IDLE_S for tp, since in worker.progress.at_end.items()}
        worker.last_input -= 2 * IDLE_S
        await worker.on_timer()
    await worker.take("accounts.changes", changes, record(0, change(T0 + 50, "deposit", "10", wallet)))
    await quiet()
    assert published == []  # the author has said nothing yet: a tick before it may still come
    await worker.take(EPOCHS, epochs, record(0, MarketEpoch(id="through:1", ts=T0 + 49, kind="through")))
    await quiet()
    assert published == []
    await worker.take(EPOCHS, epochs, record(1, MarketEpoch(id="through:2", ts=T0 + 50, kind="through")))
    await quiet()
    assert [s.collateral for s in published] == [D("10")]
    checkpoint = orjson.loads(producer.sent[-1])
    assert checkpoint["tables"]["risk_markets"]["~engine"]["bound"] == T0 + 50  # a restart goes on from it


async def test_a_following_task_takes_the_epochs_its_workers_author_sent_as_they_were_sent(monkeypatch) -> None:
    # decoding them again took ~5 ms a message of ~440 epochs in a worker running the author and a follower
    settings, shared, producer = Settings(), Decoded(), Producer()
    ticks, epochs = TP(settings.topic("oracle.ticks"), 0), TP(settings.topic(EPOCHS), 0)
    author, _, _ = worker_reading(settings, {ticks: 1}, task=0, partitions=3, shared=shared, producer=producer)
    follower, _, _ = worker_reading(settings, {epochs: 1}, task=1, partitions=3, shared=shared, producer=producer)

    async def quiet(worker: AccountsAgent) -> None:  # input stopped: everything held is applied
        worker.progress.at_end = {tp: since - 2 * IDLE_S for tp, since in worker.progress.at_end.items()}
        worker.last_input -= 2 * IDLE_S
        await worker.on_timer()
    await author.take("oracle.ticks", ticks, record(0, tick(T0, "101.5")))
    await quiet(author)  # the tick applied and its epoch sent
    await asyncio.sleep(0)  # the send's callbacks run (the broker has it)
    [offset] = [n for n, value in enumerate(producer.sent) if b'"kind":"tick"' in value]
    sent, _ = shared.kept[(epochs, offset)]  # kept at the offset its send gave
    assert [e.kind for e in sent] == ["tick", "through"] and sent[0].tick.price == D("101.5")
    assert sent == decode_events(MarketEpoch, EPOCHS, producer.sent[offset], T0)[0]  # what decoding would give
    decoded: list[str] = []
    monkeypatch.setattr("streams.ordered.decode_events", lambda model, topic, *rest: decoded.append(topic))
    await follower.take(EPOCHS, epochs, SimpleNamespace(offset=offset, timestamp=T0, value=producer.sent[offset]))
    await quiet(follower)
    assert decoded == [] and follower.author_applied == sent[1].applied  # taken as sent, the through epoch read
    assert follower.engine.markets[sent[0].market].tracker.oracle == D("101.5")  # and the tick's epoch applied


async def test_a_task_hands_its_releases_records_to_its_workers_owners_as_it_sent_them() -> None:
    settings, handed = Settings(), Handed()
    handed.open = True  # the owners run in this worker
    changes, fills = TP(settings.topic("accounts.changes"), 0), TP(settings.topic("trades.fills"), 0)
    worker, _, producer = worker_reading(settings, {changes: 1, fills: 1}, hand_over=handed.sent)
    await worker.take("accounts.changes", changes, record(0, change(T0, "deposit", "1000")))
    filled = fill(T0 + 10, "buy", "2", "100", "0.1")
    await worker.take("trades.fills", fills, record(0, filled))
    worker.progress.at_end = {tp: since - 2 * IDLE_S for tp, since in worker.progress.at_end.items()}
    worker.last_input -= 2 * IDLE_S
    await worker.on_timer()
    await asyncio.sleep(0)  # the send's callbacks run (the broker has it)
    outcomes = TP(settings.topic("risk.outcomes"), 0)
    [(offset, sent)] = handed.kept[outcomes].items()
    assert [s.fill.id for s in sent.sides] == [filled.id]  # the fill's holder side
    assert sent == RiskOutcomes.model_validate_json(producer.sent[offset])  # what decoding it would give


async def planned(venue_before: set[str] | frozenset[str] = frozenset(), *after: OracleTick) -> tuple[
        AccountsAgent, list[Any], dict[str, list[Any]], dict[str, TP]]:
    """Return a worker that made a plan (alice's SOL long, the oracle at 92) and read the ticks `after` it, knowing
    the venue's events an earlier run sent after its checkpoint `venue_before`; the states it published, the venue's
    events it sent, and its partitions by topic."""
    settings = Settings()
    tps = {t: TP(settings.topic(t), 0) for t in ("accounts.changes", "oracle.ticks", "trades.fills")}
    worker, published, _ = worker_reading(settings, dict.fromkeys(tps.values(), 1))
    worker.venue_before = set(venue_before)
    sent: dict[str, list[Any]] = {"trades.fills": [], "accounts.changes": []}
    publish = worker.pipeline.publish

    async def capture(topic: str, keyed: Any) -> None:
        keyed = list(keyed)
        sent.get(topic, []).extend(event for _, event in keyed)
        await publish(topic, keyed)
    worker.pipeline.publish = capture  # type: ignore[method-assign]
    await worker.take("accounts.changes", tps["accounts.changes"], record(0, change(T0, "deposit", "1000")))
    await worker.take("trades.fills", tps["trades.fills"], record(0, fill(T0 + 2000, "buy", "80", "100", "4")))
    await worker.take("oracle.ticks", tps["oracle.ticks"], record(0, tick(T0 + 1000, "100"), tick(T0 + 3000, "92"),
                                                                  *after))
    worker.progress.at_end = {tp: since - 2 * IDLE_S for tp, since in worker.progress.at_end.items()}
    worker.last_input -= 2 * IDLE_S
    await worker.on_timer()
    return worker, published, sent, tps


async def test_a_plans_fills_are_awaited_however_long_they_take_and_then_take_the_plans_place(
        monkeypatch: Any) -> None:
    # a loaded machine once took over 10 s to bring a plan's fills back, and the worker applied on without them
    worker, published, sent, tps = await planned(set(), tick(T0 + 4000, "95"))
    assert sent["trades.fills"] and all(f["ts"] == T0 + 3000 for f in sent["trades.fills"])  # out with the plan
    assert [d["ts"] for d in sent["accounts.changes"]] == [T0 + 3000]  # the liquidator's float, dated by it (not 1970)

    later = time.monotonic() + 3600  # an hour of wall clock without the fills: nothing past the plan applies
    monkeypatch.setattr("streams.ordered.time.monotonic", lambda: later)
    held = len(published)
    await worker.on_timer()
    assert len(published) == held and worker.buffer.awaited

    worker.consumer.ends = dict.fromkeys(tps.values(), 2)  # type: ignore[union-attr]
    await worker.take("accounts.changes", tps["accounts.changes"],
                      record(1, *map(AccountChange.model_validate, sent["accounts.changes"])))  # the liquidator's float
    await worker.take("trades.fills", tps["trades.fills"], record(1, *map(Fill.model_validate, sent["trades.fills"])))
    await worker.take("oracle.ticks", tps["oracle.ticks"], record(1))
    worker.ceiling()
    worker.progress.at_end = {tp: since - 2 * IDLE_S for tp, since in worker.progress.at_end.items()}
    worker.last_input = later - 2 * IDLE_S
    await worker.on_timer()
    marks = [s for s in published[held:] if s.wallet == "alice"]
    assert [s.ts for s in marks] == [T0 + 3000, T0 + 4000]  # the fill at the plan's time, then the tick at 95


async def test_a_restarted_task_sends_not_again_the_venues_fills_an_earlier_run_sent_after_its_checkpoint() -> None:
    # a copy sent again came, in a run killed six times, after a third run had forgotten the ids: refused as late
    first, _, sent, _ = await planned()
    fills = [f["id"] for f in sent["trades.fills"]]
    assert fills and set(fills) <= first.buffer.awaited
    again, _, sent_again, tps = await planned({*fills, sent["accounts.changes"][0]["id"], "another:0:taker"})
    assert sent_again == {"trades.fills": [], "accounts.changes": []} and set(fills) <= again.buffer.awaited
    assert again.venue_before == {"another:0:taker"}  # each taken once, as the plans come
    await again.take("trades.fills", tps["trades.fills"], record(1, *map(Fill.model_validate, sent["trades.fills"])))
    assert not set(fills) & again.buffer.awaited  # the earlier run's copies carry the plan out


async def test_a_task_finds_the_venues_events_an_earlier_run_sent_after_its_checkpoint(settings: Settings) -> None:
    await ensure_topics(settings, settings.kafka_bootstrap or "")
    worker, _, _ = worker_reading(settings, {})
    worker.bootstrap = settings.kafka_bootstrap or ""
    fills, changes = TP(settings.topic("trades.fills"), 0), TP(settings.topic("accounts.changes"), 0)
    venue = [{**fill(T0 + n, "sell", "1", "100", "0.1").model_dump(mode="json"), "id": f"p{n}:0:taker",
              "liquidation": f"p{n}"} for n in range(3)]
    float_ = {**change(T0, "deposit", "10").model_dump(mode="json"), "id": "venue:float", "wallet": LIQUIDATOR}
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    await producer.start()
    try:
        for tp, events in ((fills, venue[:1]), (fills, [fill(T0, "buy", "1", "100", "0.1").model_dump(mode="json")]),
                           (fills, venue[1:]), (changes, [float_]), (fills, [])):
            await producer.send_and_wait(tp.topic, orjson.dumps(events) if events else b"not json",
                                         partition=tp.partition)
    finally:
        await producer.stop()
    after = {offset_key(fills): 1, offset_key(changes): 0}  # the checkpoint read the first venue fill already
    assert await worker.venue_since(after) == {"p1:0:taker", "p2:0:taker", "venue:float"}
    assert await worker.venue_since({offset_key(fills): 4, offset_key(changes): 1}) == set()  # read to the end


async def test_an_event_later_than_the_window_and_forgotten_goes_to_dlq_saying_why() -> None:
    settings = Settings(max_lateness_ms=60_000)
    changes = TP(settings.topic("accounts.changes"), 0)
    worker, published, _ = worker_reading(settings, {changes: 2})
    letters: list[Any] = []
    publish = worker.pipeline.publish

    async def capture(topic: str, keyed: Any) -> None:
        keyed = list(keyed)
        letters.extend(letter for _, letter in keyed if topic == "dlq")
        await publish(topic, keyed)
    worker.pipeline.publish = capture  # type: ignore[method-assign]
    early, late = change(T0, "deposit", "10"), change(T0 + 120_000, "deposit", "20")
    await worker.take("accounts.changes", changes, record(0, early))
    await worker.take("accounts.changes", changes, record(1, late))
    worker.last_input -= 2 * IDLE_S
    worker.progress.at_end = {tp: since - 2 * IDLE_S for tp, since in worker.progress.at_end.items()}
    await worker.on_timer()
    assert [s.collateral for s in published] == [D("10"), D("30")]
    worker.consumer.ends = {changes: 3}  # type: ignore[union-attr]
    stale = change(T0 + 1, "deposit", "5")  # two minutes behind the newest, never seen: cannot be told apart
    await worker.take("accounts.changes", changes, record(2, stale, early))  # `early` is forgotten by now as well
    assert [orjson.loads(letter.payload)["id"] for letter in letters] == [stale.id, early.id]
    assert letters[0].topic == "accounts.changes" and letters[0].reason.startswith("late: more than 60000 ms of event time behind the newest event applied")
    assert [s.collateral for s in published] == [D("10"), D("30")]  # neither applied


def test_the_engine_applies_every_event_with_the_collector_paused() -> None:
    worker, _, _ = worker_reading(Settings(), {})
    apply, seen = worker.engine.apply, []

    def watched(event: Any) -> Any:
        seen.append(gc.isenabled())
        return apply(event)
    worker.engine.apply = watched  # type: ignore[method-assign]
    for event in (change(T0, "deposit", "1000"), tick(T0 + 1, "100"), fill(T0 + 2, "buy", "1", "100")):
        worker.apply(event)
    assert seen == [False, False, False] and gc.isenabled()


def test_every_reader_forgets_applied_ids_past_the_window_and_only_the_feeds_send_nothing_again() -> None:
    settings = Settings(max_lateness_ms=60_000)
    pipeline = SimpleNamespace(settings=settings, bootstrap="localhost:9092", metrics=WorkerMetrics("feed"))
    markets, orders = MarketsAgent(pipeline), OrdersAgent(pipeline)  # type: ignore[arg-type]
    risk = worker_reading(settings, {})[0]
    # the feed's readers send nothing again that an earlier run delivered; a risk task sends again what it caused
    # after its checkpoint (under the same ids)
    assert [(r.buffer.max_lateness_ms, r.reads_told) for r in (risk, markets, orders)] == [
        (60_000, False), (60_000, True), (60_000, True)]


def test_records_sent_before_a_restart_are_not_sent_again_and_then_forgotten() -> None:
    worker, _, _ = worker_reading(Settings(), {})
    records = [SimpleNamespace(id=f"fill:{n}:side") for n in range(4)]
    worker.sent_before = {"fill:1:side", "fill:2:side", "fill:9:side"}  # what its outcomes partition held after it
    assert [r.id for r in worker.unsent(records[:2])] == ["fill:0:side"]  # its events applied again: one release
    assert [r.id for r in worker.unsent(records[2:])] == ["fill:3:side"]  # and the next
    assert worker.sent_before == {"fill:9:side"}  # each forgotten once skipped: a later record goes out


async def test_a_task_checkpoints_only_once_the_group_confirms_it_still_holds_the_task() -> None:
    # a worker frozen past the session timeout may have lost the task: its checkpoint must wait for the group's word
    settings = Settings()
    changes = TP(settings.topic("accounts.changes"), 0)
    worker, published, producer = worker_reading(settings, {changes: 1})
    asked, confirmed = asyncio.Event(), asyncio.Event()

    async def fence() -> None:
        asked.set()
        await confirmed.wait()
    worker.fence = fence
    value = orjson.dumps([change(T0, "deposit", "10").model_dump(mode="json")])
    await worker.take("accounts.changes", changes, SimpleNamespace(offset=0, timestamp=T0, value=value))
    worker.ceiling()  # its partition read to its end, and there long enough to count; input stopped
    worker.progress.at_end = {tp: since - 2 * IDLE_S for tp, since in worker.progress.at_end.items()}
    worker.last_input -= 2 * IDLE_S
    releasing = asyncio.create_task(worker.on_timer())
    await asyncio.wait_for(asked.wait(), 5)

    def checkpoints() -> list[dict]:
        return [record for record in map(orjson.loads, producer.sent) if "tables" in record]
    assert [s.collateral for s in published] == [D("10")] and checkpoints() == []  # published, not yet checkpointed
    confirmed.set()
    await asyncio.wait_for(releasing, 5)
    assert [c["offsets"][f"{changes.topic}:0"] for c in checkpoints()] == [1]
