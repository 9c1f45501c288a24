"""The ledger end to end: a crash through the risk worker, its entries stored by the sink and paged over REST, and
the hourly history the warehouse aggregates from them and the snapshots."""

from decimal import Decimal as D

import httpx
from solders.keypair import Keypair

from api.auth import COOKIE
from api.embedded import running
from quantdesk.kafka.publisher import Publisher
from quantdesk.settings import Settings
from tests.api.signing import sign_in
from tests.streams.agents.test_accounts_pipeline import START_MS, crash, rows
from tests.waiting import eventually

HOUR = 3_600_000


def later(wallet: str, market: str, t0: int) -> list[tuple[str, str, dict]]:
    """Return the next hour's first tick (funding the crash's hour), then a withdrawal of 10."""
    return [("oracle.ticks", market, {"id": f"later:{market}:tick", "ts": t0 + HOUR + 1000, "market": market,
                                      "price": "100", "conf": "0.01", "publish_time": t0 + HOUR + 1000}),
            ("accounts.changes", f"{wallet}:0", {"id": f"later:{wallet}:withdraw", "ts": t0 + HOUR + 2000,
                                                 "wallet": wallet, "subaccount": 0, "kind": "withdraw",
                                                 "amount": "10"})]


async def pages(http: httpx.AsyncClient, url: str, headers: dict[str, str]) -> tuple[list[dict], int]:
    """Return every entry a paged list gives from its start, following its cursors, and how many pages it took."""
    entries, cursor, count = [], None, 0
    while True:
        params = {"start": 0, "limit": 2, **({"cursor": cursor} if cursor else {})}
        response = await http.get(url, params=params, headers=headers)
        assert response.status_code == 200, response.text
        entries, count = entries + response.json(), count + 1
        cursor = response.headers.get("X-Next-Cursor")
        if cursor is None:
            return entries, count


async def test_the_stored_ledger_adds_up_to_the_collateral_and_pages_over_rest_with_its_history(
        settings: Settings) -> None:
    keypair, other = Keypair(), Keypair()
    wallet = str(keypair.pubkey())
    async with running(settings, simulator=False) as runtime:
        async with Publisher(settings, runtime.bootstrap) as publisher:
            await publisher.send(crash(wallet, "SOL-PERP", START_MS) + later(wallet, "SOL-PERP", START_MS))

        async def stored() -> list[dict]:  # one partition per account, in order: the withdrawal's entry comes last
            found = await rows(runtime, "SELECT id, toUnixTimestamp64Milli(ts) AS ts, kind, amount, balance_after, "
                               "cause FROM {db}.ledger WHERE wallet = {w:String} ORDER BY ts, id", w=wallet)
            return found if found and found[-1]["kind"] == "withdrawal" else []
        entries = await eventually(stored, what="the ledger stored up to the withdrawal", timeout=30)

        async def last_state() -> list[dict]:
            return await rows(runtime, "SELECT collateral, equity FROM {db}.account_snapshots "
                              "WHERE wallet = {w:String} AND ts = fromUnixTimestamp64Milli({t:Int64})",
                              w=wallet, t=START_MS + HOUR + 2000)
        [state] = await eventually(last_state, what="the account after the withdrawal")
        assert sum(e["amount"] for e in entries) == state["collateral"] == entries[-1]["balance_after"]
        # 1000 in, fee 4, the liquidation's realised −41.060445392 and fee 4.72195122, funding, 10 out
        assert [(e["kind"], e["amount"]) for e in entries if e["kind"] != "funding"] == [
            ("deposit", D(1000)), ("fee", D(-4)), ("realised_pnl", D("-41.060445392")),
            ("liquidation_fee", D("-4.72195122")), ("withdrawal", D(-10))]
        assert all(e["id"].startswith(f"{e['cause']}:{wallet}:0:") and e["id"].endswith(e["kind"])
                   for e in entries)
        # listed by (time, id): in the order they moved the collateral
        balances = [e["balance_after"] for e in entries]
        assert balances == [sum(e["amount"] for e in entries[:n + 1]) for n in range(len(entries))]

        async with httpx.AsyncClient(base_url=runtime.api_url) as http:
            token, other_token = await sign_in(http, keypair), await sign_in(http, other)
            http.cookies.clear()
            own, url = {"Cookie": f"{COOKIE}={token}"}, f"/api/v1/accounts/{wallet}/ledger"
            paged, count = await pages(http, url, own)
            assert [(e["id"], D(e["amount"]), D(e["balance_after"])) for e in paged] == [
                (e["id"], e["amount"], e["balance_after"]) for e in entries]
            assert count >= len(entries) // 2
            fees = (await http.get(url, params={"kind": "liquidation_fee"}, headers=own)).json()
            assert [(e["kind"], e["market"], e["amount"]) for e in fees] == [
                ("liquidation_fee", "SOL-PERP", "-4.72195122")]
            bad = await http.get(url, params={"kind": "bonus"}, headers=own)
            assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_request"
            theft = await http.get(url, headers={"Cookie": f"{COOKIE}={other_token}"})
            assert theft.status_code == 403 and "4.72195122" not in theft.text

            history = await http.get(f"/api/v1/accounts/{wallet}/history", params={"resolution": "1h"}, headers=own)
            hours = history.json()
            assert [b["time"] - START_MS for b in hours] == [0, HOUR]  # the crash's hour, then funding and withdrawal
            assert D(hours[-1]["equity"]) == state["equity"]
            assert sum(D(b["fees"]) for b in hours) == sum(e["amount"] for e in entries if "fee" in e["kind"])
            assert sum(D(b["funding"]) for b in hours) == sum(e["amount"] for e in entries if e["kind"] == "funding")
            assert D(hours[-1]["cumulative_realised_pnl"]) == D("-41.060445392")
            wrong = await http.get(f"/api/v1/accounts/{wallet}/history", params={"resolution": "5m"}, headers=own)
            assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "invalid_request"
            stolen = await http.get(f"/api/v1/accounts/{wallet}/history", params={"resolution": "1h"},
                                    headers={"Cookie": f"{COOKIE}={other_token}"})
            assert stolen.status_code == 403
