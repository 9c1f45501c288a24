"""Hyperliquid's allMids feed, from a local server speaking its wire format, onto the real broker: our coins'
mids exactly, other coins ignored, what cannot be read dead-lettered with its reason, a dropped or silent
connection made again, pings answered."""

import time
from decimal import Decimal
from typing import Any

import pytest

from quantdesk.messages import DeadLetter, VenuePrice
from quantdesk.settings import Settings
from streams.sources.ingest.service import ingest_running
from streams.sources.venues.adapter import Update
from streams.sources.venues.hyperliquid import SUBSCRIBE, Stamper, read
from tests.streams.sources.ingest.conftest import metric, metrics_text, pointed_at, read_topic
from tests.streams.sources.venues.fake_hyperliquid import GREETING, FakeHyperliquid, all_mids
from tests.waiting import eventually

COINS = {"BTC": "BTC-PERP", "ETH": "ETH-PERP", "SOL": "SOL-PERP"}


def venue_settings(settings: Settings, fake: FakeHyperliquid, **extra: Any) -> Settings:
    """Return ingest settings pointing at the fake Hyperliquid."""
    return pointed_at(settings, hyperliquid_ws_url=fake.url, **extra)


async def at_least(settings: Settings, topic: str, count: int) -> list[dict[str, Any]]:
    """Return a topic's events once there are at least `count`."""
    found = await read_topic(settings, topic)
    return found if len(found) >= count else []


async def test_our_coins_mids_arrive_exactly_and_other_coins_are_ignored(settings: Settings) -> None:
    mids = {"BTC": "97012.123456", "ETH": "3201.2", "SOL": "150.000000000000000001", "PURR/USDC": "0.2",
            "@107": "35.1", "DOGE": "0.12"}
    fake = await FakeHyperliquid([[all_mids(mids)]]).start()
    try:
        cfg = venue_settings(settings, fake)
        before = time.time_ns() // 1_000_000
        async with ingest_running(cfg, cfg.kafka_bootstrap or "", ("hyperliquid",)):
            prices = await eventually(lambda: at_least(cfg, "venues.prices", 3), what="the three mids")
            text = await metrics_text(cfg)
        after = time.time_ns() // 1_000_000
    finally:
        await fake.stop()
    assert fake.received[0] == SUBSCRIBE == {"method": "subscribe", "subscription": {"type": "allMids"}}
    by_market = {p["market"]: p for p in prices}
    assert sorted(by_market) == ["BTC-PERP", "ETH-PERP", "SOL-PERP"] and len(prices) == 3
    for coin, market in COINS.items():
        raw = by_market[market]
        assert raw["price"] == mids[coin]  # the decimal string as sent: no float on the way
        price = VenuePrice.model_validate(raw)
        assert (price.venue, price.source, price.price, price.bid) == ("hyperliquid", "allMids", Decimal(mids[coin]),
                                                                       None)
        assert before <= price.ts <= after and price.id == f"hyperliquid:{coin}:{price.ts}"
    assert await read_topic(cfg, "dlq") == []  # the greeting and the acknowledgement are no dead letters
    assert metric(text, "ingest_published_total", source="hyperliquid", topic="venues.prices") == 3
    assert metric(text, "ingest_connected", source="hyperliquid") == 1


async def test_a_malformed_message_goes_to_the_dlq_with_its_reason(settings: Settings) -> None:
    script: list[dict[str, Any] | str] = [
        "{not json", ["no", "channel"], {"channel": "allMids", "data": {"coins": {}}},
        all_mids({"BTC": 97012.5, "ETH": "-3201.2", "SOL": "150.0615"})]
    fake = await FakeHyperliquid([script]).start()
    try:
        cfg = venue_settings(settings, fake)
        async with ingest_running(cfg, cfg.kafka_bootstrap or "", ("hyperliquid",)):
            letters = await eventually(lambda: at_least(cfg, "dlq", 5), what="five dead letters")
            (sol,) = await eventually(lambda: at_least(cfg, "venues.prices", 1), what="SOL's mid")
            text = await metrics_text(cfg)
    finally:
        await fake.stop()
    reasons = sorted(DeadLetter.model_validate(d).reason for d in letters)
    assert len(reasons) == 5 and all(d["topic"] == "venues.prices" and d["stage"] == "decode" for d in letters)
    assert any(r.startswith("Hyperliquid message is not JSON") for r in reasons)
    assert "Hyperliquid message is not an object with a `channel`" in reasons
    assert "Hyperliquid allMids message without a `mids` object" in reasons
    assert "Hyperliquid mid of BTC is not a decimal string: 97012.5" in reasons
    assert any(r.startswith("Hyperliquid mid of ETH '-3201.2' refused") for r in reasons)
    assert {d["payload"] for d in letters} >= {"{not json", '["no", "channel"]'}
    assert (sol["market"], sol["price"]) == ("SOL-PERP", "150.0615")  # the rest of that message still counts
    assert metric(text, "ingest_dlq_total", source="hyperliquid", stage="decode") == 5


async def test_a_dropped_connection_is_made_again(settings: Settings) -> None:
    fake = await FakeHyperliquid([[all_mids({"BTC": "97000"})], [all_mids({"BTC": "97001.5"})]], drop=True).start()
    try:
        cfg = venue_settings(settings, fake)
        async with ingest_running(cfg, cfg.kafka_bootstrap or "", ("hyperliquid",)):
            prices = await eventually(lambda: at_least(cfg, "venues.prices", 2), what="a mid from each connection")
            text = await metrics_text(cfg)
    finally:
        await fake.stop()
    assert [p["price"] for p in prices[:2]] == ["97000", "97001.5"] and fake.connections >= 2
    assert fake.received.count(SUBSCRIBE) >= 2  # subscribed again on the new connection
    assert metric(text, "ingest_reconnects_total", source="hyperliquid") >= 1
    assert metric(text, "ingest_gaps_total", source="hyperliquid") >= 1


@pytest.mark.parametrize("mute", [False, True])
async def test_pings_keep_a_quiet_connection_and_silence_drops_it(settings: Settings, mute: bool) -> None:
    fake = await FakeHyperliquid([], mute=mute).start()
    try:
        cfg = venue_settings(settings, fake, hyperliquid_ping_s=0.1, hyperliquid_silence_s=0.5)
        async with ingest_running(cfg, cfg.kafka_bootstrap or "", ("hyperliquid",)):
            async def pinged() -> bool:
                return fake.pings >= 15 if not mute else fake.connections >= 2
            await eventually(pinged, what="pings answered" if not mute else "a silent connection made again")
    finally:
        await fake.stop()
    assert {"method": "ping"} in fake.received
    assert (fake.connections == 1) is not mute  # answered pings keep the one connection; silence drops it


T = 1_767_225_600_000


def test_the_greeting_an_acknowledgement_and_a_pong_carry_no_prices_and_take_no_stamp() -> None:
    stamper = Stamper()
    assert read(GREETING, T, stamper, COINS) is None
    assert read('{"channel":"pong"}', T, stamper, COINS) is None
    assert read('{"channel":"subscriptionResponse","data":{"method":"subscribe","subscription":{"type":"allMids"}}}',
                T, stamper, COINS) is None
    other_dex = read('{"channel":"allMids","data":{"dex":"xyz","mids":{"BTC":"1"}}}', T, stamper, COINS)
    assert other_dex is not None and other_dex.prices == [] and other_dex.dead == []
    with pytest.raises(ConnectionError, match="refused"):
        read('{"channel":"error","data":"Invalid subscription"}', T, stamper, COINS)
    assert stamper.last == -1


def test_two_messages_in_one_ms_get_two_ids_and_a_clock_stepped_back_never_reuses_one() -> None:
    stamper, message = Stamper(), '{"channel":"allMids","data":{"mids":{"ETH":"3201.2"}}}'
    ids = [p.id for received in (T, T, T - 1000, T + 1) for p in (read(message, received, stamper, COINS) or
                                                                   Update()).prices]
    assert ids == [f"hyperliquid:ETH:{T}", f"hyperliquid:ETH:{T}:1", f"hyperliquid:ETH:{T}:2",
                   f"hyperliquid:ETH:{T + 1}"]
