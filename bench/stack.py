"""The bench's own embedded parts: its names, chDB path, and the platform with rate limits lifted."""

import shutil
import uuid
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator

from api.ratelimit import Rates
from bench.sizing import Sizing
from quantdesk.broker import free_port
from api.embedded import Runtime, running
from quantdesk.settings import Settings

LIFTED = "1000000000/minute"
UNLIMITED = Rates(public=LIFTED, trading=LIFTED, auth=LIFTED, subscribe=LIFTED, connect=LIFTED)


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


@asynccontextmanager
async def bench_platform(settings: Settings) -> AsyncIterator[Runtime]:
    """Run the platform as `quantdesk up` does, without simulator, rate limits lifted so load measures the work."""
    async with running(settings, simulator=False, rates=UNLIMITED) as runtime:
        yield runtime
