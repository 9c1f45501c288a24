"""Every rate limit at its edge, in memory and in the local Redis: the next request past it gets 429."""

import time

import httpx
import socketio
from solders.keypair import Keypair

from api.auth import COOKIE
from api.ratelimit import Rates
from quantdesk.settings import Settings
from tests.api.conftest import client, gateway, served
from tests.api.held import T0, hold_markets, snapshot
from tests.api.scraped import scrape
from tests.api.signing import offer, sign, sign_in

TICKET = "/api/v1/orders/simulate"


def assert_refused(response: httpx.Response, limit: int, window_s: int) -> None:
    """Check a 429 in the platform's shape with Retry-After and X-RateLimit-* headers."""
    assert response.status_code == 429, response.text
    assert response.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(response.headers["Retry-After"]) <= window_s
    assert response.headers["X-RateLimit-Limit"] == str(limit)
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert time.time() < int(response.headers["X-RateLimit-Reset"]) <= time.time() + window_s + 1


async def test_the_101st_public_request_in_a_minute_gets_429(backed: Settings) -> None:
    async with gateway(backed) as app, client(app) as http, client(app, ip="10.1.2.3") as neighbour:
        http.cookies.set(COOKIE, await sign_in(http, Keypair()), domain="gateway.test")  # one public request
        for n in range(2, 100):
            response = await http.get("/api/v1/auth/session")
            assert response.status_code == 200, (n, response.text)
            assert response.headers["X-RateLimit-Remaining"] == str(100 - n)
        async with client(app) as same_ip_signed_out:
            signed_out = await same_ip_signed_out.get("/api/v1/auth/session")
        assert signed_out.status_code == 401 and signed_out.headers["X-RateLimit-Remaining"] == "0"
        assert_refused(await http.get("/api/v1/auth/session"), 100, 60)
        assert_refused(await http.get("/api/v1/markets/BTC-PERP/candles"), 100, 60)
        other = await neighbour.post("/api/v1/auth/nonce", json={"address": str(Keypair().pubkey())})
        assert other.status_code == 200 and other.headers["X-RateLimit-Remaining"] == "99"
        page = await scrape(http)  # /metrics itself is not rate limited
    assert page.value("gateway_rate_limited_total", limit="public") == 2
    assert page.value("gateway_requests_total", route="/api/v1/auth/session", method="GET", status="429") == 1


async def test_the_6th_sign_in_attempt_in_15_minutes_gets_429(backed: Settings) -> None:
    wallet = Keypair()
    async with gateway(backed, Rates(public="1000/minute")) as app, client(app) as http:
        for n in range(5):
            message = (await offer(http, wallet))["message"]
            wrong = {"address": str(wallet.pubkey()), "message": message, "signature": sign(Keypair(), message)}
            response = await http.post("/api/v1/auth/verify", json=wrong)
            assert response.status_code == 401, (n, response.text)
        message = (await offer(http, wallet))["message"]
        right = {"address": str(wallet.pubkey()), "message": message, "signature": sign(wallet, message)}
        assert_refused(await http.post("/api/v1/auth/verify", json=right), 5, 900)
        page = await scrape(http)
    assert page.value("gateway_rate_limited_total", limit="auth") == 1
    assert page.value("gateway_rate_limited_total", limit="public") == 0
    assert page.value("gateway_sign_ins_total", outcome="signature") == 5  # the refused 6th was never judged
    assert page.value("gateway_sign_ins_total", outcome="ok") == 0


async def test_the_11th_trading_request_of_a_wallet_in_a_minute_gets_429(backed: Settings) -> None:
    one, two = Keypair(), Keypair()
    order = {"market": "SOL-PERP", "side": "buy", "size": "1"}
    async with gateway(backed) as app, client(app) as http:
        live = app.other_asgi_app.state.live
        hold_markets(live, T0)
        for wallet in (one, two):
            live.apply("accounts.state", snapshot(str(wallet.pubkey()), 0, T0, "1000"))
        first, second = await sign_in(http, one), await sign_in(http, two)
        http.cookies.clear()
        for n in range(10):
            response = await http.post(TICKET, json=order, cookies={COOKIE: first})
            assert response.status_code == 200 and response.headers["X-RateLimit-Remaining"] == str(9 - n)
        assert_refused(await http.post(TICKET, json=order, cookies={COOKIE: first}), 10, 60)
        assert (await http.post(TICKET, json=order, cookies={COOKIE: second})).status_code == 200
        assert (await http.post(TICKET, json=order)).status_code == 401
        page = await scrape(http)
    assert page.value("gateway_rate_limited_total", limit="trading") == 1
    assert page.value("gateway_requests_total", route=TICKET, method="POST", status="429") == 1


async def test_the_61st_subscription_in_a_minute_is_refused(backed: Settings) -> None:
    async with served(backed, None) as url:
        sio = socketio.AsyncClient()
        await sio.connect(url, transports=["websocket"], wait_timeout=30)
        try:
            for n in range(60):
                ack = await sio.call("subscribe", {"channel": "ticker", "market": "BTC-PERP"})
                assert ack["ok"], (n, ack)
            ack = await sio.call("subscribe", {"channel": "ticker", "market": "BTC-PERP"})
        finally:
            await sio.disconnect()
        assert ack["ok"] is False and ack["error"]["code"] == "rate_limited"
        assert "retry in" in ack["error"]["message"]
        async with httpx.AsyncClient(base_url=url) as http:
            page = await scrape(http)
    assert page.value("gateway_rate_limited_total", limit="subscribe") == 1
    assert page.value("gateway_socket_emits_total", channel="error") == 1


async def test_the_121st_connection_of_an_ip_in_a_minute_is_refused_with_why(backed: Settings) -> None:
    async with served(backed, None, Rates(connect="3/minute")) as url:
        connected = []
        for _ in range(3):
            sio = socketio.AsyncClient()
            await sio.connect(url, transports=["websocket"], wait_timeout=30)
            connected.append(sio)
        refused, why = socketio.AsyncClient(), []
        refused.on("connect_error", why.append)
        try:
            await refused.connect(url, transports=["websocket"], wait_timeout=30)
        except socketio.exceptions.ConnectionError:
            pass
        for sio in connected:
            await sio.disconnect()
        async with httpx.AsyncClient(base_url=url) as http:
            page = await scrape(http)
    assert not refused.connected and why[0]["data"] == {"code": "rate_limited"}
    assert why[0]["message"].startswith("too many connections; retry in")
    assert page.value("gateway_socket_connects_total", outcome="accepted") == 3
    assert page.value("gateway_socket_connects_total", outcome="refused") == 1
    assert page.value("gateway_rate_limited_total", limit="connect") == 1
