"""A wallet's audit trail over REST: the gateway's decisions about it (sign-ins taken and refused, tickets answered
and refused, an admin's freeze, an admin route refused) beside the risk engine's, each with its causes, the
parameter version in force and the digest of its inputs; the same inputs, the same digest; own wallet only."""

from typing import Any

import httpx
from solders.keypair import Keypair

from api.auth import COOKIE
from api.embedded import running
from quantdesk.kafka.publisher import Publisher
from quantdesk.markets import params_version
from quantdesk.settings import Settings
from tests.api.routes.test_orders import SOL, T0, deposit, gateway_state, tick
from tests.api.signing import offer, sign, sign_in
from tests.waiting import eventually


async def test_a_wallets_trail_holds_every_decision_about_it_with_causes_params_and_digests(
        settings: Settings) -> None:
    admin, trader, other = Keypair(), Keypair(), Keypair()
    wallet = str(trader.pubkey())
    settings = settings.model_copy(update={"admin_wallets": (str(admin.pubkey()),)})
    async with running(settings, simulator=False) as runtime, httpx.AsyncClient(base_url=runtime.api_url) as http:
        message = (await offer(http, trader))["message"]
        forged = await http.post("/api/v1/auth/verify", json={"address": wallet, "message": message,
                                                              "signature": sign(other, message)})
        assert forged.status_code == 401
        boss, token, stranger = await sign_in(http, admin), await sign_in(http, trader), await sign_in(http, other)
        http.cookies.clear()
        own = {COOKIE: token}
        async with Publisher(settings, runtime.bootstrap) as publisher:
            await publisher.send([deposit(wallet), tick(SOL, T0 + 1000, "100")])
        live = gateway_state(runtime)
        await eventually(lambda: _priced(live, wallet), what="the account and SOL's price")

        order = {"market": SOL, "side": "buy", "size": "1", "subaccount": 0}
        answers = [await http.post("/api/v1/orders/simulate", json=order, cookies=own) for _ in range(2)]
        assert [a.status_code for a in answers] == [200, 200]
        assert (await http.get("/api/v1/admin/commands", cookies=own)).status_code == 403
        frozen = await http.post(f"/api/v1/admin/accounts/{wallet}/freeze", json={"reason": "KYC"},
                                 cookies={COOKIE: boss})
        await eventually(lambda: _frozen(live, wallet), what="the freeze read back")
        assert (await http.post("/api/v1/orders/simulate", json=order, cookies=own)).status_code == 403

        async def trail() -> list[dict[str, Any]]:
            rows = (await http.get(f"/api/v1/accounts/{wallet}/audit", cookies=own)).json()
            wanted = {"sign_in_refused", "sign_in", "order_simulated", "order_refused", "admin_refused",
                      "admin_command", "state_transition"}
            return rows if wanted <= {r["action"] for r in rows} else []
        rows = await eventually(trail, what="every decision about the wallet stored")
        refused_other = await http.get(f"/api/v1/accounts/{wallet}/audit", cookies={COOKIE: stranger})
    assert refused_other.status_code == 403
    by = {r["action"]: r for r in rows}
    assert by["state_transition"]["actor"] == "risk-engine" and by["state_transition"]["causes"] == [
        f"deposit:{wallet}"]
    assert by["sign_in_refused"]["data"]["reason"].startswith("the signature") and by["sign_in"]["data"] == {
        "role": "trader"}
    assert by["admin_refused"]["data"] == {"method": "GET", "path": "/api/v1/admin/commands"}
    assert by["admin_command"]["causes"] == [frozen.json()["id"]] and by["admin_command"]["subject"] == wallet
    refused = by["order_refused"]
    assert (refused["data"]["status"], refused["data"]["reason"]) == (403, f"account {wallet} is frozen by an "
                                                                           "admin: KYC")
    tickets = [r for r in rows if r["action"] == "order_simulated"]
    assert len(tickets) == 2 and tickets[0]["digest"] == tickets[1]["digest"]  # same order, same figures
    assert tickets[0]["subject"] == f"{wallet}:0" and tickets[0]["data"]["allowed"] is True
    version = params_version(settings.markets)
    for row in rows:
        assert row["subject"] in (wallet, f"{wallet}:0") and row["processed_at"] >= row["ts"] - 60_000
        assert row["params"] == version and len(row["digest"]) == 64  # the engine's and the gateway's alike
    assert [(r["ts"], r["id"]) for r in rows] == sorted((r["ts"], r["id"]) for r in rows)


async def _priced(live: Any, wallet: str) -> bool:
    return wallet in live.accounts and bool(live.markets.get(SOL, {}).get("oracle_price"))


async def _frozen(live: Any, wallet: str) -> bool:
    return live.frozen(wallet) is not None
