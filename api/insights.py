"""MIKEY's insights: a short plain-language summary of a market's or an account's current figures and of the last
hour's signals, built by rule from the numbers (no language model). Pure functions: figures in, sentences out.

Prices show two decimals (four significant digits under 1), USD amounts a dollar sign and thousands separators,
shares in percent with a space before `%` (all rounded half away from zero), sizes exactly as held. Times are UTC.
"""

from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Iterable, Mapping

from quantdesk.messages import AccountSnapshot, canonical

HOUR_MS = 3_600_000
SEVERITIES = ("critical", "warning", "info")


@dataclass(frozen=True)
class MarketFigures:
    """What the gateway holds of a market now."""

    market: str
    status: str
    reason: str
    oracle_price: Decimal | None
    mark_price: Decimal | None
    change_24h: Decimal | None
    funding_rate: Decimal | None
    funding_apr: Decimal | None
    open_interest: Decimal
    open_interest_notional: Decimal | None


@dataclass(frozen=True)
class NearestLiquidation:
    """The position of an account whose liquidation price is nearest the oracle, and how near (a share of the
    oracle; zero or less when it is already reached)."""

    market: str
    size: Decimal
    liquidation_price: Decimal
    oracle_price: Decimal
    distance: Decimal


@dataclass(frozen=True)
class SubaccountFigures:
    """What the gateway holds of one sub-account now."""

    subaccount: int
    state: str
    equity: Decimal
    health: Decimal
    leverage: Decimal | None
    free_collateral: Decimal
    positions: int
    nearest_liquidation: NearestLiquidation | None


def rounded(value: Decimal, places: int) -> Decimal:
    """Return a value rounded to `places` decimals, halves away from zero (as a trader rounds)."""
    return value.quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP)


def price(value: Decimal) -> str:
    """Return a price as a trader reads it: 97,012.50; 0.01234."""
    if abs(value) >= 1:
        return f"{rounded(value, 2):,.2f}"
    return f"{value:.4g}" if not value else f"{rounded(value, 3 - value.adjusted()):f}"


def usd(value: Decimal) -> str:
    """Return a USD amount: $1,250.50, -$3.00."""
    return f"{'-' if value < 0 else ''}${rounded(abs(value), 2):,.2f}"


def percent(share: Decimal, places: int = 2) -> str:
    """Return a share in percent: 0.0123 → 1.23 %."""
    return f"{rounded(share * 100, places):.{places}f} %"


def amount(value: Decimal) -> str:
    """Return a size exactly, without trailing zeros: 3.5."""
    return f"{canonical(value):,f}"


def base_asset(market: str) -> str:
    """Return the asset a market's sizes count: SOL of SOL-PERP."""
    return market.split("-")[0]


def sentence(text: str) -> str:
    """Return a text ending as a sentence does."""
    return text if text.endswith((".", "!", "?")) else f"{text}."


def clock(ts: int) -> str:
    """Return an event time as HH:MM:SS UTC."""
    return datetime.fromtimestamp(ts / 1000, timezone.utc).strftime("%H:%M:%S UTC")


def market_state_sentence(f: MarketFigures) -> str:
    """Say whether a market trades normally, and its oracle and mark prices."""
    if f.oracle_price is None:
        return f"{f.market} has no oracle price yet."
    prices = f"oracle {price(f.oracle_price)}" + (f", mark {price(f.mark_price)} ({premium(f)})"
                                                   if f.mark_price is not None else "")
    if f.status != "healthy":
        why = f" ({f.reason})" if f.reason else ""
        return (f"{f.market} is degraded{why}: liquidations are paused and orders that add risk are refused; "
                f"last {prices}.")
    return f"{f.market} is healthy: {prices}."


def premium(f: MarketFigures) -> str:
    """Say where the mark stands against the oracle."""
    assert f.oracle_price is not None and f.mark_price is not None
    if f.mark_price == f.oracle_price or not f.oracle_price:
        return "at the oracle"
    share = (f.mark_price - f.oracle_price) / f.oracle_price
    return f"{percent(abs(share))} {'above' if share > 0 else 'below'} the oracle"


def change_sentence(f: MarketFigures) -> str | None:
    """Say how the oracle price moved over 24 hours, or nothing without a price a day back."""
    if f.change_24h is None:
        return None
    if not f.change_24h:
        return "It is unchanged over 24 hours."
    return f"Over 24 hours it is {'up' if f.change_24h > 0 else 'down'} {percent(abs(f.change_24h))}."


def funding_sentence(f: MarketFigures) -> str:
    """Say who pays funding and how much, from the last closed period."""
    if f.funding_rate is None or f.funding_apr is None:
        return "No funding period has closed yet."
    if not f.funding_rate:
        return "Funding is flat: nobody paid in the last period."
    payer, payee = ("longs", "shorts") if f.funding_rate > 0 else ("shorts", "longs")
    return (f"Funding: {payer} pay {payee} {percent(abs(f.funding_rate), 5)} an hour "
            f"({percent(abs(f.funding_apr))} APR).")


def open_interest_sentence(f: MarketFigures) -> str:
    """Say how much is open, in the base asset and in USD at the oracle."""
    if not f.open_interest:
        return "No position is open."
    worth = f" ({usd(f.open_interest_notional)} at the oracle)" if f.open_interest_notional is not None else ""
    return f"Open interest is {amount(f.open_interest)} {base_asset(f.market)}{worth}."


def market_brief(f: MarketFigures) -> str:
    """Say a market's figures in one sentence (the overview of every market)."""
    if f.oracle_price is None:
        return f"{f.market}: no oracle price yet."
    parts = [f"{f.market} at {price(f.oracle_price)}"]
    if f.status != "healthy":
        parts.append(f"degraded ({f.reason})" if f.reason else "degraded")
    if f.change_24h:
        parts.append(f"{'up' if f.change_24h > 0 else 'down'} {percent(abs(f.change_24h))} in 24 hours")
    if f.funding_apr is not None:
        parts.append(f"funding {'+' if f.funding_apr > 0 else ''}{percent(f.funding_apr)} APR")
    parts.append(f"open interest {amount(f.open_interest)} {base_asset(f.market)}")
    return ", ".join(parts) + "."


def signals_sentence(signals: list[Mapping[str, Any]], noun: str = "signal", capped: bool = False) -> str:
    """Say how many signals the last hour raised, by severity, and the latest one's sentence."""
    if not signals:
        return f"No {noun}s in the last hour."
    n = len(signals)
    counted = ", ".join(f"{c} {s}" for s in SEVERITIES if (c := sum(x["severity"] == s for x in signals)))
    latest = signals[-1]
    many = f"At least {n}" if capped else f"{n}"
    return (f"{many} {noun}{'s' if n > 1 else ''} in the last hour ({counted}); the latest, at "
            f"{clock(latest['ts'])}: {sentence(latest['message'])}")


def market_summary(f: MarketFigures, signals: list[Mapping[str, Any]], capped: bool = False) -> list[str]:
    """Return the sentences of one market's insights."""
    said = [market_state_sentence(f), change_sentence(f), funding_sentence(f), open_interest_sentence(f),
            signals_sentence(signals, capped=capped)]
    return [s for s in said if s is not None]


def overview_summary(figures: Iterable[MarketFigures], signals: list[Mapping[str, Any]],
                     capped: bool = False) -> list[str]:
    """Return the sentences of every market's insights: a sentence per market, then the last hour's signals."""
    return [*(market_brief(f) for f in figures), signals_sentence(signals, capped=capped)]


def nearest_liquidation(snapshot: AccountSnapshot, oracles: Mapping[str, Decimal]) -> NearestLiquidation | None:
    """Return the position whose liquidation price is nearest its market's oracle (the held oracle, else the price
    the snapshot marked it at), or None when no position has a liquidation price."""
    found = []
    for p in snapshot.positions:
        if p.liquidation_price is None or not p.size:
            continue
        oracle = oracles.get(p.market) or p.notional / abs(p.size)
        if not oracle:
            continue
        gap = (oracle - p.liquidation_price) if p.size > 0 else (p.liquidation_price - oracle)
        found.append(NearestLiquidation(p.market, p.size, p.liquidation_price, oracle, gap / oracle))
    return min(found, key=lambda n: (n.distance, n.market), default=None)


def subaccount_figures(snapshot: AccountSnapshot, oracles: Mapping[str, Decimal]) -> SubaccountFigures:
    """Return the figures a sub-account's insights speak of."""
    return SubaccountFigures(snapshot.subaccount, snapshot.state, snapshot.equity, snapshot.health, snapshot.leverage,
                             snapshot.free_collateral, len(snapshot.positions), nearest_liquidation(snapshot, oracles))


def subaccount_sentence(f: SubaccountFigures) -> str:
    """Say a sub-account's state, equity, health, leverage and free collateral."""
    leverage = f"leverage {rounded(f.leverage, 2):.2f}×" if f.leverage else "no leverage"
    return (f"Sub-account {f.subaccount} is {f.state.replace('_', ' ')}: equity {usd(f.equity)}, health "
            f"{rounded(f.health, 1):.1f} of 100, {leverage}, free collateral {usd(f.free_collateral)}.")


def liquidation_sentence(f: SubaccountFigures) -> str:
    """Say which position is nearest its liquidation price, and how near."""
    if not f.positions:
        return "It holds no position."
    near = f.nearest_liquidation
    if near is None:
        return "None of its positions has a liquidation price above zero."
    side = "long" if near.size > 0 else "short"
    what = f"{side} {amount(abs(near.size))} {base_asset(near.market)} on {near.market}"
    if near.distance <= 0:
        return (f"Its {what} has reached its liquidation price {price(near.liquidation_price)} "
                f"(oracle {price(near.oracle_price)}).")
    where = "below" if near.size > 0 else "above"
    return (f"Its position nearest liquidation is {what}: liquidation price {price(near.liquidation_price)} is "
            f"{percent(near.distance)} {where} the oracle {price(near.oracle_price)}.")


def account_summary(figures: Iterable[SubaccountFigures], alerts: list[Mapping[str, Any]],
                    capped: bool = False) -> list[str]:
    """Return the sentences of a wallet's insights: per sub-account its figures and nearest liquidation, then the
    last hour's alerts."""
    said = []
    for f in figures:
        said += [subaccount_sentence(f), liquidation_sentence(f)]
    return [*said, signals_sentence(alerts, noun="alert", capped=capped)]
