"""The app keeps the first send the broker did not take."""

import asyncio

from aiokafka.errors import KafkaTimeoutError

from quantdesk.settings import Settings
from streams.worker import build_pipeline


async def test_the_app_keeps_the_first_send_the_broker_did_not_take(settings: Settings) -> None:
    app = build_pipeline(settings, settings.kafka_bootstrap or "", None, "risk").app
    loop = asyncio.get_running_loop()
    taken, refused, cancelled, later = (loop.create_future() for _ in range(4))
    taken.set_result(None)
    refused.set_exception(KafkaTimeoutError("no answer"))
    cancelled.cancel()
    later.set_exception(KafkaTimeoutError("later"))

    app.delivered(taken)
    assert app.undelivered is None
    app.delivered(cancelled)
    app.delivered(refused)
    app.delivered(later)
    assert isinstance(app.undelivered, asyncio.CancelledError)
