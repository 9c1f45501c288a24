"""The app keeps the first send the broker did not take; its producer waits for every in-sync replica, the
topics it declares have the settings' replicas, and its files go under the data dir."""

import asyncio
from pathlib import Path

from aiokafka.errors import KafkaTimeoutError

from quantdesk.settings import Settings
from streams.app import faust_app
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


def test_the_app_sends_with_acks_all_and_declares_topics_with_the_settings_replicas() -> None:
    app = faust_app(Settings(topic_replication=3), "127.0.0.1:9")
    assert app.producer._settings_default()["acks"] == -1  # what Faust hands aiokafka: acks=all
    assert app.conf.topic_replication_factor == 3


def test_the_apps_files_go_under_the_data_dir_whatever_its_name(tmp_path: Path) -> None:
    data_dir = tmp_path / "runs {conf.name} }{"  # Faust formats its paths: braces must stay as they are
    app = faust_app(Settings(data_dir=data_dir), "127.0.0.1:9", "risk-app")
    assert app.conf.datadir == data_dir / "faust" / "risk-app"
