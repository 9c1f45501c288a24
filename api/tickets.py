"""The order ticket's inputs from what the gateway holds live: the account, the quotes, the order's market and
its venues' books.

The fill is estimated from the books when the market has one healthy enough to route over: the route
(`streams.domain.routing`) walks the consolidated book of the venues that are in sequence, not crossed, fresh (an
update within `status_max_age_ms` by the wall clock: the ticket is priced now, and a venue whose feed went quiet
must not draw size) and have a taker fee (`quantdesk`, ours, from the markets; the others from
`venue_taker_fees`). Its average price and fee are then assessed as any fill. When the visible depth cannot fill
the size the ticket is refused (409) with how much it can fill: a trader sizing an order wants to know it would
not fill, not a price for size that is not there. When no venue's book is healthy, the fill falls back to the tape
estimate, and the ticket says so (`price_source` and `source_note`): a feed's hiccup must not stop a trader from
seeing what a position would do to the account, and the source tells how much to trust the price.

An `accounts.state` snapshot carries collateral and each position's size and entry, not the
funding index a position last settled at. It needs none: the engine settles every holder of a
market when a funding period closes, and a fill settles first, so every open position stands at
its market's cumulative index and a snapshot has no unsettled funding. The account is rebuilt
with each position at the newest index the gateway holds, the same index its quote carries.
"""

from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from fastapi import HTTPException

from api.live import LiveState
from quantdesk.markets import OUR_VENUE, TAKER_FEE_RATE
from quantdesk.messages import AccountSnapshot
from quantdesk.settings import Settings
from streams.domain.account_state import AccountState
from streams.domain.accounts import Account
from streams.domain.margin import Quote
from streams.domain.consolidated import Consolidated, consolidate
from streams.domain.order_ticket import FillEstimate, MarketNow, Order, Print, Ticket, assess, simulate, slippage_bps
from streams.domain.positions import Position
from streams.domain.routing import Refusal, Route, route



@dataclass(frozen=True)
class Priced:
    """A ticket, the route its fill was priced on (None: the tape's estimate, `note` says why), and the venues the
    route could not use, with why."""

    ticket: Ticket
    route: Route | None
    excluded: tuple[tuple[str, str], ...]
    note: str


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
    listing = next(m for m in settings.markets if m.name == market)
    params = live.params(listing, live.newest_ts(market))  # an admin's change counts from its effective time
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


def fee_rates(settings: Settings) -> dict[str, Decimal]:
    """Return each venue's taker fee rate: ours from the markets, the others' from the settings."""
    return {**settings.venue_taker_fees, OUR_VENUE: TAKER_FEE_RATE}


def routable(settings: Settings, live: LiveState, market: str, now_ms: int) -> tuple[Consolidated, int]:
    """Return the consolidated book a ticket may route over (every level of each usable venue; the others named in
    `excluded`) and how many venues are in it."""
    fees, depths, left_out = fee_rates(settings), [], []
    for venue, held in live.books.venues(market).items():
        age = None if held.ts is None else now_ms - held.ts
        if venue not in fees:
            left_out.append((venue, "no taker fee known for it (QUANTDESK_VENUE_TAKER_FEES)"))
        elif age is not None and age > settings.status_max_age_ms:
            left_out.append((venue, f"quiet: no update for {age} ms"))
        else:
            depths.append(held.depth(max(len(held.bids), len(held.asks))))
    book = consolidate(market, depths)
    return replace(book, excluded=book.excluded + tuple(left_out)), len(depths) - len(book.excluded)


def ticket(settings: Settings, live: LiveState, wallet: str, subaccount: int, order: Order, now_ms: int) -> Priced:
    """Return the ticket of an order for a wallet's sub-account under the live quotes, priced on the books at the
    wall-clock time `now_ms` when one is healthy, else on the tape; refuse (409) what the books cannot fill."""
    account = rebuilt(held_snapshot(live, wallet, subaccount), live)
    quotes = {m: quote(settings, live, m) for m in {*account.positions, order.market}}
    market = market_now(live, order.market, quotes[order.market].oracle)
    book, healthy = routable(settings, live, order.market, now_ms)
    if not healthy:
        why = "; ".join(f"{venue}: {reason}" for venue, reason in book.excluded) or "no venue's book held"
        return Priced(simulate(account, order, quotes, market), None, book.excluded,
                      f"no healthy book of {order.market} ({why}): estimated from the tape")
    routed = route(book, order.side, order.size, fee_rates(settings), order.limit)
    if isinstance(routed, Refusal):
        raise HTTPException(409, f"{routed.reason}: at most {routed.fillable} can be filled now")
    fill = FillEstimate(routed.average_price, "book", market.reference,
                        slippage_bps(order, routed.average_price, market.reference))
    return Priced(assess(account, order, quotes, fill, routed.fee, market.degraded), routed, book.excluded, "")
