"""The Pyth source: Hermes' recorded payloads and a real price account become oracle ticks."""

import copy
from decimal import Decimal
from typing import Any, AsyncIterator

import pytest

from streams.sources.ingest.oracle import MESSAGE_BYTES, bounded_lines
from streams.sources.ingest.service import ingest_running
from quantdesk.messages import DeadLetter, OracleTick
from quantdesk.settings import Settings
from tests.streams.sources.ingest.conftest import metric, metrics_text, pointed_at, read_topic
from tests.streams.sources.ingest.fake_hermes import FakeHermes, recorded
from tests.streams.sources.ingest.fake_solana import FakeSolana
from tests.waiting import eventually
from tests.conftest import LOCAL_FIXTURES

BTC_FEED = "e62df6c8b4a85fe1a67db44dc12de5db330f7ac66b72dc658afedf0f4a415b43"
AAPL = LOCAL_FIXTURES / "pyth" / "price_account_aapl.bin"
AAPL_KEY = "5yixRcKtcs5BZ1K2FsLFwmES1MyA92d6efvijjVevQCw"
AAPL_PUB_SLOT = 197635583


async def events(settings: Settings, topic: str, count: int = 1) -> list[dict[str, Any]]:
    """Return the topic's events once there are at least `count`."""
    found = await read_topic(settings, topic)
    return found if len(found) >= count else []


@pytest.mark.parametrize(("transport", "price", "conf", "slot", "ts"), [
    ("websocket", "29206.79499999", "5.09500001", 85480034, 1708363256000),
    ("sse", "51900.75917635", "26.61582364", 125976528, 1708363257000),
])
async def test_hermes_updates_become_oracle_ticks_with_their_price_and_conf(
        settings: Settings, hermes: FakeHermes, transport: str, price: str, conf: str, slot: int, ts: int) -> None:
    cfg = pointed_at(settings, hermes_url=hermes.ws_url if transport == "websocket" else hermes.url)
    async with ingest_running(cfg, cfg.kafka_bootstrap or "", ("pyth",)):
        (raw,) = await eventually(lambda: events(cfg, "oracle.ticks"), what="the Hermes tick")
    tick = OracleTick.model_validate(raw)
    assert (tick.market, tick.price, tick.conf) == ("BTC-PERP", Decimal(price), Decimal(conf))
    assert (tick.publish_time, tick.ts, tick.slot) == (1708363256000, ts, slot)
    assert (tick.source, tick.status) == ("pyth-hermes", "trading")
    assert sorted(hermes.subscriptions[0]) == sorted(cfg.feed_markets)


@pytest.mark.parametrize(("ending", "transport"),
                         [("dropped", "websocket"), ("silent", "websocket"), ("silent", "sse")])
async def test_a_stream_dropped_or_gone_silent_is_made_again_and_reports_the_gap(settings: Settings, ending: str,
                                                                                 transport: str) -> None:
    # each connection gets one update, then is closed, or left open and silent
    hermes = await FakeHermes(drop=ending == "dropped").start()
    try:
        cfg = pointed_at(settings, hermes_url=hermes.ws_url if transport == "websocket" else hermes.url,
                         hermes_silence_s=0.5 if ending == "silent" else 600.0)
        async with ingest_running(cfg, cfg.kafka_bootstrap or "", ("pyth",)):
            async def gap_closed() -> str:
                text = await metrics_text(cfg)
                measured = metric(text, "ingest_gap_seconds_total", source="hermes") > 0
                both_sides = metric(text, "ingest_published_total", source="hermes", topic="oracle.ticks") >= 2
                return text if measured and both_sides else ""
            text = await eventually(gap_closed, what="a gap measured and a tick published after reconnecting")
    finally:
        await hermes.stop()
    assert hermes.connections >= 2 and len(hermes.subscriptions) >= 2
    assert metric(text, "ingest_gaps_total", source="hermes") >= 1
    assert metric(text, "ingest_reconnects_total", source="hermes") >= 1


async def test_an_event_line_past_the_bound_ends_the_stream_unread(settings: Settings) -> None:
    hermes = await FakeHermes(first=(b"data:" + b"7" * MESSAGE_BYTES,)).start()  # no line break: it would only grow
    try:
        cfg = pointed_at(settings, hermes_url=hermes.url, hermes_silence_s=600.0)
        async with ingest_running(cfg, cfg.kafka_bootstrap or "", ("pyth",)):
            async def given_up_twice() -> str:
                text = await metrics_text(cfg)
                return text if metric(text, "ingest_reconnects_total", source="hermes") >= 2 else ""
            text = await eventually(given_up_twice, what="the stream given up at the bound, each time")
    finally:
        await hermes.stop()
    assert metric(text, "ingest_published_total", source="hermes", topic="oracle.ticks") == 0


@pytest.mark.parametrize("chunks", [["a\nb\r\nc\rd\n"], ["a", "\nb\r", "\nc", "\r", "d\n"], ["a\nb\r\nc\rd"]])
async def test_event_lines_are_split_at_any_break_across_chunks(chunks: list[str]) -> None:
    async def stream() -> AsyncIterator[str]:
        for chunk in chunks:
            yield chunk
    lines = [line async for line in bounded_lines(stream(), 10)]
    assert [line for line in lines if line] == ["a", "b", "c", "d"]  # a CRLF split across chunks: one empty line more


async def test_a_line_longer_than_the_bound_is_refused_before_it_is_read_further() -> None:
    read = []

    async def endless() -> AsyncIterator[str]:
        while True:
            read.append(1)
            yield "x" * 1000
    with pytest.raises(ValueError, match="longer than 4000 characters"):
        async for _ in bounded_lines(endless(), 4000):
            pass
    assert len(read) == 5


async def test_an_unreadable_update_goes_to_the_dlq_and_a_binary_mismatch_is_counted(settings: Settings) -> None:
    broken = recorded()
    del broken["data_v2"]["parsed"][0]["price"]["expo"]
    hermes = await FakeHermes(broken).start()
    try:
        cfg = pointed_at(settings, hermes_url=hermes.url)
        async with ingest_running(cfg, cfg.kafka_bootstrap or "", ("pyth",)):
            (raw,) = await eventually(lambda: events(cfg, "dlq"), what="the unreadable payload's dead letter")
        assert await read_topic(cfg, "oracle.ticks") == []
        ws = pointed_at(settings, hermes_url=hermes.ws_url)
        async with ingest_running(ws, ws.kafka_bootstrap or "", ("pyth",)):
            await eventually(lambda: events(ws, "oracle.ticks"), what="the v1 tick")
            text = await metrics_text(ws)
    finally:
        await hermes.stop()
    letter = DeadLetter.model_validate(raw)
    assert "malformed Hermes payload" in letter.reason and "expo" in letter.reason
    assert (letter.topic, letter.stage) == ("oracle.ticks", "decode")  # type: ignore[attr-defined]
    # the v1 fixture's JSON is not the price inside its own VAA: used, and counted
    assert metric(text, "ingest_hermes_binary_mismatches_total", source="hermes") == 1


async def test_hostile_frames_are_dead_letters_and_the_stream_goes_on(settings: Settings) -> None:
    # a frame that is not JSON, one that is no object, an update without its feed and a feed of a negative
    # confidence: each ended the stream (a JSONDecodeError, an AttributeError, a KeyError; the tick refused by the
    # input) with no dead letter
    negative = copy.deepcopy(recorded()["data_v1"])
    negative["price"]["conf"] = "-5"
    hermes = await FakeHermes(first=(b"{not json", [1, 2], {"type": "price_update"},
                                     {"type": "price_update", "price_feed": negative})).start()
    try:
        cfg = pointed_at(settings, hermes_url=hermes.ws_url)
        async with ingest_running(cfg, cfg.kafka_bootstrap or "", ("pyth",)):
            letters = await eventually(lambda: events(cfg, "dlq", 4), what="four dead letters")
            await eventually(lambda: events(cfg, "oracle.ticks"), what="the fixture's tick after them")
    finally:
        await hermes.stop()
    reasons = sorted(DeadLetter.model_validate(raw).reason for raw in letters)
    assert len(reasons) == 4 and hermes.connections == 1
    assert "BTC-PERP: invalid conf" in reasons[0] and all("malformed Hermes payload" in r for r in reasons[1:])


async def test_a_price_account_is_read_at_its_slot_and_turns_stale_after_max_latency(
        settings: Settings, node: FakeSolana) -> None:
    node.accounts[AAPL_KEY] = AAPL.read_bytes()
    node.slot = AAPL_PUB_SLOT + 1
    cfg = pointed_at(settings, node, pyth_price_accounts={AAPL_KEY: "AAPL-PERP"}, pyth_account_poll_s=0.05)
    async with ingest_running(cfg, cfg.kafka_bootstrap or "", ("pyth",)):
        (fresh,) = await eventually(lambda: events(cfg, "oracle.ticks"), what="the account's tick")
        node.slot = AAPL_PUB_SLOT + 51
        ticks = await eventually(lambda: events(cfg, "oracle.ticks", 2), what="the stale tick")
    first, stale = (OracleTick.model_validate(t) for t in ticks)
    assert first == OracleTick.model_validate(fresh)
    assert (first.market, first.price, first.conf, first.status) == ("AAPL-PERP", Decimal("236.23373"),
                                                                     Decimal("0.14454"), "trading")
    assert (first.source, first.slot) == ("pyth-account", AAPL_PUB_SLOT)
    assert stale.status == "unknown" and stale.id == f"{first.id}:unknown" and stale.price == first.price
    assert len(await read_topic(cfg, "oracle.ticks")) == 2  # unchanged reads publish nothing
