"""The order book over REST and Socket.IO: the same book at the same `seq`, end to end through Kafka; a fresh
gateway's books from the topic's recent snapshots; hostile query parameters refused."""

from typing import Any

import httpx

from quantdesk.broker import EmbeddedBroker
from quantdesk.kafka.publisher import Publisher
from quantdesk.settings import Settings
from tests.api.conftest import RELAXED, client, gateway, served
from tests.api.held import T0, book
from tests.api.listening import Listener
from tests.waiting import eventually

SOL = "SOL-PERP"


async def publish(settings: Settings, bootstrap: str, *events: dict[str, Any]) -> None:
    """Publish `books` events keyed by market, as a venue's source does."""
    async with Publisher(settings, bootstrap) as publisher:
        await publisher.send([("books", e["market"], e) for e in events])


def last(listener: Listener, channel: str, venue: str | None = None) -> dict[str, Any] | None:
    """Return the last event a listener got on a channel (of one venue's room, or the consolidated one)."""
    got = [e for e in listener.events[channel] if e.get("venue") == venue]
    return got[-1] if got else None


async def test_rest_and_socket_books_are_equal_at_the_same_seq_through_kafka(settings: Settings,
                                                                              broker: EmbeddedBroker) -> None:
    # Hyperliquid's snapshot is on the topic before the gateway starts: its warm-up read brings it in
    await publish(settings, broker.bootstrap, book("hyperliquid", SOL, 40, T0 + 100, bids=(("99.95", "1"),),
                                                   asks=(("100.12", "1"), ("100.2", "4"))))
    async with served(settings, broker.bootstrap, RELAXED) as url, httpx.AsyncClient(base_url=url) as http:
        async def held() -> bool:
            return (await http.get(f"/api/v1/markets/{SOL}/orderbook")).json()["seq"] == 40
        await eventually(held, what="a fresh gateway holding the snapshot published before it started")
        listener = await Listener().connect(url)
        try:
            assert (await listener.subscribe(channel="orderbook", market=SOL))["ok"]
            assert (await listener.subscribe(channel="bbo", market=SOL))["ok"]
            refused = await listener.subscribe(channel="orderbook", market=SOL, venue="quantdesk")  # none yet
            assert refused["error"]["code"] == "not_found" and "venues: hyperliquid" in refused["error"]["message"]
            await publish(settings, broker.bootstrap, book("quantdesk", SOL, 7, T0 + 200, bids=(("99.9", "3"),),
                                                           asks=(("100.1", "2"), ("100.118", "3"))))

            async def ours() -> bool:
                return "quantdesk" in (await http.get(f"/api/v1/markets/{SOL}/bbo")).text
            await eventually(ours, what="our venue's book")
            assert (await listener.subscribe(channel="orderbook", market=SOL, venue="quantdesk"))["ok"]
            deltas = [book("quantdesk", SOL, seq, T0 + 200 + seq, bids=(("99.8", str(seq)),), kind="delta")
                      for seq in range(8, 58)]
            await publish(settings, broker.bootstrap, *deltas, book("quantdesk", SOL, 58, T0 + 300,
                                                                    asks=(("100.05", "1"),), kind="delta"))

            async def settled() -> bool:
                event = last(listener, "orderbook")
                return event is not None and event["data"]["seq"] == 40 + 58
            await eventually(settled, what="the socket's consolidated book at seq 98")
            rest = (await http.get(f"/api/v1/markets/{SOL}/orderbook")).json()
            assert rest["seq"] == 98 and last(listener, "orderbook")["data"] == rest
            venue_rest = (await http.get(f"/api/v1/markets/{SOL}/orderbook", params={"venue": "quantdesk"})).json()
            await eventually(lambda: _at(listener, "quantdesk", 58), what="the venue room at seq 58")
            assert last(listener, "orderbook", "quantdesk")["data"] == venue_rest
            bbo_rest = (await http.get(f"/api/v1/markets/{SOL}/bbo")).json()
            await eventually(lambda: _bbo_at(listener, "100.05"), what="the bbo room at our new best ask")
            assert last(listener, "bbo")["data"]["best_ask"] == bbo_rest["best_ask"] == {
                "venue": "quantdesk", "price": "100.05", "size": "1", "orders": 1}
        finally:
            await listener.close()
    # each room: its snapshot first, then deltas numbered one by one
    for venue in (None, "quantdesk"):
        room = [e for e in listener.events["orderbook"] if e["venue"] == venue]
        assert room[0]["snapshot"] and all(not e["snapshot"] for e in room[1:])
        assert [e["seq"] for e in room[1:]] == list(range(room[0]["seq"] + 1, room[0]["seq"] + len(room)))
    # the consolidated room saw every update: our snapshot and 51 deltas, each a new seq of the books
    consolidated = [e["data"]["seq"] for e in listener.events["orderbook"] if e["venue"] is None]
    assert consolidated == [40, 47, *range(48, 99)]
    # the bbo room moved only when a best level did (the deltas at 99.8 are below the top): the snapshot
    # (Hyperliquid's alone), ours arriving, then our 100.05
    assert [(e["data"]["best_bid"]["price"], e["data"]["best_ask"]["price"]) for e in listener.events["bbo"]] == [
        ("99.95", "100.12"), ("99.95", "100.1"), ("99.95", "100.05")]


async def _at(listener: Listener, venue: str, seq: int) -> bool:
    event = last(listener, "orderbook", venue)
    return event is not None and event["data"]["seq"] == seq


async def _bbo_at(listener: Listener, ask: str) -> bool:
    event = last(listener, "bbo")
    return event is not None and event["data"]["best_ask"]["price"] == ask


async def test_hostile_query_parameters_unknown_markets_and_venues_are_refused(settings: Settings) -> None:
    async with gateway(settings, RELAXED) as app, client(app) as http:
        app.other_asgi_app.state.live.apply("books", book("hyperliquid", SOL, 1, T0, bids=(("99", "1"),)))
        path = f"/api/v1/markets/{SOL}/orderbook"
        for params in ({"depth": "0"}, {"depth": "501"}, {"depth": "-1"}, {"depth": "abc"}, {"depth": "1.5"},
                       {"depth": "1e9"}, {"depth": str(2**70)}, {"venue": ""}, {"venue": "v" * 257}):
            response = await http.get(path, params=params)
            assert (response.status_code, response.json()["error"]["code"]) == (422, "invalid_request"), params
        unknown = await http.get(path, params={"venue": "binance"})
        assert unknown.status_code == 404 and "venues: hyperliquid" in unknown.json()["error"]["message"]
        for bad in ("DOGE-PERP", "..%2F..%2Fstatus", "SOL-PERP%00", "%27%20OR%201%3D1"):
            for what in ("orderbook", "bbo"):
                response = await http.get(f"/api/v1/markets/{bad}/{what}")
                assert response.status_code == 404 and response.json()["error"]["code"] == "not_found", (bad, what)
        one = (await http.get(path, params={"depth": "1", "venue": "hyperliquid"})).json()
        assert (one["depth"], one["venue"], one["bids"], one["asks"]) == (
            1, "hyperliquid", [{"venue": "hyperliquid", "price": "99", "size": "1", "orders": 1}], [])
        empty = (await http.get("/api/v1/markets/BTC-PERP/orderbook")).json()  # listed, no book yet
        assert (empty["seq"], empty["bids"], empty["venues"], empty["healthy"]) == (0, [], [], False)
