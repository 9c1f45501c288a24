"""Faust's aiokafka transport with a short fetch wait.

Faust hard-codes `fetch_max_wait_ms=1500`, and Tansu answers a fetch only when that wait runs
out, so every hop of an idle-ish stream would cost up to 1.5 s. This transport (registered as
the `quantdesk://` broker scheme) keeps everything else of Faust's consumer as it is.
"""

from typing import Any

from faust.transport.drivers import aiokafka as faust_aiokafka

from quantdesk.broker import FETCH_MAX_WAIT_MS


class ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Faust's consumer thread, creating consumers that wait at most 20 ms for data."""

    def _create_worker_consumer(self, transport: Any) -> Any:
        """Create Faust's worker consumer, then shorten its fetch wait."""
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
        return consumer


class Consumer(faust_aiokafka.Consumer):
    """Faust's consumer with the short-wait thread."""

    def _new_consumer_thread(self) -> ConsumerThread:
        """Return the consumer thread that creates short-wait consumers."""
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class Transport(faust_aiokafka.Transport):
    """Faust's aiokafka transport with the short-wait consumer."""

    Consumer = Consumer
