"""Admin controls: pause or resume a market, change its margin and funding parameters from a stated time on, freeze
or unfreeze an account; the insurance fund's balance and history; a read-only query of the warehouse. Only a session
whose wallet is one of `QUANTDESK_ADMIN_WALLETS` may
use them (403 for anyone else). Each is a command on `admin.commands`, stamped with the time the gateway took it:
every reader applies it at that event time (a replay too), and the stored commands are the audit of who did what,
when and why."""

import asyncio
import uuid
from decimal import Decimal
from typing import Annotated, Any, Literal

from clickhouse_connect.driver.exceptions import ClickHouseError
from fastapi import APIRouter, HTTPException, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api import audit, queries
from api.auth import AdminWallet
from api.deps import SettingsDep, WarehouseDep
from api.errors import ErrorResponse
from api.ratelimit import PublicLimit
from api.routes.markets import listed
from api.status import wall_ms
from quantdesk.messages import NAME_CHARS, AdminAction, AdminCommand, dump
from quantdesk.warehouse import Unreachable

router = APIRouter(prefix="/api/v1/admin", tags=["admin"], dependencies=[PublicLimit])
REFUSED = {401: {"model": ErrorResponse, "description": "no live session"},
           403: {"model": ErrorResponse, "description": "the session's wallet is not an admin"},
           404: {"model": ErrorResponse, "description": "an unknown market"},
           422: {"model": ErrorResponse, "description": "no reason given, or not a command"},
           503: {"model": ErrorResponse, "description": "no broker to take the command"}}
MarketPath = Annotated[str, Path(description="a listed market", examples=["SOL-PERP"])]
WalletPath = Annotated[str, Path(min_length=1, max_length=NAME_CHARS, description="the account's wallet")]


class Reason(BaseModel):
    """Why the market is paused or the account frozen: traders see it."""

    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, Field(min_length=1, max_length=NAME_CHARS, examples=["oracle under review"])]


class CommandView(BaseModel):
    """An admin command as it was taken: when, by whom, what, and why."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "admin:0f8e…", "ts": 1767225600000, "admin": "9WzD…", "action": "pause_market", "market": "SOL-PERP",
        "wallet": None, "reason": "oracle under review"}]})

    id: str
    ts: Annotated[int, Field(description="the event time it takes effect at: when the gateway took it, UTC ms")]
    admin: Annotated[str, Field(description="the admin's wallet")]
    action: AdminAction
    market: Annotated[str | None, Field(description="the market a market command is about")]
    wallet: Annotated[str | None, Field(description="the wallet an account command is about")]
    reason: str
    imr: Annotated[Decimal | None, Field(description="a change's initial margin rate")] = None
    mmr: Annotated[Decimal | None, Field(description="a change's maintenance margin rate")] = None
    max_funding_per_hour: Annotated[Decimal | None, Field(description="a change's cap on the hourly rate")] = None
    effective_at: Annotated[int | None, Field(description="the event time a change takes effect at, UTC ms")] = None


class NewParams(BaseModel):
    """A market's new margin and funding parameters (fractions, not percent), when they take effect, and why."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "imr": "0.2", "mmr": "0.1", "max_funding_per_hour": "0.002", "effective_at": 1767229200000,
        "reason": "volatility: margins doubled from the next hour"}]})

    imr: Annotated[Decimal, Field(gt=0, le=1, description="initial margin rate: at most 1, over mmr")]
    mmr: Annotated[Decimal, Field(gt=0, lt=1, description="maintenance margin rate: under imr")]
    max_funding_per_hour: Annotated[Decimal, Field(gt=0, lt=1, description="the cap on the hourly funding rate")]
    effective_at: Annotated[int, Field(description="UTC ms it takes effect at: now or later, never earlier")]
    reason: Annotated[str, Field(min_length=1, max_length=NAME_CHARS)]


async def publish(request: Request, command: AdminCommand) -> CommandView:
    """Put a command on `admin.commands` and wait until the broker holds it."""
    if request.app.state.publisher is None:
        raise HTTPException(503, "no broker: this gateway runs without Kafka and takes no commands")
    recorded = audit.entry(request, "admin_command", command.subject, dump(command), causes=[command.id])
    await audit.delivered(request, [("admin.commands", command.subject, dump(command)), recorded])
    return CommandView(**dump(command))


def command(admin: str, action: AdminAction, reason: str, **fields: Any) -> AdminCommand:
    """Return a command about its subject (market or wallet) stamped now, under an id of its own; refuse (422) one
    that cannot be taken, with why."""
    try:
        return AdminCommand(id=f"admin:{uuid.uuid4().hex}", ts=wall_ms(), admin=admin, action=action,
                            reason=reason, **fields)
    except ValidationError as exc:
        raise HTTPException(422, "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())) from exc


@router.post("/markets/{market}/pause", status_code=202, response_model=CommandView, responses=REFUSED)
async def pause_market(market: MarketPath, body: Reason, admin: AdminWallet, settings: SettingsDep,
                       request: Request) -> CommandView:
    """Pause a market: order tickets for it are refused (409, with the reason), the risk engine plans no
    liquidation in it (a liquidatable account waits, and is planned at the market's first tick after the resume),
    and `/markets` and `/status` show it paused with the reason, until an admin resumes it. Answers once the command is on the broker (202): every
    gateway applies it as it reads it back, within a moment."""
    listed(settings, market)
    return await publish(request, command(admin, "pause_market", body.reason, market=market))


@router.post("/markets/{market}/resume", status_code=202, response_model=CommandView, responses=REFUSED)
async def resume_market(market: MarketPath, admin: AdminWallet, settings: SettingsDep,
                        request: Request) -> CommandView:
    """Resume a paused market (resuming one that is not paused changes nothing, and is recorded all the same)."""
    listed(settings, market)
    return await publish(request, command(admin, "resume_market", "", market=market))


@router.post("/markets/{market}/params", status_code=202, response_model=CommandView, responses=REFUSED)
async def set_market_params(market: MarketPath, body: NewParams, admin: AdminWallet, settings: SettingsDep,
                            request: Request) -> CommandView:
    """Change a market's initial and maintenance margin rates and its funding cap from `effective_at` on (now or
    later; an earlier time is refused, 422: a change is never retroactive). Until then nothing changes; at that
    event time the risk engine re-margins every holder under the new rates (one left under maintenance is
    liquidated as at any tick), the hour in progress closes under the new cap, order tickets are priced under them,
    and `/markets` shows the change scheduled, then in force. Each change is a new parameter version on the audit
    trail. Answers once the command is on the broker (202)."""
    listed(settings, market)
    return await publish(request, command(admin, "set_market_params", body.reason, market=market,
                                          **body.model_dump(exclude={"reason"})))


@router.post("/accounts/{wallet}/freeze", status_code=202, response_model=CommandView, responses=REFUSED)
async def freeze_account(wallet: WalletPath, body: Reason, admin: AdminWallet, request: Request) -> CommandView:
    """Freeze a wallet's account: its order tickets are refused (403, with the reason), the risk engine refuses its
    withdrawals from the command's event time on (each a dead letter with the reason; deposits still count), and its
    account shows it frozen with the reason, until an admin unfreezes it. Answers once the command is on the broker
    (202)."""
    return await publish(request, command(admin, "freeze_account", body.reason, wallet=wallet))


@router.post("/accounts/{wallet}/unfreeze", status_code=202, response_model=CommandView, responses=REFUSED)
async def unfreeze_account(wallet: WalletPath, admin: AdminWallet, request: Request) -> CommandView:
    """Unfreeze a wallet's account (unfreezing one not frozen changes nothing, and is recorded all the same)."""
    return await publish(request, command(admin, "unfreeze_account", "", wallet=wallet))


class FundMovement(BaseModel):
    """One movement of the insurance fund: a liquidation fee's insurance half credited, or a deficit drawn."""

    id: str
    ts: Annotated[int, Field(description="event time of the fill that moved it, UTC ms")]
    kind: Annotated[Literal["credit", "draw"], Field(description="credit: a fee's half; draw: a deficit covered")]
    plan: Annotated[str, Field(description="the liquidation plan it belongs to")]
    amount: Annotated[Decimal, Field(description="USD; a draw is negative")]
    balance: Annotated[Decimal, Field(description="the fund's balance after it (USD)")]


class InsuranceFund(BaseModel):
    """The insurance fund: its balance after its newest movement, and its movements, oldest first."""

    balance: Annotated[Decimal, Field(description="USD; 0 before any liquidation")]
    movements: list[FundMovement]


@router.get("/insurance-fund", response_model=InsuranceFund, responses=REFUSED)
async def insurance_fund(admin: AdminWallet, warehouse: WarehouseDep,
                         limit: Annotated[int, Query(ge=1, le=10_000)] = 1000) -> InsuranceFund:
    """Return the insurance fund's balance and its newest `limit` movements (oldest first, by event time then
    id), as the risk engine audited them: each liquidation close's insurance half credited, each deficit drawn."""
    rows = await queries.insurance_fund(warehouse, limit)
    movements = [FundMovement(id=r["id"], ts=r["ts"], kind="credit" if r["action"] == "insurance_credited" else "draw",
                              plan=r["data"]["plan"], amount=Decimal(r["data"]["amount"]),
                              balance=Decimal(r["data"]["insurance_fund"])) for r in rows]
    return InsuranceFund(balance=movements[-1].balance if movements else Decimal(0), movements=movements)


SQL_MAX_ROWS, SQL_MAX_SECONDS = 10_000, 10  # what one admin query may return and take at most


class SqlRequest(BaseModel):
    """A read-only query of the warehouse (`{db}` names its database) and how many rows it may return."""

    model_config = ConfigDict(extra="forbid")

    query: Annotated[str, Field(min_length=1, max_length=20_000, examples=["SELECT market, count() FROM {db}.fills "
                                                                            "GROUP BY market"])]
    max_rows: Annotated[int, Field(ge=1, le=SQL_MAX_ROWS)] = 1000


class SqlAnswer(BaseModel):
    """A query's columns and rows (values as JSON: decimals and times as text)."""

    columns: list[str]
    rows: list[list[Any]]


@router.post("/sql", response_model=SqlAnswer, responses={
    **REFUSED, 400: {"model": ErrorResponse, "description": "ClickHouse refused the query (a write, a syntax error, "
                                                             "too many rows, too long): its message"}})
async def admin_sql(body: SqlRequest, admin: AdminWallet, warehouse: WarehouseDep, request: Request) -> SqlAnswer:
    """Run a read-only query against the warehouse while the embedded platform runs (chDB is one process: the
    gateway's is the way in). ClickHouse refuses writes (`readonly`), a result over `max_rows` (at most 10,000)
    and a run over 10 s; its message comes back as a 400. Every query is on the audit trail. For whole tables
    use `quantdesk export`, for longer answers `quantdesk sql`."""
    await audit.record(request, "admin_sql", admin, {"query": body.query, "max_rows": body.max_rows})
    try:
        table = await asyncio.to_thread(warehouse.read_only, body.query, body.max_rows, SQL_MAX_SECONDS)
    except Unreachable:
        raise  # not the query's fault: a 503
    except (ClickHouseError, ValueError) as exc:
        raise HTTPException(400, f"refused by ClickHouse: {first_line(str(exc))}") from exc
    columns = table.column_names
    return SqlAnswer(columns=columns, rows=[[jsonable(row[c]) for c in columns] for row in table.to_pylist()])


def first_line(message: str) -> str:
    """Return the line of a ClickHouse error that says what went wrong (its stack trace left out)."""
    return next((line.strip() for line in message.splitlines() if line.strip()), message)[:2000]


def jsonable(value: Any) -> Any:
    """Return a cell as JSON carries it exactly: decimals and times as text."""
    return value if value is None or isinstance(value, (bool, int, float, str)) else str(value)


@router.get("/commands", response_model=list[CommandView], responses=REFUSED)
async def admin_commands(admin: AdminWallet, warehouse: WarehouseDep,
                         limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[CommandView]:
    """Return the admins' commands as stored, newest first: the audit of who paused, resumed, changed the
    parameters of, froze or unfroze what, when and why."""
    return [CommandView(**row) for row in await queries.admin_commands(warehouse, limit)]
