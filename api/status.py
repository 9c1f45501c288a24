"""Freshness: how old each source of the gateway's live figures is, whether it is healthy, and the `status`
channel's pushes of a change of health.

Sources: `chain` (the highest slot a fill came from, once fills carry slots: the chain ingest), `oracle` per listed
market (its last `markets.state`, stamped with the tick behind it), `book` per market and venue (its book's last
update), `prices` per market and venue (`venues.prices`), `admin` per market an admin ever paused or resumed
(unhealthy while paused, whatever its age). A source's age is the wall clock minus its last event
time: whether data still arrives is a wall-clock question, so this view (unlike the books' event-time ages) is
never compared across replays. Healthy: younger than `status_max_age_ms` and, for an oracle, a market the guard
holds healthy, for a book one neither stale nor crossed.

The channel checks every `status_check_ms` and pushes only the sources whose health changed since the last check
(a new source counts as a change); a subscriber's snapshot is that last check, so the deltas follow from it.
"""

import asyncio
import time
from typing import Annotated, Callable, Literal, Protocol

from pydantic import BaseModel, Field

from api.channels import STATUS_ROOM
from api.live import LiveState
from quantdesk.settings import Settings
from streams.domain.consolidated import unhealthy

Kind = Literal["chain", "oracle", "book", "prices", "admin"]


class SourceStatus(BaseModel):
    """One source: its last slot (chain) or event time, its age by the wall clock, and whether it is healthy."""

    source: Annotated[str, Field(description="`kind[:market[:venue]]`, e.g. `book:SOL-PERP:hyperliquid`")]
    kind: Kind
    market: str | None
    venue: str | None
    slot: int | None
    ts: Annotated[int | None, Field(description="event time (UTC ms) of the source's last event; null: none yet")]
    age_ms: Annotated[int | None, Field(description="the wall clock at `as_of` minus `ts`")]
    healthy: bool
    reason: Annotated[str, Field(description="why it is unhealthy; empty when healthy")]


class Status(BaseModel):
    """Every source's freshness as of a wall-clock time, and the age past which a source is unhealthy."""

    as_of: Annotated[int, Field(description="the wall clock (UTC ms) the ages are measured at")]
    max_age_ms: int
    healthy: Annotated[bool, Field(description="every source is healthy")]
    sources: list[SourceStatus]


def source(kind: Kind, market: str | None, venue: str | None, ts: int | None, now_ms: int, max_age_ms: int,
           trouble: str = "", slot: int | None = None) -> SourceStatus:
    """Return a source's status from its last event time; `trouble` makes it unhealthy whatever its age."""
    age = None if ts is None else now_ms - ts
    why = trouble or ("no event yet" if age is None else f"no update for {age} ms" if age > max_age_ms else "")
    name = ":".join(part for part in (kind, market, venue) if part)
    return SourceStatus(source=name, kind=kind, market=market, venue=venue, slot=slot, ts=ts, age_ms=age,
                        healthy=not why, reason=why)


def status(live: LiveState, now_ms: int, max_age_ms: int) -> Status:
    """Return every source's status at the wall-clock time `now_ms`."""
    sources = []
    if live.chain is not None:
        slot, ts = live.chain
        sources.append(source("chain", None, None, ts, now_ms, max_age_ms, slot=slot))
    for market in sorted(live.known):
        state = live.markets.get(market)
        degraded = "" if state is None or state.get("status") == "healthy" else \
            f"degraded: {state.get('reason') or 'the oracle guard holds it'}"
        last = None if state is None else state["ts"]
        sources.append(source("oracle", market, None, last, now_ms, max_age_ms, degraded))
        for venue, book in live.books.venues(market).items():
            sources.append(source("book", market, venue, book.ts, now_ms, max_age_ms, unhealthy(book.depth(1))))
        for venue, price in sorted(live.venues.get(market, {}).items()):
            sources.append(source("prices", market, venue, price.ts, now_ms, max_age_ms))
        if command := live.commands.get(market):  # a market's (a wallet's is that wallet's business)
            paused = f"paused by an admin: {command.reason}" if command.action == "pause_market" else ""
            sources.append(SourceStatus(source=f"admin:{market}", kind="admin", market=market, venue=None, slot=None,
                                        ts=command.ts, age_ms=now_ms - command.ts, healthy=not paused,
                                        reason=paused))
    return Status(as_of=now_ms, max_age_ms=max_age_ms, healthy=all(s.healthy for s in sources), sources=sources)


def wall_ms() -> int:
    """Return the wall clock in UTC ms."""
    return int(time.time() * 1000)


class StatusPusher(Protocol):
    """Where a change of health goes: the status room."""

    async def push(self, channel: str, name: str, header: dict, data: object) -> None:
        """Emit one delta to a room."""


class StatusWatch:
    """The sources' health as last checked, and the pushes of what changed at each check."""

    def __init__(self, settings: Settings, live: LiveState, pusher: StatusPusher,
                 clock: Callable[[], int] = wall_ms) -> None:
        self.settings, self.live, self.pusher, self.clock = settings, live, pusher, clock
        self.last = self.now()

    def now(self) -> Status:
        """Return the sources' status by the clock now."""
        return status(self.live, self.clock(), self.settings.status_max_age_ms)

    def snapshot(self) -> dict:
        """Return what a new status subscriber sees first: the last check."""
        return self.last.model_dump(mode="json")

    async def check(self) -> None:
        """Check every source and push the ones whose health changed since the last check."""
        now, was = self.now(), {s.source: s.healthy for s in self.last.sources}
        self.last = now
        changes = [s.model_dump(mode="json") for s in now.sources if was.get(s.source) != s.healthy]
        if changes:
            await self.pusher.push("status", STATUS_ROOM, {"channel": "status"},
                                   {"as_of": now.as_of, "healthy": now.healthy, "changes": changes})

    async def run(self) -> None:
        """Check every `status_check_ms` until cancelled."""
        while True:
            await asyncio.sleep(self.settings.status_check_ms / 1000)
            await self.check()
