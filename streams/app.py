"""The Faust app every worker runs: a producer, its lifecycle, and a crash rather than a loss."""

import asyncio
import logging
from pathlib import Path
from typing import Any

import faust

from quantdesk.kafka.publisher import PRODUCER_ACKS, REQUEST_BYTES
from quantdesk.settings import Settings

log = logging.getLogger(__name__)
PRODUCER_BATCH_BYTES = 1 << 20  # per partition: Faust's 16 KiB default makes a release wait on Tansu per 16 KiB


class App(faust.App):
    """A Faust app that crashes, rather than go on past a loss: on the first message it sent and the broker
    did not take (`Pipeline.flush` raises it in the loop that waits for it, and a Faust consumer, the
    bench's, commits nothing more: `streams.transport`), on a loop's failure, and on an agent's error
    (Faust would commit what was acked and start the agent again). Its worker then exits and starts again
    from its own record."""

    undelivered: BaseException | None = None

    async def _on_agent_error(self, agent: Any, exc: BaseException) -> None:
        """Crash on an agent's error instead of committing and starting it again."""
        log.error("agent %s failed; the worker stops", agent.name)
        await self.crash(exc)

    def _create_directories(self) -> None:
        """Create Faust's directories, the data dir's own parents too (Faust makes only the last level)."""
        self.conf.datadir.mkdir(parents=True, exist_ok=True)
        super()._create_directories()

    async def crashed(self) -> None:
        """Wait until the app crashed (mode keeps the event private and offers no waiter)."""
        await self._crashed.wait()

    def delivered(self, sent: "asyncio.Future[Any]") -> None:
        """Note a send that failed (the first one is kept and logged)."""
        failure = asyncio.CancelledError("send cancelled") if sent.cancelled() else sent.exception()
        if failure is not None and self.undelivered is None:
            log.error("a message was not delivered; this worker commits nothing more: %r", failure)
            self.undelivered = failure


def faust_app(settings: Settings, bootstrap: str, app_id: str | None = None) -> App:
    """Return a Faust app (the settings' app id unless given) tuned for the embedded broker."""
    session, app_id = settings.kafka_session_timeout_s, app_id or settings.app_id
    return App(
        app_id,
        datadir=literal(settings.data_dir / "faust" / app_id),  # Faust's default: `<app id>-data` in the working dir
        broker=";".join(f"quantdesk://{host}" for host in bootstrap.split(",")),  # streams.transport
        store="memory://",
        web_enabled=False,
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication,  # the topics Faust declares (the bench's naive agent's)
        topic_disable_leader=True,
        producer_acks=PRODUCER_ACKS,
        producer_max_batch_size=PRODUCER_BATCH_BYTES,
        producer_max_request_size=REQUEST_BYTES,
        broker_session_timeout=session,
        broker_heartbeat_interval=max(0.5, session / 6),
        broker_rebalance_timeout=session,
        consumer_auto_offset_reset="earliest",
        stream_wait_empty=False,
    )


def literal(path: Path) -> str:
    """Return a path as Faust's settings take it literally (it formats them: `{conf.name}`)."""
    return str(path).replace("{", "{{").replace("}", "}}")
