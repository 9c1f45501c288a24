"""The bench's own embedded parts: its names, chDB path, topics, and the platform with rate limits lifted."""

import asyncio
import contextlib
import shutil
import uuid
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import AsyncIterator

import uvicorn
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from faust.contrib.asgi import faust_app_running

from api.main import create_api
from api.ratelimit import Rates
from quantdesk.bench.sizing import Sizing
from quantdesk.broker import free_port
from quantdesk.platform import Runtime
from quantdesk.serving import serve, stop_server
from quantdesk.settings import Settings
from quantdesk.topics import ensure_topics
from quantdesk.warehouse import Warehouse
from streams.app import build_pipeline

LIFTED = "1000000000/minute"
UNLIMITED = Rates(public=LIFTED, trading=LIFTED, auth=LIFTED, subscribe=LIFTED)


def bench_settings(out: Path, bootstrap: str, sizing: Sizing) -> Settings:
    """Return fresh settings for one run: its own names, a free API port, chDB under `out`."""
    run = f"bench{uuid.uuid4().hex[:8]}"
    return Settings(
        kafka_bootstrap=bootstrap, clickhouse_dsn=f"chdb://{(out / 'chdb').resolve()}", clickhouse_database=run,
        topic_prefix=f"{run}.", app_id=run, data_dir=out, api_port=free_port(), kafka_session_timeout_s=3.0,
        sink_batch_seconds=0.2, simulator_accounts=sizing.simulator_accounts,
    )


def fresh_chdb(out: Path) -> None:
    """Remove a previous run's chDB files so the run starts empty."""
    shutil.rmtree(out / "chdb", ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)


def scoped(settings: Settings, name: str) -> Settings:
    """Return the settings with an app id (hence consumer group) and database of their own."""
    return settings.model_copy(update={"app_id": f"{settings.app_id}_{name}",
                                       "clickhouse_database": f"{settings.clickhouse_database}_{name}"})


async def create_topic(bootstrap: str, name: str, partitions: int) -> None:
    """Create one topic with `partitions` partitions."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="quantdesk-bench-admin")
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()


@asynccontextmanager
async def bench_platform(settings: Settings) -> AsyncIterator[Runtime]:
    """Run worker and gateway as `quantdesk up` composes them, rate limits lifted so load measures the work."""
    bootstrap = settings.kafka_bootstrap or ""
    async with AsyncExitStack() as stack:
        warehouse = Warehouse.from_settings(settings)
        stack.callback(warehouse.close)
        await asyncio.to_thread(warehouse.migrate)
        await ensure_topics(settings, bootstrap)
        pipeline = build_pipeline(settings, bootstrap, warehouse)
        app = create_api(settings, warehouse, bootstrap, extra=faust_app_running(pipeline.app), rates=UNLIMITED)
        server = uvicorn.Server(uvicorn.Config(app, host=settings.api_host, port=settings.api_port,
                                               log_level="warning", lifespan="on"))
        server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
        task = await serve(server, "bench-server")
        stack.push_async_callback(stop_server, server, task)
        yield Runtime(settings, bootstrap, warehouse, pipeline, server, task, None)
