"""Admin controls: pause or resume a market. Only a session whose wallet is one of `QUANTDESK_ADMIN_WALLETS` may
use them (403 for anyone else). Each is a command on `admin.commands`, stamped with the time the gateway took it:
every reader applies it at that event time (a replay too), and the stored commands are the audit of who did what,
when and why."""

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from api import queries
from api.auth import AdminWallet
from api.deps import SettingsDep, WarehouseDep
from api.errors import ErrorResponse
from api.ratelimit import PublicLimit
from api.routes.markets import listed
from api.status import wall_ms
from quantdesk.messages import NAME_CHARS, AdminCommand, dump

router = APIRouter(prefix="/api/v1/admin", tags=["admin"], dependencies=[PublicLimit])
REFUSED = {401: {"model": ErrorResponse, "description": "no live session"},
           403: {"model": ErrorResponse, "description": "the session's wallet is not an admin"},
           404: {"model": ErrorResponse, "description": "an unknown market"},
           422: {"model": ErrorResponse, "description": "no reason given, or not a command"},
           503: {"model": ErrorResponse, "description": "no broker to take the command"}}
MarketPath = Annotated[str, Path(description="a listed market", examples=["SOL-PERP"])]


class PauseRequest(BaseModel):
    """Why the market is paused: traders see it beside the market."""

    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, Field(min_length=1, max_length=NAME_CHARS, examples=["oracle under review"])]


class CommandView(BaseModel):
    """An admin command as it was taken: when, by whom, what, and why."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "admin:0f8e…", "ts": 1767225600000, "admin": "9WzD…", "action": "pause_market", "market": "SOL-PERP",
        "reason": "oracle under review"}]})

    id: str
    ts: Annotated[int, Field(description="the event time it takes effect at: when the gateway took it, UTC ms")]
    admin: Annotated[str, Field(description="the admin's wallet")]
    action: Literal["pause_market", "resume_market"]
    market: str
    reason: str


async def publish(request: Request, command: AdminCommand) -> CommandView:
    """Put a command on `admin.commands` and wait until the broker holds it."""
    publisher = request.app.state.publisher
    if publisher is None:
        raise HTTPException(503, "no broker: this gateway runs without Kafka and takes no commands")
    await publisher.send([("admin.commands", command.market, dump(command))])
    return CommandView(**dump(command))


def command(admin: str, action: Literal["pause_market", "resume_market"], market: str, reason: str) -> AdminCommand:
    """Return a command stamped now, under an id of its own."""
    return AdminCommand(id=f"admin:{uuid.uuid4().hex}", ts=wall_ms(), admin=admin, action=action, market=market,
                        reason=reason)


@router.post("/markets/{market}/pause", status_code=202, response_model=CommandView, responses=REFUSED)
async def pause_market(market: MarketPath, body: PauseRequest, admin: AdminWallet, settings: SettingsDep,
                       request: Request) -> CommandView:
    """Pause a market: order tickets for it are refused (409, with the reason) and `/markets` and `/status` show it
    paused with the reason, until an admin resumes it. Answers once the command is on the broker (202): every
    gateway applies it as it reads it back, within a moment."""
    listed(settings, market)
    return await publish(request, command(admin, "pause_market", market, body.reason))


@router.post("/markets/{market}/resume", status_code=202, response_model=CommandView, responses=REFUSED)
async def resume_market(market: MarketPath, admin: AdminWallet, settings: SettingsDep,
                        request: Request) -> CommandView:
    """Resume a paused market (resuming one that is not paused changes nothing, and is recorded all the same)."""
    listed(settings, market)
    return await publish(request, command(admin, "resume_market", market, ""))


@router.get("/commands", response_model=list[CommandView], responses=REFUSED)
async def admin_commands(admin: AdminWallet, warehouse: WarehouseDep,
                         limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[CommandView]:
    """Return the admins' commands as stored, newest first: the audit of who paused or resumed what, when and
    why."""
    return [CommandView(**row) for row in await queries.admin_commands(warehouse, limit)]
