"""Redis gone silent or down: public answers go on under limits counted in memory, sign-in and signed-in requests
answer 503 with the reason, market channels keep serving, and everything comes back with Redis."""

import shutil
import signal
import socket
import subprocess
import time
from contextlib import AsyncExitStack, contextmanager
from typing import Any, Iterator

import aiohttp
import httpx
import socketio
from solders.keypair import Keypair

from api.auth import COOKIE
from api.ratelimit import Rates
from quantdesk.broker import free_port
from quantdesk.settings import Settings
from tests.api.conftest import served
from tests.api.scraped import scrape
from tests.api.signing import sign_in
from tests.conftest import unavailable
from tests.waiting import eventually

SESSION = "/api/v1/auth/session"  # public limit; 200 with a live session, 401 without one


def answers(port: int) -> bool:
    """Tell whether a Redis on `port` answers PING."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextmanager
def own_redis() -> Iterator[tuple[subprocess.Popen, str]]:
    """Run a Redis of this test's own (no persistence) on a free port; yield its process and URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        unavailable("redis-server", "not on PATH")
    port = free_port()
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                                "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not answers(port):
            if process.poll() is not None or time.monotonic() > deadline:
                unavailable("a Redis of the test's own", f"redis-server on port {port} did not answer")
            time.sleep(0.02)
        yield process, f"redis://127.0.0.1:{port}/0"
    finally:
        process.send_signal(signal.SIGCONT)
        process.terminate()
        process.wait(timeout=10)


async def subscribed(client: socketio.AsyncClient, request: dict[str, Any]) -> dict[str, Any]:
    """Return the gateway's answer to a subscription."""
    return await client.call("subscribe", request, timeout=10)


async def test_a_silent_redis_costs_sign_in_and_signed_in_requests_only_and_everything_comes_back_with_it(
        settings: Settings) -> None:
    with own_redis() as (redis, url):
        backed = settings.model_copy(update={"redis_url": url, "redis_timeout_s": 0.5})
        async with AsyncExitStack() as stack:
            base = await stack.enter_async_context(served(backed, None, Rates(public="5/minute")))
            http = await stack.enter_async_context(httpx.AsyncClient(base_url=base, timeout=10))
            token = await sign_in(http, Keypair())  # the nonce counted in Redis: 1 of 5
            cookie = {"Cookie": f"{COOKIE}={token}"}
            assert (await http.get(SESSION, headers=cookie)).status_code == 200  # 2 of 5

            redis.send_signal(signal.SIGSTOP)  # silent: connections open, nothing answers
            signed = await http.get(SESSION, headers=cookie)
            assert signed.status_code == 503 and signed.json()["error"]["code"] == "unavailable"
            assert "session store (Redis) cannot be reached" in signed.json()["error"]["message"]
            assert signed.headers["Retry-After"] == "5"
            assert signed.headers["X-RateLimit-Remaining"] == "4"  # counted in this replica's memory: 1 of 5
            nonce = await http.post("/api/v1/auth/nonce", json={"address": str(Keypair().pubkey())})
            assert nonce.status_code == 503  # 2 of 5
            public = [(await http.get(SESSION)).status_code for _ in range(4)]
            assert public == [401, 401, 401, 429]  # the limit holds in memory: it neither opens nor fails

            sockets = socketio.AsyncClient(http_session=await stack.enter_async_context(aiohttp.ClientSession()))
            # the handshake asks no store; a copy, as the client takes the cookie out of the dict it is given
            await sockets.connect(base, headers=dict(cookie), transports=["websocket"])
            ticker = await subscribed(sockets, {"channel": "ticker", "market": "SOL-PERP"})
            account = await subscribed(sockets, {"channel": "account"})
            assert ticker["ok"] and account == {"ok": False, "error": {
                "code": "unavailable", "message": signed.json()["error"]["message"]}}
            page = await scrape(http)
            # limits counted in memory: 6 requests, 1 connection, 2 subscriptions; refused for the store: 2 requests,
            # 1 subscription
            assert page.value("gateway_unreachable_total", part="redis") == 6 + 1 + 2 + 2 + 1

            redis.send_signal(signal.SIGCONT)

            async def served_again() -> bool:
                return (await http.get(SESSION, headers=cookie)).status_code == 200
            await eventually(served_again, timeout=20, what="the session served again once Redis answers",
                             interval=0.5)
            assert (await subscribed(sockets, {"channel": "account"}))["ok"]
            await sockets.disconnect()


async def test_with_no_redis_to_reach_the_market_channels_serve_and_the_account_channel_says_why(
        settings: Settings) -> None:
    down = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})  # nothing listens
    async with AsyncExitStack() as stack:
        base = await stack.enter_async_context(served(down, None))
        http = await stack.enter_async_context(httpx.AsyncClient(base_url=base, timeout=10))
        assert (await http.get(SESSION)).status_code == 401  # served, its limit counted in memory
        sockets = socketio.AsyncClient(http_session=await stack.enter_async_context(aiohttp.ClientSession()))
        await sockets.connect(base, headers={"Cookie": f"{COOKIE}=some-token"}, transports=["websocket"])
        ticker = await subscribed(sockets, {"channel": "ticker", "market": "SOL-PERP"})
        account = await subscribed(sockets, {"channel": "account"})
        page = await scrape(http)
        await sockets.disconnect()
    assert ticker["ok"] and account["error"]["code"] == "unavailable"
    assert page.value("gateway_socket_connects_total", outcome="accepted") == 1
    assert page.value("gateway_unreachable_total", part="redis") == 1 + 1 + 2 + 1  # limits in memory, a refusal
