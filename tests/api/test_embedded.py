"""The running platform says when its feed worker crashed, so `quantdesk up` stops instead of serving stale data."""

import asyncio

from api.embedded import running
from quantdesk.settings import Settings


async def test_served_returns_once_the_feed_worker_crashes(settings: Settings) -> None:
    async with running(settings, simulator=False) as runtime:
        served = asyncio.create_task(runtime.served())
        await asyncio.sleep(0)
        assert not served.done()

        await runtime.pipeline.app.crash(RuntimeError("a message was not delivered"))

        assert await asyncio.wait_for(served, 30) is True
        assert not runtime.serving.done()  # the gateway was still up: the caller stops the platform
