"""MIKEY's insights over REST: the figures the gateway holds and the signals of the hour up to its newest event time;
a wallet's insights for that wallet only."""

from decimal import Decimal as D

from solders.keypair import Keypair

from api.auth import COOKIE
from quantdesk.settings import Settings
from quantdesk.warehouse import Warehouse
from tests.api.conftest import RELAXED, client, gateway
from tests.api.held import HOUR_MS, T0, hold_markets, market_state, snapshot
from tests.api.history import seed_signals
from tests.api.signing import sign_in


def seeded(settings: Settings, wallet: str) -> None:
    """Migrate the test's warehouse and store the signals of the markets and of two wallets."""
    warehouse = Warehouse.from_settings(settings)
    warehouse.migrate()
    seed_signals(warehouse, wallet)
    warehouse.close()


async def test_market_insights_say_the_held_figures_and_the_hours_signals(settings: Settings) -> None:
    seeded(settings, "w")
    async with gateway(settings, RELAXED) as app, client(app) as http:
        live = app.other_asgi_app.state.live
        hold_markets(live, T0 + 3000)  # the newest event time: 00:00:03
        live.apply("accounts.state", snapshot("w", 0, T0, "1000", ("SOL-PERP", "30", "100")))

        sol = (await http.get("/api/v1/mikey/insights", params={"market": "SOL-PERP"})).json()
        assert (sol["subject"], sol["as_of"]) == ("SOL-PERP", T0 + 3000)
        assert sol["summary"] == [
            "SOL-PERP is healthy: oracle 100.00, mark 100.50 (0.50 % above the oracle).",
            "Funding: longs pay shorts 0.00125 % an hour (10.95 % APR).",
            "Open interest is 30 SOL ($3,000.00 at the oracle).",
            "2 signals in the last hour (1 warning, 1 info); the latest, at 00:00:03 UTC: SOL-PERP volatility 4.1x "
            "its baseline.",
        ]
        assert [s["id"] for s in sol["signals"]] == ["funding_flip:SOL-PERP:1", "volatility_spike:SOL-PERP:6"]
        words = ("market", "status", "reason")
        figures = {k: v if v is None or k in words else D(v) for k, v in sol["figures"][0].items()}
        assert figures == {"market": "SOL-PERP", "status": "healthy", "reason": "", "oracle_price": 100,
                           "mark_price": D("100.5"), "change_24h": None, "funding_rate": D("0.0000125"),
                           "funding_apr": D("0.1095"), "open_interest": 30, "open_interest_notional": 3000}

        every = (await http.get("/api/v1/mikey/insights")).json()
        assert every["subject"] == "markets" and [f["market"] for f in every["figures"]] == list(settings.market_names)
        assert [s["id"] for s in every["signals"]] == ["funding_flip:SOL-PERP:1", "whale_fill:BTC-PERP:3",
                                                       "oracle_degraded:BTC-PERP:7", "volatility_spike:SOL-PERP:6"]
        assert every["summary"][-1].startswith("4 signals in the last hour (1 critical, 1 warning, 2 info)")
        assert "ETH-PERP: no oracle price yet." in every["summary"]
        assert "Health" not in str(every) and "someone" not in str(every)  # never an account's signal

        live.apply("markets.state", market_state("SOL-PERP", T0 + HOUR_MS + 1500, "101", "101"))  # time moves on
        later = (await http.get("/api/v1/mikey/insights", params={"market": "SOL-PERP"})).json()
        assert later["as_of"] == T0 + HOUR_MS + 1500
        assert [s["id"] for s in later["signals"]] == ["volatility_spike:SOL-PERP:6"]

        unknown = await http.get("/api/v1/mikey/insights", params={"market": "DOGE-PERP"})
        assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"


async def test_a_wallets_insights_are_its_own_figures_and_alerts_and_nobody_elses(settings: Settings) -> None:
    wallet, thief = Keypair(), Keypair()
    w = str(wallet.pubkey())
    seeded(settings, w)
    async with gateway(settings, RELAXED) as app, client(app) as http:
        own = {COOKIE: await sign_in(http, wallet)}
        theirs = {COOKIE: await sign_in(http, thief)}
        http.cookies.clear()
        live = app.other_asgi_app.state.live
        hold_markets(live, T0 + 3000)
        held = snapshot(w, 0, T0, "1000", ("SOL-PERP", "30", "100"))
        held["positions"][0]["liquidation_price"] = "70"
        live.apply("accounts.state", held)

        body = (await http.get(f"/api/v1/accounts/{w}/insights", cookies=own)).json()
        assert (body["subject"], body["as_of"]) == (w, T0 + 3000)
        assert body["summary"] == [
            "Sub-account 0 is active: equity $1,000.00, health 100.0 of 100, no leverage, free collateral $1,000.00.",
            "Its position nearest liquidation is long 30 SOL on SOL-PERP: liquidation price 70.00 is 30.00 % below "
            "the oracle 100.00.",
            "2 alerts in the last hour (1 critical, 1 warning); the latest, at 00:00:02 UTC: BTC-PERP liquidation "
            "price 2.0 % away.",
        ]
        assert [(s["kind"], s["wallet"], s["subaccount"]) for s in body["signals"]] == [
            ("health_crossed", w, 0), ("liquidation_near", w, 1)]  # 00:00:04's recovery is after the newest event
        assert body["figures"][0]["nearest_liquidation"] == {
            "market": "SOL-PERP", "size": "30", "liquidation_price": "70", "oracle_price": "100", "distance": "0.3"}
        assert "someone" not in str(body)

        theft = await http.get(f"/api/v1/accounts/{w}/insights", cookies=theirs)
        assert theft.status_code == 403 and theft.json()["error"]["code"] == "forbidden" and "Health" not in theft.text
        assert (await http.get(f"/api/v1/accounts/{w}/insights")).status_code == 401
        none = await http.get(f"/api/v1/accounts/{thief.pubkey()}/insights", cookies=theirs)
        assert none.status_code == 404 and none.json()["error"]["code"] == "not_found"
