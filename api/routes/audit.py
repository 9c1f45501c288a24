"""A wallet's own audit trail: every decision the platform took about it, with its causes and digest."""

from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from api import queries
from api.auth import OwnWallet
from api.deps import WarehouseDep
from api.pagination import PAGED, SincePaged
from api.ratelimit import PublicLimit
from api.routes.accounts import SIGNED_IN

router = APIRouter(prefix="/api/v1", tags=["audit"], dependencies=[PublicLimit])


class Decision(BaseModel):
    """One decision: when, by which part, what, about whom, why (its causes), under which parameters, from which
    inputs (their digest), and when the platform processed it."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "gateway:5d1c…", "ts": 1767225600000, "actor": "gateway", "action": "order_simulated",
        "subject": "9WzD…:0", "data": {"allowed": True}, "causes": [], "params": "182de563529e535f",
        "digest": "3a7b…", "processed_at": 1767225600012}]})

    id: str
    ts: Annotated[int, Field(description="event time of the decision, UTC ms (a request's: when it was taken)")]
    actor: Annotated[str, Field(description="`risk-engine` or `gateway`")]
    action: str
    subject: Annotated[str, Field(description="the wallet, or one of its sub-accounts `wallet:subaccount`")]
    data: dict[str, Any]
    causes: Annotated[list[str], Field(description="ids of the events that caused it")]
    params: Annotated[str, Field(description="the version of the risk parameters in force")]
    digest: Annotated[str, Field(description="SHA-256 of the inputs it was taken from")]
    processed_at: Annotated[int, Field(description="when the platform stored it, UTC ms (wall clock)")]


@router.get("/accounts/{wallet}/audit", response_model=list[Decision], responses={**SIGNED_IN, **PAGED})
async def account_audit(wallet: OwnWallet, wh: WarehouseDep, page: SincePaged) -> list[dict[str, Any]]:
    """Return the signed-in wallet's audit trail: its sign-ins (taken or refused), its sub-accounts' state
    transitions, withdrawals refused, liquidations, order tickets (answered or refused) and admins' freezes, each
    with causes, parameter version and digest; oldest first from `since` (UTC ms), else the newest `limit`; paged
    by `cursor` (own wallet only)."""
    rows = await queries.account_audit(wh, wallet, page.window)
    return page.linked(rows, lambda d: (d["ts"], d["id"]))
