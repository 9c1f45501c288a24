"""The gateway's own metrics as a scrape reads them: every HTTP answer by route template, method and status
(the edge's and the error handlers' too), and Socket.IO connections, subscriptions and emits with a real client."""

from contextlib import AsyncExitStack
from typing import AsyncIterator

import aiohttp
import httpx
import pytest
import socketio

from api.main import create_api
from quantdesk.settings import Settings
from quantdesk.warehouse import Warehouse
from tests.api.conftest import RELAXED, client, gateway, on_port, served
from tests.api.listening import Listener
from tests.api.scraped import Page, scrape
from tests.waiting import eventually

JSON = {"Content-Type": "application/json"}


async def test_every_answer_is_counted_by_route_template_method_and_status(settings: Settings,
                                                                            warehouse: Warehouse) -> None:
    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the edge stops it once routed
        for _ in range(8):
            yield b"x" * 16_384

    async with gateway(settings, RELAXED) as app, client(app) as http:
        answers = [await http.get("/health"), await http.get("/health"),
                   await http.get("/api/v1/markets/NOPE-PERP/candles"), await http.get("/no/such/page"),
                   await http.post("/api/v1/auth/nonce", json={"address": "x"}),
                   await http.request("BREW", "/health"),
                   await http.post("/api/v1/auth/nonce", content=b"x" * (settings.max_body_bytes + 1), headers=JSON),
                   await http.post("/api/v1/auth/nonce", content=chunks(), headers=JSON),
                   await http.get("/health", headers={"X-Big": "a" * (settings.max_header_line_bytes + 1)})]
        page = await scrape(http)
    assert [a.status_code for a in answers] == [200, 200, 404, 404, 422, 405, 413, 413, 431]
    counted = {labels: value for (name, labels), value in page.samples.items() if name == "gateway_requests_total"}
    assert counted == {frozenset(labels.items()): n for labels, n in (
        ({"route": "/health", "method": "GET", "status": "200"}, 2),
        ({"route": "/api/v1/markets/{market}/candles", "method": "GET", "status": "404"}, 1),
        ({"route": "unmatched", "method": "GET", "status": "404"}, 1),
        ({"route": "/api/v1/auth/nonce", "method": "POST", "status": "422"}, 1),
        ({"route": "/health", "method": "other", "status": "405"}, 1),  # a method nobody serves: one bounded label
        ({"route": "unmatched", "method": "POST", "status": "413"}, 1),  # refused by its Content-Length, unrouted
        ({"route": "/api/v1/auth/nonce", "method": "POST", "status": "413"}, 1),  # refused as it streamed
        ({"route": "unmatched", "method": "GET", "status": "431"}, 1))}
    assert page.value("gateway_request_seconds_count", route="/health", method="GET") == 2
    assert page.value("gateway_request_seconds_bucket", route="/health", method="GET", le="+Inf") == 2
    assert page.value("gateway_request_seconds_count", route="unmatched", method="GET") == 2
    assert page.value("gateway_request_seconds_sum", route="/health", method="GET") > 0


async def test_the_scrape_itself_is_counted_on_the_next_one(settings: Settings) -> None:
    async with gateway(settings) as app, client(app) as http:
        first = await scrape(http)
        second = await scrape(http)
    assert not first.has("gateway_requests_total", route="/metrics", method="GET", status="200")
    assert second.value("gateway_requests_total", route="/metrics", method="GET", status="200") == 1


async def test_socket_connections_and_subscriptions_go_up_and_back_down_and_every_emit_is_counted(
        settings: Settings, warehouse: Warehouse) -> None:
    app = create_api(settings, warehouse, None, rates=RELAXED)
    pushes = app.other_asgi_app.state.gateway.pushes
    async with AsyncExitStack() as stack:
        url = await stack.enter_async_context(on_port(app, settings))
        http = await stack.enter_async_context(httpx.AsyncClient(base_url=url))
        one, two = await Listener().connect(url), await Listener().connect(url)
        for listener in (one, two):
            stack.push_async_callback(listener.close)
            assert (await listener.subscribe(channel="ticker", market="BTC-PERP"))["ok"]
        assert (await one.subscribe(channel="candles", market="BTC-PERP", resolution="5m"))["ok"]
        assert (await one.subscribe(channel="ticker", market="BTC-PERP"))["ok"]  # the same room again: still one
        assert not (await one.subscribe(channel="ticker", market="NOPE-PERP"))["ok"]
        page = await scrape(http)
        assert page.value("gateway_socket_connections") == 2
        assert page.value("gateway_socket_connects_total", outcome="accepted") == 2
        assert held(page) == {"ticker": 2, "candles": 1}

        await pushes.push_market("ticker", "BTC-PERP", {"market": "BTC-PERP", "ts": 1})
        await eventually(lambda: heard(one, two), what="the delta at both listeners")
        page = await scrape(http)
        assert page.value("gateway_socket_emits_total", channel="ticker") == 3 + 2  # snapshots, then one each
        assert page.value("gateway_socket_emits_total", channel="candles") == 1
        assert page.value("gateway_socket_emits_total", channel="error") == 1

        assert (await one.sio.call("unsubscribe", {"channel": "candles", "market": "BTC-PERP",
                                                   "resolution": "5m"}))["ok"]
        assert held(await scrape(http)) == {"ticker": 2}
        await two.close()
        page = await eventually(lambda: scraped_with(http, connections=1), what="one connection left")
        assert held(page) == {"ticker": 1}
        assert page.value("gateway_socket_connection_seconds_count") == 1
        await one.close()
        page = await eventually(lambda: scraped_with(http, connections=0), what="no connection left")
        assert held(page) == {} and page.value("gateway_socket_connection_seconds_count") == 2
        assert page.value("gateway_socket_connects_total", outcome="refused") == 0
        assert page.value("gateway_socket_slow_clients_total") == 0


async def test_a_websocket_handshake_the_edge_refuses_is_a_refused_connect(settings: Settings) -> None:
    lines = settings.max_header_bytes // (settings.max_header_line_bytes // 2) + 1  # each line short of the limit
    too_large = {f"X-Part-{n}": "a" * (settings.max_header_line_bytes // 2) for n in range(lines)}
    async with AsyncExitStack() as stack:
        url = await stack.enter_async_context(served(settings, None))
        http = await stack.enter_async_context(httpx.AsyncClient(base_url=url))
        refused = socketio.AsyncClient(http_session=await stack.enter_async_context(aiohttp.ClientSession()))
        with pytest.raises(socketio.exceptions.ConnectionError):
            await refused.connect(url, headers=too_large, transports=["websocket"])
        page = await scrape(http)
    assert page.value("gateway_socket_connects_total", outcome="refused") == 1
    assert page.value("gateway_socket_connects_total", outcome="accepted") == 0
    assert page.value("gateway_socket_connections") == 0


def held(page: Page) -> dict[str, float]:
    """Return the subscription gauge's channels that hold any."""
    return {dict(labels)["channel"]: value for (name, labels), value in page.samples.items()
            if name == "gateway_socket_subscriptions" and value}


async def heard(*listeners: Listener) -> bool:
    """Return whether every listener has a ticker delta."""
    return all(listener.deltas("ticker") for listener in listeners)


async def scraped_with(http: httpx.AsyncClient, connections: int) -> Page | None:
    """Return a scrape once it shows `connections` open connections."""
    page = await scrape(http)
    return page if page.value("gateway_socket_connections") == connections else None
