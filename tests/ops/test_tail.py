"""`quantdesk tail`: a topic's events one JSON line each, however many a message packs; where each came from with
--meta; bytes that are not JSON shown as such; new events with --follow; an unknown topic refused."""

import asyncio
import base64

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from typer.testing import CliRunner

from ops.tail import tail
from quantdesk import cli
from quantdesk.kafka.publisher import Publisher
from quantdesk.kafka.topics import ensure_topics
from quantdesk.settings import Settings
from tests.waiting import eventually

T0 = 1_767_225_600_000


def state(wallet: str, n: int) -> tuple[str, str, dict]:
    """Return an account state as the risk worker publishes it (keyed by account)."""
    return "accounts.state", f"{wallet}:0", {"id": f"{wallet}:{n}", "ts": T0 + n, "wallet": wallet, "subaccount": 0}


async def published(settings: Settings) -> None:
    """Publish three states of one account (one message packs them), and a tick that is not JSON."""
    await ensure_topics(settings, settings.kafka_bootstrap)
    async with Publisher(settings, settings.kafka_bootstrap) as publisher:
        await publisher.send([state("alice", n) for n in range(3)])
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(settings.topic("oracle.ticks"), b"\xffnot json", key=b"SOL-PERP", partition=0)
    finally:
        await producer.stop()


async def test_every_packed_event_is_a_line_and_bytes_that_are_not_json_say_so(settings: Settings) -> None:
    await published(settings)
    lines: list[bytes] = []
    assert await tail(settings, settings.kafka_bootstrap, "accounts.state", lines.append) == 3
    assert [orjson.loads(line)["id"] for line in lines] == ["alice:0", "alice:1", "alice:2"]
    ticks: list[bytes] = []
    assert await tail(settings, settings.kafka_bootstrap, "oracle.ticks", ticks.append) == 1
    bad = orjson.loads(ticks[0])
    assert base64.b64decode(bad["value_base64"]) == b"\xffnot json" and (bad["partition"], bad["offset"]) == (0, 0)

    wrapped: list[bytes] = []
    await tail(settings, settings.kafka_bootstrap, "accounts.state", wrapped.append, meta=True, limit=2)
    first, second = (orjson.loads(line) for line in wrapped)
    assert (first["key"], first["event"]["id"], second["event"]["id"]) == ("alice:0", "alice:0", "alice:1")
    assert first["offset"] == second["offset"]  # one message packed both


async def test_follow_prints_what_comes_after_it_started(settings: Settings) -> None:
    await published(settings)
    lines: list[bytes] = []
    following = asyncio.create_task(tail(settings, settings.kafka_bootstrap, "accounts.state", lines.append,
                                         follow=True, limit=4))
    await eventually(lambda: _at_least(lines, 3), what="the events already there")
    async with Publisher(settings, settings.kafka_bootstrap) as publisher:
        await publisher.send([state("carol", 9)])
    assert await asyncio.wait_for(following, timeout=30) == 4
    assert orjson.loads(lines[-1])["id"] == "carol:9"


async def _at_least(lines: list[bytes], n: int) -> bool:
    return len(lines) >= n


def test_the_command_prints_lines_and_refuses_an_unknown_topic(settings: Settings,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    asyncio.run(published(settings))
    monkeypatch.setattr("quantdesk.settings.get_settings", lambda: settings)
    result = CliRunner().invoke(cli.commands(), ["tail", "accounts.state", "-n", "3"])
    assert result.exit_code == 0, result.output
    assert [orjson.loads(line)["id"] for line in result.stdout.splitlines()] == ["alice:0", "alice:1", "alice:2"]
    refused = CliRunner().invoke(cli.commands(), ["tail", "accounts.stat"])
    assert refused.exit_code == 2 and "no topic 'accounts.stat'" in refused.output
