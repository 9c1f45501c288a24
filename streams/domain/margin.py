"""An account's margin at oracle prices: equity, margins, health and liquidation prices."""

from decimal import Decimal

from streams.domain import ZERO, ZERO_MONEY, to_health, to_money, to_price, to_ratio
from streams.domain.frozen import frozen
from streams.domain.positions import Position

PRICE_CEILING = Decimal(10**20)  # what the warehouse's Decimal(38, 18) holds; past 1e28 `to_price` cannot quantise


@frozen
class Quote:
    """A market as a margin check sees it: oracle price, margin rates, funding index now."""

    oracle: Decimal
    mmr: Decimal
    imr: Decimal
    funding_index: Decimal = ZERO


@frozen
class Exposure:
    """A position, its market's quote and the funding it has not settled (positive: owed)."""

    position: Position
    quote: Quote
    unsettled_funding: Decimal = ZERO


@frozen
class PositionRisk:
    """One position's figures at the oracle price."""

    market: str
    size: Decimal
    entry: Decimal
    oracle: Decimal
    mmr: Decimal
    unrealised_pnl: Decimal
    unsettled_funding: Decimal
    notional: Decimal
    maintenance_margin: Decimal
    initial_margin: Decimal


@frozen
class Margin:
    """An account's margin figures; `liquidation_price` maps market to price (None: none)."""

    collateral: Decimal
    equity: Decimal
    unrealised_pnl: Decimal
    unsettled_funding: Decimal
    notional: Decimal
    maintenance_margin: Decimal
    initial_margin: Decimal
    free_collateral: Decimal
    leverage: Decimal | None
    health: Decimal
    liquidation_price: dict[str, Decimal | None]
    positions: tuple[PositionRisk, ...]

    @property
    def liquidatable(self) -> bool:
        """Tell whether equity is below maintenance margin."""
        return self.equity < self.maintenance_margin


def position_risk(exposure: Exposure) -> PositionRisk:
    """Mark one position at its oracle price."""
    p, q = exposure.position, exposure.quote
    notional = abs(p.size) * q.oracle
    upnl = to_money(p.unrealised_pnl(q.oracle))
    return PositionRisk(
        market=p.market,
        size=p.size,
        entry=p.entry,
        oracle=q.oracle,
        mmr=q.mmr,
        unrealised_pnl=upnl if upnl else ZERO_MONEY,  # a short at its entry: 0, never a published −0
        unsettled_funding=exposure.unsettled_funding,
        notional=to_money(notional),
        maintenance_margin=to_money(notional * q.mmr),
        initial_margin=to_money(notional * q.imr),
    )


def assess(collateral: Decimal, exposures: list[Exposure]) -> Margin:
    """Return the margin figures of `collateral` plus `exposures` at their oracle prices."""
    risks = tuple(position_risk(e) for e in exposures)
    upnl = funding = mm = im = notional = ZERO_MONEY
    for r in risks:  # one pass, each sum in position order
        upnl += r.unrealised_pnl
        funding += r.unsettled_funding
        mm += r.maintenance_margin
        im += r.initial_margin
        notional += r.notional
    equity = collateral + upnl - funding
    return Margin(
        collateral=collateral,
        equity=equity,
        unrealised_pnl=upnl,
        unsettled_funding=funding,
        notional=notional,
        maintenance_margin=mm,
        initial_margin=im,
        free_collateral=max(ZERO_MONEY, equity - im),
        leverage=leverage(notional, equity),
        health=health(mm, equity),
        liquidation_price={r.market: liquidation_price(r, equity, mm) for r in risks},
        positions=risks,
    )


def leverage(notional: Decimal, equity: Decimal) -> Decimal | None:
    """Return total notional over equity, or None when equity ≤ 0."""
    return to_ratio(notional / equity) if equity > 0 else None


def health(maintenance_margin: Decimal, equity: Decimal) -> Decimal:
    """Return clamp(100 × (1 − MM/equity), 0, 100), 0 when equity ≤ 0."""
    if equity <= 0:
        return to_health(ZERO)
    return to_health(min(max(100 * (1 - maintenance_margin / equity), ZERO), Decimal(100)))


def liquidation_price(risk: PositionRisk, equity: Decimal, maintenance_margin: Decimal) -> Decimal | None:
    """Return the oracle price of this market at which equity meets MM, others held, or None (none, or one of
    `PRICE_CEILING` or more: a short far over-collateralised has no price the market can reach)."""
    others_equity = equity - risk.unrealised_pnl
    others_mm = maintenance_margin - risk.maintenance_margin
    slope = risk.size - abs(risk.size) * risk.mmr
    if slope == 0:
        return None
    price = (others_mm - others_equity + risk.size * risk.entry) / slope
    return to_price(price) if 0 < price < PRICE_CEILING else None
