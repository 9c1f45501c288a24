"""Signals over REST: market signals for everyone (never an account's), a wallet's own alerts for that wallet only."""

from solders.keypair import Keypair

from api.auth import COOKIE
from quantdesk.settings import Settings
from quantdesk.warehouse import Warehouse
from tests.api.conftest import RELAXED, client, gateway
from tests.api.history import T0, seed_signals
from tests.api.signing import sign_in

MARKET_IDS = ["funding_flip:SOL-PERP:1", "whale_fill:BTC-PERP:3", "oracle_degraded:BTC-PERP:7",
              "volatility_spike:SOL-PERP:6"]  # oldest first; 6 and 7 share a millisecond: by id


def seeded(settings: Settings, wallet: str) -> None:
    """Migrate the test's warehouse and store the signals of the markets and of two wallets."""
    warehouse = Warehouse.from_settings(settings)
    warehouse.migrate()
    seed_signals(warehouse, wallet)
    warehouse.close()


def ids(response: object) -> list[str]:
    """Return the ids of a list response's signals."""
    return [s["id"] for s in response.json()]  # type: ignore[attr-defined]


async def test_signals_list_market_signals_only_filtered_and_paged(settings: Settings) -> None:
    wallet = str(Keypair().pubkey())
    seeded(settings, wallet)
    async with gateway(settings, RELAXED) as app, client(app) as http:
        every = await http.get("/api/v1/signals")
        assert every.status_code == 200 and ids(every) == MARKET_IDS
        first = every.json()[0]
        assert first == {"id": "funding_flip:SOL-PERP:1", "ts": T0 + 1000, "kind": "funding_flip", "severity": "info",
                         "subject": "SOL-PERP", "message": "SOL-PERP funding flipped", "market": "SOL-PERP",
                         "data": {"figure": "1.5", "n": 1}, "causes": ["cause-1"]}
        assert wallet not in every.text and "someone" not in every.text and "health" not in every.text

        sol = await http.get("/api/v1/signals", params={"market": "SOL-PERP"})
        assert ids(sol) == ["funding_flip:SOL-PERP:1", "volatility_spike:SOL-PERP:6"]
        assert ids(await http.get("/api/v1/signals", params={"kind": "whale_fill"})) == ["whale_fill:BTC-PERP:3"]
        for params in ({"kind": "health_crossed"}, {"kind": "health_crossed", "market": "SOL-PERP"},
                       {"kind": "liquidation_near", "market": "BTC-PERP"}, {"kind": "no_such_kind"}):
            assert (await http.get("/api/v1/signals", params=params)).json() == [], params
        assert ids(await http.get("/api/v1/signals", params={"since": T0 + 2000})) == MARKET_IDS[1:]
        assert ids(await http.get("/api/v1/signals", params={"since": T0 + 2001, "market": "BTC-PERP"})) == [
            "oracle_degraded:BTC-PERP:7"]

        page = await http.get("/api/v1/signals", params={"since": T0, "limit": 3})
        assert ids(page) == MARKET_IDS[:3] and page.headers["Link"].endswith('>; rel="next"')
        rest = await http.get("/api/v1/signals", params={"since": T0, "limit": 3,
                                                         "cursor": page.headers["X-Next-Cursor"]})
        assert ids(rest) == MARKET_IDS[3:] and "X-Next-Cursor" not in rest.headers
        newest = await http.get("/api/v1/signals", params={"limit": 2})  # no start: the newest, oldest first
        assert ids(newest) == MARKET_IDS[2:] and "X-Next-Cursor" not in newest.headers

        unknown = await http.get("/api/v1/signals", params={"market": "DOGE-PERP"})
        assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
        backwards = await http.get("/api/v1/signals", params={"since": T0 + 5000, "end": T0})
        assert backwards.status_code == 422 and backwards.json()["error"]["code"] == "invalid_request"
        empty_kind = await http.get("/api/v1/signals", params={"kind": ""})
        assert empty_kind.status_code == 422


async def test_a_wallet_pages_through_its_own_alerts_and_no_other(settings: Settings) -> None:
    wallet, thief = Keypair(), Keypair()
    seeded(settings, str(wallet.pubkey()))
    async with gateway(settings, RELAXED) as app, client(app) as http:
        own = {COOKIE: await sign_in(http, wallet)}
        theirs = {COOKIE: await sign_in(http, thief)}
        http.cookies.clear()
        base = f"/api/v1/accounts/{wallet.pubkey()}/alerts"

        alerts = await http.get(base, cookies=own)
        assert alerts.status_code == 200
        w = str(wallet.pubkey())
        assert ids(alerts) == [f"health_crossed:{w}:0:2", f"liquidation_near:{w}:1:5", f"health_recovered:{w}:0:8"]
        assert [(a["subaccount"], a["market"], a["severity"]) for a in alerts.json()] == [
            (0, "SOL-PERP", "warning"), (1, "BTC-PERP", "critical"), (0, None, "info")]
        assert {a["wallet"] for a in alerts.json()} == {str(wallet.pubkey())} and "someone" not in alerts.text

        kind = await http.get(base, params={"kind": "health_crossed"}, cookies=own)
        assert [a["ts"] - T0 for a in kind.json()] == [1500]
        first = await http.get(base, params={"since": T0 + 1501, "limit": 1}, cookies=own)
        assert [a["kind"] for a in first.json()] == ["liquidation_near"]
        rest = await http.get(base, params={"since": T0 + 1501, "limit": 1, "cursor": first.headers["X-Next-Cursor"]},
                              cookies=own)
        assert [a["kind"] for a in rest.json()] == ["health_recovered"]

        theft = await http.get(base, cookies=theirs)
        assert theft.status_code == 403
        assert theft.json() == {"error": {"code": "forbidden", "message": "a session reaches only its own wallet"}}
        anonymous = await http.get(base)
        assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "unauthorized"
        assert (await http.get(f"/api/v1/accounts/{thief.pubkey()}/alerts", cookies=theirs)).json() == []
        assert str(wallet.pubkey()) not in (await http.get("/api/v1/signals")).text
