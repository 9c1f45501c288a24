"""The embedded all-in-one: broker, migrations, gateway, feed worker, risk worker and simulator.

The gateway, the feed worker (market agent and ClickHouse sink; chDB is one engine per process)
and the simulator share this process; the risk worker runs in a child of its own, or
`QUANTDESK_RISK_SHARDS` of them sharing the risk tasks (`streams.risk_process`).
"""

import asyncio
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator

import uvicorn
from faust.contrib.asgi import faust_app_running

from api.main import create_api
from api.ratelimit import Rates
from quantdesk.broker import EmbeddedBroker
from streams.sources.ingest.service import ingest_running
from quantdesk.kafka.lag import applied_within
from streams.sources.replay import read_lines, replay
from streams.sources.restore import Restored, last_simulated_step, restore_inputs
from streams.risk_process import RiskWorkers, risk_workers
from api.main import gateway_config
from quantdesk.process import cancel, first_of, serving
from quantdesk.settings import Settings
from streams.sources.simulator import run_live
from quantdesk.kafka.topics import ensure_topics
from quantdesk.warehouse import Warehouse
from streams.pipeline import Pipeline
from streams.worker import build_pipeline

DRAIN_S = 15.0  # how long a clean stop waits for the workers to catch up with the input


@dataclass
class Runtime:
    """What a running platform exposes to its caller."""

    settings: Settings
    bootstrap: str
    warehouse: Warehouse
    pipeline: Pipeline  # the feed's
    risk: RiskWorkers  # `settings.risk_shards` child processes
    server: uvicorn.Server
    serving: asyncio.Task[None]
    broker: EmbeddedBroker | None
    restored: Restored  # the stored inputs given back to a broker that forgot them
    simulator: asyncio.Task[None] | None
    sources: tuple[str, ...] = ()  # the ingest sources running beside it

    @property
    def metrics_urls(self) -> list[str]:
        """Return where Prometheus scrapes the platform: the gateway (with the workers' families), and the ingest
        service when it runs."""
        settings = self.settings
        ingest = [f"http://{settings.api_host}:{settings.ingest_port}/metrics"] if self.sources else []
        return [f"{self.api_url}/metrics", *ingest]

    @property
    def api_url(self) -> str:
        """Return the gateway's base URL."""
        return f"http://{self.settings.api_host}:{self.settings.api_port}"

    async def served(self, stop: asyncio.Event | None = None) -> bool:
        """Wait until the gateway stops, `stop` is set, the feed worker crashes (say, it could not deliver a message:
        it then commits nothing more) or the embedded broker dies; return whether a part failed."""
        waits = [self.serving, self.pipeline.app.crashed()]
        if stop is not None:
            waits.append(stop.wait())
        if self.broker is not None and self.broker.process is not None:
            waits.append(asyncio.to_thread(self.broker.process.wait))
        await first_of(*waits)
        return self.pipeline.app.crash_reason is not None or self.broker_died()

    def broker_died(self) -> bool:
        """Tell whether the embedded broker exited."""
        return self.broker is not None and self.broker.process is not None and self.broker.process.poll() is not None

    async def drain(self, timeout: float = DRAIN_S) -> bool:
        """Stop the simulator, then wait (at most `timeout`) until the risk worker has applied every input and the
        sink stored every output; tell whether they did. What they did not is rebuilt from the stored input on the
        next start, but a clean stop leaves the warehouse as current as the input."""
        if self.simulator is not None:
            await cancel(self.simulator)
        return await applied_within(self.settings, self.bootstrap, timeout)


@asynccontextmanager
async def broker_for(settings: Settings) -> AsyncIterator[tuple[str, EmbeddedBroker | None]]:
    """Yield the bootstrap address: the configured one, or an embedded Tansu's."""
    if settings.kafka_bootstrap:
        yield settings.kafka_bootstrap, None
        return
    broker = await asyncio.to_thread(EmbeddedBroker(settings.tansu_bin).start)
    try:
        yield broker.bootstrap, broker
    finally:
        await asyncio.to_thread(broker.stop)


WEBSOCKETS = "websockets-sansio"  # the implementation `api.fanout` writes pushes straight to


def gateway_server(settings: Settings, warehouse: Warehouse, bootstrap: str, pipeline: Pipeline,
                   risk: RiskWorkers, rates: Rates = Rates()) -> uvicorn.Server:
    """Return the uvicorn server of the gateway, running the feed's Faust app in its lifespan; its `/metrics` shows
    the feed worker's families and the risk children's (one set of files for all)."""
    app = create_api(settings, warehouse, bootstrap, extra=faust_app_running(pipeline.app), rates=rates,
                     collectors=[pipeline.metrics.registry, risk.metrics.registry])
    return uvicorn.Server(gateway_config(app, settings, log_level="warning", lifespan="on", ws=WEBSOCKETS))


@asynccontextmanager
async def running(settings: Settings, simulator: bool = True, replay_file: Path | None = None,
                  sources: tuple[str, ...] = (), rates: Rates = Rates()) -> AsyncIterator[Runtime]:
    """Run the whole platform until the block exits (signals are the caller's: `quantdesk up` drains first).

    `sources` names ingest sources (`pyth`, `solana`, `hyperliquid`) to run beside it, health on the ingest port;
    `rates` are the gateway's rate limits.
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    async with AsyncExitStack() as stack:
        bootstrap, broker = await stack.enter_async_context(broker_for(settings))
        warehouse = Warehouse.from_settings(settings)
        stack.callback(warehouse.close)
        await asyncio.to_thread(warehouse.migrate)
        await ensure_topics(settings, bootstrap)
        # before any worker starts: found waiting, the outcome does not hang on timing
        replayed = list(read_lines(replay_file)) if replay_file else []
        restored = await restore_inputs(settings, bootstrap, warehouse, replayed)
        if replayed and not restored.published:  # the broker kept its topics: the file goes on after them
            await replay(settings, bootstrap, replay_file)
        risk = await stack.enter_async_context(risk_workers(settings, bootstrap))
        pipeline = build_pipeline(settings, bootstrap, warehouse, "feed")
        server = gateway_server(settings, warehouse, bootstrap, pipeline, risk, rates)
        task = await stack.enter_async_context(serving(server, "gateway"))
        simulating = None
        if simulator:
            resumed = run_live(settings, bootstrap, after_step=await asyncio.to_thread(last_simulated_step, warehouse))
            simulating = asyncio.create_task(resumed, name="simulator")
            stack.push_async_callback(cancel, simulating)
        if sources:
            await stack.enter_async_context(ingest_running(settings, bootstrap, sources))
        yield Runtime(settings, bootstrap, warehouse, pipeline, risk, server, task, broker, restored, simulating,
                      sources)
