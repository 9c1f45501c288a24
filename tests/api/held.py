"""What the gateway holds live, as the worker publishes it: market states, funding periods, account snapshots, and
other venues' prices."""

from decimal import Decimal
from typing import Any

from api.live import LiveState

T0 = 1_767_225_600_000
HOUR_MS = 3_600_000


def market_state(market: str, ts: int, oracle: str, mark: str, reason: str = "") -> dict[str, Any]:
    """Return a `markets.state` event; a reason makes it degraded."""
    return {"id": f"state:{market}:{ts}", "ts": ts, "market": market, "oracle_price": oracle, "conf": "0.01",
            "mark_price": mark, "status": "degraded" if reason else "healthy", "reason": reason}


def funding_period(market: str, end: int, rate: str, index: str) -> dict[str, Any]:
    """Return a closed funding period on `funding.rates`."""
    return {"id": f"funding:{market}:{end}", "ts": end, "market": market, "period_start": end - HOUR_MS,
            "period_end": end, "oracle_twap": "100", "mark_twap": "100.1", "rate": rate, "cumulative_index": index}


def venue_price(market: str, ts: int, venue: str, price: str, bid: str | None = None, ask: str | None = None,
                n: int = 0) -> dict[str, Any]:
    """Return a `venues.prices` event; a bid and ask give the top of the venue's book."""
    book = {"bid": bid, "ask": ask} if bid and ask else {}
    return {"id": f"{venue}:{market}:{ts}:{n}", "ts": ts, "venue": venue, "market": market, "price": price,
            **book, "source": "test"}


def snapshot(wallet: str, subaccount: int, ts: int, collateral: str, *positions: tuple[str, str, str]) -> dict:
    """Return an `accounts.state` event holding (market, size, entry) positions marked at their entry."""
    held = [{"market": m, "size": size, "entry_price": entry, "upnl": "0", "liquidation_price": None,
             "notional": str(abs(Decimal(size)) * Decimal(entry))} for m, size, entry in positions]
    return {"id": f"{wallet}:{subaccount}:{ts}:state", "ts": ts, "wallet": wallet, "subaccount": subaccount,
            "state": "active" if positions else "funded", "collateral": collateral, "equity": collateral,
            "maintenance_margin": "0", "initial_margin": "0", "free_collateral": collateral, "leverage": "0",
            "health": "100", "positions": held}


def hold_markets(live: LiveState, ts: int) -> None:
    """Make SOL-PERP healthy at 100 (mark 100.5, funded once, quoted 100.6 on another venue a second earlier) and
    BTC-PERP degraded; ETH-PERP has no price."""
    live.apply("markets.state", market_state("SOL-PERP", ts, "100", "100.5"))
    live.apply("venues.prices", venue_price("SOL-PERP", ts - 1000, "hyperliquid", "100.6"))
    live.apply("markets.state", market_state("BTC-PERP", ts, "97000", "97010", "status is 'halted', not trading"))
    live.apply("funding.rates", funding_period("SOL-PERP", T0 + HOUR_MS, "0.0000125", "0.00125"))


def book(venue: str, market: str, seq: int, ts: int, bids: tuple[tuple[str, str], ...] = (),
         asks: tuple[tuple[str, str], ...] = (), kind: str = "snapshot") -> dict[str, Any]:
    """Return a `books` event: a venue's (price, size) levels of a market, one order each, as a snapshot or delta."""
    def levels(held: tuple[tuple[str, str], ...]) -> list[dict[str, Any]]:
        return [{"price": p, "size": s, "orders": 1 if Decimal(s) else 0} for p, s in held]
    return {"id": f"book:{venue}:{market}:{seq}", "ts": ts, "venue": venue, "market": market, "kind": kind,
            "seq": seq, "bids": levels(bids), "asks": levels(asks)}
