"""A wallet's own accounts: collateral, positions, margin and state of each sub-account; its fills, funding and
ledger."""

from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field

from api import queries
from api.auth import EXAMPLE_WALLET, OwnWallet
from api.deps import AccountsDep, LiveDep, WarehouseDep
from api.errors import ErrorResponse
from api.pagination import PAGED, Paged
from api.ratelimit import PublicLimit
from quantdesk.messages import LedgerKind

router = APIRouter(prefix="/api/v1/accounts", tags=["accounts"], dependencies=[PublicLimit])
SIGNED_IN = {401: {"model": ErrorResponse, "description": "no live session"},
             403: {"model": ErrorResponse, "description": "another wallet than the session's"},
             422: {"model": ErrorResponse}, 429: {"model": ErrorResponse, "description": "rate limited"}}
GUARDED = {**SIGNED_IN, 404: {"model": ErrorResponse, "description": "the wallet has no account"}}


class PositionView(BaseModel):
    """An open position marked at the oracle: signed size (+ long), entry, unrealised P&L, liquidation price."""

    market: str
    size: Decimal
    entry_price: Decimal
    upnl: Decimal
    liquidation_price: Decimal | None
    notional: Decimal


class MarginFigures(BaseModel):
    """An account's margin in USD at oracle prices: what it holds, what it needs, how safe it is."""

    collateral: Decimal
    equity: Decimal
    maintenance_margin: Decimal
    initial_margin: Decimal
    free_collateral: Decimal
    leverage: Decimal | None
    health: Decimal


class SubaccountView(MarginFigures):
    """One sub-account's newest figures from the accounts engine (USD at oracle prices)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "wallet": EXAMPLE_WALLET, "subaccount": 0, "ts": 1767225602000, "state": "active", "collateral": "998.5",
        "equity": "998.5", "maintenance_margin": "150", "initial_margin": "300", "free_collateral": "698.5",
        "leverage": "3.0045", "health": "84.9774", "positions": [
            {"market": "SOL-PERP", "size": "30", "entry_price": "100", "upnl": "0",
             "liquidation_price": "70.228070175439", "notional": "3000"}]}]})

    wallet: str
    subaccount: int
    ts: int
    state: str
    positions: list[PositionView]


class AccountView(BaseModel):
    """Every sub-account of a wallet."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "wallet": EXAMPLE_WALLET, "subaccounts": SubaccountView.model_json_schema()["examples"]}]})

    wallet: str
    subaccounts: list[SubaccountView]
    frozen: Annotated[bool, Field(description="an admin froze the account: its order tickets are refused")] = False
    freeze_reason: Annotated[str | None, Field(description="why the admin froze it")] = None


class AccountFill(BaseModel):
    """One of the wallet's fills: side, size (base), price, fee (negative: a rebate) and liquidity."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "5h6x…:2:0", "ts": 1767225602000, "market": "SOL-PERP", "subaccount": 0, "side": "buy",
        "size": "30", "price": "100", "fee": "1.5", "liquidity": "taker", "signature": "5h6x…", "liquidation": ""}]})

    id: str
    ts: int
    market: str
    subaccount: int
    side: Literal["buy", "sell"]
    size: Decimal
    price: Decimal
    fee: Decimal
    liquidity: Literal["taker", "maker"]
    signature: str
    liquidation: str


class FundingPaymentView(BaseModel):
    """What a position paid (positive) or received (negative) when a funding period closed."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "funding:SOL-PERP:1767229200000:9WzD…:0", "ts": 1767229200400, "market": "SOL-PERP", "subaccount": 0,
        "size": "30", "payment": "0.012887", "cumulative_index": "0.000429566667"}]})

    id: str
    ts: int
    market: str
    subaccount: int
    size: Decimal
    payment: Decimal
    cumulative_index: Decimal


class LedgerEntryView(BaseModel):
    """One change of a sub-account's collateral (+ credits it), the collateral it left, and the input event that
    caused it (`cause`). Kinds: deposit, withdrawal, fee (a negative fee, a maker rebate, credits), realised_pnl,
    funding (paid: negative), liquidation_fee (the liquidated account's, and the liquidator's half),
    insurance_draw and socialised_loss (what covered a liquidated account's deficit)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "5h6x…:2:0:9WzD…:0:fee", "ts": 1767225602000, "subaccount": 0, "kind": "fee", "market": "SOL-PERP",
        "amount": "-1.5", "balance_after": "998.5", "cause": "5h6x…:2:0"}]})

    id: str
    ts: int
    subaccount: int
    kind: LedgerKind
    market: str | None
    amount: Decimal
    balance_after: Decimal
    cause: str


KindFilter = Annotated[LedgerKind | None, Query(description="only entries of this kind")]


@router.get("/{wallet}", response_model=AccountView, responses=GUARDED)
async def get_account(wallet: OwnWallet, accounts: AccountsDep, live: LiveDep) -> dict[str, Any]:
    """Return the signed-in wallet's sub-accounts: state, collateral, equity, positions with unrealised P&L and
    liquidation price, maintenance and initial margin, free collateral, leverage and health (own wallet only); and
    whether an admin froze the account, and why."""
    found = accounts.get(wallet)
    if found is None:
        raise HTTPException(404, f"no account for wallet {wallet}")
    frozen = live.frozen(wallet)
    return {**found, "frozen": frozen is not None, "freeze_reason": None if frozen is None else frozen.reason}


@router.get("/{wallet}/fills", response_model=list[AccountFill], responses={**SIGNED_IN, **PAGED})
async def list_fills(wallet: OwnWallet, wh: WarehouseDep, page: Paged) -> list[dict[str, Any]]:
    """Return the signed-in wallet's fills, every sub-account, oldest first (default: the newest `limit`);
    paged by `cursor` (own wallet only)."""
    return page.linked(await queries.account_fills(wh, wallet, page.window), lambda f: (f["ts"], f["id"]))


@router.get("/{wallet}/funding-payments", response_model=list[FundingPaymentView], responses={**SIGNED_IN, **PAGED})
async def list_funding_payments(wallet: OwnWallet, wh: WarehouseDep, page: Paged) -> list[dict[str, Any]]:
    """Return the funding the signed-in wallet's positions paid (positive) or received at each hourly settle,
    oldest first (default: the newest `limit`); paged by `cursor` (own wallet only)."""
    return page.linked(await queries.funding_payments(wh, wallet, page.window), lambda p: (p["ts"], p["id"]))


@router.get("/{wallet}/ledger", response_model=list[LedgerEntryView], responses={**SIGNED_IN, **PAGED})
async def list_ledger(wallet: OwnWallet, wh: WarehouseDep, page: Paged,
                      kind: KindFilter = None) -> list[dict[str, Any]]:
    """Return every change of the signed-in wallet's collateral, every sub-account, with the balance each left and
    its cause, of one kind if given: oldest first (default: the newest `limit`); paged by `cursor` (own wallet
    only). Within one sub-account the amounts add up to its collateral."""
    return page.linked(await queries.ledger(wh, wallet, kind, page.window), lambda e: (e["ts"], e["id"]))


class HistoryBucket(BaseModel):
    """One sub-account over one bucket (`time`: its start, UTC ms): equity and unrealised P&L at its last event, and
    what moved its collateral within it, signed as the ledger books it (paid: negative): realised P&L, funding and
    fees (liquidation fees included); `cumulative_realised_pnl` sums realised P&L over every bucket up to this one."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "time": 1767225600000, "subaccount": 0, "equity": "1012.5", "unrealised_pnl": "15", "realised_pnl": "0",
        "cumulative_realised_pnl": "-2.5", "funding": "-0.012887", "fees": "-1.5"}]})

    time: int
    subaccount: int
    equity: Decimal
    unrealised_pnl: Decimal
    realised_pnl: Decimal
    cumulative_realised_pnl: Decimal
    funding: Decimal
    fees: Decimal


Resolution = Annotated[Literal["1h", "1d"], Query(description="bucket length")]


@router.get("/{wallet}/history", response_model=list[HistoryBucket], responses={**SIGNED_IN, **PAGED})
async def list_history(wallet: OwnWallet, wh: WarehouseDep, page: Paged,
                       resolution: Resolution) -> list[dict[str, Any]]:
    """Return the signed-in wallet's equity and P&L history per hour or day, every sub-account: buckets starting in
    [`start`, `end`), oldest first (default: the newest `limit`); paged by `cursor` (own wallet only). A bucket in
    which nothing happened to a sub-account has no row: its figures are the previous bucket's."""
    rows = await queries.account_history(wh, wallet, resolution, page.window)
    return page.linked(rows, lambda b: (b["time"], f"{b['subaccount']:010d}"))
