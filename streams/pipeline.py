"""What an agent is given: the app's producer (publish in order, flush or fail), its loops, the warehouse."""

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Awaitable, Callable

from quantdesk.kafka.publisher import Events
from quantdesk.kafka.records import keyed_batches, partition_batches
from quantdesk.kafka.topics import COMPACTED_TOPICS
from quantdesk.settings import Settings
from quantdesk.warehouse import Warehouse
from streams.app import PRODUCER_BATCH_BYTES, App
from streams.metrics import WorkerMetrics

log = logging.getLogger(__name__)


@dataclass
class Pipeline:
    """A Faust app, the warehouse it writes, and its role's metrics."""

    settings: Settings
    app: App
    warehouse: Warehouse | None
    bootstrap: str
    role: str = "all"
    loops: list[str] = field(default_factory=list)  # the names of the loops the app runs
    metrics: WorkerMetrics = field(init=False)

    def __post_init__(self) -> None:
        self.metrics = WorkerMetrics(self.role, self.settings.market_names)

    async def publish(self, topic: str, keyed: Events) -> None:
        """Send events (and runs of them written together) to a topic in order, in record batches written whole and
        handed to the producer itself (Faust's `Topic.send` would wrap every message in a future and callbacks that
        nothing here reads): a compacted topic's one record per key (`keyed_batches`), any other's messages of many
        events of one partition (`partition_batches`); `flush` waits for them and raises a failed delivery."""
        keyed = keyed if isinstance(keyed, list) else list(keyed)
        if not keyed:
            return
        self.metrics.published(topic, keyed)
        partitions, name = tuple(range(self.settings.topic_partitions)), self.settings.topic(topic)
        producer, delivered = await self.app.maybe_start_producer(), self.app.delivered
        batching = producer._ensure_producer()  # aiokafka's, under Faust's: only it sends a batch built whole
        if topic in COMPACTED_TOPICS:
            for partition, batch in keyed_batches(keyed, partitions, PRODUCER_BATCH_BYTES, int(time.time() * 1000)):
                (await batching.send_batch(batch, name, partition=partition)).add_done_callback(delivered)
            return
        for partition, batch in partition_batches(keyed, partitions, PRODUCER_BATCH_BYTES, int(time.time() * 1000)):
            (await batching.send_batch(batch, name, partition=partition)).add_done_callback(delivered)

    def loop(self, run: Callable[[], Awaitable[None]], name: str) -> None:
        """Run `run` as a task of the app until it stops; crash the app if it fails."""
        self.loops.append(name)

        @self.app.task
        async def looping() -> None:
            """Run the loop; crash the app if it fails."""
            try:
                await run()
            except asyncio.CancelledError:
                raise
            except BaseException as exc:
                log.exception("the %s loop failed; the worker stops", name)
                await self.app.crash(exc)

    async def flush(self) -> None:
        """Wait until the broker has answered every send; raise the first it refused (the loop then fails, and
        with it the app, before it records anything past it)."""
        await (await self.app.maybe_start_producer()).flush()
        if self.app.undelivered is not None:
            raise self.app.undelivered

