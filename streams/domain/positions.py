"""Positions and what a fill does to one: entry price, realised P&L, flips and closes."""

from decimal import Decimal

from streams.domain import EXACT, to_money, to_price
from streams.domain.frozen import frozen


@frozen
class Position:
    """An open position: signed base size (+ long, − short) and its entry price."""

    market: str
    size: Decimal
    entry: Decimal

    def unrealised_pnl(self, oracle: Decimal) -> Decimal:
        """Return the P&L of closing the whole position at `oracle` (unrounded)."""
        return self.size * (oracle - self.entry)


@frozen
class FillResult:
    """The position after a fill, the P&L it realised and the fee it cost."""

    position: Position | None
    realised_pnl: Decimal
    fee: Decimal

    @property
    def cash(self) -> Decimal:
        """Return what the fill moves into collateral: realised P&L less the fee."""
        return EXACT.subtract(self.realised_pnl, self.fee)


def apply_fill(
    position: Position | None, market: str, size: Decimal, price: Decimal, fee: Decimal
) -> FillResult:
    """Apply a fill of signed `size` at `price` paying `fee` to `position` (None when flat)."""
    moved, realised = _moved(position, market, size, price)
    return FillResult(moved, realised, to_money(fee))


def _moved(
    position: Position | None, market: str, size: Decimal, price: Decimal
) -> tuple[Position | None, Decimal]:
    """Return the position after a fill and the P&L the fill realised."""
    if position is None:
        return Position(market, size, price), Decimal(0)
    if (position.size > 0) == (size > 0):
        return _increased(position, size, price), Decimal(0)
    return _reduced(position, size, price)


def _increased(position: Position, size: Decimal, price: Decimal) -> Position:
    """Return the position grown by `size` at `price`, entry volume-weighted."""
    total = EXACT.add(position.size, size)
    entry = to_price((position.size * position.entry + size * price) / total)
    return Position(position.market, total, entry)


def _reduced(position: Position, size: Decimal, price: Decimal) -> tuple[Position | None, Decimal]:
    """Reduce, close or flip `position` with an opposite fill; return it and the realised P&L."""
    remaining = EXACT.add(position.size, size)
    closed = position.size if _flips_or_closes(position.size, remaining) else size.copy_negate()
    realised = to_money(closed * (price - position.entry))
    if remaining == 0:
        return None, realised
    if closed == position.size:
        return Position(position.market, remaining, price), realised
    return Position(position.market, remaining, position.entry), realised


def _flips_or_closes(before: Decimal, after: Decimal) -> bool:
    """Tell whether going from `before` to `after` closes the position or crosses zero."""
    return after == 0 or (before > 0) != (after > 0)
