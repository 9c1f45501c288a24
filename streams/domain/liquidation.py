"""The partial liquidation planner: which positions to close, how much, and who pays.

A plan is a proposal; the account only changes when its fills arrive. Closes are priced at
the oracle. Each close costs `f` = 1% of its notional (half to the liquidator, half to the
insurance fund), capped at the equity left, so a liquidation fee never creates a deficit
by itself. An account with equity ≤ 0 is closed out without fee; the plan names the deficit
it expects, and the insurance fund's owner (`streams.risk.insurance`) decides at completion how
much of it the fund covers and how much is socialised: a plan never reads the fund.
"""

from dataclasses import dataclass
from decimal import Decimal

from streams.domain import ZERO, to_money, to_size_covering
from streams.domain.margin import Margin, PositionRisk

LIQUIDATION_FEE = Decimal("0.01")
BUFFER = Decimal("0.02")
MIN_REMAINING_NOTIONAL = Decimal(50)


@dataclass(frozen=True)
class Close:
    """One proposed closing trade: `side` is the trade's (`sell` closes a long)."""

    market: str
    side: str
    size: Decimal
    price: Decimal
    fee: Decimal

    @property
    def liquidator_fee(self) -> Decimal:
        """Return the liquidator's half of the fee."""
        return to_money(self.fee / 2)

    @property
    def insurance_fee(self) -> Decimal:
        """Return the insurance fund's half of the fee (the rest after the liquidator's)."""
        return self.fee - self.liquidator_fee


@dataclass(frozen=True)
class LiquidationProposal:
    """The closes to make, and the deficit a close-out expects to leave (0 for a partial liquidation)."""

    closes: tuple[Close, ...]
    deficit: Decimal


def plan_liquidation(margin: Margin) -> LiquidationProposal:
    """Plan the liquidation of an account with these figures (empty when not liquidatable)."""
    if margin.equity <= 0:
        return close_out(margin)
    if not margin.liquidatable:
        return LiquidationProposal((), ZERO)
    return LiquidationProposal(partial_closes(margin), ZERO)


def partial_closes(margin: Margin) -> tuple[Close, ...]:
    """Close the largest notionals first until equity ≥ MM × (1 + b)."""
    equity, mm, closes = margin.equity, margin.maintenance_margin, []
    for risk in largest_first(margin.positions):
        if equity >= mm * (1 + BUFFER):
            break
        size = close_size(risk, equity, mm)
        fee = min(to_money(LIQUIDATION_FEE * size * risk.oracle), equity)
        closes.append(closing(risk, size, fee))
        equity -= closes[-1].fee
        mm -= to_money(size * risk.oracle * risk.mmr)
    return tuple(closes)


def close_size(risk: PositionRisk, equity: Decimal, mm: Decimal) -> Decimal:
    """Return q = (MM(1+b) − equity) / (p (mmr(1+b) − f)), or the whole position."""
    whole = abs(risk.size)
    per_unit = risk.oracle * (risk.mmr * (1 + BUFFER) - LIQUIDATION_FEE)
    if per_unit <= 0:
        return whole
    q = to_size_covering((mm * (1 + BUFFER) - equity) / per_unit)
    if q >= whole or (whole - q) * risk.oracle < MIN_REMAINING_NOTIONAL:
        return whole
    return q


def close_out(margin: Margin) -> LiquidationProposal:
    """Close everything without fee, expecting a deficit of the negative equity."""
    closes = tuple(closing(r, abs(r.size), ZERO) for r in largest_first(margin.positions))
    return LiquidationProposal(closes, ZERO - margin.equity)  # at equity 0, a deficit of 0, not −0


def closing(risk: PositionRisk, size: Decimal, fee: Decimal) -> Close:
    """Return the trade closing `size` of `risk`'s position at its oracle price."""
    return Close(risk.market, "sell" if risk.size > 0 else "buy", size, risk.oracle, to_money(fee))


def largest_first(risks: tuple[PositionRisk, ...]) -> list[PositionRisk]:
    """Order positions by notional, largest first (market name breaks ties)."""
    return sorted(risks, key=lambda r: (-r.notional, r.market))
