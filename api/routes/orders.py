"""Orders: a wallet's orders as they stand (placed, partially filled, filled, cancelled), and the ticket that shows
an order's impact on the account before the trader commits."""

from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from api import audit, queries, tickets
from api.auth import CurrentWallet, OwnWallet
from api.books import Excluded
from api.deps import LiveDep, SettingsDep, WarehouseDep, unknown_market
from api.errors import ErrorResponse
from api.pagination import PAGED, Paged
from api.ratelimit import PublicLimit, TradingWallet
from api.routes.accounts import SIGNED_IN, MarginFigures
from api.live import LiveState
from api.status import wall_ms
from quantdesk.settings import Settings
from streams.domain import to_rate
from streams.domain.margin import Margin
from streams.domain.order_ticket import TAKER_FEE_RATE, Order
from streams.domain.positions import Position

router = APIRouter(prefix="/api/v1", tags=["orders"], dependencies=[PublicLimit])
REFUSED = {401: {"model": ErrorResponse, "description": "no live session"},
           403: {"model": ErrorResponse, "description": "an admin froze the account (the message says why)"},
           404: {"model": ErrorResponse, "description": "the wallet has no such sub-account"},
           409: {"model": ErrorResponse, "description": "a market the ticket needs has no oracle price yet, the "
                 "visible depth of the books cannot fill the size (the message says how much it can), or an admin "
                 "paused the market (the message says why)"},
           422: {"model": ErrorResponse, "description": "not an order, or an unknown market"},
           429: {"model": ErrorResponse, "description": "rate limited: 10 trading requests a minute per wallet"}}
MAX_AMOUNT = Decimal(1_000_000_000)


class OrderRequest(BaseModel):
    """An order as the trader would send it; `price` makes it a limit order."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"subaccount": 0, "market": "SOL-PERP", "side": "buy", "size": "50", "price": "101"}]})

    subaccount: Annotated[int, Field(ge=0, le=65_535, description="the wallet's sub-account")] = 0
    market: Annotated[str, Field(min_length=1, max_length=40, examples=["SOL-PERP"])]
    side: Literal["buy", "sell"]
    size: Annotated[Decimal, Field(gt=0, le=MAX_AMOUNT, decimal_places=9, description="base units")]
    price: Annotated[Decimal | None, Field(gt=0, le=MAX_AMOUNT, decimal_places=12,
                                           description="limit price (USD); none: a market order")] = None

    def order(self) -> Order:
        """Return the order the domain prices."""
        return Order(self.market, self.side, self.size, self.price)


class TicketPosition(BaseModel):
    """A position in the order's market: signed size (+ long, − short) and entry price."""

    size: Decimal
    entry_price: Decimal


class TicketFigures(MarginFigures):
    """The account at today's oracle prices, and its position and liquidation price in the order's market."""

    position: TicketPosition | None
    liquidation_price: Decimal | None


class RouteLeg(BaseModel):
    """The part of the order the route sends to one venue, and why it goes there."""

    venue: str
    size: Decimal
    average_price: Decimal
    notional: Decimal
    fee_rate: Decimal
    fee: Decimal
    levels: Annotated[int, Field(description="the venue's levels it consumes (the last maybe in part)")]
    reason: Annotated[Literal["price", "fee", "depth"], Field(description=(
        "`price`: the venue shows the best price; `fee`: its lower fee beats a better raw price elsewhere; "
        "`depth`: every better level was taken first"))]
    why: str


class OrderTicket(BaseModel):
    """The order's estimated fill, slippage and fee, its route over the venues' books, the account before and
    after it, and whether it may go."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "subaccount": 0, "market": "SOL-PERP", "side": "buy", "size": "50", "limit_price": None,
        "fill_price": "101.6", "price_source": "tape", "source_note": "no healthy book of SOL-PERP (no venue's "
        "book held): estimated from the tape", "reference_price": "100", "slippage_bps": "160",
        "touch_price": None, "impact_bps": None, "fee": "2.54", "fee_rate": "0.0005", "levels_by_venue": {},
        "route": [], "excluded_venues": [],
        "before": {"collateral": "998.5", "equity": "998.5", "maintenance_margin": "150", "initial_margin": "300",
                   "free_collateral": "698.5", "leverage": "3.0045", "health": "84.9774",
                   "position": {"size": "30", "entry_price": "100"}, "liquidation_price": "70.228070175439"},
        "after": {"collateral": "995.96", "equity": "915.96", "maintenance_margin": "400", "initial_margin": "800",
                  "free_collateral": "115.96", "leverage": "8.734", "health": "56.3299",
                  "position": {"size": "80", "entry_price": "101"}, "liquidation_price": "93.211052631579"},
        "increases_risk": True, "allowed": True,
        "reason": "within initial margin: 115.96 free collateral after the fill"}]})

    subaccount: int
    market: str
    side: Literal["buy", "sell"]
    size: Decimal
    limit_price: Decimal | None
    fill_price: Annotated[Decimal, Field(description="the average fill price, fees excluded")]
    price_source: Annotated[Literal["book", "tape", "mark", "limit"], Field(description=(
        "`book`: walked over the venues' books; otherwise estimated from the tape, the mark, or capped at the limit"))]
    source_note: Annotated[str, Field(description="why the fill is not priced on the books; empty when it is")]
    reference_price: Annotated[Decimal, Field(description="the mark (the oracle before one)")]
    slippage_bps: Annotated[Decimal, Field(description="the fill price against the reference, + worse for the order")]
    touch_price: Annotated[Decimal | None, Field(description="the best price on the side taken, over the books")]
    impact_bps: Annotated[Decimal | None, Field(description="the fill price against the touch, + worse for the order")]
    fee: Decimal
    fee_rate: Annotated[Decimal, Field(description="the fee over the notional: a route's blend of its venues' rates")]
    levels_by_venue: dict[str, int]
    route: list[RouteLeg]
    excluded_venues: Annotated[list[Excluded], Field(description="venues whose book the route could not use")]
    before: TicketFigures
    after: TicketFigures
    increases_risk: bool
    allowed: bool
    reason: str


def figures(margin: Margin, position: Position | None, market: str) -> TicketFigures:
    """Return an account's figures and its position in `market`."""
    return TicketFigures(
        collateral=margin.collateral, equity=margin.equity, maintenance_margin=margin.maintenance_margin,
        initial_margin=margin.initial_margin, free_collateral=margin.free_collateral, leverage=margin.leverage,
        health=margin.health, liquidation_price=margin.liquidation_price.get(market),
        position=TicketPosition(size=position.size, entry_price=position.entry) if position else None)


def ticket_view(body: OrderRequest, priced: tickets.Priced) -> OrderTicket:
    """Return the ticket as the terminal shows it."""
    ticket, route = priced.ticket, priced.route
    legs = [RouteLeg(venue=leg.venue, size=leg.size, average_price=leg.average_price, notional=leg.notional,
                     fee_rate=leg.fee_rate, fee=leg.fee, levels=leg.levels, reason=leg.reason, why=leg.why)
            for leg in (route.legs if route else ())]
    return OrderTicket(
        subaccount=body.subaccount, market=body.market, side=body.side, size=body.size, limit_price=body.price,
        fill_price=ticket.fill.price, price_source=ticket.fill.source, source_note=priced.note,
        reference_price=ticket.fill.reference, slippage_bps=ticket.fill.slippage_bps,
        touch_price=route.touch if route else None, impact_bps=route.impact_bps if route else None,
        fee=ticket.fee, fee_rate=to_rate(route.fee / route.notional) if route else TAKER_FEE_RATE,
        levels_by_venue=route.levels_by_venue if route else {}, route=legs,
        excluded_venues=[Excluded(venue=venue, reason=reason) for venue, reason in priced.excluded],
        before=figures(ticket.before, ticket.position_before, body.market),
        after=figures(ticket.after, ticket.position_after, body.market),
        increases_risk=ticket.increases_risk, allowed=ticket.allowed, reason=ticket.reason)


@router.post("/orders/simulate", response_model=OrderTicket, responses=REFUSED)
async def simulate_order(body: OrderRequest, wallet: TradingWallet, settings: SettingsDep, live: LiveDep,
                         request: Request) -> OrderTicket:
    """Show what an order would do before it is sent: estimated fill price, slippage and price impact, taker fee,
    the route over the venues' books, and the sub-account after the fill (position, equity, margins, free
    collateral, leverage, health, liquidation price).

    The fill walks the consolidated book of the market's venues that are in sequence, not crossed and updated
    within `QUANTDESK_STATUS_MAX_AGE_MS`, taking the best price after each venue's taker fee first (a limit price
    caps the levels taken); the route splits the size into one leg per venue, each with its reason. When the
    visible depth cannot fill the size, the answer is 409 saying how much it can fill. When no venue's book is
    healthy, the fill is estimated as without books (`price_source` other than `book`, `source_note` says why):
    the last minute's taker trades on the order's side (the rest at the worst of them), or the mark when there
    are none; a limit price caps it. `allowed` is false, with the reason, for an
    order that adds risk (opens, grows or flips a position) when its market is degraded or when equity after
    the fill would be under initial margin. An order that only reduces a position is always allowed.
    Counts against the trading limit: 10 requests a minute per wallet. Every ticket, answered or refused, is on
    the audit trail.
    """
    subject, asked = f"{wallet}:{body.subaccount}", body.model_dump(mode="json")
    try:
        view = priced_ticket(body, wallet, settings, live)
    except HTTPException as refused:
        await audit.record(request, "order_refused", subject,
                           {"order": asked, "status": refused.status_code, "reason": refused.detail})
        raise
    await audit.record(request, "order_simulated", subject, {
        "order": asked, "allowed": view.allowed, "reason": view.reason, "fill_price": str(view.fill_price),
        "fee": str(view.fee)}, inputs={"order": asked, "reference_price": str(view.reference_price),
                                       "before": view.before.model_dump(mode="json")})
    return view


def priced_ticket(body: OrderRequest, wallet: str, settings: Settings, live: LiveState) -> OrderTicket:
    """Return the ticket of an order, or refuse it: an unknown market, a frozen account, a paused market, or what
    the ticket itself refuses."""
    if why := unknown_market(settings, body.market):
        raise HTTPException(422, f"market: {why}")
    if frozen := live.frozen(wallet):
        raise HTTPException(403, f"account {wallet} is frozen by an admin: {frozen.reason}")
    if paused := live.paused(body.market):
        raise HTTPException(409, f"market {body.market} is paused by an admin: {paused.reason}")
    return ticket_view(body, tickets.ticket(settings, live, wallet, body.subaccount, body.order(), wall_ms()))


class OrderView(BaseModel):
    """An order as it stands: what was placed, how much has filled and at what average price, and its status."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "7Qv3…", "ts": 1767225600000, "updated_ts": 1767225604000, "market": "SOL-PERP", "subaccount": 0,
        "side": "buy", "order_type": "Limit", "size": "10", "price": "100", "status": "partially_filled",
        "filled_size": "4", "remaining_size": "6", "average_price": "99.975", "version": 3}]})

    id: str
    ts: Annotated[int, Field(description="when it was placed, UTC ms")]
    updated_ts: Annotated[int, Field(description="event time of its last change, UTC ms")]
    market: str
    subaccount: int
    side: Literal["buy", "sell"]
    order_type: str | None
    size: Decimal
    price: Annotated[Decimal | None, Field(description="limit price; none or 0: a market order")]
    status: Literal["open", "partially_filled", "filled", "cancelled"]
    filled_size: Decimal
    remaining_size: Annotated[Decimal, Field(description="size less filled size (what still rests, unless closed)")]
    average_price: Annotated[Decimal | None, Field(description="size-weighted price of its fills; none before one")]
    version: Annotated[int, Field(description="how many of its events counted: placement 1, each fill and the "
                                              "cancellation one more")]


OrderStatusFilter = Annotated[Literal["open", "filled", "cancelled"] | None, Query(
    description="`open`: resting orders, partially filled ones among them; `filled`; `cancelled` (a cancelled order "
                "keeps what filled before); none: every order")]
OrderId = Annotated[str, Path(min_length=1, max_length=256, description="the order's id (its on-chain address)")]


@router.get("/accounts/{wallet}/orders", response_model=list[OrderView], responses={**SIGNED_IN, **PAGED})
async def list_orders(wallet: OwnWallet, wh: WarehouseDep, page: Paged,
                      status: OrderStatusFilter = None) -> list[dict[str, Any]]:
    """Return the signed-in wallet's orders, every sub-account, as they stand now, oldest placed first (default: the
    newest `limit`), of a `status` if given: `open` counts partially filled orders, which still rest on the book.
    `start`, `end` and the cursor page on the placement time (own wallet only)."""
    return page.linked(await queries.account_orders(wh, wallet, status, page.window), lambda o: (o["ts"], o["id"]))


@router.get("/orders/{order_id}", response_model=OrderView, responses={
    401: {"model": ErrorResponse, "description": "no live session"},
    404: {"model": ErrorResponse, "description": "no order of the signed-in wallet has this id"},
    429: {"model": ErrorResponse, "description": "rate limited"}})
async def get_order(order_id: OrderId, wallet: CurrentWallet, wh: WarehouseDep) -> dict[str, Any]:
    """Return one of the signed-in wallet's orders as it stands now. Another wallet's order is not found (404, as
    for an id nobody used), so ids cannot be probed."""
    found = await queries.order(wh, order_id)
    if found is None or found.pop("wallet") != wallet:
        raise HTTPException(404, f"no order {order_id}")
    return found
