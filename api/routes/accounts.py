"""A wallet's own accounts: collateral, positions, margin and state of each sub-account."""

from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict

from api.auth import EXAMPLE_WALLET, OwnWallet
from api.deps import AccountsDep
from api.errors import ErrorResponse
from api.ratelimit import PublicLimit

router = APIRouter(prefix="/api/v1/accounts", tags=["accounts"], dependencies=[PublicLimit])
GUARDED = {401: {"model": ErrorResponse, "description": "no live session"},
           403: {"model": ErrorResponse, "description": "another wallet than the session's"},
           404: {"model": ErrorResponse, "description": "the wallet has no account"},
           422: {"model": ErrorResponse}, 429: {"model": ErrorResponse, "description": "rate limited"}}


class SubaccountView(BaseModel):
    """One sub-account's newest state, with the accounts engine's figures."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [{
        "wallet": EXAMPLE_WALLET, "subaccount": 0, "ts": 1767225600000, "state": "active",
        "collateral": "10000", "equity": "10250.5", "health": "87.5", "positions": []}]})

    wallet: str
    subaccount: int
    ts: int


class AccountView(BaseModel):
    """Every sub-account of a wallet."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"wallet": EXAMPLE_WALLET, "subaccounts": [
        {"wallet": EXAMPLE_WALLET, "subaccount": 0, "ts": 1767225600000, "state": "funded", "collateral": "10000"}]}]})

    wallet: str
    subaccounts: list[SubaccountView]


@router.get("/{wallet}", response_model=AccountView, responses=GUARDED)
async def get_account(wallet: OwnWallet, accounts: AccountsDep) -> dict[str, Any]:
    """Return the signed-in wallet's sub-accounts (a session reaches only its own wallet)."""
    found = accounts.get(wallet)
    if found is None:
        raise HTTPException(404, f"no account for wallet {wallet}")
    return found
