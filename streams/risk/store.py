"""The risk engine's state as table rows: written after every release, read back on start.

Three tables (journals whose changes each checkpoint carries, `streams.risk.checkpoint`; dicts in tests)
hold what the engine and its reorder buffer need to go on exactly as if the worker had never stopped.
Each state class writes its own rows; the store decides only their keys and slices:

- `accounts`, key `wallet:subaccount`: `RiskEngine.account_row`, written whenever the account is
  published, which every change to it is.
- `risk_markets`, key the market: `MarketRisk.to_row`. `MARKET@n` keys hold the 5-minute TWAP's
  samples in `BUCKET_MS` slices, so a tick rewrites one small slice rather than five minutes.
  `ENGINE` holds the engine's and the buffer's own rows; `FUND` the insurance fund's
  (`InsuranceFund.to_row`), written when a liquidation outcome moved it (and on the first save).
- `risk_applied`, key the buffer's count of releases: the ids a release applied, where each input
  partition was read to then and their newest event time (`reorder.Applied`), dropped if read again.
  A row goes once no input can bring its ids again (`ReorderBuffer.settle`): its size is bounded
  by the input not yet committed and the lateness window, as the buffer's memory is.

The board's floats come back bit for bit (`RiskEngine.reinstate_marks`); JSON round-trips floats
exactly, and decimals travel as strings.
"""

from bisect import bisect_left
from collections import defaultdict
from collections.abc import MutableMapping
from typing import Any, Iterator

from quantdesk.messages import account_key
from streams.risk.checkpoint import Journal
from streams.risk.engine import RiskEngine
from streams.risk.insurance import InsuranceFund
from streams.risk.market_risk import MarketRisk
from streams.risk.outputs import Outputs
from streams.risk.reorder import Applied, Event, ReorderBuffer

ENGINE = "~engine"
FUND = "~insurance-fund"
BUCKET_MS = 10_000
TABLES = ("accounts", "risk_markets", "risk_applied")  # as the checkpoint log names them
Table = MutableMapping[str, Any]


class EngineStore:
    """The engine's three tables: each release's changes go in, a whole engine and its insurance fund come out."""

    def __init__(self, accounts: Table, markets: Table, applied: Table) -> None:
        self.accounts, self.markets, self.applied = accounts, markets, applied
        self.buckets: dict[str, dict[int, int]] = defaultdict(dict)  # market -> stored slice -> its size

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

    def save(self, engine: RiskEngine, fund: InsuranceFund, buffer: ReorderBuffer, events: list[Event],
             out: Outputs, settled: tuple[Applied, list[Applied]]) -> None:
        """Write what applying `events` changed: their accounts and markets, the engine, the fund if an outcome
        moved it, the record of their ids and the records forgotten (`ReorderBuffer.settle`)."""
        if not events:
            return
        for key in dict.fromkeys(account_key(s.wallet, s.subaccount) for s in out.states):
            self.accounts[key] = engine.account_row(key)
        for name in dict.fromkeys(market for e in events if (market := getattr(e, "market", None)) is not None):
            self.save_market(engine.markets[name])
        record, gone = settled
        self.applied[str(record.n)] = record.to_row()
        for old in gone:
            del self.applied[str(old.n)]
        self.markets[ENGINE] = {**engine.to_row(), **buffer.to_row()}
        if out.outcomes or FUND not in self.markets:  # once at least: an older engine row held the fund
            self.markets[FUND] = fund.to_row()

    def save_market(self, market: MarketRisk) -> None:
        """Write a market's row and the TWAP slices that changed; drop slices the TWAP no longer reads."""
        name, twap = market.name, market.tracker.twap
        self.markets[name] = market.to_row()
        stored, first = self.buckets[name], twap.times[0] // BUCKET_MS if twap.times else 0
        for n, start, end in slices(twap.times):
            if end - start > stored.get(n, 0):  # a slice only grows; one pruned at its head may stay longer
                self.markets[f"{name}@{n}"], stored[n] = twap.rows(start, end), end - start
        for old in [n for n in stored if n < first]:
            del self.markets[f"{name}@{old}"], stored[old]

    def load(self, engine: RiskEngine, fund: InsuranceFund, buffer: ReorderBuffer) -> None:
        """Rebuild a fresh `engine`, `fund` and `buffer` from the tables (no change when they are empty)."""
        head = self.markets.get(ENGINE)
        if head is None:
            return
        engine.load_row(head)
        if FUND in self.markets:
            fund.load_row(self.markets[FUND])
        elif "insurance_fund" in head:  # a checkpoint from before the fund had a row: the engine's row held it
            fund.load_row({"balance": head["insurance_fund"], "socialised": "0"})
        buffer.load_row(head, (Applied.of_row(int(n), row) for n, row in self.applied.items()))
        twaps = self.load_slices()
        for name, market in engine.markets.items():
            if name in self.markets:
                market.load_row(self.markets[name], twaps[name])
        for key, row in sorted(self.accounts.items(), key=lambda item: item[1]["slot"]):
            engine.load_account_row(key, row)
        engine.reinstate_marks()

    def load_slices(self) -> dict[str, list[list[Any]]]:
        """Return each market's stored TWAP samples in time order, noting which slices exist."""
        numbered = sorted((name, int(n)) for name, _, n in (k.partition("@") for k in self.markets) if n)
        twaps: dict[str, list[list[Any]]] = defaultdict(list)
        for name, n in numbered:
            stored = self.markets[f"{name}@{n}"]
            twaps[name] += stored
            self.buckets[name][n] = len(stored)
        return twaps


def slices(times: list[int]) -> Iterator[tuple[int, int, int]]:
    """Yield each `BUCKET_MS` slice that holds samples: its number and where its samples start and end."""
    start = 0
    while start < len(times):
        n = times[start] // BUCKET_MS
        end = bisect_left(times, (n + 1) * BUCKET_MS, start)
        yield n, start, end
        start = end
