"""MIKEY's insights: a plain-language summary of a market's or a wallet's current figures and the last hour's
signals, built by rule (`api.insights`) from what the gateway holds live and the signals the warehouse stores."""

from decimal import Decimal
from typing import Annotated, Any, Iterable

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field

from api import insights, queries
from api.auth import EXAMPLE_WALLET, OwnWallet
from api.deps import AccountsDep, DaySummariesDep, LiveDep, SettingsDep, WarehouseDep, unknown_market
from api.errors import RESPONSES
from api.insights import HOUR_MS, MarketFigures, SubaccountFigures
from api.live import LiveState
from api.queries import DaySummaries
from api.ratelimit import PublicLimit
from api.routes.accounts import GUARDED
from api.routes.markets import HOURS_A_YEAR, view
from api.routes.signals import AlertView, SignalView
from quantdesk.messages import AccountSnapshot
from quantdesk.settings import Settings

router = APIRouter(prefix="/api/v1", tags=["insights"], dependencies=[PublicLimit])
SIGNALS_SHOWN = 100  # the newest of the last hour
AS_OF = "the newest event time the gateway holds (UTC ms); the signals are those of the hour up to it, null before " \
        "any market state"


class MarketInsights(BaseModel):
    """A summary of one market (or of every market) and the market signals of the last hour."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "subject": "SOL-PERP", "as_of": 1767231000000,
        "summary": ["SOL-PERP is healthy: oracle 100.00, mark 100.50 (0.50 % above the oracle).",
                    "Over 24 hours it is up 1.23 %.",
                    "Funding: longs pay shorts 0.00125 % an hour (10.95 % APR).",
                    "Open interest is 3.5 SOL ($350.00 at the oracle).", "No signals in the last hour."],
        "figures": [{"market": "SOL-PERP", "status": "healthy", "reason": "", "oracle_price": "100",
                     "mark_price": "100.5", "change_24h": "0.0123", "funding_rate": "0.0000125",
                     "funding_apr": "0.1095", "open_interest": "3.5", "open_interest_notional": "350"}],
        "signals": []}]})

    subject: Annotated[str, Field(description="the market, or `markets` for every market")]
    as_of: Annotated[int | None, Field(description=AS_OF)]
    summary: Annotated[list[str], Field(description="plain-language sentences, with the numbers")]
    figures: list[MarketFigures]
    signals: list[SignalView]


class AccountInsights(BaseModel):
    """A summary of a wallet's sub-accounts and its alerts of the last hour."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "subject": EXAMPLE_WALLET, "as_of": 1767225602000,
        "summary": ["Sub-account 0 is active: equity $998.50, health 85.0 of 100, leverage 3.00×, free collateral "
                    "$698.50.", "Its position nearest liquidation is long 30 SOL on SOL-PERP: liquidation price 70.23 "
                    "is 29.77 % below the oracle 100.00.", "No alerts in the last hour."],
        "figures": [{"subaccount": 0, "state": "active", "equity": "998.5", "health": "84.9774",
                     "leverage": "3.0045", "free_collateral": "698.5", "positions": 1, "nearest_liquidation": {
                         "market": "SOL-PERP", "size": "30", "liquidation_price": "70.228070175439",
                         "oracle_price": "100", "distance": "0.29771929824561"}}],
        "signals": []}]})

    subject: Annotated[str, Field(description="the wallet")]
    as_of: Annotated[int | None, Field(description=AS_OF)]
    summary: Annotated[list[str], Field(description="plain-language sentences, with the numbers")]
    figures: list[SubaccountFigures]
    signals: list[AlertView]


def newest_event(live: LiveState, own: Iterable[dict[str, Any]] = ()) -> int | None:
    """Return the newest event time of the market states the gateway holds and of `own` account states, or None:
    what "now" is for insights, so a replay gives the same answer."""
    return max([*(s["ts"] for s in live.markets.values()), *(s["ts"] for s in own)], default=None)


async def market_figures(settings: Settings, live: LiveState, days: DaySummaries,
                         as_of: int | None) -> list[MarketFigures]:
    """Return every market's figures as the markets list shows them, with the funding rate as an APR."""
    day = await days.get(as_of) if as_of is not None else {}
    figures = []
    for market in settings.markets:
        v = view(market, live, day.get(market.name, {}), 0)
        apr = None if v.funding_rate is None else v.funding_rate * HOURS_A_YEAR
        figures.append(MarketFigures(v.market, v.status, v.reason, v.oracle_price, v.mark_price, v.change_24h,
                                     v.funding_rate, apr, v.open_interest, v.open_interest_notional))
    return figures


@router.get("/mikey/insights", response_model=MarketInsights, responses=RESPONSES)
async def market_insights(
    settings: SettingsDep, live: LiveDep, days: DaySummariesDep, wh: WarehouseDep,
    market: Annotated[str | None, Query(max_length=64, description="one market; default: every market",
                                        examples=["BTC-PERP"])] = None,
) -> MarketInsights:
    """Return MIKEY's insights on a market (default: every market): plain sentences on its status, oracle and mark
    prices, 24-hour change, funding (who pays, hourly and APR) and open interest, and its signals of the last hour
    (by event time: the hour up to `as_of`), built by rule from the figures."""
    if market is not None and (why := unknown_market(settings, market)):
        raise HTTPException(404, why)
    as_of = newest_event(live)
    figures = [f for f in await market_figures(settings, live, days, as_of) if market in (None, f.market)]
    signals = [] if as_of is None else await queries.recent_signals(wh, as_of, HOUR_MS, SIGNALS_SHOWN, market=market)
    capped = len(signals) == SIGNALS_SHOWN
    summary = insights.market_summary(figures[0], signals, capped) if market else \
        insights.overview_summary(figures, signals, capped)
    return MarketInsights(subject=market or "markets", as_of=as_of, summary=summary, figures=figures,
                          signals=signals)


@router.get("/accounts/{wallet}/insights", response_model=AccountInsights, responses=GUARDED)
async def account_insights(wallet: OwnWallet, accounts: AccountsDep, live: LiveDep,
                           wh: WarehouseDep) -> AccountInsights:
    """Return MIKEY's insights on the signed-in wallet: per sub-account plain sentences on its state, equity,
    health, leverage and free collateral, the position nearest its liquidation price and how far it is, and the
    wallet's alerts of the last hour (by event time: the hour up to `as_of`) (own wallet only)."""
    found = accounts.get(wallet)
    if found is None:
        raise HTTPException(404, f"no account for wallet {wallet}")
    snapshots = [AccountSnapshot.model_validate(s) for s in found["subaccounts"]]
    oracles = {m: Decimal(str(s["oracle_price"])) for m, s in live.markets.items() if s.get("oracle_price") is not None}
    figures = [insights.subaccount_figures(s, oracles) for s in snapshots]
    as_of = newest_event(live, found["subaccounts"])
    alerts = [] if as_of is None else await queries.recent_signals(wh, as_of, HOUR_MS, SIGNALS_SHOWN, wallet=wallet)
    return AccountInsights(subject=wallet, as_of=as_of, figures=figures, signals=alerts,
                           summary=insights.account_summary(figures, alerts, len(alerts) == SIGNALS_SHOWN))
