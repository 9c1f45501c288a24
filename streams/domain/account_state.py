"""The account life cycle: new → funded → active ⇄ at_risk → liquidatable → liquidating → …

`next_state` is a pure function of the previous state, the account's margin figures and
whether a liquidation plan is in flight:

- with positions open: `liquidating` while a plan is in flight, else `liquidatable` when
  equity < MM, `at_risk` when health < 20, `active` otherwise (so a finished liquidation
  lands in `active`, or `at_risk` when the restored health is still under 20);
- flat: `funded` with collateral left; `new` stays `new` and a funded account whose
  collateral was all withdrawn is `closed`; any other way of ending flat with nothing (or
  less) left — a liquidation or losing fills — is `bankrupt`, until a deposit funds it again.
"""

from decimal import Decimal
from enum import StrEnum

from streams.domain.margin import Margin

AT_RISK_HEALTH = Decimal(20)


class AccountState(StrEnum):
    """Where an account is in its life cycle."""

    NEW = "new"
    FUNDED = "funded"
    ACTIVE = "active"
    AT_RISK = "at_risk"
    LIQUIDATABLE = "liquidatable"
    LIQUIDATING = "liquidating"
    BANKRUPT = "bankrupt"
    CLOSED = "closed"


EMPTIED = {AccountState.NEW: AccountState.NEW, AccountState.FUNDED: AccountState.CLOSED,
           AccountState.CLOSED: AccountState.CLOSED}


def next_state(previous: AccountState, margin: Margin, liquidation_in_flight: bool) -> AccountState:
    """Return the state an account in `previous` moves to, given its figures now."""
    if margin.positions:
        return trading_state(margin, liquidation_in_flight)
    return flat_state(previous, margin.collateral)


def trading_state(margin: Margin, liquidation_in_flight: bool) -> AccountState:
    """Return the state of an account with open positions."""
    if liquidation_in_flight:
        return AccountState.LIQUIDATING
    if margin.liquidatable:
        return AccountState.LIQUIDATABLE
    if margin.health < AT_RISK_HEALTH:
        return AccountState.AT_RISK
    return AccountState.ACTIVE


def flat_state(previous: AccountState, collateral: Decimal) -> AccountState:
    """Return the state of an account without positions."""
    if collateral > 0:
        return AccountState.FUNDED
    if collateral == 0 and previous in EMPTIED:
        return EMPTIED[previous]
    return AccountState.BANKRUPT
