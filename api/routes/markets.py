"""Markets: live prices and status, other venues' prices; candles, the trade tape and funding history from
ClickHouse."""

import time
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from api import queries
from api.bars import Resolution
from api.deps import DaySummariesDep, LiveDep, SettingsDep, WarehouseDep, unknown_market
from api.errors import RESPONSES
from api.live import LiveState
from api.pagination import PAGED, Paged
from api.ratelimit import PublicLimit
from quantdesk.settings import Settings
from streams.domain import CONTEXT, to_money, to_ratio
from streams.domain.funding import hour_end

router = APIRouter(prefix="/api/v1/markets", tags=["markets"], dependencies=[PublicLimit])
MarketName = Annotated[str, Path(description="market name, e.g. BTC-PERP", examples=["BTC-PERP"])]


class ScheduledParams(BaseModel):
    """A change of a market's margin and funding parameters an admin scheduled, and the event time it takes
    effect at (never earlier than it was taken)."""

    effective_at: Annotated[int, Field(description="UTC ms the change takes effect at")]
    imr: Decimal
    mmr: Decimal
    max_funding_per_hour: Decimal
    reason: str


class MarketView(BaseModel):
    """A market as the terminal shows it."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "market": "BTC-PERP", "oracle_price": "97012.5", "confidence": "12.1", "mark_price": "97020.1",
        "status": "healthy", "reason": "", "updated_at": 1767225600400, "change_24h": "0.0123",
        "volume_24h": "1250000.5", "imr": "0.05", "mmr": "0.03", "max_funding_per_hour": "0.00125",
        "funding_rate": "0.0000042955",
        "next_funding_time": 1767229200000, "open_interest": "12.5", "open_interest_notional": "1212656.25"}]})

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
    funding_rate: Annotated[Decimal | None, Field(description="hourly rate of the last closed funding period")]
    next_funding_time: Annotated[int, Field(description="UTC ms of the next settle: the next whole hour")]
    open_interest: Annotated[Decimal, Field(description="base units: the longs' sizes summed (= the shorts')")]
    open_interest_notional: Annotated[Decimal | None, Field(description="open interest × oracle price (USD)")]
    paused: Annotated[bool, Field(description="an admin paused the market: order tickets are refused")] = False
    pause_reason: Annotated[str | None, Field(description="why the admin paused it")] = None
    max_funding_per_hour: Annotated[Decimal, Field(description="the cap on the hourly funding rate, either way")]
    next_params: Annotated[ScheduledParams | None, Field(
        description="an admin's change of imr, mmr and the funding cap, and when it takes effect")] = None


class Candle(BaseModel):
    """One OHLC candle: prices from the oracle, volume (quote) and trades from taker fills."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "time": 1767225600000, "open": "97000", "high": "97100.5", "low": "96950", "close": "97012.5",
        "volume": "250000.75", "base_volume": "2.577", "trades": 14}]})

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


def listed(settings: Settings, market: str) -> None:
    """Refuse (404) a market that is not listed."""
    if why := unknown_market(settings, market):
        raise HTTPException(404, why)


@router.get("", response_model=list[MarketView], responses={429: RESPONSES[429]})
async def list_markets(settings: SettingsDep, live: LiveDep, days: DaySummariesDep) -> list[MarketView]:
    """List every market with oracle price, confidence, mark, status, 24-hour change and volume, the last
    closed funding period's hourly rate, the next funding time, and open interest (base and notional)."""
    newest = max((s["ts"] for s in live.markets.values()), default=int(time.time() * 1000))
    day = await days.get(newest)
    return [view(m, live, day.get(m.name, {}), hour_end(newest)) for m in settings.markets]


def view(market: Any, live: LiveState, day: dict[str, Any], next_funding: int) -> MarketView:
    """Return the view of one market from its live state, last funding period, open interest and day summary."""
    state = live.markets.get(market.name, {})
    oracle, open_interest = _decimal(state.get("oracle_price")), live.open_interest(market.name)
    paused, now = live.paused(market.name), live.newest_ts(market.name)
    params, scheduled = live.params(market, now), live.next_change(market.name, now)
    return MarketView(
        market=market.name, oracle_price=oracle, confidence=_decimal(state.get("conf")),
        mark_price=_decimal(state.get("mark_price")), status=state.get("status", "degraded"),
        reason=state.get("reason", "no oracle price yet") if state else "no oracle price yet",
        updated_at=state.get("ts"), change_24h=change(oracle, day.get("open_24h")),
        volume_24h=day.get("volume_24h") or Decimal(0), imr=params.imr, mmr=params.mmr,
        funding_rate=_decimal(live.funding.get(market.name, {}).get("rate")), next_funding_time=next_funding,
        open_interest=open_interest,
        open_interest_notional=None if oracle is None else to_money(open_interest * oracle),
        paused=paused is not None, pause_reason=None if paused is None else paused.reason,
        max_funding_per_hour=params.max_funding_per_hour,
        next_params=None if scheduled is None else ScheduledParams.model_validate(scheduled, from_attributes=True),
    )


def _decimal(value: Any) -> Decimal | None:
    """Return a wire value as a Decimal."""
    return None if value is None else Decimal(str(value))


@router.get("/{market}/candles", response_model=list[Candle], responses={**RESPONSES, **PAGED})
async def list_candles(
    settings: SettingsDep, wh: WarehouseDep, market: MarketName, page: Paged,
    resolution: Annotated[Resolution, Query(description="candle width")] = "1m",
) -> list[dict[str, Any]]:
    """Return OHLCV candles of a market, oldest first, that begin in [start, end); paged by `cursor`."""
    listed(settings, market)
    window = page.window
    rows = await queries.candles(wh, market, resolution, window.start or 0, window.end, window.limit,
                                 after_ms=window.after[0] if window.after else -1, newest=window.newest)
    return page.linked(rows, lambda c: (c["time"], ""))


class Trade(BaseModel):
    """One trade of the public tape: the taker's side, size (base) and price."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "5h6x…:2:0", "ts": 1767225600400, "market": "BTC-PERP", "side": "buy", "size": "0.25",
        "price": "97012.5"}]})

    id: str
    ts: int
    market: str
    side: Literal["buy", "sell"]
    size: Decimal
    price: Decimal


@router.get("/{market}/trades", response_model=list[Trade], responses={**RESPONSES, **PAGED})
async def list_trades(settings: SettingsDep, wh: WarehouseDep, market: MarketName, page: Paged) -> list[dict[str, Any]]:
    """Return the trades of a market, oldest first (default: the newest `limit`); paged by `cursor`."""
    listed(settings, market)
    return page.linked(await queries.trades(wh, market, page.window), lambda t: (t["ts"], t["id"]))


class FundingPeriod(BaseModel):
    """One closed hourly funding period: TWAPs, the clamped rate (per hour) and the cumulative index."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "funding:BTC-PERP:1767229200000", "market": "BTC-PERP", "period_start": 1767225600000,
        "period_end": 1767229200000, "oracle_twap": "97000", "mark_twap": "97010", "rate": "0.0000042955",
        "cumulative_index": "0.41665", "apr": "0.03762858"}]})

    id: str
    market: str
    period_start: int
    period_end: int
    oracle_twap: Decimal
    mark_twap: Decimal
    rate: Decimal
    cumulative_index: Decimal
    apr: Decimal


HOURS_A_YEAR = 24 * 365


@router.get("/{market}/funding", response_model=list[FundingPeriod], responses={**RESPONSES, **PAGED})
async def list_funding(settings: SettingsDep, wh: WarehouseDep, market: MarketName,
                       page: Paged) -> list[dict[str, Any]]:
    """Return funding periods of a market by period end, oldest first, with each rate as an APR; paged by `cursor`."""
    listed(settings, market)
    rows = page.linked(await queries.funding(wh, market, page.window), lambda f: (f["period_end"], f["id"]))
    return [{**r, "apr": r["rate"] * HOURS_A_YEAR} for r in rows]


class VenueQuote(BaseModel):
    """Another venue's last price of a market, how old it is and how far it is from our mark."""

    venue: str
    price: Annotated[Decimal, Field(description="the venue's mid")]
    bid: Decimal | None
    ask: Decimal | None
    ts: Annotated[int, Field(description="event time of the price (UTC ms)")]
    age_ms: Annotated[int, Field(description="`as_of` minus `ts`: event time, not the wall clock")]
    spread_bps: Annotated[Decimal | None, Field(
        description="(price − mark) / mark in basis points, to 1e-4; positive: the venue is above our mark")]
    source: str


class MarketVenues(BaseModel):
    """Every other venue's last price of a market beside our mark."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "market": "BTC-PERP", "mark_price": "97020.1", "as_of": 1767225600400, "venues": [
            {"venue": "hyperliquid", "price": "97031.5", "bid": None, "ask": None, "ts": 1767225600312,
             "age_ms": 88, "spread_bps": "1.1750", "source": "allMids"},
            {"venue": "sim-venue", "price": "96210.33", "bid": "96205.52", "ask": "96215.14", "ts": 1767225599600,
             "age_ms": 800, "spread_bps": "-83.4641", "source": "simulator"}]}]})

    market: str
    mark_price: Decimal | None
    as_of: Annotated[int | None, Field(
        description="the newest event time the gateway has seen for this market (state, fill or venue price)")]
    venues: list[VenueQuote]


def spread_bps(price: Decimal, mark: Decimal | None) -> Decimal | None:
    """Return how far a price is from our mark, in basis points to 1e-4 (none without a mark)."""
    return None if not mark else to_ratio(CONTEXT.divide((price - mark) * 10_000, mark))


@router.get("/{market}/venues", response_model=MarketVenues, responses=RESPONSES)
async def list_venues(settings: SettingsDep, live: LiveDep, market: MarketName) -> MarketVenues:
    """Return each other venue's last price of a market (as `venues.prices` brought it), its event time, its age
    and its spread to our mark in basis points.

    The age is measured on event time, against the newest event the gateway has seen for this market (its last
    state, taker fill or venue price), never against the wall clock: a replay of the same input gives the same
    answer.
    """
    listed(settings, market)
    state, held = live.markets.get(market, {}), live.venues.get(market, {})
    trades = live.trades.get(market)
    times = [p.ts for p in held.values()] + ([state["ts"]] if state else []) + ([trades[-1]["ts"]] if trades else [])
    as_of, mark = max(times, default=None), _decimal(state.get("mark_price"))
    return MarketVenues(market=market, mark_price=mark, as_of=as_of, venues=[
        VenueQuote(venue=p.venue, price=p.price, bid=p.bid, ask=p.ask, ts=p.ts, age_ms=(as_of or p.ts) - p.ts,
                   spread_bps=spread_bps(p.price, mark), source=p.source)
        for _, p in sorted(held.items())])
