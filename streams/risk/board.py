"""Vectorised re-margining: a new oracle price re-marks every account in that market at once.

Floats (numpy float64) are allowed here only: this is the fast path that says which accounts
to look at; `margin.assess` (Decimal) stays the figure of record, and tests check the two agree.

A `MarketBook` holds one market's positions as rows (account index, size, entry, mmr, imr);
an account has at most one row per market. `MarketBook.reprice(price)` marks every row. A
`RiskBoard` keeps, per account, its cash (collateral less unsettled funding) and each market's
latest per-account contribution; `RiskBoard.apply` folds a repriced market in and returns the
equity, MM, IM and health of the accounts holding it, with those that became liquidatable or
crossed health 20. Its cost follows the market's holders, not every account on the board.
"""

from dataclasses import dataclass

import numpy as np

from streams.domain import account_state

AT_RISK_HEALTH = float(account_state.AT_RISK_HEALTH)
FIRST_CAPACITY = 1024


@dataclass(frozen=True)
class MarketMarks:
    """One market's rows marked at a price: account index and per-row upnl, MM and IM (`figures`' rows)."""

    account: np.ndarray
    figures: np.ndarray  # 3 × rows

    @property
    def unrealised_pnl(self) -> np.ndarray:
        """Return each row's unrealised PnL."""
        return self.figures[0]

    @property
    def maintenance_margin(self) -> np.ndarray:
        """Return each row's maintenance margin."""
        return self.figures[1]

    @property
    def initial_margin(self) -> np.ndarray:
        """Return each row's initial margin."""
        return self.figures[2]


class MarketBook:
    """One market's positions as columns, for re-marking them all at once.

    `rates` holds each row's |size| × MMR and |size| × IMR, so a re-mark multiplies once for both margins.
    """

    def __init__(self, capacity: int = FIRST_CAPACITY) -> None:
        self.count = 0
        self.row: dict[int, int] = {}
        self.account = np.zeros(capacity, dtype=np.int64)
        self.size = np.zeros(capacity)
        self.entry = np.zeros(capacity)
        self.mmr = np.zeros(capacity)
        self.imr = np.zeros(capacity)
        self.rates = np.zeros((2, capacity))

    def add_position(self, account: int, size: float, entry: float, mmr: float, imr: float) -> None:
        """Add `account`'s position (or replace it if it has one here)."""
        if account in self.row:
            self.remove_position(account)
        self._make_room()
        i = self.count
        self.account[i], self.mmr[i], self.imr[i] = account, mmr, imr
        self._set(i, size, entry)
        self.row[account] = i
        self.count += 1

    def update_position(self, account: int, size: float, entry: float) -> None:
        """Change the size and entry of `account`'s position."""
        self._set(self.row[account], size, entry)

    def remove_position(self, account: int) -> None:
        """Drop `account`'s position, moving the last row into its place."""
        i, last = self.row.pop(account), self.count - 1
        if i != last:
            self._copy_row(last, i)
            self.row[int(self.account[i])] = i
        self.count = last

    def reprice(self, price: float) -> MarketMarks:
        """Mark every position at `price`."""
        n = self.count
        figures = np.empty((3, n))
        np.multiply(self.size[:n], price - self.entry[:n], out=figures[0])
        np.multiply(self.rates[:, :n], price, out=figures[1:])
        return MarketMarks(self.account[:n].copy(), figures)

    def _set(self, i: int, size: float, entry: float) -> None:
        """Write row `i`'s size and entry, and the margin rates they give."""
        self.size[i], self.entry[i] = size, entry
        self.rates[:, i] = abs(size) * self.mmr[i], abs(size) * self.imr[i]

    def _copy_row(self, source: int, target: int) -> None:
        """Copy row `source` over row `target`."""
        for column in (self.account, self.size, self.entry, self.mmr, self.imr):
            column[target] = column[source]
        self.rates[:, target] = self.rates[:, source]

    def _make_room(self) -> None:
        """Double the columns when they are full."""
        if self.count < len(self.size):
            return
        for name in ("account", "size", "entry", "mmr", "imr"):
            old = getattr(self, name)
            setattr(self, name, np.concatenate([old, np.zeros_like(old)]))
        self.rates = np.concatenate([self.rates, np.zeros_like(self.rates)], axis=1)


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


class RiskBoard:
    """Per-account margin combined from every market's latest marks."""

    def __init__(self, accounts: int) -> None:
        self.cash = np.zeros(accounts)
        self.markets: dict[str, np.ndarray] = {}
        self.liquidatable = np.zeros(accounts, dtype=bool)
        self.at_risk = np.zeros(accounts, dtype=bool)

    def grown(self, accounts: int) -> "RiskBoard":
        """Return a copy with room for `accounts` accounts, the new ones empty."""
        board, n = RiskBoard(accounts), len(self.cash)
        board.cash[:n], board.liquidatable[:n], board.at_risk[:n] = self.cash, self.liquidatable, self.at_risk
        for market, dense in self.markets.items():
            board.markets[market] = np.zeros((3, accounts))
            board.markets[market][:, :n] = dense
        return board

    def set_cash(self, account: int, cash: float) -> None:
        """Set an account's collateral less its unsettled funding."""
        self.cash[account] = cash

    def apply(self, market: str, marks: MarketMarks) -> Remargin:
        """Fold `market`'s new marks in; return its holders' figures and crossings, and keep the crossings."""
        figures = self.mark(market, marks)
        accounts, liquidatable = figures.account, figures.equity < figures.maintenance_margin
        risky = at_risk(figures.health, figures.maintenance_margin)
        newly = accounts[liquidatable & ~self.liquidatable[accounts]]
        crossed = accounts[risky != self.at_risk[accounts]]
        self.liquidatable[accounts], self.at_risk[accounts] = liquidatable, risky
        return Remargin(**vars(figures), newly_liquidatable=newly, crossed_at_risk=crossed)

    def mark(self, market: str, marks: MarketMarks) -> Figures:
        """Fold `market`'s new marks in; return its holders' figures (no crossings kept)."""
        dense = self.contributions(market)
        for column, values in zip(dense, marks.figures):  # row by row: a 2-D scatter is slower
            column[marks.account] = values
        return self.figures(marks.account)

    def contributions(self, market: str) -> np.ndarray:
        """Return `market`'s per-account upnl, MM and IM rows (3 × accounts), zeros the first time."""
        dense = self.markets.get(market)
        if dense is None:
            dense = self.markets[market] = np.zeros((3, len(self.cash)))
        return dense

    def drop(self, market: str, account: int) -> None:
        """Stop counting `market` for `account` (its position there is closed)."""
        if market in self.markets:
            self.markets[market][:, account] = 0.0

    def figures(self, accounts: np.ndarray) -> Figures:
        """Return the figures of `accounts` as the board holds them."""
        upnl, mm, im = self._sum_markets(accounts)
        equity = np.add(self.cash.take(accounts), upnl, out=upnl)
        return Figures(accounts, equity, mm, im, health_of(equity, mm))

    def _sum_markets(self, accounts: np.ndarray) -> np.ndarray:
        """Return the upnl, MM and IM of `accounts` summed over markets (a fresh 3 × len(accounts) array)."""
        if not self.markets:
            return np.zeros((3, len(accounts)))
        dense = iter(self.markets.values())
        total = next(dense).take(accounts, axis=1)
        for contribution in dense:
            total += contribution.take(accounts, axis=1)
        return total


def at_risk(health: np.ndarray, mm: np.ndarray) -> np.ndarray:
    """Return where an account with margin to keep is under health 20."""
    return (health < AT_RISK_HEALTH) & (mm > 0)


def health_of(equity: np.ndarray, mm: np.ndarray) -> np.ndarray:
    """Return clip(100 × (1 − MM/equity), 0, 100), 0 where equity ≤ 0."""
    health = np.divide(mm, equity, out=np.ones_like(equity), where=equity > 0)
    np.multiply(health, -100.0, out=health)
    health += 100.0
    np.maximum(health, 0.0, out=health)  # not np.clip: its wrapper costs more than the work here
    return np.minimum(health, 100.0, out=health)
