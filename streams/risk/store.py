"""The risk engine's state as table rows: written after every release, read back on start.

Three tables (journals whose changes each checkpoint carries, `streams.risk.checkpoint`; dicts in tests)
hold what the engine and its reorder buffer need to go on exactly as if the worker had never stopped:

- `accounts`, key `wallet:subaccount`: `Account.to_dict()`, the plan in flight, whether it waits for
  healthy oracles, and its row of the risk board. Written when the account is published, which
  every change to it is.
- `risk_markets`, key the market: oracle guard, mark and premium, the funding clock with only the
  samples its open hour still reads, and the book's last re-mark. `MARKET@n` keys hold the 5-minute
  TWAP's samples in `BUCKET_MS` slices, so a tick rewrites one small slice rather than five minutes.
  `ENGINE` holds the insurance fund, the apply count, the board's market order and the buffer's clock.
- `risk_applied`, key the apply count after a release: the ids it applied, dropped if read again.
  It grows with every event applied, as the buffer's seen ids do in memory.

The board's floats come back bit for bit: a row keeps its figures as last restated, and when
(the engine's apply count); a market keeps its last re-mark; a holder restated before that re-mark
takes the re-mark's figures again. JSON round-trips floats exactly; decimals travel as strings.
"""

from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import MutableMapping
from decimal import Decimal
from typing import Any, Iterable, Iterator

from quantdesk.messages import AccountChange
from streams.domain.accounts import Account
from streams.domain.mark import Premium
from streams.domain.twap import TimeWeighted
from streams.risk.engine import Event, InFlight, MarketRisk, Outputs, ReorderBuffer, RiskEngine, Slots

ENGINE = "~engine"
BUCKET_MS = 10_000
Row = dict[str, Any]
Table = MutableMapping[str, Any]


def text(value: Decimal | None) -> str | None:
    """Return a decimal as its exact string (None stays None)."""
    return None if value is None else str(value)


def number(value: str | None) -> Decimal | None:
    """Return the decimal a string holds (None stays None)."""
    return None if value is None else Decimal(value)


class EngineStore:
    """The engine's three tables: each release's changes go in, a whole engine comes out."""

    def __init__(self, accounts: Table, markets: Table, applied: Table) -> None:
        self.accounts, self.markets, self.applied = accounts, markets, applied
        self.buckets: dict[str, dict[int, int]] = defaultdict(dict)  # market -> stored slice -> its size

    def save(self, engine: RiskEngine, buffer: ReorderBuffer, events: list[Event], out: Outputs) -> None:
        """Write what applying `events` changed: their accounts and markets, the engine, their ids."""
        if not events:
            return
        for key in dict.fromkeys(f"{s.wallet}:{s.subaccount}" for s in out.states):
            self.accounts[key] = account_row(engine, key)
        for name in dict.fromkeys(e.market for e in events if not isinstance(e, AccountChange)):
            self.save_market(engine.markets[name])
        self.applied[str(engine.applied)] = [e.id for e in events]
        self.markets[ENGINE] = engine_row(engine, buffer)

    def save_market(self, market: MarketRisk) -> None:
        """Write a market's row and the TWAP slices that changed; drop slices the TWAP no longer reads."""
        name, twap = market.params.name, market.tracker.twap
        self.markets[name] = market_row(market)
        stored, first = self.buckets[name], twap.times[0] // BUCKET_MS if twap.times else 0
        for n, start, end in slices(twap.times):
            if end - start > stored.get(n, 0):  # a slice only grows; one pruned at its head may stay longer
                self.markets[f"{name}@{n}"], stored[n] = samples(twap, start, end), end - start
        for old in [n for n in stored if n < first]:
            del self.markets[f"{name}@{old}"], stored[old]

    def load(self, engine: RiskEngine, buffer: ReorderBuffer) -> None:
        """Rebuild a fresh `engine` and `buffer` from the tables (no change when they are empty)."""
        head = self.markets.get(ENGINE)
        if head is None:
            return
        load_head(engine, buffer, head)
        twaps = self.load_slices()
        for name, market in engine.markets.items():
            if name in self.markets:
                load_market(market, self.markets[name], twaps[name])
        for key, row in sorted(self.accounts.items(), key=lambda item: item[1]["slot"]):
            load_account(engine, key, row)
        remark(engine)
        buffer.seen = {i for ids in self.applied.values() for i in ids}

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


def samples(twap: TimeWeighted, start: int, end: int) -> list[list[Any]]:
    """Return the samples `start` to `end` (exclusive) as `[ts, value]` pairs."""
    return [[t, str(v)] for t, v in zip(twap.times[start:end], twap.values[start:end])]


def account_row(engine: RiskEngine, key: str) -> Row:
    """Return an account's row: the account, its plan in flight, its oracle wait and its board row."""
    account, flight, slot = engine.accounts[key], engine.in_flight.get(key), engine.slots.index[key]
    return {"account": account.to_row(), "plan": [flight.plan_id, flight.pending] if flight else None,
            "awaiting_oracle": key in engine.awaiting_oracle, "slot": slot,
            "board": board_row(engine.slots, slot, sorted(account.positions))}


def board_row(slots: Slots, slot: int, markets: Iterable[str]) -> Row:
    """Return an account's figures on the board and what it last showed."""
    return {"cash": float(slots.board.cash[slot]),
            "marks": {m: slots.board.markets[m][:, slot].tolist() for m in markets},
            "band": int(slots.band[slot]), "liquidatable": bool(slots.liquidatable[slot]),
            "shown": slots.shown[:, slot].tolist(), "restated": int(slots.restated[slot])}


def market_row(market: MarketRisk) -> Row:
    """Return a market's row: guard and mark state, funding clock, last fill and last re-mark."""
    tracker, funding, repriced = market.tracker, market.funding, market.repriced
    premium = tracker.premium
    return {
        "oracle": text(tracker.oracle), "conf": text(tracker.conf), "last_valid_ts": tracker.last_valid_ts,
        "mark": text(tracker.mark), "reason": tracker.reason,
        "premium": [str(premium.value), premium.last_fill_ts, text(premium.last_fill_price)],
        "cumulative_index": str(funding.cumulative_index), "period_end": funding.period_end,
        "oracle_samples": compacted(funding.oracle, funding.period_end),
        "mark_samples": compacted(funding.mark, funding.period_end),
        "last_fill_price": text(market.last_fill_price),
        "repriced": [repriced[0], str(repriced[1])] if repriced else None,
    }


def compacted(series: TimeWeighted, end: int | None) -> list[list[Any]]:
    """Return what an hour closing at `end` reads: the first sample, the one current at `end`, any later.

    Each keeps its running integral, so the hour's average needs none of the samples between.
    """
    if not series.times or end is None:
        return []
    current = max(bisect_right(series.times, end) - 1, 0)
    keep = sorted({0, *range(current, len(series.times))})
    return [[series.times[i], str(series.values[i]), str(series.integrals[i])] for i in keep]


def engine_row(engine: RiskEngine, buffer: ReorderBuffer) -> Row:
    """Return what is neither an account nor a market: fund, apply count, board order, buffer clock."""
    return {"applied": engine.applied, "insurance_fund": str(engine.insurance_fund),
            "newest_tick_ts": engine.newest_tick_ts, "board": list(engine.slots.board.markets),
            "newest": buffer.newest, "awaited": sorted(buffer.awaited)}


def load_head(engine: RiskEngine, buffer: ReorderBuffer, head: Row) -> None:
    """Restore the engine row; lay out the board's markets in their original order."""
    engine.applied, engine.newest_tick_ts = head["applied"], head["newest_tick_ts"]
    engine.insurance_fund = Decimal(head["insurance_fund"])
    board = engine.slots.board
    markets, board.markets = board.markets, {}
    for name in [*head["board"], *(m for m in markets if m not in head["board"])]:
        board.contributions(name)
    buffer.newest, buffer.awaited = head["newest"], set(head["awaited"])


def load_market(market: MarketRisk, row: Row, twap: list[list[Any]]) -> None:
    """Restore a market's guard, mark, TWAP, funding clock, last fill and last re-mark."""
    tracker, funding = market.tracker, market.funding
    tracker.oracle, tracker.conf, tracker.mark = number(row["oracle"]), number(row["conf"]), number(row["mark"])
    tracker.last_valid_ts, tracker.reason = row["last_valid_ts"], row["reason"]
    value, last_fill_ts, last_fill_price = row["premium"]
    tracker.premium = Premium(Decimal(value), last_fill_ts, number(last_fill_price))
    for ts, price in twap:
        tracker.twap.add(ts, Decimal(price))
    funding.cumulative_index, funding.period_end = Decimal(row["cumulative_index"]), row["period_end"]
    funding.oracle, funding.mark = series(row["oracle_samples"]), series(row["mark_samples"])
    market.last_fill_price = number(row["last_fill_price"])
    market.repriced = (row["repriced"][0], Decimal(row["repriced"][1])) if row["repriced"] else None


def series(samples: list[list[Any]]) -> TimeWeighted:
    """Return a series holding `[ts, value, integral]` samples as they were."""
    restored = TimeWeighted()
    for ts, value, integral in samples:
        restored.times.append(ts)
        restored.values.append(Decimal(value))
        restored.integrals.append(Decimal(integral))
    return restored


def load_account(engine: RiskEngine, key: str, row: Row) -> None:
    """Restore an account, its plan and oracle wait, its board row and its positions in the books."""
    account = engine.accounts[key] = Account.from_row(row["account"])
    slot = engine.slots.slot(key)
    if row["plan"]:
        engine.in_flight[key] = InFlight(*row["plan"])
    if row["awaiting_oracle"]:
        engine.awaiting_oracle.add(key)
    load_board_row(engine.slots, slot, row["board"])
    for name, position in account.positions.items():
        engine.markets[name].hold(slot, position)


def load_board_row(slots: Slots, slot: int, row: Row) -> None:
    """Put an account's stored figures back on the board."""
    slots.board.cash[slot] = row["cash"]
    for name, figures in row["marks"].items():
        slots.board.markets[name][:, slot] = figures
    slots.band[slot], slots.liquidatable[slot] = row["band"], row["liquidatable"]
    slots.shown[:, slot], slots.restated[slot] = row["shown"], row["restated"]


def remark(engine: RiskEngine) -> None:
    """Give each market's last re-mark back to the holders restated before it."""
    for name, market in engine.markets.items():
        if market.repriced is None or not market.book.count:
            continue
        applied, price = market.repriced
        marks = market.book.reprice(float(price))
        stale = engine.slots.restated[marks.account] < applied
        engine.slots.board.markets[name][:, marks.account[stale]] = marks.figures[:, stale]
