"""The risk engine's state as table rows: what releases changed, written at each checkpoint, read back on start.

Three tables (journals whose changes each checkpoint carries, `streams.risk.checkpoint`; dicts in tests)
hold what the engine and its reorder buffer need to go on exactly as if the worker had never stopped.
Each state class writes its own rows; the store decides only their keys and slices:

- `accounts`, key `wallet:subaccount`: `RiskEngine.account_row` (the account, its plan in flight, oracle wait,
  board slot and alert gate), written at the save after the account was published (which every change to it is)
  if it changed: a restatement that only moved its figures on the board writes no row.
- `risk_markets`, key the market: `MarketRisk.to_row`. `MARKET@n` keys hold the 5-minute TWAP's
  samples in `BUCKET_MS` slices (`streams.risk.slices`), so a tick rewrites one small slice rather than five
  minutes. `~board@n` keys hold the risk board's columns for `SLICE` slots (`RiskBoard.slice_row`): a save
  rewrites the slices holding a slot restated since the last. `ENGINE` holds the engine's and the buffer's own rows.
- `risk_applied`, key the buffer's count of releases: the ids a release applied, where each input
  partition was read to then and their newest event time (`reorder.Applied`), dropped if read again.
  A row goes once no input can bring its ids again (`ReorderBuffer.settle`): its size is bounded
  by the input not yet committed and the lateness window, as the buffer's memory is.

The board's floats come back bit for bit (their bytes, and `RiskEngine.reinstate_marks` for the re-marks since a
slot's restatement); decimals travel as strings.
"""

from collections.abc import MutableMapping
from typing import Any

import numpy as np

from streams.domain.accounts import Account
from streams.risk.board import SLICE
from streams.risk.checkpoint import AppliedRows, Journal
from streams.risk.engine import RiskEngine
from streams.risk.market_risk import MarketRisk
from streams.risk.reorder import ReorderBuffer
from streams.risk.slices import Slices

ENGINE = "~engine"
BOARD = "~board@"  # a slice of the risk board's slots: `~board@n` holds slots from n × SLICE
BUCKET_MS = 10_000
TABLES = ("accounts", "risk_markets", "risk_applied")  # as the checkpoint log names them
Table = MutableMapping[str, Any]


class EngineStore:
    """The engine's three tables: what releases changed goes in at each checkpoint, a whole engine comes out."""

    def __init__(self, accounts: Table, markets: Table, applied: Table) -> None:
        self.accounts, self.markets, self.applied = accounts, markets, applied
        self.saved_through = 0  # the engine's count of events applied at the last save (or load)
        self.kept: dict[str, Account] = {}  # each account as its row was last written from
        self.twaps = Slices(markets, BUCKET_MS)  # each market's 5-minute TWAP samples
        self.records = AppliedRows(applied)

    @classmethod
    def journaled(cls, tables: dict[str, dict[str, Any]] | None = None) -> "EngineStore":
        """Return a store over journals holding `tables` (as a checkpoint log restores them), whose changes
        from now on a checkpoint takes."""
        tables = tables or {}
        return cls(*(Journal(tables.get(name)) for name in TABLES))

    @property
    def tables(self) -> dict[str, Table]:
        """Return the tables by the names the checkpoint log gives them."""
        return dict(zip(TABLES, (self.accounts, self.markets, self.applied)))

    def save(self, engine: RiskEngine, buffer: ReorderBuffer) -> None:
        """Write what changed since the last save, as it stands now: each account restated since (the row of one
        whose own fields changed, and the board's slices holding its slot), every market, the engine, the records
        of applied ids made and those forgotten (`ReorderBuffer.settle`, called before)."""
        slots = engine.board.restated_since(self.saved_through)
        keys, kept = engine.board.keys, self.kept
        for slot in slots.tolist():
            key = keys[slot]
            account, before, was = engine.accounts[key], self.accounts.get(key), kept.get(key)
            row = engine.account_row(key, (was, before) if before and was is not None else None)
            if row is not before and row != before:
                self.accounts[key] = row
            kept[key] = account
        for n in np.unique(slots // SLICE).tolist():
            self.markets[f"{BOARD}{n}"] = engine.board.slice_row(n)
        for market in engine.markets.values():
            self.save_market(market)
        self.saved_through = engine.applied
        self.records.save(buffer)
        self.markets[ENGINE] = {**engine.to_row(), **buffer.to_row()}

    def save_market(self, market: MarketRisk) -> None:
        """Write a market's row and the TWAP slices that changed; drop slices the TWAP no longer reads."""
        twap = market.tracker.twap
        self.markets[market.name] = market.to_row()
        self.twaps.save(market.name, twap.times, twap.rows)

    def load(self, engine: RiskEngine, buffer: ReorderBuffer) -> None:
        """Rebuild a fresh `engine` and `buffer` from the tables (no change when they are empty)."""
        head = self.markets.get(ENGINE)
        if head is None:
            return
        engine.load_row(head)
        buffer.load_row(head, self.records.records())
        for name, market in engine.markets.items():
            if name in self.markets:
                market.load_row(self.markets[name], self.twaps.load(name))
        for key, row in sorted(self.accounts.items(), key=lambda item: item[1]["slot"]):
            engine.load_account_row(key, row)
        for n in range(len(engine.board.keys) // SLICE + 1):
            if (board := self.markets.get(f"{BOARD}{n}")) is not None:
                engine.board.load_slice(n, board)
        engine.reinstate_marks()
        engine.lay_lane()
        self.saved_through = engine.applied
