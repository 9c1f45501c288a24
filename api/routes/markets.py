"""Markets: live prices and status, and candles from ClickHouse."""

import time
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel

from api import queries
from api.deps import LiveDep, SettingsDep, WarehouseDep
from api.errors import RESPONSES
from api.ratelimit import PublicLimit

router = APIRouter(prefix="/api/v1/markets", tags=["markets"], dependencies=[PublicLimit])
Resolution = Literal["1m", "5m", "15m", "1h", "4h", "1d"]


class MarketView(BaseModel):
    """A market as the terminal shows it."""

    market: str
    oracle_price: Decimal | None
    confidence: Decimal | None
    mark_price: Decimal | None
    status: str
    reason: str
    updated_at: int | None
    change_24h: Decimal | None
    volume_24h: Decimal
    imr: Decimal
    mmr: Decimal


class Candle(BaseModel):
    """One OHLC candle: prices from the oracle, volume (quote) and trades from taker fills."""

    time: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    base_volume: Decimal
    trades: int


def change(now: Decimal | None, then: Decimal | None) -> Decimal | None:
    """Return the relative change from `then` to `now`, or None without both."""
    if now is None or not then:
        return None
    return (now - then) / then


def known_market(settings: Any, market: str) -> str:
    """Return the market, or raise 404 when it is not listed."""
    if market not in settings.market_names:
        raise HTTPException(404, f"unknown market {market!r}; markets: {', '.join(settings.market_names)}")
    return market


@router.get("", response_model=list[MarketView])
async def list_markets(settings: SettingsDep, live: LiveDep, wh: WarehouseDep) -> list[MarketView]:
    """List every market with oracle price, confidence, mark, status and 24-hour change and volume."""
    held = live.markets
    newest = max((s["ts"] for s in held.values()), default=int(time.time() * 1000))
    day = await queries.day_summary(wh, newest)
    return [view(m, held.get(m.name, {}), day.get(m.name, {})) for m in settings.markets]


def view(market: Any, state: dict[str, Any], day: dict[str, Any]) -> MarketView:
    """Return the view of one market from its live state and its day summary."""
    oracle = _decimal(state.get("oracle_price"))
    return MarketView(
        market=market.name, oracle_price=oracle, confidence=_decimal(state.get("conf")),
        mark_price=_decimal(state.get("mark_price")), status=state.get("status", "degraded"),
        reason=state.get("reason", "no oracle price yet") if state else "no oracle price yet",
        updated_at=state.get("ts"), change_24h=change(oracle, day.get("open_24h")),
        volume_24h=day.get("volume_24h") or Decimal(0), imr=market.imr, mmr=market.mmr,
    )


def _decimal(value: Any) -> Decimal | None:
    """Return a wire value as a Decimal."""
    return None if value is None else Decimal(str(value))


@router.get("/{market}/candles", response_model=list[Candle], responses=RESPONSES)
async def list_candles(
    settings: SettingsDep, wh: WarehouseDep,
    market: Annotated[str, Path(description="market name, e.g. BTC-PERP")],
    resolution: Annotated[Resolution, Query(description="candle width")] = "1m",
    start: Annotated[int | None, Query(ge=0, description="UTC ms, inclusive")] = None,
    end: Annotated[int | None, Query(ge=0, description="UTC ms, exclusive; default now")] = None,
    limit: Annotated[int, Query(ge=1, le=1500)] = 500,
) -> list[dict[str, Any]]:
    """Return OHLCV candles of a market, oldest first (default: the last `limit` candles)."""
    known_market(settings, market)
    width = queries.RESOLUTIONS[resolution] * 1000
    end = end if end is not None else int(time.time() * 1000) + width
    start = start if start is not None else max(0, end - width * limit)
    if start >= end:
        raise HTTPException(422, "start must be before end")
    return await queries.candles(wh, market, resolution, start, end, limit)
