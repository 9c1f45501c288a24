"""Two gateway replicas on one Redis: shared sessions, no doubled pushes, a logout reaches both."""

from contextlib import AsyncExitStack

import httpx
from solders.keypair import Keypair

from api.auth import COOKIE
from quantdesk.broker import EmbeddedBroker, free_port
from quantdesk.kafka.publisher import Publisher
from quantdesk.settings import Settings
from tests.api.conftest import served
from tests.api.listening import Listener
from tests.api.signing import sign_in
from tests.api.routes.test_accounts import T0, account_state, held
from tests.waiting import eventually


def market_state(ts: int) -> tuple[str, str, dict]:
    """Return a BTC market state as the worker publishes it."""
    return "markets.state", "BTC-PERP", {"id": f"state:{ts}", "ts": ts, "market": "BTC-PERP", "oracle_price": "100",
                                         "status": "healthy", "reason": ""}


async def test_replicas_share_sessions_and_a_logout_closes_account_rooms_on_both(
        settings: Settings, broker: EmbeddedBroker, redis_url: str) -> None:
    shared = settings.model_copy(update={"redis_url": redis_url})
    wallet = Keypair()
    async with AsyncExitStack() as stack:
        one = await stack.enter_async_context(served(shared, broker.bootstrap))
        second_replica = shared.model_copy(update={"api_port": free_port()})
        two = await stack.enter_async_context(served(second_replica, broker.bootstrap))
        http = await stack.enter_async_context(httpx.AsyncClient(base_url=one))
        publisher = await stack.enter_async_context(Publisher(shared, broker.bootstrap))
        first, second = await sign_in(http, wallet), await sign_in(http, wallet)
        await publisher.send([account_state(wallet, 0, T0, "1000")])
        async with httpx.AsyncClient(base_url=two) as other:
            await eventually(lambda: held(other, (wallet, first)), what="replica two knows replica one's session")
        leaving, staying, watcher = [await Listener().connect(two, t) for t in (first, second, None)]
        for listener in (leaving, staying, watcher):
            stack.push_async_callback(listener.close)
        assert (await leaving.subscribe(channel="account"))["ok"] and (await staying.subscribe(channel="account"))["ok"]
        assert (await watcher.subscribe(channel="ticker", market="BTC-PERP"))["ok"]

        await publisher.send([market_state(T0 + i) for i in (1, 2, 3)])
        await eventually(lambda: _heard(watcher, "ticker", 3), what="three tickers")
        assert (await http.post("/api/v1/auth/logout", headers={"Cookie": f"{COOKIE}={first}"})).status_code == 204
        await publisher.send([market_state(T0 + i) for i in (4, 5, 6)] + [account_state(wallet, 0, T0 + 1, "1001")])
        await eventually(lambda: _heard(watcher, "ticker", 6), what="six tickers")
        await eventually(lambda: _heard(staying, "account", 1), what="the other session's account delta")
        assert (await leaving.subscribe(channel="ticker", market="ETH-PERP"))["ok"]  # a round trip after the push
        assert [e["seq"] for e in watcher.deltas("ticker")] == [1, 2, 3, 4, 5, 6]
        assert leaving.deltas("account") == []


async def _heard(listener: Listener, channel: str, n: int) -> bool:
    """Return whether a listener has at least `n` deltas on a channel."""
    return len(listener.deltas(channel)) >= n
