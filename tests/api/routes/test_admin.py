"""Admin controls: an admin (a wallet of the settings, signed in by SIWS) pauses and resumes a market, changes its
margin and funding parameters from a stated time on, and freezes and unfreezes an account, through `admin.commands`;
tickets are refused with the reason, `/markets`, `/status` and the account show it, a gateway started later holds
it too, the stored commands are the audit and a hostile one a dead letter; every admin route refuses plain wallets
(403) and no session (401)."""

from typing import Any

import httpx
from solders.keypair import Keypair

from api.auth import COOKIE
from api.embedded import running
from quantdesk.kafka.publisher import Publisher
from quantdesk.settings import Settings
from tests.api.conftest import RELAXED, client, gateway
from api.status import wall_ms
from tests.api.routes.test_orders import T0, deposit, gateway_state, markets, publish, tick, trade
from tests.streams.agents.test_accounts_pipeline import crash
from tests.api.signing import sign_in
from tests.waiting import eventually

POLL_S = 0.5  # between two reads of the account over REST: the gateway allows 100 a minute, a loaded run waits longer
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
    assert {r["wallet"] for r in rows} == {None}
    assert [(r["action"], r["market"], r["reason"], r["admin"]) for r in rows] == [
        ("resume_market", SOL, "", str(admin.pubkey())), ("pause_market", SOL, REASON, str(admin.pubkey()))]
    assert [r["id"] for r in rows] == [resumed.json()["id"], command["id"]] and rows[0]["ts"] >= rows[1]["ts"]


async def test_an_admins_change_of_parameters_counts_from_its_time_for_the_engine_the_ticket_and_markets(
        settings: Settings) -> None:
    admin, trader, maker = Keypair(), Keypair(), Keypair()
    wallet = str(trader.pubkey())
    settings = settings.model_copy(update={"admin_wallets": (str(admin.pubkey()),)})
    async with running(settings, simulator=False) as runtime, httpx.AsyncClient(base_url=runtime.api_url) as http:
        boss, plain = await sign_in(http, admin), await sign_in(http, trader)
        http.cookies.clear()
        live = gateway_state(runtime)
        # 1000 in, long 80 SOL at 100 paying 4: MM 5 % = 400 under SOL's listing
        await publish(settings, runtime.bootstrap, [deposit(wallet), tick(SOL, T0, "100"),
                                                     *trade(wallet, str(maker.pubkey()), T0 + 1000, "80", "100", "4")])
        await eventually(lambda: _margin(http, wallet, plain, "400.000000000"), what="the long under the listing",
                         interval=POLL_S)

        async def change(**params: Any) -> httpx.Response:
            body = {"imr": "0.2", "mmr": "0.08", "max_funding_per_hour": "0.002", "reason": "volatility", **params}
            return await http.post(f"/api/v1/admin/markets/{SOL}/params", json=body, cookies={COOKIE: boss})
        past = await change(effective_at=wall_ms() - 60_000)
        assert past.status_code == 422 and "never retroactive" in past.json()["error"]["message"]
        upside = await change(mmr="0.3", effective_at=wall_ms() + 60_000)
        assert upside.status_code == 422 and "must be under imr" in upside.json()["error"]["message"]
        effective = wall_ms() + 60_000
        taken = await change(effective_at=effective)
        assert taken.status_code == 202, taken.text
        assert (taken.json()["action"], taken.json()["mmr"], taken.json()["effective_at"]) == (
            "set_market_params", "0.08", effective)
        await eventually(lambda: _scheduled(live, SOL), what="the gateway reading the change back")
        shown = (await markets(http))[SOL]
        assert (shown["imr"], shown["mmr"], shown["max_funding_per_hour"]) == ("0.10", "0.05", "0.00125")
        assert shown["next_params"] == {"effective_at": effective, "imr": "0.2", "mmr": "0.08",
                                        "max_funding_per_hour": "0.002", "reason": "volatility"}

        await publish(settings, runtime.bootstrap, [tick(SOL, effective + 1000, "100")])  # the market reaches it
        # MM 8 % of 8000 = 640, IM 20 % = 1600 from the change's time on
        await eventually(lambda: _margin(http, wallet, plain, "640.000000000"), what="the long re-margined",
                         interval=POLL_S)
        await eventually(lambda: _in_force(live, SOL, effective + 1000), what="the gateway at the tick")
        shown = (await markets(http))[SOL]
        assert (shown["imr"], shown["mmr"], shown["next_params"]) == ("0.2", "0.08", None)
        ticket = await http.post("/api/v1/orders/simulate", json={"market": SOL, "side": "buy", "size": "1"},
                                 cookies={COOKIE: plain})
        assert ticket.status_code == 200, ticket.text
        assert ticket.json()["before"]["initial_margin"] == "1600.000000000"
        db = runtime.warehouse.database

        async def changed() -> list[dict[str, Any]]:
            return await runtime.warehouse.arows(
                f"SELECT toUnixTimestamp64Milli(ts) AS ts, params FROM {db}.audit_log FINAL "
                "WHERE action = 'market_params_changed'")
        [audited] = await eventually(changed, what="the change on the audit trail")

        async def stored() -> list[dict[str, Any]]:
            return await runtime.warehouse.arows(
                f"SELECT toString(mmr) AS mmr, toUnixTimestamp64Milli(effective_at) AS at FROM {db}.admin_commands "
                "FINAL WHERE action = 'set_market_params'")
        [command] = await eventually(stored, what="the command stored")
    assert audited["ts"] == effective and len(audited["params"]) == 16
    assert (command["mmr"], command["at"]) == ("0.08", effective)


async def _margin(http: httpx.AsyncClient, wallet: str, token: str, maintenance: str) -> bool:
    account = (await http.get(f"/api/v1/accounts/{wallet}", cookies={COOKIE: token})).json()
    return any(s.get("maintenance_margin") == maintenance for s in account.get("subaccounts", [account]))


async def _scheduled(live: Any, market: str) -> bool:
    return bool(live.changes.get(market))


async def _in_force(live: Any, market: str, ts: int) -> bool:
    return live.newest_ts(market) >= ts


async def test_an_admin_freezes_and_unfreezes_an_account_and_a_hostile_command_is_a_dead_letter(
        settings: Settings) -> None:
    admin, trader = Keypair(), Keypair()
    wallet = str(trader.pubkey())
    settings = settings.model_copy(update={"admin_wallets": (str(admin.pubkey()),)})
    async with running(settings, simulator=False) as runtime, httpx.AsyncClient(base_url=runtime.api_url) as http:
        boss, plain = await sign_in(http, admin), await sign_in(http, trader)
        http.cookies.clear()
        live = gateway_state(runtime)
        async with Publisher(settings, runtime.bootstrap) as publisher:
            await publisher.send([deposit(wallet), ("admin.commands", wallet, {
                "id": "bad", "ts": T0, "admin": "x", "action": "freeze_account", "market": SOL, "wallet": wallet})])
        await eventually(lambda: _held(live, wallet), what="the trader's account")

        frozen = await http.post(f"/api/v1/admin/accounts/{wallet}/freeze", json={"reason": "KYC check"},
                                 cookies={COOKIE: boss})
        assert frozen.status_code == 202 and (frozen.json()["wallet"], frozen.json()["market"]) == (wallet, None)
        await eventually(lambda: _frozen(live, wallet), what="the gateway reading the freeze back")
        account = (await http.get(f"/api/v1/accounts/{wallet}", cookies={COOKIE: plain})).json()
        assert (account["frozen"], account["freeze_reason"]) == (True, "KYC check")
        ticket = await http.post("/api/v1/orders/simulate", json={"market": SOL, "side": "buy", "size": "1"},
                                 cookies={COOKIE: plain})
        assert ticket.status_code == 403
        assert ticket.json()["error"]["message"] == f"account {wallet} is frozen by an admin: KYC check"

        await http.post(f"/api/v1/admin/accounts/{wallet}/unfreeze", cookies={COOKIE: boss})
        await eventually(lambda: _unfrozen(live, wallet), what="the gateway reading the unfreeze back")
        assert (await http.get(f"/api/v1/accounts/{wallet}", cookies={COOKIE: plain})).json()["frozen"] is False
        ticket = await http.post("/api/v1/orders/simulate", json={"market": SOL, "side": "buy", "size": "1"},
                                 cookies={COOKIE: plain})
        assert ticket.status_code != 403 and "frozen" not in ticket.text
        db = runtime.warehouse.database

        async def letter() -> list[dict[str, Any]]:
            return await runtime.warehouse.arows(f"SELECT topic, reason FROM {db}.dead_letters")
        [dead] = await eventually(letter, what="the hostile command's dead letter")

        async def commands() -> list[dict[str, Any]]:
            rows = await runtime.warehouse.arows(f"SELECT action, wallet FROM {db}.admin_commands FINAL ORDER BY ts")
            return rows if len(rows) == 2 else []
        stored = await eventually(commands, what="both commands stored")
    assert dead["topic"] == "admin.commands" and "names its wallet and nothing else" in dead["reason"]
    assert [(r["action"], r["wallet"]) for r in stored] == [("freeze_account", wallet), ("unfreeze_account", wallet)]


async def test_the_insurance_fund_shows_each_liquidations_credit_and_its_balance(settings: Settings) -> None:
    admin, trader = Keypair(), Keypair()
    settings = settings.model_copy(update={"admin_wallets": (str(admin.pubkey()),)})
    async with running(settings, simulator=False) as runtime, httpx.AsyncClient(base_url=runtime.api_url) as http:
        boss = await sign_in(http, admin)
        http.cookies.clear()
        empty = (await http.get("/api/v1/admin/insurance-fund", cookies={COOKIE: boss})).json()
        assert empty == {"balance": "0", "movements": []}
        async with Publisher(settings, runtime.bootstrap) as publisher:
            await publisher.send(crash(str(trader.pubkey()), SOL, T0))

        async def credited() -> dict[str, Any] | None:
            fund = (await http.get("/api/v1/admin/insurance-fund", cookies={COOKIE: boss})).json()
            return fund if fund["movements"] else None
        fund = await eventually(credited, what="the liquidation's credit to the fund")
    # the crash's close: 5.132555674 SOL at 92, fee 1 % = 4.72195122008 → 4.721951220, the fund's half 2.360975610
    [credit] = fund["movements"]
    assert (credit["kind"], credit["amount"], credit["balance"], fund["balance"]) == (
        "credit", "2.360975610", "2.360975610", "2.360975610")
    assert credit["plan"] == f"crash:{SOL}:{T0 + 5000}:{trader.pubkey()}:0:plan" and credit["ts"] == T0 + 5000


async def test_an_admins_query_reads_the_warehouse_within_its_limits_and_a_write_is_refused(
        settings: Settings) -> None:
    admin, trader = Keypair(), Keypair()
    settings = settings.model_copy(update={"admin_wallets": (str(admin.pubkey()),)})
    async with running(settings, simulator=False) as runtime, httpx.AsyncClient(base_url=runtime.api_url) as http:
        boss = {COOKIE: await sign_in(http, admin)}
        http.cookies.clear()
        async with Publisher(settings, runtime.bootstrap) as publisher:
            await publisher.send(crash(str(trader.pubkey()), SOL, T0))

        asked = []

        async def ask(query: str, **more: Any) -> httpx.Response:
            asked.append(query)
            return await http.post("/api/v1/admin/sql", json={"query": query, **more}, cookies=boss)

        async def stored() -> dict[str, Any] | None:
            answer = (await ask("SELECT market, count() AS n, sum(size) AS size FROM {db}.fills FINAL "
                                "WHERE liquidation = '' GROUP BY market")).json()
            return answer if answer["rows"] else None
        answer = await eventually(stored, what="the crash's fill stored")
        assert answer == {"columns": ["market", "n", "size"], "rows": [[SOL, 1, "80.000000000000000000"]]}
        write = await ask("INSERT INTO {db}.fills (id) VALUES ('x')")
        assert write.status_code == 400 and "readonly" in write.json()["error"]["message"].lower()
        many = await ask("SELECT number FROM system.numbers LIMIT 20", max_rows=10)
        assert many.status_code == 400 and "refused by ClickHouse" in many.json()["error"]["message"]
        assert (await ask("SELEC nonsense")).status_code == 400
        assert (await ask("SELECT 1", max_rows=10_001)).status_code == 422
        db, audits = runtime.warehouse.database, len(asked) - 1  # the 422 never reached the route

        async def audited() -> list[dict[str, Any]]:
            return await runtime.warehouse.arows(f"SELECT data FROM {db}.audit_log WHERE action = 'admin_sql'")
        # as many as the queries that reached the route: the first poll may have found the fill stored already
        rows = await eventually(lambda: _at_least(audited, audits), what="every query audited")
        assert len(rows) == audits
        # the refused write left the platform's own writes alone: the sink stores on
        async with Publisher(settings, runtime.bootstrap) as publisher:
            await publisher.send([deposit(str(trader.pubkey()) + "x")])
        await eventually(lambda: _at_least(lambda: runtime.warehouse.arows(
            f"SELECT id FROM {db}.account_changes WHERE wallet = {{w:String}}", {"w": str(trader.pubkey()) + "x"}), 1),
            what="a deposit stored after the admin's queries")
    assert any("INSERT INTO" in r["data"] for r in rows)


async def _at_least(probe: Any, n: int) -> Any:
    rows = await probe()
    return rows if len(rows) >= n else None


async def _held(live: Any, wallet: str) -> bool:
    return wallet in live.accounts


async def _frozen(live: Any, wallet: str) -> bool:
    return live.frozen(wallet) is not None


async def _unfrozen(live: Any, wallet: str) -> bool:
    command = live.commands.get(wallet)
    return command is not None and command.action == "unfreeze_account"


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
        assert len(routes) == 8
        for method, path in routes:
            url = path.replace("{market}", SOL).replace("{wallet}", str(trader.pubkey()))
            body = {"json": {"reason": REASON}} if method == "POST" else {}  # refused before the body counts
            plain = await http.request(method, url, cookies={COOKIE: token}, **body)
            assert plain.status_code == 403, (method, path, plain.text)
            assert plain.json()["error"]["message"] == "admins only: this session's wallet is not an admin"
            assert (await http.request(method, url, **body)).status_code == 401, (method, path)
