"""Market agent: oracle guard, mark price and TWAP per market, published to `markets.state`.

Ticks and fills are folded in event-time order (`streams.ordered`), so marks, TWAPs and staleness are
the same in every run whatever order the partitions are read in. The trackers live in memory: each start
reads the input from its beginning again, and publishes the states (and signals) of what an earlier run had not
applied yet (`streams.ordered`), under the same ids as a run from the start would. Applied ids are remembered for
`QUANTDESK_MAX_LATENESS_MS` of event time (`streams.ordered`); a tick or fill later than that goes to `dlq` as late,
but for a liquidation's fill: it moves no market figure, and the risk worker that awaits it may send it days of
event time behind this one in a replay.

MIKEY's market rules that need the tracker run here (`streams.domain.market_signals.MarketWatch`): realised
volatility, whale fills, the oracle degraded and recovered, and our mark against other venues' prices
(`venues.prices`, folded in the same event-time order, after fills at equal times). Their state is rebuilt with
the trackers on every start.
"""

import math
from typing import Any, Iterator

from quantdesk.messages import DeadLetter, Fill, MarketState, OracleTick, Signal, VenuePrice
from streams.pipeline import Pipeline
from streams.domain.alerts import Thresholds
from streams.domain.market_signals import MarketWatch
from streams.domain.market_tracker import MarketTracker, discovers_price
from streams.risk.reorder import Event
from streams.ordered import Decoded, OrderedInput

MODELS = {"oracle.ticks": OracleTick, "trades.fills": Fill, "venues.prices": VenuePrice}
OUTPUTS = ("markets.state", "mikey.signals", "dlq")


class Markets:
    """The trackers of every market this worker owns, the newest event time seen, and MIKEY's market watches."""

    def __init__(self, known: tuple[str, ...], thresholds: Thresholds | None = None) -> None:
        """Track `known` markets; raise MIKEY's market signals on `thresholds` (None: none)."""
        self.trackers = {name: MarketTracker(name) for name in known}
        self.thresholds = thresholds
        self.watches = {name: MarketWatch(name) for name in known}
        self.signals: list[Signal] = []  # raised since `take_signals`
        self.newest_ts = 0
        self.stale: set[str] = set()
        self.stale_due: float = math.inf  # no watched market goes stale while event time stays at or before this

    def unknown(self, event: Any) -> str | None:
        """Return why an event names a market this platform does not list, or None."""
        return None if event.market in self.trackers else f"unknown market {event.market!r}"

    def apply(self, event: OracleTick | Fill | VenuePrice) -> list[MarketState]:
        """Apply a tick, a fill or another venue's price, in event-time order; return the market states it causes
        (the signals it raises wait in `signals`)."""
        if isinstance(event, VenuePrice):
            if self.thresholds:
                self.signals += self.watches[event.market].on_venue(self.thresholds, event)
            return []
        if isinstance(event, Fill):
            state = self.trackers[event.market].on_fill(event)
            if self.thresholds:
                watch = self.watches[event.market]
                self.signals += watch.whale(self.thresholds, event)
                if state:
                    self.signals += watch.on_state(self.thresholds, state, event.id, verdict=False)
            return [state] if state else []
        self.newest_ts = max(self.newest_ts, event.ts)
        self.stale.discard(event.market)
        tracker = self.trackers[event.market]
        state = tracker.on_tick(event)
        self.watch(tracker)
        states = [state, *self.newly_stale(event.id, self.newest_ts)]
        if self.thresholds:
            for state in states:
                self.signals += self.watches[state.market].on_state(self.thresholds, state, event.id)
        return states

    def take_signals(self) -> list[Signal]:
        """Return the signals raised since the last call, in the order raised."""
        signals, self.signals = self.signals, []
        return signals

    def watch(self, tracker: MarketTracker) -> None:
        """Bring the stale check forward to when `tracker`'s last valid tick goes stale, if sooner."""
        if tracker.last_valid_ts is not None:
            self.stale_due = min(self.stale_due, tracker.stale_after())

    def newly_stale(self, source_id: str, now: int) -> list[MarketState]:
        """Return a degraded state, at event time `now`, for each market that just went stale."""
        if now <= self.stale_due:
            return []
        watched = [t for t in self.trackers.values() if t.market not in self.stale
                   and t.last_valid_ts is not None and not t.reason]
        gone = [t for t in watched if t.degraded(now)]
        self.stale.update(t.market for t in gone)
        self.stale_due = min((t.stale_after() for t in watched if t.market not in self.stale), default=math.inf)
        return [t.state(f"{source_id}:{t.market}", now, now) for t in gone]


class MarketsAgent(OrderedInput):
    """The market trackers behind ordered input, from the start of every partition."""

    def __init__(self, pipeline: Pipeline, shared: Decoded | None = None) -> None:
        """Track the settings' markets, taking messages the feed's other readers decoded from `shared`."""
        super().__init__(pipeline, MODELS, "markets", shared=shared)
        self.markets = Markets(pipeline.settings.market_names, Thresholds.of(pipeline.settings))
        pipeline.metrics.publishing(OUTPUTS)

    def check(self, event: Any) -> str | None:
        """Return why an event names a market this platform does not list, or None."""
        return self.markets.unknown(event)

    def timeless(self, event: Any) -> bool:
        """Tell whether an event is taken however late it comes: a liquidation's fill (the module's text)."""
        return type(event) is Fill and not discovers_price(event)

    async def dead_letters(self, topic: str, dead: list[DeadLetter]) -> None:
        """Publish the dead letters of ticks and fills."""
        await self.pipeline.publish("dlq", ((d.topic, d) for d in dead))

    async def run(self) -> None:
        """Read ticks, fills and other venues' prices from their start, until cancelled."""
        await self.read({})

    async def release(self, events: Iterator[Event]) -> None:
        """Fold the events due into their markets; publish the states they cause and show the progress once the
        broker holds them."""
        applied = list(events)
        if not applied:
            return
        states: list[MarketState] = []
        signals: list[Signal] = []
        for event in applied:
            caused = self.markets.apply(event)  # type: ignore[arg-type]
            raised = self.markets.take_signals()
            if event.id not in self.again:  # an earlier run sent those of the others
                states += caused
                signals += raised
            if type(event) is OracleTick:
                self.pipeline.metrics.oracle_seen(event.market, event.ts)
        await self.pipeline.publish("markets.state", ((s.market, s) for s in states))
        await self.pipeline.publish("mikey.signals", ((s.subject, s) for s in signals))
        await self.pipeline.flush()
        self.settled(applied)
        await self.show_progress()


def register(pipeline: Pipeline, shared: Decoded | None = None) -> MarketsAgent:
    """Register the market worker as a task of the app, decoding with the feed's other readers through `shared`:
    its failure crashes the app."""
    worker = MarketsAgent(pipeline, shared)
    pipeline.loop(worker.run, "markets")
    return worker
