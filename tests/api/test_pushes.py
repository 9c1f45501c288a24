"""Pushes: the news of each feed topic, numbered per room and logged; a room nobody here listens to gets nothing and
loses its log; a joiner gets its snapshot or the deltas it missed, exactly as pushed."""

from api.live import FEED_TOPICS, TOPICS, LiveState
from api.sockets import Gateway
from quantdesk.settings import Settings
from tests.api.held import T0, funding_period, market_state
from tests.api.rooms import events, gateway_of, member


async def test_a_room_nobody_here_listens_to_gets_no_push_and_is_not_numbered(settings: Settings) -> None:
    gateway = gateway_of(settings)
    await gateway.pushes.push_market("ticker", "BTC-PERP", {"market": "BTC-PERP", "ts": 1})
    assert gateway.pushes.logs.logs == {}
    socket = await member(gateway, "e0", "ticker:BTC-PERP")
    await gateway.pushes.push_market("ticker", "BTC-PERP", {"market": "BTC-PERP", "ts": 2})
    assert [data["seq"] for _, data in events(socket)] == [1]  # the snapshot it got carried 0


def test_each_feed_topic_is_one_row_and_a_topic_without_one_is_no_news() -> None:
    assert FEED_TOPICS == tuple(TOPICS) == ("markets.state", "trades.fills", "funding.rates", "mikey.signals",
                                            "accounts.state", "venues.prices", "orders.state", "books",
                                            "admin.commands")
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


def sid_of(gateway: Gateway, eio_sid: str) -> str:
    """Return the Socket.IO sid of a member added by hand."""
    return gateway.sio.manager.sid_from_eio_sid(eio_sid, "/")


def snapshot_at(seq: int) -> dict:
    """Return a snapshot event numbered `seq`."""
    return {"seq": seq, "snapshot": True, "data": None}


async def test_an_account_room_resyncs_with_the_deltas_exactly_as_pushed(settings: Settings) -> None:
    gateway, name = gateway_of(settings), "account:session"
    first = await member(gateway, "e0", name)
    gateway.pushes.watch("wallet", name)
    for n in range(3):
        await gateway.pushes.push_account("wallet", "state", {"n": n})
    pushed = list(events(first))
    second = await member(gateway, "e1", "ticker:BTC-PERP")
    assert gateway.pushes.join(sid_of(gateway, "e1"), name, "account", 1, snapshot_at) == (3, True)
    assert list(events(second)) == pushed[1:] and [d["seq"] for _, d in pushed] == [1, 2, 3]
    assert gateway.pushes.join(sid_of(gateway, "e1"), name, "account", 4, snapshot_at) == (3, False)  # ahead
    assert list(events(second)) == [["account", snapshot_at(3)]]


async def test_a_room_that_emptied_loses_its_log_and_its_numbers(settings: Settings) -> None:
    gateway, name = gateway_of(settings), "ticker:BTC-PERP"
    await member(gateway, "e0", name)
    for ts in (1, 2, 3):
        await gateway.pushes.push_market("ticker", "BTC-PERP", {"market": "BTC-PERP", "ts": ts})
    gateway.sio.manager.basic_leave_room(sid_of(gateway, "e0"), "/", name)
    await gateway.pushes.push_market("ticker", "BTC-PERP", {"market": "BTC-PERP", "ts": 4})  # nobody hears it
    assert name not in gateway.pushes.logs.logs
    socket = await member(gateway, "e1", "ticker:ETH-PERP")
    seq, caught_up = gateway.pushes.join(sid_of(gateway, "e1"), name, "ticker", 3, snapshot_at)
    assert not caught_up and seq > 3  # the change at ts 4 was never numbered: only a snapshot shows it
    assert list(events(socket)) == [["ticker", snapshot_at(seq)]]
    await gateway.unsubscribe(sid_of(gateway, "e1"), {"channel": "ticker", "market": "BTC-PERP"})
    assert name not in gateway.pushes.logs.logs
