"""The ledger's lines: each change of an account's collateral as a kind, a market and an exact amount.

The account methods that move collateral say how, line by line, so every change is explained where it happens;
`balances` runs the lines from a starting collateral to the balance each one leaves.
"""

from decimal import Decimal
from typing import Iterable

from streams.domain import EXACT, ZERO
from streams.domain.frozen import frozen


@frozen
class Movement:
    """One change of collateral: its kind (a `LedgerKind`), signed amount (+ credits) and market, if any."""

    kind: str
    amount: Decimal
    market: str | None = None


def moved(*lines: Movement) -> tuple[Movement, ...]:
    """Return the lines that move anything (a zero fee or an unchanged P&L is no entry)."""
    return tuple(line for line in lines if line.amount != ZERO)


def covered(deficit: Decimal, draw: Decimal) -> tuple[Movement, ...]:
    """Return how a written-off deficit came back: `draw` from the insurance fund, the rest socialised."""
    return moved(Movement("insurance_draw", draw), Movement("socialised_loss", EXACT.subtract(deficit, draw)))


def balances(before: Decimal, lines: Iterable[Movement]) -> list[tuple[Movement, Decimal]]:
    """Return each line with the collateral it leaves, starting from `before`."""
    out, balance = [], before
    for line in lines:
        balance = EXACT.add(balance, line.amount)
        out.append((line, balance))
    return out
