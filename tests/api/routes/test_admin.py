"""Admin controls: an admin (a wallet of the settings, signed in by SIWS) pauses and resumes a market through
`admin.commands`; tickets are refused with the reason, `/markets` and `/status` show it, a gateway started later
holds it too, and the stored commands are the audit; every admin route refuses plain wallets (403) and no
session (401)."""

from typing import Any

import httpx
from solders.keypair import Keypair

from api.auth import COOKIE
from api.embedded import running
from quantdesk.settings import Settings
from tests.api.conftest import RELAXED, client, gateway
from tests.api.routes.test_orders import gateway_state
from tests.api.signing import sign_in
from tests.waiting import eventually

SOL, BTC = "SOL-PERP", "BTC-PERP"
REASON = "oracle under review"


async def test_an_admin_pauses_and_resumes_a_market_and_every_reader_sees_why(settings: Settings) -> None:
    admin, trader = Keypair(), Keypair()
    settings = settings.model_copy(update={"admin_wallets": (str(admin.pubkey()),)})
    async with running(settings, simulator=False) as runtime, httpx.AsyncClient(base_url=runtime.api_url) as http:
        boss, plain = await sign_in(http, admin), await sign_in(http, trader)
        http.cookies.clear()
        assert (await http.get("/api/v1/auth/session", cookies={COOKIE: boss})).json()["role"] == "admin"
        assert (await http.get("/api/v1/auth/session", cookies={COOKIE: plain})).json()["role"] == "trader"
        live = gateway_state(runtime)

        paused = await http.post(f"/api/v1/admin/markets/{SOL}/pause", json={"reason": REASON}, cookies={COOKIE: boss})
        assert paused.status_code == 202, paused.text
        command = paused.json()
        assert (command["admin"], command["action"], command["market"], command["reason"]) == (
            str(admin.pubkey()), "pause_market", SOL, REASON)
        await eventually(lambda: _paused(live, SOL), what="the gateway reading the pause back")

        shown = {m["market"]: m for m in (await http.get("/api/v1/markets")).json()}
        assert (shown[SOL]["paused"], shown[SOL]["pause_reason"]) == (True, REASON)
        assert (shown[BTC]["paused"], shown[BTC]["pause_reason"]) == (False, None)
        sources = {s["source"]: s for s in (await http.get("/api/v1/status")).json()["sources"]}
        assert sources[f"admin:{SOL}"]["healthy"] is False
        assert sources[f"admin:{SOL}"]["reason"] == f"paused by an admin: {REASON}" and f"admin:{BTC}" not in sources
        ticket = await http.post("/api/v1/orders/simulate", json={"market": SOL, "side": "buy", "size": "1"},
                                 cookies={COOKIE: plain})
        assert ticket.status_code == 409 and ticket.json()["error"]["message"] == (
            f"market {SOL} is paused by an admin: {REASON}")
        other = await http.post("/api/v1/orders/simulate", json={"market": BTC, "side": "buy", "size": "1"},
                                cookies={COOKIE: plain})
        assert "paused" not in other.text  # BTC goes on (refused only for want of an oracle price here)

        async with gateway(settings, RELAXED, runtime.bootstrap) as later:  # reads every admin command back
            later_live = later.other_asgi_app.state.live  # type: ignore[attr-defined]
            await eventually(lambda: _paused(later_live, SOL), what="a gateway started later holding the pause")
            async with client(later) as fresh:
                assert {m["market"]: m["paused"] for m in (await fresh.get("/api/v1/markets")).json()}[SOL]

        resumed = await http.post(f"/api/v1/admin/markets/{SOL}/resume", cookies={COOKIE: boss})
        assert resumed.status_code == 202 and resumed.json()["action"] == "resume_market"
        await eventually(lambda: _resumed(live, SOL), what="the gateway reading the resume back")
        assert not {m["market"]: m for m in (await http.get("/api/v1/markets")).json()}[SOL]["paused"]
        sources = {s["source"]: s for s in (await http.get("/api/v1/status")).json()["sources"]}
        assert sources[f"admin:{SOL}"]["healthy"] is True and sources[f"admin:{SOL}"]["reason"] == ""

        async def audited() -> list[dict[str, Any]]:
            rows = (await http.get("/api/v1/admin/commands", cookies={COOKIE: boss})).json()
            return rows if len(rows) == 2 else []
        rows = await eventually(audited, what="both commands stored")
    assert [(r["action"], r["market"], r["reason"], r["admin"]) for r in rows] == [
        ("resume_market", SOL, "", str(admin.pubkey())), ("pause_market", SOL, REASON, str(admin.pubkey()))]
    assert [r["id"] for r in rows] == [resumed.json()["id"], command["id"]] and rows[0]["ts"] >= rows[1]["ts"]


async def _paused(live: Any, market: str) -> bool:
    return live.paused(market) is not None


async def _resumed(live: Any, market: str) -> bool:
    command = live.commands.get(market)
    return command is not None and command.action == "resume_market"


async def test_every_admin_route_is_refused_to_a_plain_wallet_and_to_no_session(settings: Settings) -> None:
    trader = Keypair()
    settings = settings.model_copy(update={"admin_wallets": (str(Keypair().pubkey()),)})
    async with gateway(settings, RELAXED) as asgi, client(asgi) as http:
        token = await sign_in(http, trader)
        http.cookies.clear()
        paths = asgi.other_asgi_app.openapi()["paths"]  # type: ignore[attr-defined]  # every route the app serves
        routes = [(method.upper(), path) for path, methods in paths.items() if path.startswith("/api/v1/admin")
                  for method in methods]
        assert len(routes) == 3
        for method, path in routes:
            url = path.replace("{market}", SOL)
            body = {"json": {"reason": REASON}} if method == "POST" else {}
            plain = await http.request(method, url, cookies={COOKIE: token}, **body)
            assert plain.status_code == 403, (method, path, plain.text)
            assert plain.json()["error"]["message"] == "admins only: this session's wallet is not an admin"
            assert (await http.request(method, url, **body)).status_code == 401, (method, path)
