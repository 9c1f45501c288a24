"""Market agent: oracle guard, mark price and TWAP per market, published to `markets.state`.

Ticks arrive in the order their partitions are read, and one partition may be read far ahead of another
(a backlog, a replay): a market is judged stale only against event time every tick partition has been read
to, so a market on a partition read behind is not called stale for what it has not been read yet.
"""

import math
import time
from typing import Any

from quantdesk.messages import Fill, MarketState, OracleTick
from streams.app import Pipeline
from streams.decode import decode_events
from streams.domain.market import MarketTracker
from streams.progress import InputProgress, partition_ends


class Markets:
    """The trackers of every market this worker owns, and the newest event time seen."""

    def __init__(self, known: tuple[str, ...]) -> None:
        self.trackers = {name: MarketTracker(name) for name in known}
        self.newest_ts = 0
        self.stale: set[str] = set()
        self.stale_due: float = math.inf  # no watched market goes stale while event time stays at or before this

    def unknown(self, event: Any) -> str | None:
        """Return why an event names a market this platform does not list, or None."""
        return None if event.market in self.trackers else f"unknown market {event.market!r}"

    def apply(self, event: OracleTick | Fill, read_to: int | None = None) -> list[MarketState]:
        """Apply a tick or a fill; return the market states it causes. `read_to` is the event time every tick
        partition has been read to, this event's excepted (None: each is read to its end); staleness is judged
        no later than it."""
        if isinstance(event, Fill):
            state = self.trackers[event.market].on_fill(event, judged_at(event.ts, read_to))
            return [state] if state else []
        self.newest_ts = max(self.newest_ts, event.ts)
        self.stale.discard(event.market)
        tracker = self.trackers[event.market]
        state = tracker.on_tick(event)
        self.watch(tracker)
        return [state, *self.newly_stale(event.id, judged_at(self.newest_ts, read_to))]

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


def judged_at(ts: int, read_to: int | None) -> int:
    """Return the event time staleness is judged at: `ts`, but no later than every tick partition was read to."""
    return ts if read_to is None else min(ts, read_to)


def register(pipeline: Pipeline) -> None:
    """Register the market agent on ticks and fills."""
    settings, progress = pipeline.settings, InputProgress()
    markets, ticks = Markets(settings.market_names), settings.topic("oracle.ticks")
    models = {ticks: ("oracle.ticks", OracleTick), settings.topic("trades.fills"): ("trades.fills", Fill)}
    source = pipeline.app.topic(*models, key_serializer="raw", value_serializer="raw")

    @pipeline.app.agent(source, name=f"{settings.app_id}.markets")
    async def market_agent(stream):  # type: ignore[no-untyped-def]
        """Fold every tick and fill into its market's state."""
        async for event in stream.events():
            message = event.message
            logical, model = models[message.topic]
            good, dead = decode_events(model, logical, event.value, int(message.timestamp * 1000), markets.unknown)
            read_to = progress.ceiling(partition_ends(pipeline.app, {ticks}), time.monotonic())  # before this one
            if message.topic == ticks:
                progress.saw(message.tp, message.offset, good)
            states = [s for item in good for s in markets.apply(item, read_to)]
            await pipeline.publish("markets.state", ((s.market, s) for s in states))
            await pipeline.publish("dlq", ((d.topic, d) for d in dead))
