"""Liquidations: every close in public (no wallet), and a wallet's own dossier of each of its liquidations."""

import hashlib
import hmac
from dataclasses import replace
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from api import queries
from api.auth import EXAMPLE_WALLET, OwnWallet
from api.deps import SettingsDep, WarehouseDep, unknown_market
from api.errors import RESPONSES
from api.pagination import PAGED, Page, Paged
from api.ratelimit import PublicLimit
from api.routes.accounts import SIGNED_IN, AccountFill
from api.routes.signals import AlertView
from quantdesk.messages import canonical
from quantdesk.settings import Settings
from quantdesk.warehouse import Warehouse
from streams.domain.liquidation import BUFFER, LIQUIDATION_FEE

router = APIRouter(prefix="/api/v1", tags=["liquidations"], dependencies=[PublicLimit])
MAX_DOSSIERS = 20  # a dossier is several queries: a page holds at most this many
# A figure in its one form: the plan and the audit hold 356.000000000 and 0E-9 as the engine wrote them.
Figure = Annotated[Decimal, AfterValidator(canonical)]


class LiquidationClose(BaseModel):
    """One close of a liquidation as it filled: the liquidated account's trade, never its wallet."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "3f1c…", "ts": 1767225605000, "market": "SOL-PERP", "side": "sell", "size": "5.132555674",
        "price": "92"}]})

    id: Annotated[str, Field(description="an opaque id of the close (a keyed digest: it names no wallet)")]
    ts: Annotated[int, Field(description="event time of the fill, UTC ms")]
    market: str
    side: Annotated[Literal["buy", "sell"], Field(description="the liquidated account's side: `sell` closes a long")]
    size: Annotated[Figure, Field(description="base units closed")]
    price: Annotated[Figure, Field(description="the fill price (the plan's: the oracle when it was planned)")]


class PlannedCloseView(BaseModel):
    """One close the plan asked for, and how its fee splits."""

    market: str
    side: Annotated[Literal["buy", "sell"], Field(description="the liquidated account's side: `sell` closes a long")]
    size: Annotated[Figure, Field(description="base units to close")]
    price: Annotated[Figure, Field(description="the oracle price the close is planned at")]
    fee: Annotated[Figure, Field(description="the liquidation fee: 1 % of the closed notional, capped at equity")]
    liquidator_fee: Annotated[Figure, Field(description="the liquidator's half of the fee")]
    insurance_fee: Annotated[Figure, Field(description="the insurance fund's half of the fee")]


class PlanView(BaseModel):
    """The liquidation plan as the risk engine proposed it."""

    id: str
    ts: Annotated[int, Field(description="event time of the event that made the account liquidatable, UTC ms")]
    subaccount: int
    equity: Annotated[Figure, Field(description="the account's equity when planned (USD)")]
    maintenance_margin: Annotated[Figure, Field(description="its maintenance margin then (USD)")]
    buffer: Annotated[Figure, Field(description="the plan closes until equity ≥ maintenance margin × (1 + buffer)")]
    fee_rate: Annotated[Figure, Field(description="the liquidation fee's share of the closed notional")]
    closes: list[PlannedCloseView]
    deficit: Annotated[Figure, Field(description="the negative equity the plan expected to leave, for the insurance "
                                     "fund to cover or socialise at completion (a close-out of equity ≤ 0 only)")]


class HealthStep(BaseModel):
    """The account's figures after one event (a snapshot of the risk engine)."""

    id: Annotated[str, Field(description="the snapshot's id: `<event id>:<wallet>:<subaccount>:state`")]
    ts: Annotated[int, Field(description="event time, UTC ms")]
    state: Annotated[str, Field(description="active, at_risk, liquidatable, liquidating, …")]
    collateral: Figure
    equity: Figure
    maintenance_margin: Figure
    leverage: Figure | None
    health: Annotated[Figure, Field(description="100 × (1 − maintenance margin / equity), within [0, 100]")]


class OracleStep(BaseModel):
    """A liquidated market's state after one event: the oracle, the mark and the oracle guard's verdict."""

    id: str
    ts: Annotated[int, Field(description="event time, UTC ms")]
    market: str
    oracle_price: Annotated[Figure | None, Field(description="the last valid oracle price")]
    conf: Figure | None
    mark_price: Figure | None
    oracle_twap_5m: Figure | None
    status: Annotated[str, Field(description="`healthy`, or `degraded` (liquidations wait for healthy oracles)")]
    reason: Annotated[str, Field(description="why the guard degraded the market; empty when healthy")]


class Outcome(BaseModel):
    """What the liquidation came to once its last fill was back, as the risk engine audited it."""

    ts: Annotated[int, Field(description="event time of the last fill, UTC ms")]
    deficit: Annotated[Figure, Field(description="negative equity left once flat (0 for a partial liquidation)")]
    insurance_draw: Annotated[Figure, Field(description="what the insurance fund paid of the deficit")]
    socialised_loss: Annotated[Figure, Field(description="the rest of the deficit, socialised")]
    insurance_fund: Annotated[Figure, Field(description="the insurance fund's balance after it")]
    account: Annotated[HealthStep | None, Field(description="the account's figures after the last fill (none until "
                                                "stored)")]


class Dossier(BaseModel):
    """One liquidation of the wallet, explained: what led to it, what it did, what it cost."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "plan": {"id": f"crash:SOL-PERP:1767225605000:{EXAMPLE_WALLET}:0:plan", "ts": 1767225605000,
                 "subaccount": 0, "equity": "356", "maintenance_margin": "368", "buffer": "0.02", "fee_rate": "0.01",
                 "closes": [{"market": "SOL-PERP", "side": "sell", "size": "5.132555674", "price": "92",
                             "fee": "4.72195122", "liquidator_fee": "2.36097561", "insurance_fee": "2.36097561"}],
                 "deficit": "0"},
        "causes": ["crash:SOL-PERP:1767225605000"], "health": [], "alerts": [], "oracles": [], "fills": [],
        "outcome": None}]})

    plan: PlanView
    causes: Annotated[list[str], Field(description="ids of the input events that made the plan (the event after "
                                       "which the account was liquidatable with healthy oracles)")]
    health: Annotated[list[HealthStep], Field(description=(
        f"the account's snapshots over the {queries.DOSSIER_SPAN_MS // 60_000} minutes of event time up to the "
        f"plan (its own included, the newest {queries.DOSSIER_STEPS} at most), oldest first"))]
    alerts: Annotated[list[AlertView], Field(description="the account's alerts over the same window, oldest first")]
    oracles: Annotated[list[OracleStep], Field(description="the states of the plan's markets over the same window, "
                                               "oldest first")]
    fills: Annotated[list[AccountFill], Field(description="the account's fills that carried the plan out")]
    outcome: Annotated[Outcome | None, Field(description="none while fills of the plan are still to come")]


def cause_of(plan: dict[str, Any]) -> str:
    """Return the id of the event a plan was made after: its id is `<event id>:<wallet>:<subaccount>:plan`."""
    return plan["id"].removesuffix(f":{plan['wallet']}:{plan['subaccount']}:plan")


def plan_view(plan: dict[str, Any]) -> dict[str, Any]:
    """Return a plan as the dossier shows it; one stored before plans named their deficit expected it split into
    an insurance draw and a socialised loss, which add up to it."""
    old = "deficit" not in plan
    deficit = Decimal(plan["insurance_draw"]) + Decimal(plan["socialised_loss"]) if old else plan["deficit"]
    return {**plan, "deficit": deficit, "buffer": BUFFER, "fee_rate": LIQUIDATION_FEE}


async def outcome(wh: Warehouse, plan: dict[str, Any]) -> dict[str, Any] | None:
    """Return the plan's audited outcome with the account after its last fill, or None while it is in flight."""
    audited = await queries.plan_outcome(wh, plan)
    if audited is None:
        return None
    key = f"{plan['wallet']}:{plan['subaccount']}"  # the audit's id is `<last fill>:<key>:liquidation_completed`
    last_fill = audited.pop("id").removesuffix(f":{key}:liquidation_completed")
    return {**audited, "account": await queries.snapshot(wh, f"{last_fill}:{key}:state")}


async def dossier(wh: Warehouse, plan: dict[str, Any]) -> dict[str, Any]:
    """Return the dossier of one plan."""
    return {"plan": plan_view(plan), "causes": [cause_of(plan)], "health": await queries.health_before(wh, plan),
            "alerts": await queries.alerts_before(wh, plan), "oracles": await queries.oracles_before(wh, plan),
            "fills": await queries.plan_fills(wh, plan), "outcome": await outcome(wh, plan)}


def close_key(settings: Settings) -> str:
    """Return the key public close ids are digested under: derived from the session secret, which never leaves."""
    secret = settings.session_secret.get_secret_value().encode()
    return hmac.new(secret, b"liquidation closes", hashlib.sha256).hexdigest()


def dossier_page(page: Paged) -> Page:
    """Return the page a dossier request asks for, at most `MAX_DOSSIERS` long."""
    return replace(page, window=replace(page.window, limit=min(page.window.limit, MAX_DOSSIERS)))


@router.get("/liquidations", response_model=list[LiquidationClose], responses={**RESPONSES, **PAGED})
async def list_liquidations(settings: SettingsDep, wh: WarehouseDep, page: Paged,
                            market: Annotated[str | None, Query(max_length=64, description="only this market's",
                                                                examples=["SOL-PERP"])] = None) -> list[dict[str, Any]]:
    """Return every liquidation close (the liquidated account's fill: market, side, size, price, event time, never a
    wallet), of a market if given: oldest first from `start`, else the newest `limit`; paged by `cursor`."""
    if market is not None and (why := unknown_market(settings, market)):
        raise HTTPException(404, why)
    closes = await queries.liquidation_closes(wh, market, close_key(settings), page.window)
    return page.linked(closes, lambda c: (c["ts"], c["id"]))


@router.get("/accounts/{wallet}/liquidations", response_model=list[Dossier], responses={**SIGNED_IN, **PAGED})
async def list_dossiers(wallet: OwnWallet, wh: WarehouseDep,
                        page: Annotated[Page, Depends(dossier_page)]) -> list[dict[str, Any]]:
    """Return the dossier of each liquidation of the signed-in wallet: the health, alerts and oracle states of the
    15 minutes of event time before it, the plan, the events that caused it, its fills and outcome (insurance draw,
    socialised loss, the account after); oldest first, else the newest `limit` (at most 20 a page); paged by
    `cursor` (own wallet only)."""
    plans = await queries.liquidation_plans(wh, wallet, page.window)
    return page.linked([await dossier(wh, p) for p in plans], lambda d: (d["plan"]["ts"], d["plan"]["id"]))
