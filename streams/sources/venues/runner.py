"""Run a venue adapter: publish its prices on `venues.prices` and its books on `books` (both keyed by market) and
its dead letters on `dlq`, reconnect with backoff when its connection drops, and count it all as the ingest service
counts its sources.

A price or a book is an observation of now: a crashed run's are not published again, so there is no cursor to
keep. Ids are deterministic: a price's from venue, coin and receive time (the sink stores it once), a book's
from venue, coin and the book's own time.
"""

import asyncio
import logging
import time
from contextlib import aclosing
from decimal import Decimal
from typing import Any

import websockets

from quantdesk.kafka.publisher import Keyed, Publisher
from quantdesk.messages import dump
from streams.sources.ingest.chain import backoff
from streams.sources.ingest.metrics import Metrics
from streams.sources.venues.adapter import Update, VenueAdapter

log = logging.getLogger(__name__)
TOPIC, BOOKS = "venues.prices", "books"


class VenueSource:
    """An adapter's prices into `venues.prices` and books into `books`, for as long as it runs."""

    def __init__(self, adapter: VenueAdapter, publisher: Publisher, metrics: Metrics) -> None:
        self.adapter, self.publisher, self.metrics = adapter, publisher, metrics
        self.name = adapter.venue
        metrics.source(self.name, (TOPIC, BOOKS), ("decode",), streaming=True)
        metrics.show("ingest_duplicates_total", source=self.name)
        self.prices: dict[str, Decimal] = {}
        self.last_ts: int | None = None
        self.connected = False
        self.last_data: float | None = None
        self.gap_open = False

    def health(self) -> dict[str, Any]:
        """Return where the feed stands: connected, its last price per market and their time."""
        return {"connected": self.connected, "url": self.adapter.url, "venue": self.name,
                "prices": {m: str(p) for m, p in sorted(self.prices.items())}, "last_ts": self.last_ts}

    async def run(self) -> None:
        """Stream until cancelled, reconnecting with backoff."""
        delays = backoff()
        while True:
            try:
                async with aclosing(self.adapter.updates()) as updates:
                    async for update in updates:
                        self.on_data()
                        delays = backoff()
                        await self.publish(update)
            except (OSError, ValueError, websockets.WebSocketException) as exc:  # OSError: a timeout too
                log.warning("%s feed ended: %r", self.name, exc)
            self.on_drop()
            await asyncio.sleep(next(delays))

    async def publish(self, update: Update) -> None:
        """Publish an update's prices and books keyed by market and its dead letters, then count them."""
        events: list[Keyed] = [(TOPIC, p.market, dump(p)) for p in update.prices]
        events += [(BOOKS, b.market, dump(b)) for b in update.books]
        events += [("dlq", "dlq", dump(d)) for d in update.dead]
        if events:
            await self.publisher.send(events)
        for price in update.prices:
            self.prices[price.market] = price.price
            self.last_ts = price.ts
        for topic, published in ((TOPIC, update.prices), (BOOKS, update.books)):
            if published:
                self.metrics.inc("ingest_published_total", len(published), source=self.name, topic=topic)
        if update.dropped:
            self.metrics.inc("ingest_duplicates_total", update.dropped, source=self.name)
        if update.dead:
            self.metrics.inc("ingest_published_total", len(update.dead), source=self.name, topic="dlq")
            self.metrics.inc("ingest_dlq_total", len(update.dead), source=self.name, stage="decode")

    def on_data(self) -> None:
        """Note data flowing, closing a gap if one was open."""
        now = time.monotonic()
        if not self.connected:
            self.connected = True
            self.metrics.set("ingest_connected", 1.0, source=self.name)
        if self.gap_open and self.last_data is not None:
            self.metrics.inc("ingest_gap_seconds_total", now - self.last_data, source=self.name)
            self.gap_open = False
        self.last_data = now

    def on_drop(self) -> None:
        """Note the connection dropping; after data had flowed, that opens a gap."""
        self.connected = False
        self.metrics.set("ingest_connected", 0.0, source=self.name)
        self.metrics.inc("ingest_reconnects_total", source=self.name)
        if self.last_data is not None and not self.gap_open:
            self.gap_open = True
            self.metrics.inc("ingest_gaps_total", source=self.name)
