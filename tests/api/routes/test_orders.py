"""A wallet's own orders over REST (status filter, paging, another wallet refused or not found), and the order
ticket against an account the risk engine built from real input, through the whole platform."""

from decimal import Decimal as D
from typing import Any

import httpx
from solders.keypair import Keypair

from api.auth import COOKIE
from api.live import LiveState
from api.embedded import Runtime, running
from api.status import wall_ms
from quantdesk.kafka.publisher import Publisher
from quantdesk.settings import Settings
from quantdesk.warehouse import Warehouse
from tests.api.conftest import RELAXED, client, gateway
from tests.api.history import seed_orders
from tests.api.held import book, hold_markets, snapshot
from tests.api.signing import sign_in
from tests.waiting import eventually

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
SOL, BTC = "SOL-PERP", "BTC-PERP"


def deposit(wallet: str) -> tuple[str, str, dict]:
    """Return a deposit of 1000 USD at T0."""
    return "accounts.changes", f"{wallet}:0", {"id": f"deposit:{wallet}", "ts": T0, "wallet": wallet,
                                               "kind": "deposit", "amount": "1000"}


def tick(market: str, ts: int, price: str, status: str = "trading") -> tuple[str, str, dict]:
    """Return an oracle tick; a status other than trading degrades the market."""
    return "oracle.ticks", market, {"id": f"tick:{market}:{ts}", "ts": ts, "market": market, "price": price,
                                    "conf": "0.01", "publish_time": ts, "status": status}


def trade(taker: str, maker: str, ts: int, size: str, price: str, fee: str) -> list[tuple[str, str, dict]]:
    """Return both sides of a SOL trade: the taker buys paying `fee`, the maker sells for free."""
    return [("trades.fills", f"{who}:0", {"id": f"fill:{ts}:{who}", "ts": ts, "market": SOL, "wallet": who,
                                          "side": side, "size": size, "price": price, "fee": cost,
                                          "liquidity": role})
            for who, side, cost, role in ((taker, "buy", fee, "taker"), (maker, "sell", "0", "maker"))]


async def publish(settings: Settings, bootstrap: str, events: list[tuple[str, str, dict]]) -> None:
    """Publish input events as the chain ingest would."""
    async with Publisher(settings, bootstrap) as publisher:
        await publisher.send(events)


async def markets(http: httpx.AsyncClient) -> dict[str, dict]:
    """Return the gateway's markets by name."""
    answer = await http.get("/api/v1/markets")
    assert answer.status_code == 200, answer.text  # a refusal (a 429 after fast polling) says why
    return {m["market"]: m for m in answer.json()}


async def test_the_ticket_prices_an_order_on_an_engine_built_account(settings: Settings) -> None:
    keypair = Keypair()
    wallet = str(keypair.pubkey())
    async with running(settings, simulator=False) as runtime, httpx.AsyncClient(base_url=runtime.api_url) as http:
        token = await sign_in(http, keypair)
        http.cookies.clear()
        await publish(settings, runtime.bootstrap, [deposit(w) for w in (wallet, "other", "maker")]
                      + [tick(SOL, T0 + 1000, "100"), tick(BTC, T0 + 1000, "97000")])

        live = gateway_state(runtime)  # watched directly: polling over REST would spend the public rate limit

        async def priced() -> bool:
            return all(live.markets.get(m, {}).get("oracle_price") for m in (SOL, BTC))
        await eventually(priced, what="SOL and BTC priced")
        # the tape: another trader buys 10 @ 104 at 1.5 s, the wallet buys 30 @ 100 (fee 1.5) at 2 s
        await publish(settings, runtime.bootstrap, trade("other", "maker", T0 + 1500, "10", "104", "0.52")
                      + trade(wallet, "maker", T0 + 2000, "30", "100", "1.5"))

        async def settled() -> bool:
            return live.markets[SOL]["ts"] == T0 + 2000 and live.open_interest(SOL) == 40 and wallet in live.accounts
        await eventually(settled, what="both trades through the engine and the market")
        sol = (await markets(http))[SOL]
        [account] = (await http.get(f"/api/v1/accounts/{wallet}", cookies={COOKIE: token})).json()["subaccounts"]
        # the engine's figures after the fill: long 30 @ 100 at 100; MM 3000 × 5%, IM 10%; liquidation
        # (30 × 100 − 998.5) / (30 − 30 × 5%) = 2001.5 / 28.5 = 70.228070175439
        assert account["state"] == "active" and figures(
            account, "collateral", "equity", "maintenance_margin", "initial_margin", "free_collateral", "leverage",
            "health") == [D("998.5"), D("998.5"), D(150), D(300), D("698.5"), D("3.0045"), D("84.9774")]
        assert [figures(p, "size", "entry_price", "upnl", "liquidation_price") for p in account["positions"]] == [
            [D(30), D(100), D(0), D("70.228070175439")]]
        # the mark: the 2 s fill at the oracle price is the median's middle → 100; longs 30 + 10 at 100
        assert (D(sol["mark_price"]), D(sol["open_interest_notional"])) == (100, 4000)
        assert sol["funding_rate"] is None and sol["next_funding_time"] == T0 + 3_600_000

        async def ticket(**order: Any) -> httpx.Response:
            return await http.post("/api/v1/orders/simulate", json={"subaccount": 0, **order},
                                   cookies={COOKIE: token})

        # buy 50: 30 @ 100 (newest print) + 10 @ 104 + the rest 10 at the worst print, 104 → 5080 / 50 = 101.6,
        # 160 bps over the mark; fee 50 × 101.6 × 0.0005 = 2.54; long 80 @ (3000 + 5080) / 80 = 101
        # collateral 1000 − 1.5 − 2.54 = 995.96; upnl 80 × (100 − 101) = −80; equity 915.96
        # MM 8000 × 5% = 400, IM 800, free 115.96; leverage 8000 / 915.96 = 8.7340; health 100 × 515.96 / 915.96
        # = 56.3299; liquidation (80 × 101 − 995.96) / (80 − 80 × 5%) = 7084.04 / 76 = 93.211052631579
        allowed = await ticket(market=SOL, side="buy", size="50")
        assert allowed.status_code == 200, allowed.text
        assert allowed.headers["X-RateLimit-Limit"] == "10" and allowed.headers["X-RateLimit-Remaining"] == "9"
        body = allowed.json()
        assert (body["allowed"], body["increases_risk"], body["price_source"]) == (True, True, "tape")
        assert figures(body, "fill_price", "reference_price", "slippage_bps", "fee") == [
            D("101.6"), D(100), D(160), D("2.54")]
        after = body["after"]
        assert figures(after, "collateral", "equity", "maintenance_margin", "initial_margin", "free_collateral",
                       "leverage", "health", "liquidation_price") == [
            D("995.96"), D("915.96"), D(400), D(800), D("115.96"), D("8.734"), D("56.3299"), D("93.211052631579")]
        assert figures(after["position"], "size", "entry_price") == [D(80), D(101)]
        # before: 998.5 of equity, MM 150, leverage 3000 / 998.5 = 3.0045, health 100 × 848.5 / 998.5 = 84.9774
        assert figures(body["before"], "equity", "maintenance_margin", "leverage", "health") == [
            D("998.5"), D(150), D("3.0045"), D("84.9774")]

        # buy 100: (3000 + 1040 + 60 × 104) / 100 = 102.8; fee 5.14; equity 998.5 − 5.14 − 280 = 713.36 < IM 1300
        refused = (await ticket(market=SOL, side="buy", size="100")).json()
        assert refused["allowed"] is False and refused["reason"].startswith("initial margin breached")
        assert figures(refused["after"], "equity", "initial_margin", "free_collateral") == [D("713.36"), D(1300), 0]

        await publish(settings, runtime.bootstrap, [tick(BTC, T0 + 4000, "97000", status="halted")])
        await eventually(lambda: degraded(live, BTC), what="BTC degraded")
        halted = (await ticket(market=BTC, side="buy", size="0.01")).json()
        assert halted["allowed"] is False and "BTC-PERP is degraded (status is 'halted'" in halted["reason"]

        await publish(settings, runtime.bootstrap, [tick(SOL, T0 + 5000, "100", status="halted")])
        await eventually(lambda: degraded(live, SOL), what="SOL degraded")
        # sell 10 at the mark (no sell on the tape): fee 0.5; long 20 @ 100; equity 998; MM 100
        reduce = (await ticket(market=SOL, side="sell", size="10")).json()
        assert (reduce["allowed"], reduce["increases_risk"], reduce["price_source"]) == (True, False, "mark")
        assert figures(reduce["after"], "equity", "maintenance_margin", "health") == [D(998), D(100), D("89.9799")]
        grow = (await ticket(market=SOL, side="buy", size="1")).json()
        assert grow["allowed"] is False and "SOL-PERP is degraded" in grow["reason"]

        anonymous = await http.post("/api/v1/orders/simulate", json={"market": SOL, "side": "buy", "size": "1"})
        assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "unauthorized"
        for n in range(5, 10):
            response = await ticket(market=SOL, side="sell", size="1")
            assert response.status_code == 200 and response.headers["X-RateLimit-Remaining"] == str(9 - n)
        limited = await ticket(market=SOL, side="sell", size="1")
        assert limited.status_code == 429 and limited.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(limited.headers["Retry-After"]) <= 60


def figures(body: dict, *names: str) -> list[D | None]:
    """Return the named figures of a response body as decimals."""
    return [None if body[n] is None else D(body[n]) for n in names]


def gateway_state(runtime: Runtime) -> LiveState:
    """Return what the running gateway holds live."""
    return runtime.server.config.app.other_asgi_app.state.live


async def degraded(live: LiveState, market: str) -> bool:
    """Return whether the gateway holds a market as degraded."""
    return live.markets[market]["status"] == "degraded"


def seeded(settings: Settings, wallet: Keypair) -> None:
    """Store the orders of `tests.api.history.order_lifecycles` for `wallet`."""
    warehouse = Warehouse.from_settings(settings)
    warehouse.migrate()
    seed_orders(warehouse, str(wallet.pubkey()))
    warehouse.close()


async def test_a_wallet_lists_its_own_orders_by_status_oldest_placed_first(settings: Settings) -> None:
    wallet, thief = Keypair(), Keypair()
    seeded(settings, wallet)
    async with gateway(settings, RELAXED) as app, client(app) as http:
        own, theirs = {COOKIE: await sign_in(http, wallet)}, {COOKIE: await sign_in(http, thief)}
        http.cookies.clear()
        base = f"/api/v1/accounts/{wallet.pubkey()}/orders"

        every = (await http.get(base, cookies=own)).json()
        assert [(o["id"], o["status"], o["version"]) for o in every] == [
            ("o1", "partially_filled", 2), ("o2", "filled", 3), ("o3", "cancelled", 3), ("o4", "open", 1)]
        o2 = every[1]
        # (2 × 101 + 3 × 101.5) / 5 = 506.5 / 5 = 101.3
        assert (D(o2["filled_size"]), D(o2["remaining_size"]), D(o2["average_price"])) == (5, 0, D("101.3"))
        assert (o2["ts"], o2["updated_ts"], o2["side"], o2["order_type"]) == (T0 + 1000, T0 + 3100, "sell", "Limit")

        def ids(response: httpx.Response) -> list[str]:
            return [o["id"] for o in response.json()]
        assert ids(await http.get(base, params={"status": "open"}, cookies=own)) == ["o1", "o4"]
        assert ids(await http.get(base, params={"status": "filled"}, cookies=own)) == ["o2"]
        cancelled = (await http.get(base, params={"status": "cancelled"}, cookies=own)).json()
        assert [(o["id"], D(o["filled_size"]), D(o["remaining_size"])) for o in cancelled] == [("o3", 1, 2)]
        assert (await http.get(base, params={"status": "partially_filled"}, cookies=own)).status_code == 422

        first = await http.get(base, params={"start": T0, "limit": 3}, cookies=own)
        rest = await http.get(base, params={"cursor": first.headers["X-Next-Cursor"], "limit": 3}, cookies=own)
        assert ids(first) + ids(rest) == ["o1", "o2", "o3", "o4"] and "X-Next-Cursor" not in rest.headers
        assert ids(await http.get(base, params={"limit": 2}, cookies=own)) == ["o3", "o4"]  # the newest placed
        assert ids(await http.get(base, params={"start": T0 + 1000, "end": T0 + 3000}, cookies=own)) == ["o2", "o3"]

        theft = await http.get(base, cookies=theirs)
        assert theft.status_code == 403 and theft.json()["error"]["code"] == "forbidden"
        assert (await http.get(base)).status_code == 401
        assert (await http.get(f"/api/v1/accounts/{thief.pubkey()}/orders", cookies=theirs)).json() == []


async def test_one_order_is_shown_to_its_owner_and_not_found_for_anyone_else(settings: Settings) -> None:
    wallet, thief = Keypair(), Keypair()
    seeded(settings, wallet)
    async with gateway(settings, RELAXED) as app, client(app) as http:
        own, theirs = {COOKIE: await sign_in(http, wallet)}, {COOKIE: await sign_in(http, thief)}
        http.cookies.clear()
        mine = await http.get("/api/v1/orders/o1", cookies=own)
        assert mine.status_code == 200
        assert {k: mine.json()[k] for k in ("id", "status", "side", "market", "subaccount")} == {
            "id": "o1", "status": "partially_filled", "side": "buy", "market": "SOL-PERP", "subaccount": 0}
        assert [D(mine.json()[k]) for k in ("size", "price", "filled_size", "remaining_size", "average_price")] == [
            10, 100, 4, 6, D("99.5")]
        assert "wallet" not in mine.json()
        hidden, unknown = [await http.get(f"/api/v1/orders/{i}", cookies=theirs) for i in ("o1", "nobody")]
        assert hidden.status_code == unknown.status_code == 404
        assert hidden.json()["error"]["code"] == "not_found" and "o1" in hidden.json()["error"]["message"]
        assert (await http.get("/api/v1/orders/x1", cookies=own)).status_code == 404  # someone else's
        assert (await http.get("/api/v1/orders/o1")).status_code == 401
def two_venue_books(live: LiveState, ts: int, hyperliquid_bid: str = "99.95") -> None:
    """Hold SOL books at `ts` on our venue (taker fee 0.0005) and Hyperliquid's (0.00045 by default):
    asks  quantdesk 100.10 × 2, 100.118 × 3   hyperliquid 100.12 × 1, 100.20 × 4
    bids  quantdesk  99.90 × 3                 hyperliquid `hyperliquid_bid` × 2"""
    assert live.apply("books", book("quantdesk", SOL, 7, ts, bids=(("99.9", "3"),),
                                    asks=(("100.1", "2"), ("100.118", "3"))))
    assert live.apply("books", book("hyperliquid", SOL, 40, ts, bids=((hyperliquid_bid, "2"),),
                                    asks=(("100.12", "1"), ("100.2", "4"))))


async def test_the_ticket_walks_a_two_venue_book_by_all_in_cost_and_refuses_what_it_cannot_fill(
        settings: Settings) -> None:
    keypair = Keypair()
    wallet = str(keypair.pubkey())
    async with gateway(settings, RELAXED) as app, client(app) as http:
        live = app.other_asgi_app.state.live
        hold_markets(live, T0)  # SOL: oracle 100, mark 100.5, healthy
        live.apply("accounts.state", snapshot(wallet, 0, T0, "1000"))
        two_venue_books(live, wall_ms())  # fresh by the wall clock: the ticket routes over both
        http.cookies.set(COOKIE, await sign_in(http, keypair), domain="gateway.test")

        async def ticket(**order: Any) -> httpx.Response:
            return await http.post("/api/v1/orders/simulate", json={"market": SOL, **order})

        # buy 4, ranked by price × (1 + fee): ours 100.10 → 100.15005, Hyperliquid 100.12 → 100.165054,
        # ours 100.118 → 100.168059, Hyperliquid 100.20 → 100.24509. Takes 2 @ 100.10, 1 @ 100.12, 1 @ 100.118:
        # ours 3 for 200.20 + 100.118 = 300.318 (avg 100.106, fee × 0.0005 = 0.150159), Hyperliquid 1 for 100.12
        # (fee × 0.00045 = 0.045054) taken ahead of our better-priced 100.118 for its lower fee.
        # notional 400.438, average 100.1095, fee 0.195213 (a blended rate of 0.000487498689); touch 100.10:
        # impact 0.0095 / 100.10 = 0.9491 bps; against the mark 100.5: −38.8557 bps
        buy = await ticket(side="buy", size="4")
        assert buy.status_code == 200, buy.text
        body = buy.json()
        assert (body["price_source"], body["source_note"], body["levels_by_venue"], body["excluded_venues"]) == (
            "book", "", {"quantdesk": 2, "hyperliquid": 1}, [])
        assert figures(body, "fill_price", "fee", "fee_rate", "touch_price", "impact_bps", "reference_price",
                       "slippage_bps") == [D("100.1095"), D("0.195213"), D("0.000487498689"), D("100.1"),
                                           D("0.9491"), D("100.5"), D("-38.8557")]
        assert [(leg["venue"], leg["reason"], D(leg["size"]), D(leg["average_price"]), D(leg["notional"]),
                 D(leg["fee"]), leg["levels"]) for leg in body["route"]] == [
            ("quantdesk", "price", 3, D("100.106"), D("300.318"), D("0.150159"), 2),
            ("hyperliquid", "fee", 1, D("100.12"), D("100.12"), D("0.045054"), 1)]
        # the account after: collateral 1000 − 0.195213 = 999.804787; long 4 @ 100.1095, at the oracle 100
        # upnl −0.438, equity 999.366787; MM 400 × 5% = 20, IM 40; free 959.366787
        assert figures(body["after"], "collateral", "equity", "maintenance_margin", "initial_margin",
                       "free_collateral") == [D("999.804787"), D("999.366787"), D(20), D(40), D("959.366787")]
        assert figures(body["after"]["position"], "size", "entry_price") == [D(4), D("100.1095")]
        assert body["allowed"] is True

        # sell 4, ranked by price × (1 − fee): Hyperliquid 99.95 → 99.9050225 before ours 99.90 → 99.85005;
        # 2 @ 99.95 (fee 199.90 × 0.00045 = 0.089955) then 2 @ 99.90 (fee 0.0999): average 99.925, fee 0.189855,
        # impact (99.95 − 99.925) / 99.95 = 2.5013 bps; ours is there for depth (the better bid was all taken)
        sell = (await ticket(side="sell", size="4")).json()
        assert figures(sell, "fill_price", "fee", "impact_bps") == [D("99.925"), D("0.189855"), D("2.5013")]
        assert [(leg["venue"], leg["reason"]) for leg in sell["route"]] == [("hyperliquid", "price"),
                                                                           ("quantdesk", "depth")]

        # 11 is more than the 2 + 3 + 1 + 4 = 10 offered; a limit of 100.11 leaves only our 2 @ 100.10
        for order, message in (({"size": "11"}, "the visible depth fills 10 of 11: at most 10 can be filled now"),
                               ({"size": "4", "price": "100.11"},
                                "the visible depth within the limit 100.11 fills 2 of 4: at most 2 can be filled")):
            refused = await ticket(side="buy", **order)
            assert refused.status_code == 409 and refused.json()["error"]["code"] == "conflict"
            assert refused.json()["error"]["message"].startswith(message), refused.text


async def test_the_ticket_falls_back_to_the_tape_without_a_healthy_book_and_routes_around_an_unusable_one(
        settings: Settings) -> None:
    keypair = Keypair()
    wallet = str(keypair.pubkey())
    async with gateway(settings, RELAXED) as app, client(app) as http:
        live = app.other_asgi_app.state.live
        hold_markets(live, T0)
        live.apply("accounts.state", snapshot(wallet, 0, T0, "1000"))
        http.cookies.set(COOKIE, await sign_in(http, keypair), domain="gateway.test")
        order = {"market": SOL, "side": "buy", "size": "4"}

        no_book = (await http.post("/api/v1/orders/simulate", json=order)).json()
        assert (no_book["price_source"], D(no_book["fill_price"]), no_book["route"]) == ("mark", D("100.5"), [])
        assert no_book["source_note"] == "no healthy book of SOL-PERP (no venue's book held): estimated from the tape"

        # Hyperliquid's bid 100.5 crosses its own offer 100.12; binance offers 10 @ 100 but has no fee configured
        now = wall_ms()
        two_venue_books(live, now, hyperliquid_bid="100.5")
        assert live.apply("books", book("binance", SOL, 1, now, asks=(("100", "10"),)))
        routed = (await http.post("/api/v1/orders/simulate", json=order)).json()
        # ours alone: 2 @ 100.10 + 2 @ 100.118 = 400.436 → 100.109
        assert (routed["price_source"], D(routed["fill_price"]), routed["levels_by_venue"]) == (
            "book", D("100.109"), {"quantdesk": 2})
        assert routed["excluded_venues"] == [
            {"venue": "hyperliquid", "reason": "crossed: best bid 100.5 >= best ask 100.12"},
            {"venue": "binance", "reason": "no taker fee known for it (QUANTDESK_VENUE_TAKER_FEES)"}]


async def test_a_quiet_venue_is_left_out_of_the_route(settings: Settings) -> None:
    keypair = Keypair()
    wallet = str(keypair.pubkey())
    async with gateway(settings, RELAXED) as app, client(app) as http:
        live = app.other_asgi_app.state.live
        hold_markets(live, T0)
        live.apply("accounts.state", snapshot(wallet, 0, T0, "1000"))
        two_venue_books(live, T0)  # last updated long ago by the wall clock
        http.cookies.set(COOKIE, await sign_in(http, keypair), domain="gateway.test")
        body = (await http.post("/api/v1/orders/simulate", json={"market": SOL, "side": "buy", "size": "4"})).json()
    assert (body["price_source"], body["route"]) == ("mark", [])
    assert [(e["venue"], e["reason"].startswith("quiet: no update for ")) for e in body["excluded_venues"]] == [
        ("hyperliquid", True), ("quantdesk", True)]
    assert body["source_note"].startswith("no healthy book of SOL-PERP (hyperliquid: quiet: no update for ")
