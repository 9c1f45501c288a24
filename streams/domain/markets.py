"""Every market of a worker folded on event time: its tracker, MIKEY's watch of it, and when each goes stale."""

import math
from typing import Any

from quantdesk.messages import Fill, MarketState, OracleTick, Signal, VenuePrice
from streams.domain.alerts import Thresholds
from streams.domain.market_signals import MarketWatch
from streams.domain.market_tracker import MarketTracker


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

    def to_row(self) -> dict[str, Any]:
        """Return the fold's clock and the markets gone stale as a stored row (each market's tracker and watch are
        stored apart)."""
        return {"newest_ts": self.newest_ts, "stale": sorted(self.stale),
                "stale_due": None if self.stale_due == math.inf else self.stale_due}

    def load_row(self, row: dict[str, Any]) -> None:
        """Take back a `to_row` row."""
        self.newest_ts, self.stale = row["newest_ts"], set(row["stale"])
        self.stale_due = math.inf if row["stale_due"] is None else row["stale_due"]
