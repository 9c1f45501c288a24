"""Publish taken transactions so that a crash at any point neither loses nor repeats an event.

Before a publish the topics' end offsets go to the cursor store; after it, the signatures and
the cursor are recorded and the offsets dropped, in one SQLite transaction. A restart that finds
offsets still recorded reads those topics from there to their end: the ids found were published
by the crashed run, and are not published again.
"""

import logging
from typing import Any

from aiokafka import TopicPartition

from streams.sources.ingest.chain_mapping import Mapped
from streams.sources.ingest.cursor import CursorStore, Offsets
from streams.sources.ingest.metrics import Metrics
from quantdesk.kafka.publisher import Publisher, partition_key
from quantdesk.kafka.reader import Reader
from quantdesk.settings import Settings
from quantdesk.wire import decode

log = logging.getLogger(__name__)


class Tail:
    """A group-less reader of topic ends: their offsets, and the ids written past given offsets."""

    def __init__(self, bootstrap: str) -> None:
        self.reader = Reader(bootstrap)

    async def start(self) -> None:
        """Connect to the broker."""
        await self.reader.start()

    async def stop(self) -> None:
        """Disconnect."""
        await self.reader.stop()

    async def end_offsets(self, topics: set[str]) -> Offsets:
        """Return each partition's end offset."""
        ends = await self.reader.end_offsets(await self.reader.partitions(sorted(topics)))
        out: Offsets = {}
        for tp, end in ends.items():
            out.setdefault(tp.topic, {})[tp.partition] = end
        return out

    async def ids_since(self, offsets: Offsets) -> set[str]:
        """Return the ids of every event written after `offsets`, up to the current ends."""
        starts = {TopicPartition(t, p): o for t, parts in offsets.items() for p, o in parts.items()}
        ends = await self.reader.end_offsets(starts)
        return {i for record in await self.reader.read_until(starts, ends) for i in _ids(record.value)}


def _ids(raw: bytes | None) -> list[str]:
    """Return the event ids of one Kafka message (an unreadable one has none)."""
    try:
        return [e["id"] for e in decode(raw or b"null") if isinstance(e, dict) and "id" in e]
    except ValueError:
        return []


class Delivery:
    """Publishes the messages of taken transactions and records them, crash-safe."""

    def __init__(self, settings: Settings, publisher: Publisher, store: CursorStore, tail: Tail, metrics: Metrics,
                 source: str) -> None:
        self.settings, self.publisher, self.store, self.tail = settings, publisher, store, tail
        self.metrics, self.source = metrics, source
        self.on_topic: set[str] = set()

    async def recover(self) -> None:
        """Learn which ids a crashed run published after its last record."""
        offsets = self.store.pending()
        if offsets:
            self.on_topic = await self.tail.ids_since(offsets)
            log.warning("recovered %d events published before a crash", len(self.on_topic))

    async def deliver(self, messages: list[Mapped], taken: list[tuple[str, int]],
                      cursor: tuple[str, int] | None) -> None:
        """Publish what was not published yet, then record the signatures and the cursor."""
        fresh = [m for m in messages if m.value["id"] not in self.on_topic]
        if fresh:
            self.store.begin(await self.tail.end_offsets({self.settings.topic(m.topic) for m in fresh}))
            await self.publisher.send((m.topic, partition_key(m.topic, m.value), m.value) for m in fresh)
        self.store.commit(taken, cursor)
        for m in fresh:
            self.count(m.topic, m.value)

    def count(self, topic: str, value: dict[str, Any]) -> None:
        """Count one published message."""
        if topic == "dlq":
            self.metrics.inc("ingest_dlq_total", source=self.source, stage=value.get("stage", "map"))
        self.metrics.inc("ingest_published_total", source=self.source, topic=topic)
