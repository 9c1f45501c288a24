"""Faust's aiokafka transport: short fetch waits, true end offsets, seeks that skip no input, no commit past a loss.

Faust hard-codes `fetch_max_wait_ms=1500`, and Tansu answers a fetch only when that wait runs
out, so every hop of an idle-ish stream would cost up to 1.5 s. Tansu's ListOffsets also answers
the first offset of a partition's last record batch + 1 as its end, so Faust's table recovery,
which reads a changelog up to that end, would stop before the rest of that batch: the end comes
from a fetch there instead. aiokafka's seek to committed offsets leaves a partition without one
where a fetch moved it, while Faust drops what a fetch returns for a partition it paused meanwhile
(it pauses all of them on a rebalance): a worker restarted before its first commit skipped that
input for good, so such partitions go back to where the reset policy starts them. And a consumer
whose app could not deliver a message commits nothing more (see `streams.app.App`). This transport
(registered as the `quantdesk://` broker scheme) keeps everything else of Faust's consumer as it is.
"""

from typing import Any, Callable, Mapping

import aiokafka
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

from quantdesk.broker import FETCH_MAX_WAIT_MS
from quantdesk.kafka.reader import fetched_ends


class ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Faust's consumer thread, creating consumers that wait at most 20 ms for data."""

    def _create_worker_consumer(self, transport: Any) -> Any:
        """Create Faust's worker consumer, then shorten its fetch wait."""
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
        return consumer

    async def seek_to_committed(self) -> Mapping[TP, int]:
        """Seek stream partitions to their committed offsets, those without one to where the reset policy says."""
        consumer, reset = self._ensure_consumer(), self.app.conf.consumer_auto_offset_reset
        return await self.call_thread(seek_to_committed, consumer, reset, self.consumer._is_changelog_tp)

    async def _highwaters(self, partitions: list[TP]) -> Mapping[TP, int]:
        """Return each partition's end offset: where a fetch from its last batch says the log ends."""
        listed = await super()._highwaters(partitions)
        servers = faust_aiokafka.server_list(self.transport.url, self.transport.default_port)
        return await fetched_ends(servers, listed)


async def seek_to_committed(consumer: aiokafka.AIOKafkaConsumer, reset: str,
                            skip: Callable[[Any], bool]) -> Mapping[Any, int | None]:
    """Seek every assigned partition to its committed offset; put those without one (but `skip`ped ones) back
    to their start (`reset` "earliest") or end; return the committed offsets."""
    committed = await consumer.seek_to_committed()
    uncommitted = [tp for tp, offset in committed.items() if not offset and not skip(tp)]
    if uncommitted:
        await (consumer.seek_to_beginning if reset == "earliest" else consumer.seek_to_end)(*uncommitted)
    return committed


class Consumer(faust_aiokafka.Consumer):
    """Faust's consumer with the short-wait thread, which commits nothing once its app failed to deliver."""

    async def _commit(self, offsets: Mapping[TP, int]) -> bool:
        """Commit, unless a message the app sent was not delivered: then crash the app instead, so what it
        read since its last commit is read again, and sent again under the same ids, when it starts anew.
        (Faust flushes the producer before it commits, so every send before the commit has been answered.)"""
        failure = getattr(self.app, "undelivered", None)
        if failure is None:
            return await super()._commit(offsets)
        await self.app.crash(failure)
        return False

    def _new_consumer_thread(self) -> ConsumerThread:
        """Return the consumer thread that creates short-wait consumers."""
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class Transport(faust_aiokafka.Transport):
    """Faust's aiokafka transport with the short-wait consumer."""

    Consumer = Consumer
