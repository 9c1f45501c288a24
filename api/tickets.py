"""The order ticket's inputs from what the gateway holds live: the account, the quotes, the order's market.

An `accounts.state` snapshot carries collateral and each position's size and entry, not the
funding index a position last settled at. It needs none: the engine settles every holder of a
market when a funding period closes, and a fill settles first, so every open position stands at
its market's cumulative index and a snapshot has no unsettled funding. The account is rebuilt
with each position at the newest index the gateway holds, the same index its quote carries.
"""

from decimal import Decimal
from typing import Any

from fastapi import HTTPException

from api.live import LiveState
from quantdesk.messages import AccountSnapshot
from quantdesk.settings import Settings
from streams.domain.account_state import AccountState
from streams.domain.accounts import Account
from streams.domain.margin import Quote
from streams.domain.order_ticket import MarketNow, Order, Print, Ticket, simulate
from streams.domain.positions import Position


def held_snapshot(live: LiveState, wallet: str, subaccount: int) -> AccountSnapshot:
    """Return the newest snapshot of a sub-account, or refuse with 404."""
    held = live.accounts.get(wallet, {}).get(subaccount)
    if held is None:
        raise HTTPException(404, f"no sub-account {subaccount} for wallet {wallet}")
    return AccountSnapshot.model_validate(held)


def funding_index(live: LiveState, market: str) -> Decimal:
    """Return a market's cumulative funding index after its newest closed period (0 before any)."""
    period = live.funding.get(market)
    return Decimal(str(period["cumulative_index"])) if period else Decimal(0)


def rebuilt(snapshot: AccountSnapshot, live: LiveState) -> Account:
    """Return the account a snapshot shows, each position at its market's newest funding index."""
    return Account(
        wallet=snapshot.wallet, subaccount=snapshot.subaccount, collateral=snapshot.collateral,
        positions={p.market: Position(p.market, p.size, p.entry_price) for p in snapshot.positions},
        funding_index={p.market: funding_index(live, p.market) for p in snapshot.positions},
        state=AccountState(snapshot.state),
    )


def quote(settings: Settings, live: LiveState, market: str) -> Quote:
    """Return a market's margin quote (last valid oracle price), or refuse with 409 before any."""
    oracle = live.markets.get(market, {}).get("oracle_price")
    if oracle is None:
        raise HTTPException(409, f"{market} has no oracle price yet: no ticket can be priced")
    params = next(m for m in settings.markets if m.name == market)
    return Quote(Decimal(str(oracle)), params.mmr, params.imr, funding_index(live, market))


def degradation(state: dict[str, Any]) -> str:
    """Return why a market is degraded, "" when it is healthy."""
    return "" if state.get("status") == "healthy" else state.get("reason") or "degraded"


def market_now(live: LiveState, market: str, oracle: Decimal) -> MarketNow:
    """Return the order's market: mark (oracle when unknown), the recent tape, its newest event time, health."""
    state = live.markets.get(market, {})
    mark = state.get("mark_price")
    tape = tuple(Print(t["ts"], t["side"], Decimal(t["size"]), Decimal(t["price"]))
                 for t in live.trades.get(market, ()))
    now_ms = max([state.get("ts", 0), *(p.ts for p in tape)])
    return MarketNow(oracle if mark is None else Decimal(str(mark)), tape, now_ms, degradation(state))


def ticket(settings: Settings, live: LiveState, wallet: str, subaccount: int, order: Order) -> Ticket:
    """Return the ticket of an order for a wallet's sub-account under the live quotes."""
    account = rebuilt(held_snapshot(live, wallet, subaccount), live)
    quotes = {m: quote(settings, live, m) for m in {*account.positions, order.market}}
    return simulate(account, order, quotes, market_now(live, order.market, quotes[order.market].oracle))
