"""Quiet holders restated in integers: those whose restatement only shows new figures, written straight to bytes.

A tick, a funding close or a change of parameters restates many holders at once (`RiskEngine._publish_all`). Most of
them only show new figures: their state stays, no plan is made, no MIKEY rule can fire and their gate holds nothing.
Those quiet holders need no Decimal model: their figures come from the compiled integer pass
(`streams.domain.fixed_margin`), their snapshots are written as JSON from those integers
(`streams.risk.snapshot_bytes`), and their board slots are restated from the same integers. Every other holder goes
through `Account.margin` as before: a state that moves, a liquidation, a health under a signal line or a liquidation
price within the signal's distance (screened in floats with room to spare: the exact rules decide the close calls), a
gate holding anything, a figure off the integer grid or beyond its range. The lane a holder takes changes no byte.

Each holder's columns are kept until its account changes (accounts are immutable: a new object is a change), so a
move converts nothing, and a funding close (the positions kept) moves only each holder's collateral and indices.
"""

from dataclasses import dataclass
from decimal import Decimal
from math import ceil
from typing import Container, Iterable

import numpy as np

from quantdesk.messages import Message
from streams.domain import MONEY
from streams.domain.account_state import AT_RISK_HEALTH, AccountState
from streams.domain.accounts import Account
from streams.domain.alerts import Thresholds
from streams.domain.fixed_margin import (
    BEYOND_PRICE, HEALTH_PLACES, MARKETS_LIMIT, MONEY_LIMIT, MONEY_PLACES, NO_LEVERAGE, PRICE_LIMIT, PRICE_PLACES,
    RATE_LIMIT, RATE_PLACES, SIZE_LIMIT, SIZE_PLACES, Margins, account_margins, units)
from streams.domain.margin import Quote
from streams.risk.snapshot_bytes import NONE, SnapshotColumns, WrittenSnapshot, escaped, snapshot_bytes

QUIET_STATES = {AccountState.ACTIVE: False, AccountState.AT_RISK: True}  # state -> is at risk
NEAR_ROOM = 1e-9  # a float distance this close to the signal's is left to the exact rules
EXACT_FLOAT = 2**53  # integer units up to this many convert to the float `float(Decimal)` gives, in one division
AT_RISK_UNITS = int(AT_RISK_HEALTH) * 10**HEALTH_PLACES


@dataclass(frozen=True)
class Holding:
    """An account's columns at the integer pass's units, and the texts its snapshots print as they are."""

    account: Account
    collateral: int  # 1e-9
    size: list[int]  # per market column, 1e-9 (0: none held)
    entry: list[int]  # 1e-12
    index: list[int]  # 1e-12
    held: list[int]  # the columns of its positions, in market order
    texts: list[bytes]  # their size and entry as they came (JSON strings): size, entry, size, entry, …
    key_text: bytes  # the end of its snapshots' id, escaped: `key:state"`
    wallet_text: bytes  # its wallet, escaped and quoted

    def settled(self, account: Account) -> "Holding":
        """Return the columns of `account`, this one with only its collateral and funding indices moved (a funding
        settle keeps the positions)."""
        index = [0] * len(self.index)
        for c, name in zip(self.held, sorted(account.positions)):
            index[c] = scaled(account.funding_index[name], PRICE_PLACES, PRICE_LIMIT)
        return Holding(account, collateral_units(account), self.size, self.entry, index, self.held, self.texts,
                       self.key_text, self.wallet_text)


@dataclass(frozen=True)
class Restated:
    """The quiet holders of a batch: their rows in the batch, snapshots, and figures for the board."""

    rows: list[int]
    snapshots: list[WrittenSnapshot]
    cash: np.ndarray  # collateral less unsettled funding, floats
    marks: np.ndarray  # markets × 3 × quiet holders: upnl, MM, IM, floats
    health: np.ndarray
    equity: np.ndarray


class IntegerLane:
    """The quiet holders' restatement, and each holder's columns kept while its account stays."""

    smallest = 8  # holders in a batch: under this the lane's fixed cost (~0.3 ms) is more than Decimal's per holder

    def __init__(self, markets: Iterable[str]) -> None:
        """Lay the markets out in name order, as an account's positions print."""
        self.markets = sorted(markets)
        self.column = {name: m for m, name in enumerate(self.markets)}
        self.holdings: dict[str, Holding | None] = {}  # None: an account off the integer grid
        warm()

    def restate(self, keys: list[str], accounts: list[Account], quotes: dict[str, Quote], source: Message,
                in_flight: Container[str], gated: Container[str], thresholds: Thresholds | None) -> Restated | None:
        """Return the quiet holders among `accounts` (under their `keys`) restated under `quotes` after `source`;
        None when none is, or the batch is under `smallest` or its markets cannot be laid out in integers (it then
        goes the Decimal way)."""
        if len(accounts) < self.smallest or len(self.markets) > MARKETS_LIMIT:
            return None
        book = self._markets(quotes)
        if book is None:
            return None
        holdings = [self._holding(k, a) for k, a in zip(keys, accounts)]
        priced = book[0].tolist()
        rows = [i for i, (k, a, h) in enumerate(zip(keys, accounts, holdings))
                if h is not None and h.held and a.state in QUIET_STATES and k not in in_flight
                and not (thresholds and k in gated) and all(priced[c] > 0 for c in h.held)]
        if not rows:
            return None
        try:
            figures = account_margins(
                np.array([holdings[i].collateral for i in rows], dtype=np.int64),  # type: ignore[union-attr]
                *(np.array([getattr(holdings[i], name) for i in rows], dtype=np.int64)
                  for name in ("size", "entry", "index")), *book)
        except ValueError:  # a figure beyond the integer range: the Decimal engine takes them
            return None
        quiet = self._quiet(accounts, rows, figures, thresholds)
        prices = figures.liquidation_price
        quiet &= (prices != BEYOND_PRICE).all(axis=1)  # a short's price past the integers: the Decimal way prints it
        if thresholds:
            quiet &= ~self._near(holdings, rows, prices, book[0], thresholds)
        keep = np.flatnonzero(quiet)
        if not len(keep):
            return None
        snapshots = self._written([accounts[rows[k]] for k in keep], [holdings[rows[k]] for k in keep],  # type: ignore
                                  figures, keep, prices, source)
        collateral = np.array([holdings[rows[k]].collateral for k in keep], dtype=np.int64)  # type: ignore
        return Restated([rows[k] for k in keep], snapshots, *board_figures(figures, keep, collateral))

    def _markets(self, quotes: dict[str, Quote]) -> tuple[np.ndarray, ...] | None:
        """Return the markets' oracle, funding index, MMR and IMR columns (oracle 0: no price yet), None off grid."""
        try:
            oracle = [units(q.oracle, PRICE_PLACES, PRICE_LIMIT, "oracle") if q.oracle is not None else 0
                      for q in (quotes[m] for m in self.markets)]
            return (np.array(oracle, dtype=np.int64),
                    *(np.array([units(getattr(quotes[m], name), places, limit, name) for m in self.markets],
                               dtype=np.int64)
                      for name, places, limit in (("funding_index", PRICE_PLACES, PRICE_LIMIT),
                                                  ("mmr", RATE_PLACES, RATE_LIMIT), ("imr", RATE_PLACES, RATE_LIMIT))))
        except ValueError:
            return None

    def _holding(self, key: str, account: Account) -> Holding | None:
        """Return the account's columns, kept while the account stays (None: off the integer grid)."""
        kept = self.holdings.get(key)
        if kept is not None and kept.account is account:
            return kept
        try:
            holding = kept.settled(account) if kept is not None and kept.account.positions is account.positions \
                else holding_of(account, self.column)
        except (KeyError, ValueError):
            holding = None
        self.holdings[key] = holding
        return holding

    def _quiet(self, accounts: list[Account], rows: list[int], figures: Margins,
               thresholds: Thresholds | None) -> np.ndarray:
        """Tell, per row, whether the account's state stays (neither liquidatable nor crossing health 20) and, with
        MIKEY's rules on, whether its health is at or over every line."""
        at_risk = np.array([QUIET_STATES[accounts[i].state] for i in rows])
        quiet = (figures.equity >= figures.totals[:, 3]) & ((figures.health < AT_RISK_UNITS) == at_risk)
        if thresholds and thresholds.health_lines:
            quiet &= figures.health >= ceil(max(thresholds.health_lines) * 10**HEALTH_PLACES)
        return quiet

    def _near(self, holdings: list[Holding | None], rows: list[int], prices: np.ndarray, oracle: np.ndarray,
              thresholds: Thresholds) -> np.ndarray:
        """Tell, per row, whether a position's liquidation price may be within the signal's distance of its oracle."""
        size = np.array([holdings[i].size for i in rows], dtype=np.int64)  # type: ignore[union-attr]
        held, oracle_f = prices >= 0, oracle.astype(np.float64)
        gap = np.where(size > 0, oracle_f - prices, prices - oracle_f) / np.where(oracle_f > 0, oracle_f, 1.0)
        return (held & (gap < float(thresholds.liquidation_distance) + NEAR_ROOM)).any(axis=1)

    def _written(self, accounts: list[Account], holdings: list[Holding], figures: Margins, keep: np.ndarray,
                 prices: np.ndarray, source: Message) -> list[WrittenSnapshot]:
        """Return the quiet holders' snapshots, written from their integers."""
        cause = escaped(source.id)[:-1] + b":"
        strings = [escaped(name) for name in self.markets]
        states = {state: escaped(state.value) for state in QUIET_STATES}
        column: list[int] = []
        for account, holding in zip(accounts, holdings):
            strings += [cause + holding.key_text, holding.wallet_text, states[account.state], *holding.texts]
            column += holding.held
        counts = np.array([len(h.held) for h in holdings], dtype=np.int64)
        first = np.concatenate([[0], np.cumsum(counts)])
        at = len(self.markets) + np.concatenate([[0], np.cumsum(3 + 2 * counts)])  # each holder's first string
        row, c = np.repeat(np.arange(len(holdings)), counts), np.array(column, dtype=np.int64)
        nth = np.arange(len(row)) - first[row]  # each position's place in its holder's
        texts = np.column_stack([c, at[row] + 3 + 2 * nth, at[row] + 4 + 2 * nth])
        count = len(accounts)
        written = snapshot_bytes(SnapshotColumns(
            strings, at[:-1, None] + np.arange(3), np.column_stack([np.full(count, source.ts, dtype=np.int64),
                                                                   [a.subaccount for a in accounts]]),
            account_columns(figures, keep, holdings), first, texts, position_columns(figures, prices, keep[row], c)))
        return [WrittenSnapshot(source.ts, json, a.wallet, a.subaccount, a.state.value)
                for json, a in zip(written, accounts)]


def account_columns(figures: Margins, keep: np.ndarray, holdings: list[Holding]) -> np.ndarray:
    """Return the kept rows' snapshot figures (ACCOUNT_FIGURES' order) as (coefficient, exponent) pairs."""
    columns = np.empty((len(keep), 7, 2), dtype=np.int64)
    columns[:, 0, 0], columns[:, :5, 1] = [h.collateral for h in holdings], -MONEY_PLACES
    for f, amounts in enumerate((figures.equity, figures.totals[:, 3], figures.totals[:, 4],
                                 figures.free_collateral), 1):
        columns[:, f, 0] = amounts[keep]
    leverage = figures.leverage[keep]
    columns[:, 5, 0] = np.where(leverage == NO_LEVERAGE, NONE, leverage)
    columns[:, 6, 0], columns[:, 5:, 1] = figures.health[keep], -HEALTH_PLACES
    return columns


def position_columns(figures: Margins, prices: np.ndarray, row: np.ndarray, column: np.ndarray) -> np.ndarray:
    """Return the figures (POSITION_FIGURES' order) of the positions at `row`, `column` as (coefficient, exponent)
    pairs: upnl, liquidation price (null for none), notional."""
    price = prices[row, column]
    columns = np.empty((len(row), 3, 2), dtype=np.int64)
    columns[:, 0, 0], columns[:, 2, 0] = figures.unrealised_pnl[row, column], figures.notional[row, column]
    columns[:, 0, 1] = columns[:, 2, 1] = -MONEY_PLACES
    columns[:, 1, 0] = np.where(price >= 0, price, NONE)
    columns[:, 1, 1] = np.where(price >= 0, -PRICE_PLACES, 0)
    return columns


def warm() -> None:
    """Compile (or load) the integer pass and the snapshot writer now, not at a tick."""
    one, none = np.ones(1, dtype=np.int64), np.zeros((1, 1), dtype=np.int64)
    account_margins(one, none, none, none, one, one, one, one)
    snapshot_bytes(SnapshotColumns([b'"x"'], np.zeros((1, 3), dtype=np.int64), np.zeros((1, 2), dtype=np.int64),
                                   np.zeros((1, 7, 2), dtype=np.int64), np.zeros(2, dtype=np.int64),
                                   np.zeros((0, 3), dtype=np.int64), np.zeros((0, 3, 2), dtype=np.int64)))


def board_figures(figures: Margins, keep: np.ndarray, collateral: np.ndarray) -> tuple[np.ndarray, ...]:
    """Return the kept rows' board figures (cash, marks, health, equity) as the floats `float(Decimal)` gives."""
    cash = floats(collateral - figures.totals[keep, 1], MONEY_PLACES)
    marks = np.stack([floats(np.ascontiguousarray(f[keep].T), MONEY_PLACES) for f in
                      (figures.unrealised_pnl, figures.maintenance_margin, figures.initial_margin)], axis=1)
    return cash, marks, floats(figures.health[keep], HEALTH_PLACES), floats(figures.equity[keep], MONEY_PLACES)


def holding_of(account: Account, column: dict[str, int]) -> Holding:
    """Return an account's columns; raise ValueError when a figure is off the integer grid, KeyError when it holds
    a market the lane does not lay out."""
    size, entry, index = [0] * len(column), [0] * len(column), [0] * len(column)
    held, texts = [], []
    for name in sorted(account.positions):
        position, c = account.positions[name], column[name]
        size[c] = scaled(position.size, SIZE_PLACES, SIZE_LIMIT)
        entry[c] = scaled(position.entry, PRICE_PLACES, PRICE_LIMIT)
        index[c] = scaled(account.funding_index[name], PRICE_PLACES, PRICE_LIMIT)
        held.append(c)
        texts += [f'"{position.size}"'.encode(), f'"{position.entry}"'.encode()]
    return Holding(account, collateral_units(account), size, entry, index, held, texts,
                   escaped(account.key)[1:-1] + b':state"', escaped(account.wallet))


def collateral_units(account: Account) -> int:
    """Return an account's collateral in 1e-9 units; refuse one not of exactly 9 places (its equity would print
    another number of places than the integers give)."""
    if not account.collateral.same_quantum(MONEY):
        raise ValueError(f"collateral {account.collateral} is not of {MONEY_PLACES} places")
    return scaled(account.collateral, MONEY_PLACES, MONEY_LIMIT)


def scaled(value: Decimal, places: int, limit: int) -> int:
    """Return a Decimal in units of 10^-places, refusing one off that grid or beyond ±`limit` units (the integer
    pass's range)."""
    shifted = value.scaleb(places)
    whole = int(shifted)
    if whole != shifted:
        raise ValueError(f"{value} has more than {places} places")
    if abs(whole) > limit:
        raise ValueError(f"{value} is beyond ±{limit} units of 1e-{places}")
    return whole


def floats(values: np.ndarray, places: int) -> np.ndarray:
    """Return integer units of 10^-places as the floats `float(Decimal)` gives: one correctly rounded division where
    the units convert exactly, `float(Decimal)` itself where they do not."""
    out = values.astype(np.float64) / 10.0**places
    for i in np.flatnonzero(np.abs(values) > EXACT_FLOAT).tolist():
        out.flat[i] = float(Decimal(int(values.flat[i])).scaleb(-places))
    return out
