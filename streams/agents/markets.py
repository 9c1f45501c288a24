"""Market agent: oracle guard, mark price and TWAP per market, published to `markets.state`."""

import math
from typing import Any

from quantdesk.messages import Fill, MarketState, OracleTick
from streams.app import Pipeline
from streams.decode import decode_events
from streams.domain.market import MarketTracker


class Markets:
    """The trackers of every market this worker owns, and the newest event time seen."""

    def __init__(self, known: tuple[str, ...]) -> None:
        self.trackers = {name: MarketTracker(name) for name in known}
        self.newest_ts = 0
        self.stale: set[str] = set()
        self.stale_due: float = math.inf  # no watched market goes stale while newest_ts stays at or before this

    def unknown(self, event: Any) -> str | None:
        """Return why an event names a market this platform does not list, or None."""
        return None if event.market in self.trackers else f"unknown market {event.market!r}"

    def apply(self, event: OracleTick | Fill) -> list[MarketState]:
        """Apply a tick or a fill; return the market states it causes."""
        if isinstance(event, Fill):
            state = self.trackers[event.market].on_fill(event)
            return [state] if state else []
        self.newest_ts = max(self.newest_ts, event.ts)
        self.stale.discard(event.market)
        tracker = self.trackers[event.market]
        state = tracker.on_tick(event)
        self.watch(tracker)
        return [state, *self.newly_stale(event.id)]

    def watch(self, tracker: MarketTracker) -> None:
        """Bring the stale check forward to when `tracker`'s last valid tick goes stale, if sooner."""
        if tracker.last_valid_ts is not None:
            self.stale_due = min(self.stale_due, tracker.stale_after())

    def newly_stale(self, source_id: str) -> list[MarketState]:
        """Return a degraded state for each market that just went stale."""
        if self.newest_ts <= self.stale_due:
            return []
        watched = [t for t in self.trackers.values() if t.market not in self.stale
                   and t.last_valid_ts is not None and not t.reason]
        gone = [t for t in watched if t.degraded(self.newest_ts)]
        self.stale.update(t.market for t in gone)
        self.stale_due = min((t.stale_after() for t in watched if t.market not in self.stale), default=math.inf)
        return [t.state(f"{source_id}:{t.market}", self.newest_ts, self.newest_ts) for t in gone]


def register(pipeline: Pipeline) -> None:
    """Register the market agent on ticks and fills."""
    markets = Markets(pipeline.settings.market_names)
    models = {pipeline.settings.topic("oracle.ticks"): ("oracle.ticks", OracleTick),
              pipeline.settings.topic("trades.fills"): ("trades.fills", Fill)}
    source = pipeline.app.topic(*models, key_serializer="raw", value_serializer="raw")

    @pipeline.app.agent(source, name=f"{pipeline.settings.app_id}.markets")
    async def market_agent(stream):  # type: ignore[no-untyped-def]
        """Fold every tick and fill into its market's state."""
        async for event in stream.events():
            logical, model = models[event.message.topic]
            ts = int(event.message.timestamp * 1000)
            good, dead = decode_events(model, logical, event.value, ts, markets.unknown)
            states = [s for item in good for s in markets.apply(item)]
            await pipeline.publish("markets.state", ((s.market, s) for s in states))
            await pipeline.publish("dlq", ((d.topic, d) for d in dead))
