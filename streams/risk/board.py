"""The risk board: every account's figures as float columns, the screen a tick's re-mark reads.

Floats (numpy float64) only here and in `streams.risk.remark`, the compiled pass over these
columns: they pick which holders a tick must publish, and those are recomputed exactly
(`Account.margin`, Decimal) before anything is published. A `MarketBook` holds one market's
positions as columns; the `RiskBoard` gives each account a slot (a column index) holding its
cash, each market's marks and what it last showed.
"""

import base64
from bisect import bisect_right
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np

from streams.domain.margin import Margin
from streams.risk.remark import remark

FIRST_CAPACITY = 1024
HEALTH_STEP = 1.0  # health points a holder must move by to be republished on a tick
EQUITY_STEP = 0.01  # or the share of its published equity
LINES = (10.0, 20.0, 50.0)  # health lines the account states turn on (at risk under 20), always watched
NEAR = 1e-6  # float figures this close to a line are checked exactly
SLICE = 4096  # board slots a stored slice holds


def line_edges(lines: Iterable[float]) -> np.ndarray:
    """Return the sorted edges of the bands `NEAR` around each line, as the compiled re-mark reads them."""
    return np.array(sorted(edge for line in lines for edge in (line - NEAR, line + NEAR)))


LINE_EDGES = line_edges(LINES)


@dataclass(frozen=True)
class MarketMarks:
    """One market's rows marked at a price: account slot and per-row upnl, MM and IM (`figures`' rows)."""

    account: np.ndarray
    figures: np.ndarray  # 3 × rows


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

    def set_rates(self, mmr: float, imr: float) -> None:
        """Margin every position at new maintenance and initial rates."""
        n = self.count
        self.mmr[:n], self.imr[:n] = mmr, imr
        np.multiply(np.abs(self.size[:n]), self.mmr[:n], out=self.rates[0, :n])
        np.multiply(np.abs(self.size[:n]), self.imr[:n], out=self.rates[1, :n])

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


class RiskBoard:
    """Each account's slot: cash (collateral less unsettled funding), each market's upnl, MM and IM, and the
    health band, liquidation flag, health and equity it last showed."""

    def __init__(self, capacity: int = FIRST_CAPACITY, lines: Iterable[float] = ()) -> None:
        """Watch the account states' lines and `lines` (the health levels MIKEY signals) for crossings."""
        self.lines = tuple(sorted(set(LINES) | {float(line) for line in lines}))
        self.edges = line_edges(self.lines)
        self.keys: list[str] = []
        self.index: dict[str, int] = {}
        self.cash = np.zeros(capacity)
        self.markets: dict[str, np.ndarray] = {}
        self.band = np.zeros(capacity, dtype=np.int8)
        self.liquidatable = np.zeros(capacity, dtype=bool)
        self.shown = np.full((2, capacity), np.nan)  # health and equity as last published
        self.restated = np.zeros(capacity, dtype=np.int64)

    def slot(self, key: str) -> int:
        """Return the slot of account `key`, giving it one on first sight."""
        if key not in self.index:
            if len(self.keys) == len(self.cash):
                self._grow()
            self.index[key] = len(self.keys)
            self.keys.append(key)
        return self.index[key]

    def _grow(self) -> None:
        """Double every per-account column."""
        size = 2 * len(self.cash)
        self.cash, self.band, self.liquidatable = (widened(c, size) for c in (self.cash, self.band, self.liquidatable))
        self.markets = {market: widened(dense, size) for market, dense in self.markets.items()}
        self.shown = widened(self.shown, size, np.nan)
        self.restated = widened(self.restated, size)

    def contributions(self, market: str) -> np.ndarray:
        """Return `market`'s per-account upnl, MM and IM rows (3 × accounts), zeros the first time."""
        dense = self.markets.get(market)
        if dense is None:
            dense = self.markets[market] = np.zeros((3, len(self.cash)))
        return dense

    def set_cash(self, slot: int, cash: float) -> None:
        """Set an account's collateral less its unsettled funding."""
        self.cash[slot] = cash

    def restate(self, slot: int, margin: Margin, applied: int) -> None:
        """Put an account's exact figures on the board, as published by the `applied`-th event."""
        self.cash[slot] = float(margin.collateral - margin.unsettled_funding)
        held = {r.market: r for r in margin.positions}
        for market in held:  # a market first held: on the board, in the order the positions come
            self.contributions(market)
        for market, dense in self.markets.items():  # one element at a time: a fill restates one slot
            if (r := held.get(market)) is None:
                dense[0, slot] = dense[1, slot] = dense[2, slot] = 0.0
            else:
                dense[0, slot], dense[1, slot], dense[2, slot] = (
                    float(r.unrealised_pnl), float(r.maintenance_margin), float(r.initial_margin))
        health = float(margin.health)
        self.band[slot] = band_of(health, self.lines)
        self.liquidatable[slot] = margin.liquidatable
        self.shown[0, slot], self.shown[1, slot] = health, float(margin.equity)
        self.restated[slot] = applied

    def restate_all(self, slots: list[int], margins: list[Margin], applied: int) -> None:
        """Put many accounts' exact figures on the board at once (each slot once), as `restate` puts one."""
        if not slots:
            return
        at = np.array(slots, dtype=np.int64)
        self.cash[at] = [float(m.collateral - m.unsettled_funding) for m in margins]
        held: dict[str, tuple[list[int], list[tuple[float, float, float]]]] = {}
        for slot, margin in zip(slots, margins):
            for r in margin.positions:
                rows = held.setdefault(r.market, ([], []))
                rows[0].append(slot)
                rows[1].append((float(r.unrealised_pnl), float(r.maintenance_margin), float(r.initial_margin)))
        for dense in self.markets.values():
            dense[:, at] = 0.0
        for market, (where, figures) in held.items():
            self.contributions(market)[:, where] = np.array(figures).T
        shown = [(float(m.health), float(m.equity)) for m in margins]
        self.band[at] = [band_of(health, self.lines) for health, _ in shown]
        self.liquidatable[at] = [m.liquidatable for m in margins]
        self.shown[:, at] = np.array(shown).T
        self.restated[at] = applied

    def restate_figures(self, slots: np.ndarray, markets: list[str], cash: np.ndarray, marks: np.ndarray,
                        health: np.ndarray, equity: np.ndarray, applied: int) -> None:
        """Put accounts' figures on the board as `restate_all` puts their margins: cash, each of `markets`' upnl, MM
        and IM (`marks`: markets × 3 × accounts, zeros where none is held), health and equity (floats of exact
        figures, none liquidatable)."""
        at = np.array(slots, dtype=np.int64)
        self.cash[at] = cash
        for dense in self.markets.values():
            dense[:, at] = 0.0
        for m, name in enumerate(markets):
            self.contributions(name)[:, at] = marks[m]
        self.band[at] = len(self.lines) - np.searchsorted(self.lines, health, side="right")
        self.liquidatable[at] = False
        self.shown[:, at] = health, equity
        self.restated[at] = applied

    def remark(self, market: str, book: MarketBook, price: float) -> set[int]:
        """Re-mark the book's holders at `price`; return who crossed a line (or is near one) or moved materially."""
        self.contributions(market)
        touched = np.empty(book.count, dtype=np.int64)
        count = remark(price, book.count, book.account, book.size, book.entry, book.rates,
                       tuple(self.markets.values()), list(self.markets).index(market), self.cash, self.band,
                       self.liquidatable, self.shown, self.edges, NEAR, HEALTH_STEP, EQUITY_STEP, touched)
        return set(touched[:count].tolist())

    def reinstate(self, market: str, marks: MarketMarks, applied: int) -> None:
        """Give a market's re-mark by the `applied`-th event back to its holders restated before it."""
        stale = self.restated[marks.account] < applied
        self.markets[market][:, marks.account[stale]] = marks.figures[:, stale]

    def lay_out(self, markets: Iterable[str]) -> None:
        """Order the board's markets as `markets` name them, any others after (a re-mark sums them in order)."""
        order, known = list(markets), self.markets
        self.markets = {}
        for name in [*order, *(m for m in known if m not in order)]:
            self.contributions(name)

    def restated_since(self, applied: int) -> np.ndarray:
        """Return the slots restated after the `applied`-th event, in order."""
        return np.flatnonzero(self.restated[:len(self.keys)] > applied)

    def slice_row(self, n: int) -> dict[str, Any]:
        """Return the slots given out of [n·SLICE, (n+1)·SLICE) as a stored row: each column's values as their bytes
        (`packed`), so that they come back bit for bit."""
        at = slice(n * SLICE, min((n + 1) * SLICE, len(self.keys)))
        return {"cash": packed(self.cash[at]), "band": packed(self.band[at]),
                "liquidatable": packed(self.liquidatable[at]), "shown": packed(self.shown[:, at]),
                "restated": packed(self.restated[at]), "marks": {m: packed(d[:, at]) for m, d in self.markets.items()}}

    def load_slice(self, n: int, row: dict[str, Any]) -> None:
        """Take back a `slice_row` row, once its slots are given out."""
        cash = unpacked(row["cash"], self.cash.dtype)
        at = slice(n * SLICE, n * SLICE + len(cash))
        self.cash[at], self.band[at] = cash, unpacked(row["band"], self.band.dtype)
        self.liquidatable[at] = unpacked(row["liquidatable"], self.liquidatable.dtype)
        self.shown[:, at] = unpacked(row["shown"], self.shown.dtype).reshape(2, -1)
        self.restated[at] = unpacked(row["restated"], self.restated.dtype)
        for name, marks in row["marks"].items():
            self.contributions(name)[:, at] = unpacked(marks, np.float64).reshape(3, -1)

    def load_row(self, slot: int, row: dict[str, Any]) -> None:
        """Take back one slot's row as account rows held it before the board's slices: cash, its markets' marks,
        and what it last showed."""
        self.cash[slot] = row["cash"]
        for name, figures in row["marks"].items():
            self.markets[name][:, slot] = figures
        self.band[slot], self.liquidatable[slot] = row["band"], row["liquidatable"]
        self.shown[:, slot], self.restated[slot] = row["shown"], row["restated"]


def packed(values: np.ndarray) -> str:
    """Return a column's values as their little-endian bytes in base64."""
    return base64.b64encode(np.ascontiguousarray(values, dtype=values.dtype.newbyteorder("<")).tobytes()).decode()


def unpacked(text: str, dtype: np.dtype) -> np.ndarray:
    """Return the values `packed` wrote, as `dtype`."""
    return np.frombuffer(base64.b64decode(text), dtype=np.dtype(dtype).newbyteorder("<")).astype(dtype)


def widened(column: np.ndarray, size: int, fill: Any = 0) -> np.ndarray:
    """Return `column` grown to `size` along its last axis, new cells set to `fill`."""
    grown = np.full((*column.shape[:-1], size), fill, dtype=column.dtype)
    grown[..., : column.shape[-1]] = column
    return grown


def band_of(health: float, lines: tuple[float, ...] = LINES) -> int:
    """Return how many of the (sorted) `lines` one health is under."""
    return len(lines) - bisect_right(lines, health)
