"""A session reaches only its own wallet: its account, fills and funding over REST, and the `account` channel (its
states, fills and MIKEY's alerts)."""

from contextlib import AsyncExitStack
from decimal import Decimal as D

import httpx
from solders.keypair import Keypair

from api.auth import COOKIE
from quantdesk.broker import EmbeddedBroker
from quantdesk.kafka.publisher import Publisher
from quantdesk.messages import dump
from quantdesk.settings import Settings
from quantdesk.warehouse import Warehouse
from tests.api.conftest import RELAXED, client, gateway, served
from tests.api.history import seed_wallet, signal
from tests.api.listening import Listener
from tests.api.signing import sign_in
from tests.waiting import eventually

T0 = 1_767_225_600_000


def account_state(wallet: Keypair, subaccount: int, ts: int, collateral: str) -> tuple[str, str, dict]:
    """Return a funded, flat account's `accounts.state` event as the accounts engine publishes it."""
    key = f"{wallet.pubkey()}:{subaccount}"
    return "accounts.state", key, {"id": f"{key}:{ts}", "ts": ts, "wallet": str(wallet.pubkey()),
                                   "subaccount": subaccount, "state": "funded", "collateral": collateral,
                                   "equity": collateral, "maintenance_margin": "0", "initial_margin": "0",
                                   "free_collateral": collateral, "leverage": "0", "health": "100", "positions": []}


def fill(wallet: Keypair, ts: int) -> tuple[str, str, dict]:
    """Return a maker fill of a wallet on `trades.fills`."""
    return "trades.fills", f"{wallet.pubkey()}:0", {
        "id": f"fill:{wallet.pubkey()}:{ts}", "ts": ts, "market": "SOL-PERP", "wallet": str(wallet.pubkey()),
        "subaccount": 0, "side": "buy", "size": "2", "price": "150", "fee": "-0.01", "liquidity": "maker"}


async def publish(settings: Settings, bootstrap: str, *events: tuple[str, str, dict]) -> None:
    """Publish events to the broker as the platform's agents do."""
    async with Publisher(settings, bootstrap) as publisher:
        await publisher.send(events)


async def test_rest_shows_a_wallet_its_own_account_and_refuses_another(settings: Settings,
                                                                       broker: EmbeddedBroker) -> None:
    a, b = Keypair(), Keypair()
    async with served(settings, broker.bootstrap) as url, httpx.AsyncClient(base_url=url) as http:
        token_a, token_b = await sign_in(http, a), await sign_in(http, b)
        http.cookies.clear()
        as_a, as_b = {"Cookie": f"{COOKIE}={token_a}"}, {"Cookie": f"{COOKIE}={token_b}"}
        empty = await http.get(f"/api/v1/accounts/{a.pubkey()}", headers=as_a)
        assert empty.status_code == 404 and empty.json()["error"]["code"] == "not_found"
        await publish(settings, broker.bootstrap, account_state(a, 0, T0, "1000"), account_state(a, 1, T0, "5"),
                      account_state(b, 0, T0, "777"))

        async def own() -> dict | None:
            response = await http.get(f"/api/v1/accounts/{a.pubkey()}", headers=as_a)
            body = response.json() if response.status_code == 200 else {}
            return body if len(body.get("subaccounts", [])) == 2 else None
        body = await eventually(own, what="wallet A's two sub-accounts")
        assert [(s["subaccount"], s["collateral"]) for s in body["subaccounts"]] == [(0, "1000"), (1, "5")]

        async def b_stored() -> bool:
            return (await http.get(f"/api/v1/accounts/{b.pubkey()}", headers=as_b)).status_code == 200
        await eventually(b_stored, what="wallet B's account")
        theft = await http.get(f"/api/v1/accounts/{b.pubkey()}", headers=as_a)
        assert theft.status_code == 403
        assert theft.json() == {"error": {"code": "forbidden", "message": "a session reaches only its own wallet"}}
        anonymous = await http.get(f"/api/v1/accounts/{b.pubkey()}")
        assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "unauthorized"
        assert "777" not in theft.text + anonymous.text


async def test_account_channel_carries_only_the_sessions_own_wallet(settings: Settings, broker: EmbeddedBroker) -> None:
    a, b = Keypair(), Keypair()
    async with AsyncExitStack() as stack:
        url = await stack.enter_async_context(served(settings, broker.bootstrap))
        http = await stack.enter_async_context(httpx.AsyncClient(base_url=url))
        token_a, token_a2, token_b = await sign_in(http, a), await sign_in(http, a), await sign_in(http, b)
        await publish(settings, broker.bootstrap, account_state(a, 0, T0, "1000"), account_state(b, 0, T0, "777"))
        await eventually(lambda: held(http, (a, token_a), (b, token_b)), what="both accounts held by the gateway")
        anonymous, on_a, on_a2, on_b = [await Listener().connect(url, t) for t in (None, token_a, token_a2, token_b)]
        for listener in (anonymous, on_a, on_a2, on_b):
            stack.push_async_callback(listener.close)

        refused = await anonymous.subscribe(channel="account")
        assert refused["ok"] is False and refused["error"]["code"] == "unauthorized"
        theft = await on_a.subscribe(channel="account", wallet=str(b.pubkey()))
        assert theft["ok"] is False and theft["error"]["code"] == "forbidden"
        assert [e["code"] for e in on_a.events["error"]] == ["forbidden"]

        assert (await on_a.subscribe(channel="account"))["ok"]
        snapshot = on_a.events["account"][-1]
        assert snapshot["snapshot"] and snapshot["wallet"] == str(a.pubkey())
        assert [s["collateral"] for s in snapshot["data"]["subaccounts"]] == ["1000"]
        assert (await on_a2.subscribe(channel="account"))["ok"] and (await on_b.subscribe(channel="account"))["ok"]

        await publish(settings, broker.bootstrap, account_state(b, 0, T0 + 1, "778"), fill(b, T0 + 2),
                      account_state(a, 0, T0 + 1, "1001"), fill(a, T0 + 2))

        async def both_heard() -> bool:
            return all(len(x.deltas("account")) == 2 for x in (on_a, on_a2, on_b))
        await eventually(both_heard, what="a state and a fill for each wallet's sessions")
        for listener, wallet in ((on_a, a), (on_a2, a), (on_b, b)):
            assert {e["wallet"] for e in listener.events["account"]} == {str(wallet.pubkey())}
            assert {e["data"]["wallet"] for e in listener.deltas("account")} == {str(wallet.pubkey())}
            assert sorted(e["kind"] for e in listener.deltas("account")) == ["fill", "state"]
        seqs = [e["seq"] for e in on_a2.events["account"]]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))

        logout = await http.post("/api/v1/auth/logout", headers={"Cookie": f"{COOKIE}={token_a}"})
        assert logout.status_code == 204
        await publish(settings, broker.bootstrap, account_state(a, 0, T0 + 3, "1002"))
        await eventually(lambda: _count(on_a2, 3), what="the other session of A still hears A")
        assert (await on_a.subscribe(channel="ticker", market="BTC-PERP"))["ok"]  # a round trip after the push
        assert len(on_a.deltas("account")) == 2
        again = await on_a.subscribe(channel="account")
        assert again["ok"] is False and again["error"]["code"] == "unauthorized"


async def held(http: httpx.AsyncClient, *signed: tuple[Keypair, str]) -> bool:
    """Return whether the gateway holds an account for each (wallet, session token)."""
    for wallet, token in signed:
        response = await http.get(f"/api/v1/accounts/{wallet.pubkey()}", headers={"Cookie": f"{COOKIE}={token}"})
        if response.status_code != 200:
            return False
    return True


async def _count(listener: Listener, n: int) -> bool:
    """Return whether a listener has received `n` account deltas."""
    return len(listener.deltas("account")) >= n


async def test_a_wallet_pages_through_its_own_fills_and_funding_payments(settings: Settings) -> None:
    wallet, thief = Keypair(), Keypair()
    warehouse = Warehouse.from_settings(settings)
    warehouse.migrate()
    seed_wallet(warehouse, str(wallet.pubkey()))
    warehouse.close()
    async with gateway(settings, RELAXED) as app, client(app) as http:
        own = {COOKIE: await sign_in(http, wallet)}
        theirs = {COOKIE: await sign_in(http, thief)}
        http.cookies.clear()
        base = f"/api/v1/accounts/{wallet.pubkey()}"

        first = await http.get(f"{base}/fills", params={"start": T0, "limit": 2}, cookies=own)
        assert [(f["subaccount"], f["market"], f["side"]) for f in first.json()] == [
            (0, "SOL-PERP", "buy"), (1, "BTC-PERP", "sell")]
        assert D(first.json()[0]["fee"]) == D("1.5") and first.json()[0]["liquidity"] == "taker"
        rest = await http.get(f"{base}/fills", params={"cursor": first.headers["X-Next-Cursor"], "limit": 2},
                              cookies=own)
        assert [(f["ts"] - T0, D(f["size"]), D(f["price"])) for f in rest.json()] == [(3000, 10, 101)]
        assert "X-Next-Cursor" not in rest.headers

        payments = (await http.get(f"{base}/funding-payments", cookies=own)).json()
        assert [(p["ts"] - T0, D(p["payment"]), D(p["cumulative_index"])) for p in payments] == [
            (3_600_000, D("0.3"), D("0.015")), (7_200_000, D("-0.1"), D("0.01"))]

        for path in ("fills", "funding-payments"):
            theft = await http.get(f"{base}/{path}", cookies=theirs)
            assert theft.status_code == 403 and theft.json()["error"]["code"] == "forbidden"
            assert (await http.get(f"{base}/{path}")).status_code == 401
            assert (await http.get(f"/api/v1/accounts/{thief.pubkey()}/{path}", cookies=theirs)).json() == []


def alert(wallet: Keypair, name: str, ts: int, market: str | None) -> tuple[str, str, dict]:
    """Return an account signal of `wallet:0` on `mikey.signals`, naming a market unless None."""
    event = signal(name, ts, "health_crossed", "critical", f"Health 8.0 on {wallet.pubkey()}:0, under 10",
                   market=market, wallet=str(wallet.pubkey()), subaccount=0)
    return "mikey.signals", event.subject, dump(event)


async def test_an_alert_reaches_only_its_wallets_sessions_never_a_market_room_or_snapshot(
        settings: Settings, broker: EmbeddedBroker) -> None:
    a, b = Keypair(), Keypair()
    async with AsyncExitStack() as stack:
        url = await stack.enter_async_context(served(settings, broker.bootstrap))
        http = await stack.enter_async_context(httpx.AsyncClient(base_url=url))
        token_a, token_b = await sign_in(http, a), await sign_in(http, b)
        on_a, on_b, anonymous = [await Listener().connect(url, t) for t in (token_a, token_b, None)]
        for listener in (on_a, on_b, anonymous):
            stack.push_async_callback(listener.close)
        for listener in (on_a, on_b):
            assert (await listener.subscribe(channel="account"))["ok"]
        for listener, market in ((on_a, "SOL-PERP"), (on_b, "SOL-PERP"), (anonymous, "SOL-PERP"),
                                 (anonymous, "BTC-PERP")):
            assert (await listener.subscribe(channel="signals", market=market))["ok"]

        whale = signal("w", T0 + 3, "whale_fill", "info", "A $150,000 SOL-PERP buy", market="SOL-PERP")
        await publish(settings, broker.bootstrap, alert(a, "1", T0 + 1, "SOL-PERP"), alert(b, "2", T0 + 2, "SOL-PERP"),
                      ("mikey.signals", "SOL-PERP", dump(whale)), alert(a, "4", T0 + 4, None))

        async def delivered() -> bool:
            return len(on_a.deltas("account")) == 2 and len(on_b.deltas("account")) == 1 and \
                all(len(x.deltas("signals")) == 1 for x in (on_a, on_b, anonymous))
        await eventually(delivered, what="each wallet's alerts and the market signal")
        late = await Listener().connect(url, token_b)
        stack.push_async_callback(late.close)
        assert (await late.subscribe(channel="signals", market="SOL-PERP"))["ok"]
        assert (await late.subscribe(channel="account"))["ok"]

    for listener, wallet, ids in ((on_a, a, ["1", "4"]), (on_b, b, ["2"])):
        assert [(e["kind"], e["wallet"], e["data"]["id"].rpartition(":")[2]) for e in listener.deltas("account")] == [
            ("alert", str(wallet.pubkey()), i) for i in ids]
    for listener in (on_a, on_b, anonymous):
        assert [e["data"]["id"] for e in listener.deltas("signals")] == [whale.id]
    assert [s["id"] for s in late.events["signals"][0]["data"]] == [whale.id]  # the snapshot holds no alert
    assert late.events["account"][0]["data"] == {"wallet": str(b.pubkey()), "subaccounts": []}
    assert str(a.pubkey()) not in str(dict(on_b.events)) + str(dict(late.events)) + str(dict(anonymous.events))
    assert str(b.pubkey()) not in str(dict(on_a.events)) + str(dict(anonymous.events))
