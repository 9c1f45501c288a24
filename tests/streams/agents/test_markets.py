"""The market agent's fold without a broker: staleness across markets, unknown markets."""

from collections import defaultdict
from decimal import Decimal as D
from types import SimpleNamespace
from typing import Any, TypeVar

import orjson
from aiokafka import TopicPartition as TP

from hypothesis import given
from hypothesis import strategies as st

from quantdesk.messages import Fill, MarketState, OracleTick
from quantdesk.settings import Settings
from streams.agents.markets import MarketsAgent
from streams.domain.markets import Markets
from streams.metrics import WorkerMetrics
from streams.ordered import RECOMMIT_S, OrderedInput, Positions
from streams.progress import IDLE_S

T0 = 1_767_225_600_000
MARKETS = ("BTC-PERP", "ETH-PERP", "SOL-PERP")
A = TypeVar("A", bound=OrderedInput)


def tick(market: str, ts: int, status: str = "trading") -> OracleTick:
    return OracleTick(id=f"{market}{ts}", ts=ts, market=market, price=D(100), conf=D("0.1"), publish_time=ts,
                      status=status)


def test_a_market_without_ticks_for_60s_goes_stale_once() -> None:
    markets = Markets(("BTC-PERP", "ETH-PERP"))
    markets.apply(tick("BTC-PERP", T0))
    markets.apply(tick("ETH-PERP", T0))
    assert [s.status for s in markets.apply(tick("BTC-PERP", T0 + 60_000))] == ["healthy"]
    states = markets.apply(tick("BTC-PERP", T0 + 60_001))
    assert [(s.market, s.status) for s in states] == [("BTC-PERP", "healthy"), ("ETH-PERP", "degraded")]
    assert "stale" in states[1].reason
    assert len(markets.apply(tick("BTC-PERP", T0 + 70_000))) == 1
    assert markets.apply(tick("ETH-PERP", T0 + 70_001))[0].status == "healthy"


def test_a_tick_published_10_minutes_after_its_time_degrades_its_market_and_moves_no_price() -> None:
    markets = Markets(("BTC-PERP",))
    markets.apply(tick("BTC-PERP", T0))
    forged = OracleTick(id="forged", ts=T0 + 1000, market="BTC-PERP", price=D(104), conf=D("0.1"),
                        publish_time=T0 + 601_000)
    [state] = markets.apply(forged)
    assert (state.status, state.oracle_price, state.mark_price) == ("degraded", D(100), D(100))
    assert "published 600000 ms after the tick" in state.reason


def test_unknown_market_is_named() -> None:
    assert Markets(("BTC-PERP",)).unknown(tick("DOGE-PERP", T0)) == "unknown market 'DOGE-PERP'"


class Scanning(Markets):
    """The agent as it was before it knew when the next market goes stale: every tick scans them all."""

    def newly_stale(self, source_id: str, now: int) -> list[MarketState]:
        gone = [t for t in self.trackers.values() if t.market not in self.stale
                and t.last_valid_ts is not None and t.degraded(now) and not t.reason]
        self.stale.update(t.market for t in gone)
        return [t.state(f"{source_id}:{t.market}", now, now) for t in gone]


ticks = st.lists(st.tuples(st.sampled_from(MARKETS),
                           st.one_of(st.integers(-90_000, 90_000), st.integers(-90, 90).map(lambda n: n * 1000),
                                     st.sampled_from([60_000, 60_001])),  # from the last tick: back in time too
                           st.sampled_from(["trading", "trading", "halted"])), max_size=60)


@given(ticks)
def test_markets_go_stale_exactly_as_when_every_tick_scanned_every_market(steps: list[tuple[str, int, str]]) -> None:
    markets, scanning = Markets(MARKETS), Scanning(MARKETS)
    ts = T0
    for market, step, status in steps:
        ts += step
        event = tick(market, ts, status)
        assert markets.apply(event) == scanning.apply(event)
        assert markets.stale == scanning.stale


def feed_reading(agent: type[A], ends: dict[TP, int], settings: Settings | None = None,
                 metrics: WorkerMetrics | None = None) -> A:
    """Return a feed reader (`agent`: the markets or orders agent) whose consumer reports `ends`, showing what it does
    in `metrics`; what it publishes, by topic: `worker.pipeline.sent`."""
    sent: dict[str, list[Any]] = defaultdict(list)

    async def publish(topic: str, keyed: Any) -> None:
        sent[topic].extend(value for _, value in keyed)
    async def nothing(*args: Any) -> None:
        pass
    pipeline = SimpleNamespace(settings=settings or Settings(), bootstrap="localhost:9092", publish=publish,
                               flush=nothing, metrics=metrics or WorkerMetrics("feed"), sent=sent)
    worker = agent(pipeline)  # type: ignore[arg-type]
    worker.consumer = SimpleNamespace(highwater=ends.__getitem__, commit=nothing)  # type: ignore[assignment]
    worker.start = dict.fromkeys(ends, 0)
    worker.positions = Positions(worker.start)
    return worker


def worker_reading(ends: dict[TP, int], settings: Settings | None = None) -> tuple[MarketsAgent, list[MarketState]]:
    """Return a market worker whose consumer reports `ends`, and the states it publishes (what it publishes on
    every topic: `worker.pipeline.sent`)."""
    worker = feed_reading(MarketsAgent, ends, settings)
    return worker, worker.pipeline.sent["markets.state"]  # type: ignore[attr-defined]


def record(offset: int, *events: Any) -> SimpleNamespace:
    """Return a Kafka record holding `events` as a JSON array."""
    return SimpleNamespace(offset=offset, timestamp=T0, value=orjson.dumps([e.model_dump(mode="json") for e in events]))


async def test_fills_and_ticks_fold_in_event_time_order_whatever_order_they_are_read_in() -> None:
    settings = Settings()
    ticks, fills = TP(settings.topic("oracle.ticks"), 0), TP(settings.topic("trades.fills"), 0)
    worker, published = worker_reading({ticks: 1, fills: 1})
    fill = Fill(id="f", ts=T0 + 2_000, market="BTC-PERP", wallet="w", side="buy", size=D(1), price=D(110))
    await worker.take("trades.fills", fills, record(0, fill))  # read first, happened last
    await worker.take("oracle.ticks", ticks, record(0, tick("BTC-PERP", T0), tick("BTC-PERP", T0 + 1_000)))
    quiet(worker)  # both partitions read to their ends: quiet once they stay there `IDLE_S`
    await worker.on_timer()
    assert [s.id for s in published] == [f"BTC-PERP{T0}:state", f"BTC-PERP{T0 + 1_000}:state", "f:state"]
    assert published[-1].mark_price is not None and published[-1].mark_price > D(100)  # the fill moved the mark


async def test_the_lag_shown_is_each_partitions_end_minus_where_reading_stands_and_the_buffer_its_events() -> None:
    settings = Settings()
    ticks, fills = TP(settings.topic("oracle.ticks"), 0), TP(settings.topic("trades.fills"), 0)
    worker, _ = worker_reading({ticks: 5, fills: 1})
    await worker.take("oracle.ticks", ticks, record(2, tick("BTC-PERP", T0)))  # offsets 3 and 4 still to read
    worker.show_gauges()
    page = worker.pipeline.metrics.render().decode()
    assert 'worker_consumer_lag{partition="0",reader="markets",role="feed",topic="oracle.ticks"} 2.0' in page
    assert 'worker_consumer_lag{partition="0",reader="markets",role="feed",topic="trades.fills"} 1.0' in page
    assert 'worker_reorder_buffer_events{reader="markets",role="feed"} 1.0' in page  # held: fills may precede it
    assert 'worker_events_in_total{role="feed",topic="oracle.ticks"} 1.0' in page


def quiet(worker: OrderedInput) -> None:
    """Count the partitions read to their ends as there long enough, and input as stopped."""
    worker.ceiling()
    worker.progress.at_end = {tp: since - 2 * IDLE_S for tp, since in worker.progress.at_end.items()}
    worker.last_input -= 2 * IDLE_S


async def test_the_worker_remembers_applied_ids_for_the_lateness_window_not_for_all_history() -> None:
    # 20,000 ticks 100 ms apart in messages of 100, a minute's window: about 600 ids remembered, not 20,000 (a day's
    # window at a venue's 1,000 events a second would be 86M ids, ~10 GB; all history grows without end)
    settings = Settings(max_lateness_ms=60_000)
    ticks = TP(settings.topic("oracle.ticks"), 0)
    worker, published = worker_reading({ticks: 200}, settings)
    remembered = []
    for offset in range(200):
        first = T0 + offset * 10_000
        message = record(offset, *(tick("BTC-PERP", first + 100 * n) for n in range(100)))
        await worker.take("oracle.ticks", ticks, message)
        remembered.append(len(worker.buffer.seen))
    assert len(published) == 19_990  # all but the grace's last second
    assert max(remembered[100:]) <= 800, remembered[::20]
    assert worker.pipeline.sent["dlq"] == []


async def test_a_tick_later_than_the_window_is_a_dead_letter_but_a_liquidations_fill_is_taken() -> None:
    # a liquidation's fill moves no market figure, and the risk worker awaiting it may send it days behind this worker
    settings = Settings(max_lateness_ms=60_000)
    ticks, fills = TP(settings.topic("oracle.ticks"), 0), TP(settings.topic("trades.fills"), 0)
    worker, published = worker_reading({ticks: 2, fills: 0}, settings)
    quiet(worker)
    await worker.take("oracle.ticks", ticks, record(0, *(tick("BTC-PERP", T0 + 60_000 * n) for n in range(5))))
    assert [s.ts for s in published] == [T0 + 60_000 * n for n in range(4)]  # the last held for the grace
    whale = {"id": "plan:1:fill", "ts": T0, "market": "BTC-PERP", "wallet": "w", "side": "sell", "size": "2000",
             "price": "100", "liquidation": "plan:1"}
    await worker.take("trades.fills", fills, SimpleNamespace(offset=0, timestamp=T0, value=orjson.dumps([whale])))
    await worker.take("oracle.ticks", ticks, record(1, tick("BTC-PERP", T0 + 1)))
    quiet(worker)
    await worker.on_timer()
    [letter] = worker.pipeline.sent["dlq"]
    assert orjson.loads(letter.payload)["id"] == f"BTC-PERP{T0 + 1}"
    assert letter.reason.startswith("late: more than 60000 ms")
    assert [s.kind for s in worker.pipeline.sent["mikey.signals"]] == ["whale_fill"]  # the fill taken, 4 min late
    assert [s.ts for s in published] == [T0 + 60_000 * n for n in range(5)]  # the ticks' alone: neither moved it


def test_the_markets_fold_raises_market_signals_only_with_thresholds() -> None:
    from streams.domain.alerts import Thresholds
    from quantdesk.messages import VenuePrice

    venue = VenuePrice(id="hl:1", ts=T0 + 2000, venue="hyperliquid", market="BTC-PERP", price=D(101))
    whale = Fill(id="whale", ts=T0 + 1000, market="BTC-PERP", wallet="w", side="sell", size=D(1000), price=D(100))
    events = [tick("BTC-PERP", T0), whale, venue, tick("BTC-PERP", T0 + 3000, status="halted")]
    quiet, loud = Markets(("BTC-PERP",)), Markets(("BTC-PERP",), Thresholds())
    assert [quiet.apply(e) for e in events] == [loud.apply(e) for e in events]  # the same states either way
    assert quiet.take_signals() == []
    assert [s.kind for s in loud.take_signals()] == ["whale_fill", "venue_divergence", "oracle_degraded"]
    assert loud.take_signals() == [] and loud.unknown(venue.model_copy(update={"market": "X"})) == "unknown market 'X'"


async def test_a_start_again_sends_only_what_an_earlier_run_had_not_applied_and_the_same_as_one_run() -> None:
    # a month of states sent again would reach the gateway as news: it remembers only the newest ids; the signals
    # (a market stale for a minute, its recovery) too
    settings = Settings()
    ticks = TP(settings.topic("oracle.ticks"), 0)
    gaps = [0, 1_000, 70_000, 71_000, 900_000, 901_000, 902_000, 903_000]  # past a minute: stale, recovered

    async def run(told: dict[TP, int]) -> tuple[list[MarketState], list[Any]]:
        worker, published = worker_reading({ticks: len(gaps)}, settings)
        worker.told = told
        for offset, gap in enumerate(gaps):
            await worker.take("oracle.ticks", ticks, record(offset, tick("BTC-PERP", T0 + gap),
                                                            tick("ETH-PERP", T0 + gap)))
        quiet(worker)
        await worker.on_timer()
        return published, worker.pipeline.sent["mikey.signals"]  # type: ignore[attr-defined]
    whole, signals = await run({})
    again, raised = await run({ticks: 4})  # the first four messages an earlier run applied and delivered
    later = T0 + gaps[4]
    assert again == [s for s in whole if s.ts >= later] and len(again) < len(whole)
    assert [s.ts - T0 for s in signals] == [70_000, 70_000, 900_000, 900_000]  # ETH's silences, then its ticks
    assert raised == signals[2:]


async def test_the_progress_shown_never_drops_below_an_earlier_runs_and_an_idle_reader_shows_it_again() -> None:
    # stopped while reading again, a worker would otherwise leave a lower mark, and its next start send again what
    # lies between; and an idle one's mark would expire
    ticks = TP(Settings().topic("oracle.ticks"), 0)
    worker, _ = worker_reading({ticks: 8})
    committed: list[int] = []

    async def commit(offsets: dict[TP, int]) -> None:
        committed.append(offsets[ticks])
    worker.consumer.commit = commit  # type: ignore[union-attr]
    worker.told = {ticks: 4}
    for offset in range(8):
        await worker.take("oracle.ticks", ticks, record(offset, tick("BTC-PERP", T0 + 1_000 * offset)))
    quiet(worker)
    await worker.on_timer()
    assert committed and min(committed) == 4 and committed[-1] == 8
    shown = len(committed)
    await worker.on_timer()
    assert len(committed) == shown  # unchanged: not committed again at once
    worker.shown_at -= RECOMMIT_S  # an idle hour: committed again, before Kafka's week forgets it
    await worker.on_timer()
    assert committed[shown:] == [8]
