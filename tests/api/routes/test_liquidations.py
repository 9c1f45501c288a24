"""Liquidations over REST, through the real pipeline: the crash scenario's liquidation in public (no wallet) and in
its wallet's dossier, checked against figures worked by hand from the scenario and docs/DESIGN's formulas."""

import base64
import hashlib
from decimal import Decimal
from typing import Any

import httpx
from solders.keypair import Keypair

from api.auth import COOKIE
from api.routes.liquidations import PlanView, plan_view
from api.embedded import running
from quantdesk.kafka.publisher import Publisher
from quantdesk.settings import Settings
from tests.api.signing import sign_in
from tests.streams.agents.test_accounts_pipeline import START_MS, crash
from tests.waiting import eventually

T0 = START_MS
POLL_S = 1.0  # between two reads over REST on a long wait: the gateway allows 100 a minute
TICK = f"crash:SOL-PERP:{T0 + 5000}"  # the tick at 92 after which the account is liquidatable

# The scenario: deposit 1000; oracle 100; buy 80 SOL-PERP at 100, fee 4; oracle 95, 93, 92 (then 100). SOL-PERP:
# mmr 5 %. equity = collateral + 80 × (oracle − 100); MM = 80 × oracle × 0.05; leverage = notional / equity,
# half-even to 1e-4; health = 100 × (1 − MM / equity), rounded down to 1e-4, 0 when equity < MM.
HEALTH = [  # (event time − T0, state, collateral, equity, MM, leverage, health)
    (0, "funded", "1000", "1000", "0", "0", "100"),  # no position
    (2000, "active", "996", "996", "400", "8.0321", "59.8393"),  # 8000/996 = 8.03213; 100 × 596/996 = 59.83936
    (3000, "active", "996", "596", "380", "12.7517", "36.2416"),  # 95: 7600/596 = 12.75168; 100 × 216/596 = 36.24161
    (4000, "at_risk", "996", "436", "372", "17.0642", "14.6788"),  # 93: 7440/436 = 17.06422; 100 × 64/436 = 14.67890
    (5000, "liquidating", "996", "356", "368", "20.6742", "0"),  # 92: 7360/356 = 20.67416; equity 356 < MM 368
]
# The plan at 92: close q = (MM(1+b) − equity) / (p (mmr(1+b) − f)) = (368 × 1.02 − 356) / (92 × (0.051 − 0.01))
# = 19.36 / 3.772 = 5.1325556733…, rounded up to 1e-9: 5.132555674 (the 74.87 left are worth far over $50).
# Fee f = 1 % × 5.132555674 × 92 = 4.72195122008 → 4.72195122 (1e-9, half-even), under equity 356; half each
# (2.36097561) to the liquidator and the insurance fund.
CLOSE = {"market": "SOL-PERP", "side": "sell", "size": "5.132555674", "price": "92", "fee": "4.72195122",
         "liquidator_fee": "2.36097561", "insurance_fee": "2.36097561"}
# After the fill: realised 5.132555674 × (92 − 100) = −41.060445392; collateral 996 − 41.060445392 − 4.72195122 =
# 950.217603388; 74.867444326 left: equity 950.217603388 − 8 × 74.867444326 = 351.27804878, MM 74.867444326 × 92 ×
# 0.05 = 344.3902438996 → 344.3902439; leverage 6887.804877992 / 351.27804878 = 19.60784; health 100 × (1 −
# 344.3902439 / 351.27804878) = 1.96078 → 1.9607: at risk, no deficit; the fund holds its half of the fee.
AFTER = ("at_risk", "950.217603388", "351.27804878", "344.3902439", "19.6078", "1.9607")
# Alerts up to the plan. Liquidation price (no other position): (0 − 996 + 80 × 100) / (80 − 80 × 0.05) = 7004 / 76
# = 92.157894736842, (95 − 92.1579) / 95 = 3.0 % from the oracle at 95, under the 5 % line.
ALERTS = [(3000, "health_crossed", "info", "50"), (3000, "liquidation_near", "warning", None),
          (4000, "health_crossed", "warning", "20"), (5000, "health_crossed", "critical", "10"),
          (5000, "liquidation_planned", "critical", None)]


def figures(step: dict[str, Any]) -> tuple[str, ...]:
    """Return a health step's state and figures."""
    return tuple(step[k] for k in ("state", "collateral", "equity", "maintenance_margin", "leverage", "health"))


async def test_the_crash_scenarios_liquidation_in_public_and_in_its_wallets_dossier(settings: Settings) -> None:
    keypair, thief = Keypair(), Keypair()
    wallet = str(keypair.pubkey())
    async with running(settings, simulator=False) as runtime:
        async with Publisher(settings, runtime.bootstrap) as publisher:
            await publisher.send(crash(wallet, "SOL-PERP", T0))
        async with httpx.AsyncClient(base_url=runtime.api_url) as http:
            own, theirs = {COOKIE: await sign_in(http, keypair)}, {COOKIE: await sign_in(http, thief)}
            http.cookies.clear()
            base = f"/api/v1/accounts/{wallet}/liquidations"

            async def completed() -> list[dict] | None:
                # each part comes from its own topic, stored in its own time (the fills too: the outcome may be
                # stored before them); a topic's rows of one key are stored in order, so with its part's last row (at
                # the plan's time, or after it) the part is whole
                response = await http.get(base, cookies=own)
                found = response.json() if response.status_code == 200 else []
                last = T0 + 5000
                whole = found and found[0]["outcome"] and found[0]["outcome"]["account"] and found[0]["fills"] and all(
                    found[0][part] and found[0][part][-1]["ts"] == last for part in ("health", "alerts", "oracles"))
                return found if whole else None
            [dossier] = await eventually(completed, timeout=60, what="the liquidation's dossier complete")

            plan = dossier["plan"]
            assert plan == {"id": f"{TICK}:{wallet}:0:plan", "ts": T0 + 5000, "subaccount": 0, "equity": "356",
                            "maintenance_margin": "368", "buffer": "0.02", "fee_rate": "0.01", "closes": [CLOSE],
                            "deficit": "0"}
            assert dossier["causes"] == [TICK]
            assert [(s["ts"] - T0, *figures(s)) for s in dossier["health"]] == HEALTH
            alerts = [(a["ts"] - T0, a["kind"], a["severity"], a["data"].get("line")) for a in dossier["alerts"]]
            assert alerts == ALERTS
            assert dossier["alerts"][1]["data"]["liquidation_price"] == "92.157894736842"
            assert [(o["ts"] - T0, o["oracle_price"], o["status"], o["reason"]) for o in dossier["oracles"]] == [
                (1000, "100", "healthy", ""), (2000, "100", "healthy", ""), (3000, "95", "healthy", ""),
                (4000, "93", "healthy", ""), (5000, "92", "healthy", "")]  # not the state the plan's fill caused
            assert [(f["side"], f["size"], f["price"], f["fee"], f["liquidity"], f["liquidation"])
                    for f in dossier["fills"]] == [("sell", "5.132555674", "92", "4.72195122", "taker", plan["id"])]
            outcome = dossier["outcome"]
            assert (outcome["ts"], outcome["deficit"], outcome["insurance_draw"], outcome["socialised_loss"],
                    outcome["insurance_fund"]) == (T0 + 5000, "0", "0", "0", "2.36097561")
            assert figures(outcome["account"]) == AFTER

            async def completion() -> list[dict] | None:  # an alert of the plan's fill: after the plan
                response = await http.get(f"/api/v1/accounts/{wallet}/alerts", cookies=own)
                assert response.status_code == 200, response.text
                every = response.json()
                return every if "liquidation_completed" in {a["kind"] for a in every} else None
            await eventually(completion, what="the completion alerted", interval=POLL_S)
            again = (await http.get(base, cookies=own)).json()[0]
            assert [(a["ts"] - T0, a["kind"], a["severity"], a["data"].get("line")) for a in again["alerts"]] == ALERTS

            public = await http.get("/api/v1/liquidations", params={"market": "SOL-PERP"})
            assert public.status_code == 200
            [close] = public.json()
            assert {k: close[k] for k in ("ts", "market", "side", "size", "price")} == {
                "ts": T0 + 5000, "market": "SOL-PERP", "side": "sell", "size": "5.132555674", "price": "92"}
            assert wallet not in public.text and "wallet" not in public.text and "plan" not in public.text
            fill_id = dossier["fills"][0]["id"].encode()  # the close's id: not a digest anyone can make of a guess
            assert len(close["id"]) == 64 and close["id"] != hashlib.sha256(fill_id).hexdigest()
            assert (await http.get("/api/v1/liquidations", params={"market": "BTC-PERP"})).json() == []

            first = await http.get("/api/v1/liquidations", params={"start": 0, "limit": 1})
            cursor = first.headers["X-Next-Cursor"]
            assert first.json() == [close] and wallet not in base64.urlsafe_b64decode(cursor + "==").decode()
            rest = await http.get("/api/v1/liquidations", params={"start": 0, "limit": 1, "cursor": cursor})
            assert rest.json() == [] and "X-Next-Cursor" not in rest.headers

            refused = await http.get(base, cookies=theirs)
            assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
            assert (await http.get(base)).status_code == 401
            assert (await http.get(f"/api/v1/accounts/{thief.pubkey()}/liquidations", cookies=theirs)).json() == []

            for params, status in (({"market": "DOGE-PERP"}, 404), ({"cursor": "not a cursor!"}, 422),
                                   ({"market": "x" * 65}, 422), ({"limit": 0}, 422), ({"start": 5, "end": 1}, 422)):
                hostile = await http.get("/api/v1/liquidations", params=params)
                assert hostile.status_code == status, params
                assert hostile.json()["error"]["message"], params
            hostile = await http.get(base, params={"cursor": "%%%"}, cookies=own)
            assert hostile.status_code == 422 and "cursor" in hostile.json()["error"]["message"]


async def test_a_plan_nobody_fills_has_a_dossier_without_fills_or_outcome(settings: Settings) -> None:
    keypair, settings = Keypair(), settings.model_copy(update={"simulator_venue": False})
    wallet = str(keypair.pubkey())
    async with running(settings, simulator=False) as runtime:
        async with Publisher(settings, runtime.bootstrap) as publisher:
            await publisher.send(crash(wallet, "SOL-PERP", T0))
        async with httpx.AsyncClient(base_url=runtime.api_url) as http:
            own = {COOKIE: await sign_in(http, keypair)}
            http.cookies.clear()

            async def planned() -> list[dict] | None:  # with its last snapshot: every snapshot before it is stored
                response = await http.get(f"/api/v1/accounts/{wallet}/liquidations", cookies=own)
                assert response.status_code == 200, response.text
                found = response.json()
                return found if found and found[0]["health"] and found[0]["health"][-1]["ts"] == T0 + 5000 else None
            [dossier] = await eventually(planned, timeout=60, what="the plan's dossier", interval=POLL_S)
            assert dossier["plan"]["closes"] == [CLOSE] and dossier["causes"] == [TICK]
            assert [(s["ts"] - T0, *figures(s)) for s in dossier["health"]] == HEALTH
            assert dossier["fills"] == [] and dossier["outcome"] is None  # in flight: nobody filled it
            assert (await http.get("/api/v1/liquidations")).json() == []  # a plan is not a liquidation until filled


def test_a_plan_stored_before_plans_named_their_deficit_shows_the_split_it_expected_added_up() -> None:
    stored = {"id": "t:w:0:plan", "ts": T0, "wallet": "w", "subaccount": 0, "closes": [], "equity": "-10",
              "maintenance_margin": "5", "insurance_draw": "4.000000000", "socialised_loss": "6.000000000"}
    assert PlanView.model_validate(plan_view(stored)).deficit == Decimal(10)
    del stored["insurance_draw"], stored["socialised_loss"]
    assert PlanView.model_validate(plan_view({**stored, "deficit": "10.000000000"})).deficit == Decimal(10)
