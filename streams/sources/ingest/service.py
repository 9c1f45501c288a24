"""Run the chosen sources with `/health` and `/metrics` on the ingest port.

A source that stops on an unexpected error is logged, shown failing on `/health` (503) and
restarted after a pause; the others go on.
"""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from streams.sources.ingest.chain_mapping import RISK
from streams.sources.ingest.chain import ChainSource, backoff
from streams.sources.ingest.cursor import CursorStore
from streams.sources.ingest.delivery import Delivery, Tail
from quantdesk.metrics import CONTENT_TYPE
from streams.sources.ingest.metrics import Metrics
from streams.sources.ingest.oracle import HermesSource, PriceAccountSource
from streams.sources.ingest.rpc import RpcPool
from streams.sources.venues.hyperliquid import HyperliquidAdapter
from streams.sources.venues.runner import VenueSource
from quantdesk.kafka.publisher import Publisher
from quantdesk.process import cancel, exit_unless_stopped_within, first_of, serving, stop_signal
from quantdesk.settings import Settings
from quantdesk.kafka.topics import create_topics, new_topic, platform_topics

log = logging.getLogger(__name__)

SOURCES = ("pyth", "solana", "hyperliquid")
DEFAULT_SOURCES = ("pyth", "solana")  # `quantdesk ingest` without --source; another venue's feed is asked for
STOP_S = 10.0  # from a stop request, how long the sources and the health server have to stop cleanly


class Source(Protocol):
    """What the service runs: a loop, and a view of where it stands."""

    async def run(self) -> None: ...

    def health(self) -> dict[str, Any]: ...


@dataclass
class Supervised:
    """A running source, restarted when it fails."""

    name: str
    source: Source
    error: str | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    async def keep_running(self) -> None:
        """Run the source, restarting it with backoff after an unexpected error."""
        delays = backoff(1.0, 60.0)
        while True:
            try:
                await self.source.run()
                return
            except Exception as exc:  # noqa: BLE001 - a failing source must not stop the others
                log.exception("source %s failed", self.name)
                self.error = repr(exc)
            await asyncio.sleep(next(delays))
            self.error = None


@dataclass
class Ingest:
    """A running ingest service."""

    settings: Settings
    metrics: Metrics
    sources: list[Supervised]
    serving: asyncio.Task[None]


def health_app(metrics: Metrics, sources: list[Supervised]) -> Starlette:
    """Return the tiny app answering `/health` (503 while a source fails) and `/metrics`."""
    async def health(_: Request) -> Response:
        ok = all(s.error is None for s in sources)
        states = {s.name: {**s.source.health(), "error": s.error} for s in sources}
        return JSONResponse({"status": "ok" if ok else "failing", "sources": states}, status_code=200 if ok else 503)

    async def prometheus(_: Request) -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    return Starlette(routes=[Route("/health", health), Route("/metrics", prometheus)])


async def ensure_ingest_topics(settings: Settings, bootstrap: str) -> None:
    """Create the platform's topics and the `risk` topic the chain source also writes."""
    await create_topics(bootstrap, [*platform_topics(settings), new_topic(settings, RISK)],
                        f"{settings.app_id}-ingest-admin")


async def build_sources(settings: Settings, bootstrap: str, names: tuple[str, ...], metrics: Metrics,
                        stack: AsyncExitStack) -> list[Supervised]:
    """Return the chosen sources, their shared parts closed by `stack`."""
    publisher = await stack.enter_async_context(Publisher(settings, bootstrap))
    pool: RpcPool | None = None
    if "solana" in names or settings.pyth_price_accounts:
        pool = RpcPool(settings, metrics)
        stack.push_async_callback(pool.close)
    sources: list[Supervised] = []
    prices: dict[str, Decimal] = {}
    if "pyth" in names:
        hermes = HermesSource(settings, publisher, metrics)
        prices = hermes.prices
        sources.append(Supervised("hermes", hermes))
    if "pyth" in names and pool and settings.pyth_price_accounts:
        sources.append(Supervised("pyth-accounts", PriceAccountSource(settings, pool, publisher, metrics)))
    if "solana" in names and pool:
        sources.append(Supervised("solana", await chain_source(settings, bootstrap, pool, publisher, metrics, prices,
                                                               stack)))
    if "hyperliquid" in names:
        sources.append(Supervised("hyperliquid", VenueSource(HyperliquidAdapter(settings), publisher, metrics)))
    return sources


async def chain_source(settings: Settings, bootstrap: str, pool: RpcPool, publisher: Publisher, metrics: Metrics,
                       prices: dict[str, Decimal], stack: AsyncExitStack) -> ChainSource:
    """Return the chain source with its cursor store and topic reader, closed by `stack`."""
    store = CursorStore(settings.data_dir / "ingest" / "solana.sqlite", settings.program_id)
    stack.callback(store.close)
    tail = Tail(bootstrap)
    await tail.start()
    stack.push_async_callback(tail.stop)
    delivery = Delivery(settings, publisher, store, tail, metrics, "solana")
    return ChainSource(settings, pool, delivery, metrics, lambda: prices.get(settings.sol_usd_market))


@asynccontextmanager
async def ingest_running(settings: Settings, bootstrap: str, names: tuple[str, ...]) -> AsyncIterator[Ingest]:
    """Run the named sources (`pyth`, `solana`, `hyperliquid`) and the health server until the block exits."""
    unknown = set(names) - set(SOURCES)
    if unknown:
        raise ValueError(f"unknown ingest sources {sorted(unknown)}; choose from {SOURCES}")
    metrics = Metrics()
    async with AsyncExitStack() as stack:
        await ensure_ingest_topics(settings, bootstrap)
        sources = await build_sources(settings, bootstrap, names, metrics, stack)
        config = uvicorn.Config(health_app(metrics, sources), host=settings.api_host, port=settings.ingest_port,
                                log_level="warning", lifespan="off")
        for s in sources:
            s.task = asyncio.create_task(s.keep_running(), name=f"ingest-{s.name}")
        stack.push_async_callback(cancel, *[s.task for s in sources if s.task])
        task = await stack.enter_async_context(serving(uvicorn.Server(config), "ingest-http"))
        yield Ingest(settings, metrics, sources, task)


async def run_until_stopped(settings: Settings, bootstrap: str, names: tuple[str, ...]) -> None:
    """Run the ingest service until SIGINT or SIGTERM (or its health server stops), then stop it within `STOP_S`."""
    async with ingest_running(settings, bootstrap, names) as ingest:
        await first_of(stop_signal().wait(), ingest.serving)
        deadline = exit_unless_stopped_within(STOP_S)  # the stop, on leaving this block, may hang on a broker gone
    deadline.cancel()
