"""The re-mark stated in numpy: the reference the compiled re-mark and the exact margin math are held to.

Test-only: the engine re-marks with `streams.risk.remark`; these numpy statements of the same float
operations, over a `RiskBoard`'s columns or a board of their own, check it to the bit.
"""

from dataclasses import dataclass
from typing import Any

import numpy as np

from streams.domain import account_state
from streams.risk.board import MarketMarks

AT_RISK_HEALTH = float(account_state.AT_RISK_HEALTH)


@dataclass(frozen=True)
class Figures:
    """Accounts' equity, MM, IM and health as the board holds them, aligned with `account`."""

    account: np.ndarray
    equity: np.ndarray
    maintenance_margin: np.ndarray
    initial_margin: np.ndarray
    health: np.ndarray


@dataclass(frozen=True)
class Remargin(Figures):
    """Figures after a reprice, and who moved across a line.

    `newly_liquidatable`: accounts now with equity < MM that were not before; `crossed_at_risk`:
    accounts with positions whose health went below 20, or back to 20 or more.
    """

    newly_liquidatable: np.ndarray
    crossed_at_risk: np.ndarray


def mark(board: Any, market: str, marks: MarketMarks) -> Figures:
    """Fold `market`'s new marks into `board` (a `RiskBoard` or `ReferenceBoard`); return its holders' figures."""
    dense = board.contributions(market)
    for column, values in zip(dense, marks.figures):  # row by row: a 2-D scatter is slower
        column[marks.account] = values
    return figures(board, marks.account)


def figures(board: Any, accounts: np.ndarray) -> Figures:
    """Return the figures of `accounts` as `board` holds them."""
    upnl, mm, im = summed_markets(board, accounts)
    equity = np.add(board.cash.take(accounts), upnl, out=upnl)
    return Figures(accounts, equity, mm, im, health_of(equity, mm))


def summed_markets(board: Any, accounts: np.ndarray) -> np.ndarray:
    """Return the upnl, MM and IM of `accounts` summed over markets (a fresh 3 × len(accounts) array)."""
    if not board.markets:
        return np.zeros((3, len(accounts)))
    dense = iter(board.markets.values())
    total = next(dense).take(accounts, axis=1)
    for contribution in dense:
        total += contribution.take(accounts, axis=1)
    return total


def at_risk(health: np.ndarray, mm: np.ndarray) -> np.ndarray:
    """Return where an account with margin to keep is under health 20."""
    return (health < AT_RISK_HEALTH) & (mm > 0)


def health_of(equity: np.ndarray, mm: np.ndarray) -> np.ndarray:
    """Return clip(100 × (1 − MM/equity), 0, 100), 0 where equity ≤ 0."""
    with np.errstate(over="ignore"):  # MM over a tiny positive equity is inf: health clips to 0, as it should
        health = np.divide(mm, equity, out=np.ones_like(equity), where=equity > 0)
    np.multiply(health, -100.0, out=health)
    health += 100.0
    np.maximum(health, 0.0, out=health)
    return np.minimum(health, 100.0, out=health)


class ReferenceBoard:
    """Per-account margin combined from every market's latest marks, keeping who is liquidatable or at risk."""

    def __init__(self, accounts: int) -> None:
        self.cash = np.zeros(accounts)
        self.markets: dict[str, np.ndarray] = {}
        self.liquidatable = np.zeros(accounts, dtype=bool)
        self.at_risk = np.zeros(accounts, dtype=bool)

    def grown(self, accounts: int) -> "ReferenceBoard":
        """Return a copy with room for `accounts` accounts, the new ones empty."""
        board, n = ReferenceBoard(accounts), len(self.cash)
        board.cash[:n], board.liquidatable[:n], board.at_risk[:n] = self.cash, self.liquidatable, self.at_risk
        for market, dense in self.markets.items():
            board.markets[market] = np.zeros((3, accounts))
            board.markets[market][:, :n] = dense
        return board

    def set_cash(self, account: int, cash: float) -> None:
        """Set an account's collateral less its unsettled funding."""
        self.cash[account] = cash

    def contributions(self, market: str) -> np.ndarray:
        """Return `market`'s per-account upnl, MM and IM rows (3 × accounts), zeros the first time."""
        dense = self.markets.get(market)
        if dense is None:
            dense = self.markets[market] = np.zeros((3, len(self.cash)))
        return dense

    def apply(self, market: str, marks: MarketMarks) -> Remargin:
        """Fold `market`'s new marks in; return its holders' figures and crossings, and keep the crossings."""
        result = mark(self, market, marks)
        accounts, liquidatable = result.account, result.equity < result.maintenance_margin
        risky = at_risk(result.health, result.maintenance_margin)
        newly = accounts[liquidatable & ~self.liquidatable[accounts]]
        crossed = accounts[risky != self.at_risk[accounts]]
        self.liquidatable[accounts], self.at_risk[accounts] = liquidatable, risky
        return Remargin(**vars(result), newly_liquidatable=newly, crossed_at_risk=crossed)

    def figures(self, accounts: np.ndarray) -> Figures:
        """Return the figures of `accounts` as the board holds them."""
        return figures(self, accounts)

    def drop(self, market: str, account: int) -> None:
        """Stop counting `market` for `account` (its position there is closed)."""
        if market in self.markets:
            self.markets[market][:, account] = 0.0
