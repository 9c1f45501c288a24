"""The Faust app: topics, shared context and the agents registered on it."""

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Iterable, Iterator, Literal

import faust

from quantdesk.publisher import messages, partition_messages, partition_of
from quantdesk.settings import Settings
from quantdesk.topics import COMPACTED_TOPICS
from quantdesk.warehouse import Warehouse

log = logging.getLogger(__name__)
PRODUCER_BATCH_BYTES = 1 << 20  # per partition: Faust's 16 KiB default makes a release wait on Tansu per 16 KiB
PRODUCER_REQUEST_BYTES = 8 << 20
Role = Literal["all", "risk", "feed"]  # risk: accounts (and the simulated venue); feed: market agent and ClickHouse sink
ROLES: tuple[Role, ...] = ("all", "risk", "feed")


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

    async def crashed(self) -> None:
        """Wait until the app crashed (mode keeps the event private and offers no waiter)."""
        await self._crashed.wait()

    def delivered(self, sent: "asyncio.Future[Any]") -> None:
        """Note a send that failed (the first one is kept and logged)."""
        failure = asyncio.CancelledError("send cancelled") if sent.cancelled() else sent.exception()
        if failure is not None and self.undelivered is None:
            log.error("a message was not delivered; this worker commits nothing more: %r", failure)
            self.undelivered = failure


@dataclass
class Pipeline:
    """A Faust app and the warehouse it writes."""

    settings: Settings
    app: App
    warehouse: Warehouse | None
    bootstrap: str
    loops: list[str] = field(default_factory=list)  # the names of the loops the app runs

    async def publish(self, topic: str, keyed: Iterable[tuple[str, Any]]) -> None:
        """Send events to a topic in order (see `outgoing`), through the app's producer itself (Faust's
        `Topic.send` would wrap every message in a future and callbacks that nothing here reads); `flush`
        waits for them and raises a failed delivery."""
        partitions, name = tuple(range(self.settings.topic_partitions)), self.settings.topic(topic)
        producer, delivered = await self.app.maybe_start_producer(), self.app.delivered
        for partition, key, value in outgoing(topic, keyed, partitions):
            (await producer.send(name, key.encode(), value, partition, None, None)).add_done_callback(delivered)

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


def outgoing(
    topic: str, keyed: Iterable[tuple[str, Any]], partitions: tuple[int, ...]
) -> Iterator[tuple[int, str, bytes]]:
    """Yield (partition, key, JSON array) messages: one per partition, or per key on a compacted topic (on the
    partition the producer's partitioner would pick for the key, looked up once per key), at most 500 events each."""
    if topic in COMPACTED_TOPICS:
        return ((partition_of(key, partitions), key, value) for key, value in messages(keyed))
    return partition_messages(keyed, partitions)


def faust_app(settings: Settings, bootstrap: str, app_id: str | None = None) -> App:
    """Return a Faust app (the settings' app id unless given) tuned for the embedded broker."""
    session = settings.kafka_session_timeout_s
    return App(
        app_id or settings.app_id,
        broker=";".join(f"quantdesk://{host}" for host in bootstrap.split(",")),  # streams.transport
        store="memory://",
        web_enabled=False,
        topic_partitions=settings.topic_partitions,
        topic_disable_leader=True,
        producer_acks=1,
        producer_max_batch_size=PRODUCER_BATCH_BYTES,
        producer_max_request_size=PRODUCER_REQUEST_BYTES,
        broker_session_timeout=session,
        broker_heartbeat_interval=max(0.5, session / 6),
        broker_rebalance_timeout=session,
        consumer_auto_offset_reset="earliest",
        stream_wait_empty=False,
    )


def app_id_of(settings: Settings, role: Role) -> str:
    """Return a role's Faust app id (its loops show their progress as groups of their own: `quantdesk.lag`)."""
    return settings.app_id if role == "risk" else f"{settings.app_id}-feed"


def build_pipeline(settings: Settings, bootstrap: str, warehouse: Warehouse | None, role: Role = "all") -> Pipeline:
    """Build one role's app and register its loops (the feed's sink needs the warehouse); `quantdesk.topics`
    creates the topics."""
    from streams.agents import accounts, markets, sink

    pipeline = Pipeline(settings, faust_app(settings, bootstrap, app_id_of(settings, role)), warehouse, bootstrap)
    if role != "feed":
        accounts.register(pipeline)
    pipeline.app.producer_only = True  # every loop reads its partitions itself: Faust's consumer has nothing to read
    if role != "risk":
        assert warehouse is not None, f"the {role} role stores to ClickHouse"
        markets.register(pipeline)
        sink.register(pipeline)
    return pipeline
