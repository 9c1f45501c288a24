"""Faust tables recovered from their changelogs on Tansu hold every record, the last batch's too."""

import faust
from faust.contrib.asgi import faust_app_running

from quantdesk.kafka.publisher import Publisher
from quantdesk.settings import Settings
from quantdesk.kafka.topics import ensure_topics
from streams.app import faust_app
from tests.conftest import send_raw
from tests.waiting import eventually


def counting(settings: Settings) -> tuple[faust.App, faust.Table, dict[str, dict]]:
    """Return an app whose agent writes five keys per input message (one changelog batch each time), its
    table, and what the table held when recovery said it was done."""
    app = faust_app(settings, settings.kafka_bootstrap or "")
    table = app.Table("counts", partitions=settings.topic_partitions, use_partitioner=True)
    source = app.topic(settings.topic("accounts.changes"), key_serializer="raw", value_serializer="raw")
    seen: dict[str, dict] = {}

    @table.on_recover
    async def recovered() -> None:
        seen.setdefault("at_recovery", dict(table.items()))

    @app.agent(source)
    async def write(stream):  # type: ignore[no-untyped-def]
        async for value in stream:
            for key in "abcde":
                table[key] = value.decode()

    return app, table, seen


async def test_a_recovered_table_holds_the_records_of_each_changelogs_last_batch(settings: Settings) -> None:
    await ensure_topics(settings, settings.kafka_bootstrap or "")
    app, table, _ = counting(settings)
    async with faust_app_running(app), Publisher(settings, settings.kafka_bootstrap or "") as publisher:
        for n in ("1", "2"):
            await send_raw(publisher, "accounts.changes", n.encode())

        async def written() -> bool:
            return table.get("e") == "2"
        await eventually(written, what="the second message's keys written")
    app, table, seen = counting(settings)
    async with faust_app_running(app):
        async def recovered() -> dict | None:
            return seen.get("at_recovery")
        assert await eventually(recovered, what="the table recovered") == dict.fromkeys("abcde", "2")
