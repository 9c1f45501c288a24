"""The risk engine's state as table rows: what releases changed, written at each checkpoint, read back on start.

Three tables (journals whose changes each checkpoint carries, `streams.risk.checkpoint`; dicts in tests)
hold what the engine and its reorder buffer need to go on exactly as if the worker had never stopped.
Each state class writes its own rows; the store decides only their keys and slices:

- `accounts`, key `wallet:subaccount`: `RiskEngine.account_row`, written at the save after the account
  was published, which every change to it is (once, however many releases published it since the last).
- `risk_markets`, key the market: `MarketRisk.to_row`. `MARKET@n` keys hold the 5-minute TWAP's
  samples in `BUCKET_MS` slices (`streams.risk.slices`), so a tick rewrites one small slice rather than five
  minutes.
  `ENGINE` holds the engine's and the buffer's own rows.
- `risk_applied`, key the buffer's count of releases: the ids a release applied, where each input
  partition was read to then and their newest event time (`reorder.Applied`), dropped if read again.
  A row goes once no input can bring its ids again (`ReorderBuffer.settle`): its size is bounded
  by the input not yet committed and the lateness window, as the buffer's memory is.

The board's floats come back bit for bit (`RiskEngine.reinstate_marks`); JSON round-trips floats
exactly, and decimals travel as strings.
"""

from collections.abc import MutableMapping
from typing import Any

from quantdesk.messages import account_key
from streams.risk.checkpoint import AppliedRows, Journal
from streams.risk.engine import RiskEngine
from streams.risk.market_risk import MarketRisk
from streams.risk.outputs import Outputs
from streams.risk.reorder import Event, ReorderBuffer
from streams.risk.slices import Slices

ENGINE = "~engine"
BUCKET_MS = 10_000
TABLES = ("accounts", "risk_markets", "risk_applied")  # as the checkpoint log names them
Table = MutableMapping[str, Any]


class EngineStore:
    """The engine's three tables: each release's changes go in, a whole engine comes out."""

    def __init__(self, accounts: Table, markets: Table, applied: Table) -> None:
        self.accounts, self.markets, self.applied = accounts, markets, applied
        self.changed_accounts: dict[str, None] = {}  # noted since the last save, in order
        self.changed_markets: dict[str, None] = {}
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

    def note(self, events: list[Event], out: Outputs) -> None:
        """Note what applying `events` changed (`out`: what they caused): the accounts published, the markets named."""
        self.changed_accounts.update(dict.fromkeys(account_key(s.wallet, s.subaccount) for s in out.states))
        self.changed_markets.update(dict.fromkeys(market for e in events
                                                  if (market := getattr(e, "market", None)) is not None))

    def save(self, engine: RiskEngine, buffer: ReorderBuffer) -> None:
        """Write what changed since the last save, as it stands now: the accounts and markets noted, the engine, the
        records of applied ids made and those forgotten (`ReorderBuffer.settle`, called before)."""
        for key in self.changed_accounts:
            self.accounts[key] = engine.account_row(key)
        for name in self.changed_markets:
            self.save_market(engine.markets[name])
        self.changed_accounts, self.changed_markets = {}, {}
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
        engine.reinstate_marks()
