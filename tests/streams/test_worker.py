"""A worker runs its app until it is told to stop or the app crashes, and says which it was."""

import asyncio

from faust.exceptions import ConsumerNotStarted

from quantdesk.settings import Settings
from quantdesk.topics import ensure_topics
from streams.app import build_pipeline
from streams.worker import run_until_stopped
from tests.waiting import eventually


async def test_a_worker_whose_app_crashes_stops_and_says_so(settings: Settings) -> None:
    bootstrap = settings.kafka_bootstrap or ""
    await ensure_topics(settings, bootstrap)
    app = build_pipeline(settings, bootstrap, None, "risk").app
    worker = asyncio.create_task(run_until_stopped(app))

    async def started() -> bool:
        try:
            return bool(app.consumer.assignment())
        except ConsumerNotStarted:
            return False
    await eventually(started, timeout=60, what="the worker's partitions assigned")
    await app.crash(RuntimeError("a message was not delivered"))

    assert await asyncio.wait_for(worker, 30) is True
