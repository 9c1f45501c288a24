"""Dependencies of the routes, as typed `Annotated` aliases."""

from typing import Annotated

from fastapi import Depends, Request

from api.accounts import AccountsView
from api.live import LiveState
from api.queries import DaySummaries
from quantdesk.settings import Settings
from quantdesk.warehouse import Warehouse


def get_settings(request: Request) -> Settings:
    """Return the gateway's settings."""
    return request.app.state.settings


def get_warehouse(request: Request) -> Warehouse:
    """Return the warehouse the gateway reads."""
    return request.app.state.warehouse


def get_live(request: Request) -> LiveState:
    """Return the live caches."""
    return request.app.state.live


SettingsDep = Annotated[Settings, Depends(get_settings)]
WarehouseDep = Annotated[Warehouse, Depends(get_warehouse)]
LiveDep = Annotated[LiveState, Depends(get_live)]


def get_accounts(request: Request) -> AccountsView:
    """Return the reader of wallets' accounts."""
    return request.app.state.accounts


AccountsDep = Annotated[AccountsView, Depends(get_accounts)]


def get_day_summaries(request: Request) -> DaySummaries:
    """Return the cached 24-hour market summaries."""
    return request.app.state.day_summaries


DaySummariesDep = Annotated[DaySummaries, Depends(get_day_summaries)]


def unknown_market(settings: Settings, market: str | None) -> str | None:
    """Return why a market is refused (it is not listed), or None for a listed one."""
    if market in settings.market_names:
        return None
    return f"unknown market {market!r}; markets: {', '.join(settings.market_names)}"
