"""Pushes: the news of each feed topic, numbered per room; a room nobody here listens to keeps its number."""

from api.live import FEED_TOPICS, TOPICS, LiveState
from quantdesk.settings import Settings
from tests.api.held import T0, funding_period, market_state
from tests.api.rooms import events, gateway_of, member


async def test_a_room_nobody_here_listens_to_gets_no_push_and_keeps_its_number(settings: Settings) -> None:
    gateway = gateway_of(settings)
    await gateway.pushes.push_market("ticker", "BTC-PERP", {"market": "BTC-PERP", "ts": 1})
    assert gateway.pushes.seq == {}
    socket = await member(gateway, "e0", "ticker:BTC-PERP")
    await gateway.pushes.push_market("ticker", "BTC-PERP", {"market": "BTC-PERP", "ts": 2})
    assert [data["seq"] for _, data in events(socket)] == [1]  # the snapshot it got carried 0


def test_each_feed_topic_is_one_row_and_a_topic_without_one_is_no_news() -> None:
    assert FEED_TOPICS == tuple(TOPICS) == ("markets.state", "trades.fills", "funding.rates", "mikey.signals",
                                            "accounts.state", "venues.prices", "books")
    assert not LiveState(("BTC-PERP",)).apply("oracle.ticks", market_state("BTC-PERP", T0, "100", "100"))


async def test_an_event_goes_to_the_rooms_its_topic_row_names(settings: Settings) -> None:
    gateway = gateway_of(settings)
    ticker, candles = await member(gateway, "t", "ticker:BTC-PERP"), await member(gateway, "c", "candles:BTC-PERP:1m")
    funding, signals = await member(gateway, "f", "funding:BTC-PERP"), await member(gateway, "s", "signals:BTC-PERP")
    state = {**market_state("BTC-PERP", T0 + 1000, "100", "100.5"), "tick_price": "100"}
    period = funding_period("BTC-PERP", T0, "0.00004", "0.004")
    alert = {"id": "health:1", "ts": T0, "kind": "health", "severity": "warning", "wallet": "someone", "subaccount": 0,
             "subject": "someone:0", "message": "health under 20"}
    for topic, event in (("markets.state", state), ("funding.rates", period), ("mikey.signals", alert)):
        assert gateway.live.apply(topic, event)
        await gateway.on_event(topic, event)
    await gateway.on_event("oracle.ticks", state)  # no row: pushed nowhere
    assert [(name, d["seq"], d["data"]["mark_price"]) for name, d in events(ticker)] == [("ticker", 1, "100.5")]
    assert [(name, d["resolution"], d["data"]["close"]) for name, d in events(candles)] == [("candles", "1m", "100")]
    assert [data["data"]["rate"] for _, data in events(funding)] == ["0.00004"]
    assert list(events(signals)) == []  # an account's signal goes to that wallet only
