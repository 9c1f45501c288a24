"""Live market channels: a snapshot first, then deltas numbered per room, for every channel."""

from contextlib import AsyncExitStack
from decimal import Decimal

import pytest

from api import channels
from quantdesk.broker import EmbeddedBroker
from quantdesk.messages import OracleTick, dump
from quantdesk.kafka.publisher import Publisher
from quantdesk.settings import Settings
from tests.api.conftest import served
from tests.api.listening import Listener
from streams.domain.market_tracker import MarketTracker
from tests.waiting import eventually

T0 = 1_767_225_600_000
CHANNELS = ("ticker", "trades", "candles", "funding", "signals")


def tick(market: str, ts: int, price: str) -> tuple[str, str, dict]:
    """Return the market state the worker publishes for an oracle tick its guard accepted."""
    return "markets.state", market, {"id": f"tick:{market}:{ts}:state", "ts": ts, "market": market,
                                     "oracle_price": price, "conf": "0.5", "mark_price": price, "status": "healthy",
                                     "reason": "", "tick_price": price}


def trade(market: str, ts: int, size: str, price: str) -> list[tuple[str, str, dict]]:
    """Return both sides of a trade: the taker buys, the maker sells."""
    return [("trades.fills", f"{who}:0", {"id": f"fill:{ts}:{who}", "ts": ts, "market": market, "wallet": who,
                                          "side": side, "size": size, "price": price, "liquidity": who})
            for who, side in (("taker", "buy"), ("maker", "sell"))]


def derived(market: str, ts: int) -> list[tuple[str, str, dict]]:
    """Return what the worker derives for a market: a state, a funding period and two signals."""
    return [("markets.state", market, {"id": f"state:{ts}", "ts": ts, "market": market, "oracle_price": "100",
                                       "conf": "0.5", "mark_price": "100.1", "status": "healthy", "reason": ""}),
            ("funding.rates", market, {"id": f"funding:{ts}", "ts": ts, "market": market,
                                       "period_start": ts - 3_600_000, "period_end": ts, "oracle_twap": "100",
                                       "mark_twap": "100.1", "rate": "0.00004", "cumulative_index": "0.004"}),
            ("mikey.signals", market, {"id": f"whale:{ts}", "ts": ts, "kind": "whale", "severity": "info",
                                       "market": market, "subject": market, "message": "a $120k fill", "data": {}}),
            ("mikey.signals", "someone:0", {"id": f"health:{ts}", "ts": ts, "kind": "health", "severity": "warning",
                                            "wallet": "someone", "subject": "someone:0", "message": "health under 20"})]


async def subscribe_all(listener: Listener, market: str) -> None:
    """Subscribe to every market channel of a market (1-minute candles)."""
    for channel in CHANNELS:
        ack = await listener.subscribe(channel=channel, market=market, resolution="1m")
        assert ack["ok"], ack


def consecutive(events: list[dict]) -> bool:
    """Return whether the sequence numbers of a room's events have no gap."""
    seqs = [e["seq"] for e in events]
    return seqs == list(range(seqs[0], seqs[0] + len(seqs)))


async def test_market_channels_send_a_snapshot_then_numbered_deltas(settings: Settings, broker: EmbeddedBroker) -> None:
    async with AsyncExitStack() as stack:
        url = await stack.enter_async_context(served(settings, broker.bootstrap))
        early = await Listener().connect(url)
        stack.push_async_callback(early.close)
        await subscribe_all(early, "BTC-PERP")
        assert all(early.events[c][0]["snapshot"] and early.events[c][0]["seq"] == 0 for c in CHANNELS)

        publisher = await stack.enter_async_context(Publisher(settings, broker.bootstrap))
        await publisher.send([tick("BTC-PERP", T0 + 1000, "100"), tick("BTC-PERP", T0 + 2000, "103"),
                              *trade("BTC-PERP", T0 + 2500, "2", "101"), tick("BTC-PERP", T0 + 3000, "99"),
                              *trade("BTC-PERP", T0 + 4000, "1", "102"), *derived("BTC-PERP", T0 + 5000),
                              tick("ETH-PERP", T0 + 1000, "3000"), *trade("ETH-PERP", T0 + 1500, "1", "3000")])
        wanted = {"ticker": 4, "trades": 2, "funding": 1, "signals": 1}  # a state per tick, and the derived one

        async def heard() -> bool:
            bars = early.deltas("candles")
            return all(len(early.deltas(c)) >= n for c, n in wanted.items()) and bars and \
                bars[-1]["data"]["trades"] == 2 and bars[-1]["data"]["close"] == "99"
        await eventually(heard, what="every BTC channel's deltas")
        assert {c: len(early.deltas(c)) for c in wanted} == wanted
        assert 3 <= len(early.deltas("candles")) <= 5  # one per tick, one per taker fill once the minute has a price
        assert all(consecutive(early.events[c]) for c in CHANNELS)
        assert {e["market"] for c in CHANNELS for e in early.events[c]} == {"BTC-PERP"}
        assert [t["data"]["size"] for t in early.deltas("trades")] == ["2", "1"]
        assert "wallet" not in early.deltas("trades")[0]["data"]
        bar = early.deltas("candles")[-1]
        assert bar["resolution"] == "1m" and bar["data"]["time"] == T0
        assert [Decimal(bar["data"][k]) for k in ("open", "high", "low", "close")] == [100, 103, 99, 99]
        assert Decimal(bar["data"]["volume"]) == 2 * 101 + 102 and bar["data"]["trades"] == 2
        assert early.deltas("signals")[0]["data"]["kind"] == "whale"

        late = await Listener().connect(url)
        stack.push_async_callback(late.close)
        await subscribe_all(late, "BTC-PERP")
        for channel in CHANNELS:
            snapshot = late.events[channel][0]
            assert snapshot["snapshot"] and snapshot["seq"] == early.events[channel][-1]["seq"]
        assert late.events["candles"][0]["data"] == bar["data"]
        assert len(late.events["trades"][0]["data"]) == 2 and late.events["ticker"][0]["data"]["mark_price"] == "100.1"
        assert late.events["funding"][0]["data"]["rate"] == "0.00004"

        await publisher.send([tick("BTC-PERP", T0 + 61_000, "98")])

        async def next_bar() -> bool:
            return len(late.deltas("candles")) == 1 and early.deltas("candles")[-1]["seq"] == bar["seq"] + 1
        await eventually(next_bar, what="the next minute's candle for both")
        assert late.deltas("candles")[0]["seq"] == bar["seq"] + 1 == early.deltas("candles")[-1]["seq"]
        assert late.deltas("candles")[0]["data"]["time"] == T0 + 60_000


async def test_subscriptions_are_refused_in_the_platform_shape(settings: Settings) -> None:
    async with served(settings, None) as url:
        listener = await Listener().connect(url)
        try:
            bad_width = await listener.subscribe(channel="candles", market="BTC-PERP", resolution="2m")
            no_market = await listener.subscribe(channel="trades")
            unknown = await listener.subscribe(channel="orders3", market="BTC-PERP")  # no such channel
        finally:
            await listener.close()
        assert [a["error"]["code"] for a in (bad_width, no_market, unknown)] == ["invalid_request", "not_found",
                                                                                  "invalid_request"]
        assert "orders3" in unknown["error"]["message"] and "orderbook" in unknown["error"]["message"]


async def test_live_candles_take_only_the_ticks_the_oracle_guard_accepted(settings: Settings,
                                                                         broker: EmbeddedBroker) -> None:
    ticks = [OracleTick(id=f"eth:{n}", ts=T0 + 1000 * n, market="ETH-PERP", price=price, conf=Decimal(1),
                        publish_time=T0 + 1000 * n) for n, price in enumerate(map(Decimal, ("3000", "9000", "3010")))]
    tracker = MarketTracker("ETH-PERP")
    states = [dump(tracker.on_tick(t)) for t in ticks]  # as the worker publishes them: 9000 (3×) is refused
    assert [s["status"] for s in states] == ["healthy", "degraded", "healthy"]
    async with AsyncExitStack() as stack:
        url = await stack.enter_async_context(served(settings, broker.bootstrap))
        listener = await Listener().connect(url)
        stack.push_async_callback(listener.close)
        assert (await listener.subscribe(channel="candles", market="ETH-PERP", resolution="1m"))["ok"]
        publisher = await stack.enter_async_context(Publisher(settings, broker.bootstrap))
        await publisher.send([("oracle.ticks", "ETH-PERP", dump(t)) for t in ticks])
        await publisher.send([("markets.state", "ETH-PERP", s) for s in states])

        async def closed_at_3010() -> bool:
            bars = listener.deltas("candles")
            return bool(bars) and bars[-1]["data"]["close"] == "3010"
        await eventually(closed_at_3010, what="the candle of the last accepted tick")
    bar = listener.deltas("candles")[-1]["data"]
    assert [Decimal(bar[k]) for k in ("open", "high", "low", "close")] == [3000, 3010, 3000, 3010]
    assert all(Decimal(b["data"]["high"]) < 9000 for b in listener.deltas("candles"))


def test_book_and_status_subscriptions_are_parsed_and_hostile_ones_refused(settings: Settings) -> None:
    book = channels.parse(settings, {"channel": "orderbook", "market": "SOL-PERP", "venue": "hyperliquid"})
    assert (channels.market_room(book), channels.market_header(book)) == (
        "orderbook:SOL-PERP:hyperliquid", {"channel": "orderbook", "market": "SOL-PERP", "venue": "hyperliquid"})
    consolidated = channels.parse(settings, {"channel": "orderbook", "market": "SOL-PERP"})
    assert channels.market_room(consolidated) == "orderbook:SOL-PERP"
    status = channels.parse(settings, {"channel": "status"})
    assert (channels.market_room(status), channels.market_header(status)) == ("status", {"channel": "status"})
    for hostile, code in (({"channel": "orderbook", "market": "SOL-PERP", "venue": "v" * 257}, "invalid_request"),
                          ({"channel": "orderbook", "market": "SOL-PERP", "venue": ""}, "invalid_request"),
                          ({"channel": "orderbook", "market": "SOL-PERP", "venue": 7}, "invalid_request"),
                          ({"channel": "bbo"}, "not_found"), ({"channel": "bbo", "market": "DOGE-PERP"}, "not_found")):
        with pytest.raises(channels.Refusal) as refused:
            channels.parse(settings, hostile)
        assert refused.value.code == code, hostile
