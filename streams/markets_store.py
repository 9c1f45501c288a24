"""The markets agent's state as table rows: checkpointed every few seconds, read back on start.

Two tables (journals whose changes each checkpoint carries, `streams.risk.checkpoint`) hold what the market trackers,
MIKEY's market watches and the reorder buffer need to go on exactly as if the worker had never stopped:

- `markets`, key the market: its tracker's row and its watch's (`MarketTracker.to_row`, `MarketWatch.to_row`). Their
  series go in slices (`streams.risk.slices`), so that a checkpoint rewrites a few small rows rather than a day:
  `MARKET~twap@n` the 5-minute TWAP's samples and `MARKET~recent@n` the volatility's returns of the last minute,
  10 s a row; `MARKET~minutes@n` its minutes of the day, an hour a row. `~markets` holds the fold's clock and the
  buffer's.
- `applied`, key the buffer's count of releases: the ids a release applied (`reorder.Applied`), until no input can
  bring them again (`ReorderBuffer.settle`).
"""

from typing import Any, Iterable

from streams.domain.markets import Markets
from streams.risk.checkpoint import AppliedRows, Journal
from streams.risk.reorder import ReorderBuffer
from streams.risk.slices import Slices

HEAD = "~markets"
TABLES = ("markets", "applied")  # as the checkpoint log names them
SLICE_MS = 10_000  # of TWAP samples and returns
SLICE_MINUTES = 60  # of the day's minutes


class MarketsStore:
    """The markets agent's two tables: the markets touched since the last save go in, whole markets come out."""

    def __init__(self, tables: dict[str, dict[str, Any]] | None = None) -> None:
        """Hold journals of `tables` (as a checkpoint log restores them), whose changes a checkpoint takes."""
        tables = tables or {}
        self.markets, self.applied = (Journal(tables.get(name)) for name in TABLES)
        self.by_time = Slices(self.markets, SLICE_MS)
        self.by_minute = Slices(self.markets, SLICE_MINUTES)
        self.records = AppliedRows(self.applied)

    @property
    def tables(self) -> dict[str, Journal]:
        """Return the tables by the names the checkpoint log gives them."""
        return dict(zip(TABLES, (self.markets, self.applied)))

    def save(self, markets: Markets, buffer: ReorderBuffer, touched: Iterable[str]) -> None:
        """Write the rows of the markets `touched` since the last save, both clocks, and the records of applied ids
        the buffer made or forgot since."""
        for name in touched:
            tracker, watch = markets.trackers[name], markets.watches[name]
            self.markets[name] = {"tracker": tracker.to_row(), "watch": watch.to_row()}
            self.by_time.save(f"{name}~twap", tracker.twap.times, tracker.twap.rows)
            recent, minutes = list(watch.volatility.recent), list(watch.volatility.minutes)
            self.by_time.save(f"{name}~recent", [ts for ts, _ in recent],
                              lambda start, end: [[ts, str(square)] for ts, square in recent[start:end]])
            self.by_minute.save(f"{name}~minutes", [minute for minute, _ in minutes],
                                lambda start, end: [[minute, str(total)] for minute, total in minutes[start:end]])
        self.markets[HEAD] = {**markets.to_row(), **buffer.to_row()}
        self.records.save(buffer)

    def load(self, markets: Markets, buffer: ReorderBuffer) -> None:
        """Rebuild fresh `markets` and `buffer` from the tables (no change when they are empty; a market listed since
        the checkpoint starts new)."""
        head = self.markets.get(HEAD)
        if head is None:
            return
        markets.load_row(head)
        buffer.load_row(head, self.records.records())
        for name, tracker in markets.trackers.items():
            if (row := self.markets.get(name)) is not None:
                tracker.load_row(row["tracker"], self.by_time.load(f"{name}~twap"))
                markets.watches[name].load_row(row["watch"], self.by_time.load(f"{name}~recent"),
                                               self.by_minute.load(f"{name}~minutes"))
