"""MIKEY's signals: market signals for everyone; a wallet's own alerts (its account signals) for that wallet only."""

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field

from api import queries
from api.auth import EXAMPLE_WALLET, OwnWallet
from api.deps import SettingsDep, WarehouseDep, unknown_market
from api.errors import RESPONSES
from api.pagination import PAGED, SincePaged
from api.ratelimit import PublicLimit
from api.routes.accounts import SIGNED_IN

router = APIRouter(prefix="/api/v1", tags=["signals"], dependencies=[PublicLimit])
Kind = Annotated[str | None, Query(min_length=1, max_length=64, description="only signals of this kind, e.g. "
                                   "funding_flip, whale_fill, health_crossed", examples=["funding_flip"])]


class SignalView(BaseModel):
    """A MIKEY signal: what happened (`kind`), how serious, about what, one sentence with the numbers, the figures
    behind it (`data`) and the ids of the input events that raised it (`causes`); `ts` is its cause's event time."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "funding_flip:SOL-PERP:1767229200000", "ts": 1767229200000, "kind": "funding_flip", "severity": "info",
        "subject": "SOL-PERP", "message": "SOL-PERP funding flipped to -0.0012 % an hour (-10.5 % APR): shorts now "
        "pay longs", "market": "SOL-PERP", "data": {"rate": "-0.000012", "apr": "-0.105"},
        "causes": ["funding:SOL-PERP:1767229200000"]}]})

    id: str
    ts: int
    kind: str
    severity: Annotated[str, Field(description="info, warning or critical")]
    subject: Annotated[str, Field(description="the market, or wallet:subaccount for an account's alert")]
    message: str
    market: str | None
    data: dict[str, Any]
    causes: list[str]


class AlertView(SignalView):
    """One of the wallet's own alerts: a MIKEY signal about one of its sub-accounts."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": f"health_crossed:{EXAMPLE_WALLET}:0:1767225602000", "ts": 1767225602000, "kind": "health_crossed",
        "severity": "critical", "subject": f"{EXAMPLE_WALLET}:0", "message": f"Health 18.4 on {EXAMPLE_WALLET}:0, "
        "under 20: SOL-PERP liquidation price 131.20 is 3.1 % away", "market": "SOL-PERP", "wallet": EXAMPLE_WALLET,
        "subaccount": 0, "data": {"health": "18.4", "line": "20"}, "causes": ["5h6x…:2:0"]}]})

    wallet: str
    subaccount: int | None


@router.get("/signals", response_model=list[SignalView], responses={**RESPONSES, **PAGED})
async def list_signals(settings: SettingsDep, wh: WarehouseDep, page: SincePaged, kind: Kind = None,
                       market: Annotated[str | None, Query(max_length=64, description="only this market's signals",
                                                          examples=["SOL-PERP"])] = None) -> list[dict[str, Any]]:
    """Return MIKEY's market signals (funding flips, volatility spikes, whale fills, oracle trouble, venue
    divergence, open-interest skew), never an account's, of a market and a kind if given: oldest first from
    `since` (UTC ms), else the newest `limit`; paged by `cursor`. A kind MIKEY has not raised gives an empty list."""
    if market is not None and (why := unknown_market(settings, market)):
        raise HTTPException(404, why)
    rows = await queries.market_signals(wh, market, kind, page.window)
    return page.linked(rows, lambda s: (s["ts"], s["id"]))


@router.get("/accounts/{wallet}/alerts", response_model=list[AlertView], responses={**SIGNED_IN, **PAGED})
async def list_alerts(wallet: OwnWallet, wh: WarehouseDep, page: SincePaged, kind: Kind = None) -> list[dict[str, Any]]:
    """Return the signed-in wallet's alerts (MIKEY's signals about its sub-accounts: health crossings, a liquidation
    price near, liquidations planned and completed), of a kind if given: oldest first from `since` (UTC ms), else
    the newest `limit`; paged by `cursor` (own wallet only)."""
    rows = await queries.account_alerts(wh, wallet, kind, page.window)
    return page.linked(rows, lambda s: (s["ts"], s["id"]))
