"""The gateway's edge: the caller behind trusted proxies only, and requests too large refused before they are read."""

import time
from typing import AsyncIterator

import httpx
import pytest
from solders.keypair import Keypair

from api.auth import COOKIE
from api.edge import caller, cross_site
from api.ratelimit import Rates
from quantdesk.settings import Settings
from tests.api.conftest import client, gateway, served
from tests.api.listening import Listener
from tests.api.signing import sign_in
from tests.waiting import eventually

PUBLIC = "/api/v1/auth/session"


async def test_a_rotating_x_forwarded_for_from_an_untrusted_peer_is_one_caller(settings: Settings) -> None:
    async with served(settings, None, Rates(public="10/minute")) as url, httpx.AsyncClient(base_url=url) as http:
        codes = [(await http.get(PUBLIC, headers={"X-Forwarded-For": f"203.0.113.{n}"})).status_code
                 for n in range(12)]
    assert codes == [401] * 10 + [429] * 2  # signed out: 401 while under the limit


async def test_a_trusted_proxy_s_x_forwarded_for_names_the_caller(settings: Settings) -> None:
    behind = settings.model_copy(update={"trusted_proxies": Settings(trusted_proxies=["127.0.0.1"]).trusted_proxies})
    async with served(behind, None, Rates(public="2/minute")) as url, httpx.AsyncClient(base_url=url) as proxy:
        async def status(forwarded: str) -> int:
            return (await proxy.get(PUBLIC, headers={"X-Forwarded-For": forwarded})).status_code
        # the caller may write any left part; the right-most address the trusted proxies did not add is the caller
        assert [await status(f"198.51.100.{n}, 203.0.113.5") for n in range(3)] == [401, 401, 429]
        assert [await status("203.0.113.6, 127.0.0.1") for _ in range(3)] == [401, 401, 429]
        assert await status("203.0.113.7") == 401


def test_the_caller_is_the_right_most_untrusted_hop() -> None:
    proxies = Settings(trusted_proxies=["10.0.0.0/8", "::1"]).trusted_proxies
    assert caller("192.0.2.1", ["203.0.113.5"], proxies) == "192.0.2.1"
    assert caller("10.0.0.1", ["1.1.1.1, 203.0.113.5", "10.2.0.1"], proxies) == "203.0.113.5"
    assert caller("::1", [], proxies) == "::1"
    assert caller("10.0.0.1", ["10.0.0.3"], proxies) == "10.0.0.3"
    assert caller("10.0.0.1", ["garbage, 10.0.0.3"], proxies) == "10.0.0.3"


@pytest.fixture
async def http(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """Return a client of the in-process gateway."""
    async with gateway(settings, Rates(public="10000/minute")) as app, client(app) as http:
        yield http


async def test_a_10_mb_body_gets_413_by_its_content_length_unread(http: httpx.AsyncClient) -> None:
    pulled = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal pulled
        for _ in range(160):
            pulled += 1
            yield b"x" * 65_536

    declared = {"Content-Length": str(160 * 65_536), "Content-Type": "application/json"}
    started = time.perf_counter()
    response = await http.post("/api/v1/auth/nonce", content=body(), headers=declared)
    took = time.perf_counter() - started
    assert response.status_code == 413 and response.json()["error"]["code"] == "too_large"
    assert "65536 bytes" in response.json()["error"]["message"]
    assert pulled <= 1 and took < 1.0, (pulled, took)


async def test_a_chunked_body_gets_413_once_its_bytes_pass_the_limit(http: httpx.AsyncClient) -> None:
    pulled = 0

    async def body() -> AsyncIterator[bytes]:  # no Content-Length: counted as it streams
        nonlocal pulled
        for _ in range(160):
            pulled += 1
            yield b"x" * 16_384

    response = await http.post("/api/v1/auth/nonce", content=body(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and response.json()["error"]["code"] == "too_large"
    assert pulled <= 6, pulled  # 64 KiB is four chunks; the fifth passes it


async def test_a_body_within_the_limit_is_read(http: httpx.AsyncClient) -> None:
    response = await http.post("/api/v1/auth/nonce", json={"address": "x" * 60_000})
    assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_request"


@pytest.mark.parametrize("headers, why", [
    ({"X-Big": "a" * 100_000}, "line is over 8192 bytes"),
    ({f"X-Part-{n}": "a" * 4_000 for n in range(5)}, "over 16384 bytes in all"),
])
async def test_headers_too_large_get_431(http: httpx.AsyncClient, headers: dict, why: str) -> None:
    response = await http.get(PUBLIC, headers=headers)
    assert response.status_code == 431 and response.json()["error"]["code"] == "headers_too_large"
    assert why in response.json()["error"]["message"]


async def test_the_served_gateway_refuses_a_100_kb_header_and_a_10_mb_body(settings: Settings) -> None:
    async with served(settings, None) as url, httpx.AsyncClient(base_url=url) as http:
        header = await http.get(PUBLIC, headers={"X-Big": "a" * 100_000})
        started = time.perf_counter()
        body = await http.post("/api/v1/auth/nonce", content=b"x" * 10_000_000,
                               headers={"Content-Type": "application/json"})
        took = time.perf_counter() - started
    assert header.status_code == 431 and header.json()["error"]["code"] == "headers_too_large"
    assert body.status_code == 413 and body.json()["error"]["code"] == "too_large" and took < 2.0, took


@pytest.fixture
async def signed(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """Return a client of the in-process gateway with a live session cookie."""
    async with gateway(settings) as asgi, client(asgi) as http:
        await sign_in(http, Keypair())
        yield http


@pytest.mark.parametrize("origin", ["https://evil.example", "null", "https://gateway.test.evil.example",
                                    "http://gateway.test:8080"])
async def test_a_cookie_post_from_another_site_is_refused(signed: httpx.AsyncClient, origin: str) -> None:
    refused = await signed.post("/api/v1/auth/logout", headers={"Origin": origin})
    assert refused.status_code == 403
    assert refused.json()["error"] == {"code": "forbidden", "message": (
        f"cross-site request refused: a page of {origin} may not act with this site's session "
        "(Origin is not gateway.test)")}
    assert (await signed.get("/api/v1/auth/session")).status_code == 200  # the forged logout did nothing


async def test_a_cookie_post_from_the_site_itself_or_without_origin_goes_through(signed: httpx.AsyncClient) -> None:
    assert (await signed.post("/api/v1/auth/nonce", json={"address": str(Keypair().pubkey())})).status_code == 200
    same = await signed.post("/api/v1/auth/logout", headers={"Origin": "https://gateway.test"})
    assert same.status_code == 204
    assert (await signed.get("/api/v1/auth/session")).status_code == 401


async def test_a_cross_site_post_without_the_cookie_is_not_asked(http: httpx.AsyncClient) -> None:
    answer = await http.post("/api/v1/auth/nonce", json={"address": str(Keypair().pubkey())},
                             headers={"Origin": "https://elsewhere.example"})
    assert answer.status_code == 200


def test_a_websocket_handshake_with_the_cookie_from_another_site_is_refused() -> None:
    def handshake(origin: str, host: str = "localhost:3002") -> dict:
        return {"type": "websocket", "headers": [(b"host", host.encode()), (b"origin", origin.encode()),
                                                 (b"cookie", f"{COOKIE}=token".encode())]}
    assert cross_site(handshake("https://evil.example")) is not None
    assert cross_site(handshake("http://localhost:3002")) is None
    assert cross_site(handshake("https://localhost", "localhost:443")) is None  # default ports are the same site
    assert cross_site({"type": "http", "method": "GET", "headers": [
        (b"host", b"localhost"), (b"origin", b"https://evil.example"), (b"cookie", f"{COOKIE}=t".encode())]}) is None


async def test_a_socket_message_larger_than_a_request_body_ends_the_connection(settings: Settings) -> None:
    async with served(settings, None) as url:
        fine, flooding = await Listener().connect(url), await Listener().connect(url)
        assert (await fine.subscribe(channel="ticker", market="BTC-PERP"))["ok"]
        await flooding.sio.emit("unsubscribe", {"channel": "x" * settings.max_body_bytes})  # not rate limited

        async def cut() -> bool:
            return not flooding.sio.connected
        await eventually(cut, what="the flooding client's connection ended")
        assert fine.sio.connected and (await fine.subscribe(channel="ticker", market="ETH-PERP"))["ok"]
        await fine.close()
