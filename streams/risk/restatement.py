"""Quiet holders restated in integers: those whose restatement only shows new figures, written straight to bytes.

A tick, a funding close or a change of parameters restates many holders at once (`RiskEngine._publish_all`). Most of
them only show new figures: their state stays, no plan is made and MIKEY's rules leave their alert gate as it is.
Those quiet holders need no Decimal model: their figures come from the compiled integer pass
(`streams.domain.fixed_margin`), their snapshots are written as JSON from those integers
(`streams.risk.snapshot_bytes`), and their board slots are restated from the same integers. Every other holder goes
through `Account.margin` as before: a state that moves, a liquidation, a plan in flight, a figure off the integer grid
or beyond its range, and whatever would make MIKEY's account rules signal or move the holder's alert gate (`Gates`): a
health line crossed or regained, a liquidation price come within the signal's distance or gone past its margin
(screened in floats with room to spare: the exact rules decide the close calls), unless the cool-down holds it back.
A holder under a line its gate is past, or near a liquidation price it was warned of, stays quiet: after a crash
most of a book is. The lane a holder takes changes no byte.

Each board slot's columns are kept until its account changes (accounts are immutable: a new object is a change), so
a move converts nothing and gathers a batch's columns by slot, and a funding close (the positions kept) moves only
each holder's collateral and the index it settled.
"""

from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from itertools import accumulate
from math import ceil
from typing import Iterable

import numpy as np

from quantdesk.compiled import compiled, copy_into
from quantdesk.messages import Message
from streams.domain import MONEY
from streams.domain.account_signals import HEALTH, NEAR, severity_of
from streams.domain.account_state import AT_RISK_HEALTH, AccountState
from streams.domain.accounts import Account
from streams.domain.alerts import RANK, AlertGate, Thresholds
from streams.domain.fixed_margin import (
    BEYOND_PRICE, HEALTH_PLACES, MARKETS_LIMIT, MONEY_LIMIT, MONEY_PLACES, NO_LEVERAGE, PRICE_LIMIT, PRICE_PLACES,
    RATE_LIMIT, RATE_PLACES, SIZE_LIMIT, SIZE_PLACES, Margins, account_margins, account_margins_in_range,
    funding_owed_in_range, units)
from streams.domain.margin import Quote
from streams.risk.funding_bytes import KEY, CloseColumns, warm as warm_close
from streams.risk.snapshot_bytes import NONE, SnapshotColumns, WrittenStates, escaped, joined, written

ACTIVE, AT_RISK, LOUD, OFF_GRID = range(4)  # a slot's code: its state (quiet ones first), or off the integer grid
STATE_CODES = {AccountState.ACTIVE: ACTIVE, AccountState.AT_RISK: AT_RISK}  # any other state: LOUD
NEAR_ROOM = 1e-9  # a float distance this close to the signal's is left to the exact rules
WARNING, CRITICAL = RANK["warning"], RANK["critical"]
EXACT_FLOAT = 2**53  # integer units up to this many convert to the float `float(Decimal)` gives, in one division
AT_RISK_UNITS = int(AT_RISK_HEALTH) * 10**HEALTH_PLACES
ARENA_BYTES = 1 << 16  # the smallest arena of the slots' texts


class Holdings:
    """Every board slot's account at the integer pass's units, kept while its account stays (accounts are immutable:
    a new object is a change), with the texts its snapshots print as they are.

    A slot's texts are one blob: its key (the end of its snapshots' id, `key:state"`) and wallet escaped, then each
    market column's size and entry as they came (empty where none is held); `offsets` says where each starts and
    where the blob ends. The blobs lie in one arena (`starts`: each slot's), a new one after the others, so that a
    batch's are gathered by one compiled copy; the arena is laid out again, live blobs only, when it is full."""

    def __init__(self, markets: list[str]) -> None:
        """Start with no slot, the markets as columns in `markets`' order."""
        self.column = {name: m for m, name in enumerate(markets)}
        self.accounts: list[Account | None] = []
        self.code = np.zeros(0, np.int8)
        self.subaccount = np.zeros(0, np.int64)
        self.collateral = np.zeros(0, np.int64)  # 1e-9
        self.size, self.entry, self.index = (np.zeros((0, len(markets)), np.int64) for _ in range(3))  # 1e-9, 1e-12
        self.held = np.zeros((0, len(markets)), bool)
        self.arena, self.used = np.zeros(ARENA_BYTES, np.uint8), 0  # the slots' blobs, and how far it is taken
        self.starts = np.zeros(0, np.int64)
        self.offsets = np.zeros((0, 3 + 2 * len(markets)), np.int64)

    def update(self, slots: list[int], accounts: list[Account]) -> None:
        """Bring the columns of `slots` to their `accounts`."""
        if slots and max(slots) >= len(self.accounts):
            self._grow(max(slots) + 1)
        kept = self.accounts
        for slot, account in zip(slots, accounts):
            if kept[slot] is not account:
                self._put(slot, account)

    def _put(self, slot: int, account: Account) -> None:
        """Lay an account's columns in its slot (after a funding settle only its collateral and indices), or mark it
        off the grid."""
        before, self.accounts[slot] = self.accounts[slot], account
        try:
            if before is not None and before.positions is account.positions and self.code[slot] != OFF_GRID:
                self._settled(slot, before, account)
            else:
                self._laid(slot, account)
        except (KeyError, ValueError):  # off the grid or beyond the range, or a market the lane does not lay out
            self.code[slot] = OFF_GRID
            return
        self.code[slot] = STATE_CODES.get(account.state, LOUD)

    def _settled(self, slot: int, before: Account, account: Account) -> None:
        """Move a slot's collateral and the funding indices that changed (a settle keeps the positions)."""
        self.collateral[slot] = collateral_units(account)
        for name, index in account.funding_index.items():
            if index is not before.funding_index.get(name):
                self.index[slot, self.column[name]] = scaled(index, PRICE_PLACES, PRICE_LIMIT)

    def _laid(self, slot: int, account: Account) -> None:
        """Lay an account's columns and texts in its slot; raise ValueError for a figure off the integer grid,
        KeyError for a market not laid out."""
        markets = len(self.column)
        size, entry, index, held = [0] * markets, [0] * markets, [0] * markets, [False] * markets
        texts = [b""] * (2 + 2 * markets)
        for name, position in account.positions.items():
            c = self.column[name]
            size[c] = scaled(position.size, SIZE_PLACES, SIZE_LIMIT)
            entry[c] = scaled(position.entry, PRICE_PLACES, PRICE_LIMIT)
            if entry[c] <= 0:  # filled at under half of 1e-12 USD: the pass prices no position at 0
                raise ValueError(f"entry {position.entry} of {name} is not a price of the integer pass")
            index[c] = scaled(account.funding_index[name], PRICE_PLACES, PRICE_LIMIT)
            held[c] = True
            texts[2 + 2 * c], texts[3 + 2 * c] = f'"{position.size}"'.encode(), f'"{position.entry}"'.encode()
        self.collateral[slot], self.subaccount[slot] = collateral_units(account), account.subaccount
        self.size[slot], self.entry[slot], self.index[slot], self.held[slot] = size, entry, index, held
        texts[0], texts[1] = escaped(account.key)[1:-1] + b':state"', escaped(account.wallet)
        self._place(slot, b"".join(texts))
        self.offsets[slot, 1:] = list(accumulate(map(len, texts)))

    def _place(self, slot: int, blob: bytes) -> None:
        """Put a slot's blob after the arena's others (its `offsets` still the blob's it replaces)."""
        if self.used + len(blob) > len(self.arena):
            self._lay_arena(len(blob))
        self.arena[self.used:self.used + len(blob)] = np.frombuffer(blob, np.uint8)
        self.starts[slot], self.used = self.used, self.used + len(blob)

    def _lay_arena(self, room: int) -> None:
        """Lay the arena out again with the live blobs only, in slot order, and at least `room` bytes free: twice
        what they and the room need."""
        lengths = np.ascontiguousarray(self.offsets[:, -1])
        live = int(lengths.sum())
        arena = np.zeros(max(2 * (live + room), ARENA_BYTES), np.uint8)
        gather(arena, 0, self.arena, self.starts, lengths, np.arange(len(lengths)))
        self.starts = np.cumsum(lengths) - lengths
        self.arena, self.used = arena, live

    def texts(self, slots: np.ndarray, head: bytes = b"") -> np.ndarray:
        """Return `head`, then the blobs of `slots` one after another, read-only (as the bytes the writers were
        compiled for)."""
        lengths = np.ascontiguousarray(self.offsets[:, -1])
        out = np.empty(len(head) + int(lengths[slots].sum()), np.uint8)
        out[:len(head)] = np.frombuffer(head, np.uint8)
        gather(out, len(head), self.arena, self.starts, lengths, slots)
        out.flags.writeable = False
        return out

    def settle(self, slots: list[int], market: str, owed: np.ndarray, index: int) -> None:
        """Move the collateral and index of the holders in `slots`, settled in `market` up to funding `index` (1e-12)
        for `owed` (1e-9, as `IntegerLane.owed` gave it); `keep` takes their accounts."""
        at, c = np.array(slots, dtype=np.int64), self.column[market]
        self.collateral[at] -= owed
        self.index[at, c] = index
        self.code[at[np.abs(self.collateral[at]) > MONEY_LIMIT]] = OFF_GRID  # as `collateral_units` would refuse it

    def keep(self, slots: list[int], accounts: list[Account]) -> None:
        """Take `accounts` as those whose columns `slots` hold."""
        for slot, account in zip(slots, accounts):
            self.accounts[slot] = account

    def _grow(self, slots: int) -> None:
        """Make room for `slots` slots at least, doubling."""
        size = max(slots, 2 * len(self.accounts))
        more = size - len(self.accounts)
        self.accounts += [None] * more
        for name in ("code", "subaccount", "collateral", "size", "entry", "index", "held", "starts", "offsets"):
            setattr(self, name, more_rows(getattr(self, name), more))


@dataclass(frozen=True)
class Restated:
    """The quiet holders of a batch: their rows in the batch, snapshots, and figures for the board."""

    rows: np.ndarray
    states: WrittenStates  # a row each, in `rows`' order
    cash: np.ndarray  # collateral less unsettled funding, floats
    marks: np.ndarray  # markets × 3 × quiet holders: upnl, MM, IM, floats
    health: np.ndarray
    equity: np.ndarray


class Gates:
    """Each board slot's alert gate as the lane reads it: which health lines (in the thresholds' order) and which
    markets' liquidation distance it is past, and until when (and up to which severity) its cool-downs hold a
    signal back. MIKEY's account rules leave a gate as it is, and say nothing, while the figures cross no line the
    gate is not past and regain none it is past by its margin, or while the cool-down holds back what they cross or
    regain; a restatement that does neither is quiet. A gate past a condition the lane does not read (a line no
    longer among the thresholds) holds its holder back."""

    KINDS = ("health_crossed", "health_recovered", "liquidation_near")

    def __init__(self, thresholds: Thresholds, markets: list[str]) -> None:
        """Read the health lines, the liquidation distance and the cool-down of `thresholds`, the markets in
        `markets`' order."""
        lines = thresholds.health_lines
        self.column = {f"{HEALTH}{line}": j for j, line in enumerate(lines)}
        self.column |= {f"{NEAR}{name}": len(lines) + m for m, name in enumerate(markets)}
        self.under = np.array([ceil(line * 10**HEALTH_PLACES) for line in lines], np.int64)  # health units: under
        self.back = np.array([ceil((line + thresholds.health_margin) * 10**HEALTH_PLACES) for line in lines], np.int64)
        self.severity = np.array([RANK[severity_of(line, list(lines))] for line in lines], np.int8)
        self.near = float(thresholds.liquidation_distance) + NEAR_ROOM  # the float screen leaves close calls loud
        self.far = float(thresholds.liquidation_distance + thresholds.liquidation_distance_margin) - NEAR_ROOM
        self.cooldown_ms = thresholds.cooldown_ms
        self.past = np.zeros((0, len(self.column)), bool)
        self.unread = np.zeros(0, bool)
        self.until = np.zeros((0, len(self.KINDS)), np.int64)  # a kind's signal is held back before this time (0:
        self.rank = np.zeros((0, len(self.KINDS)), np.int8)  # none let through), unless more severe than this

    def mark(self, slot: int, gate: AlertGate) -> None:
        """Take the conditions a slot's gate is past and its cool-downs."""
        self._reach(np.array([slot]))
        self.past[slot] = self.unread[slot] = False
        for condition in gate.past:
            if (j := self.column.get(condition)) is None:
                self.unread[slot] = True
            else:
                self.past[slot, j] = True
        for k, kind in enumerate(self.KINDS):
            ts, rank = gate.last.get(kind, (-self.cooldown_ms, 0))  # none let through: its cool-down ended at 0
            self.until[slot, k], self.rank[slot, k] = ts + self.cooldown_ms, rank

    def held_back(self, slots: np.ndarray) -> np.ndarray:
        """Tell, per slot, whether its gate is past a condition the lane does not read."""
        self._reach(slots)
        return self.unread[slots]

    def quiet(self, slots: np.ndarray, ts: int, health: np.ndarray, size: np.ndarray, prices: np.ndarray,
              oracle: np.ndarray) -> np.ndarray:
        """Tell, per slot, whether the rules leave its gate as it is after an event at `ts`, at `health` (1e-4 units)
        and liquidation `prices` (1e-12 units per market: NO_PRICE where none, also where none is held) of
        positions of `size`."""
        self._reach(slots)
        quiet = np.empty(len(slots), bool)
        quiet_gates(quiet, slots, ts, np.ascontiguousarray(health), size, prices, oracle, self.past, self.until,
                    self.rank, self.under, self.back, self.severity, self.near, self.far)
        return quiet

    def _reach(self, slots: np.ndarray) -> None:
        """Make room for every slot in `slots` (a slot never marked has a gate holding nothing), doubling."""
        if len(slots) and (top := int(slots.max())) >= len(self.unread):
            more = max(top + 1, 2 * len(self.unread)) - len(self.unread)
            self.past, self.unread, self.until, self.rank = (more_rows(c, more) for c in (
                self.past, self.unread, self.until, self.rank))


class IntegerLane:
    """The quiet holders' restatement, over every slot's columns kept while its account stays."""

    smallest = 8  # holders in a batch: under this the lane's fixed cost (~0.3 ms) is more than Decimal's per holder

    def __init__(self, markets: Iterable[str], thresholds: Thresholds | None) -> None:
        """Lay the markets out in name order, as an account's positions print; keep the gates MIKEY's rules on
        `thresholds` read (None: no rules)."""
        self.markets = sorted(markets)
        self.holdings = Holdings(self.markets)
        self.gates = Gates(thresholds, self.markets) if thresholds is not None else None
        self.head = [escaped(name) for name in self.markets]  # the strings every batch's snapshots begin with
        warm()

    def restate(self, slots: list[int], keys: list[str], accounts: list[Account], quotes: dict[str, Quote],
                source: Message, held_back: list[int]) -> Restated | None:
        """Return the quiet holders among `accounts` (in board `slots`, under `keys`) restated under `quotes` after
        `source`, none of those in the slots `held_back` (a plan in flight); None when none is, or the batch is under
        `smallest` or its markets cannot be laid out in integers (it then goes the Decimal way)."""
        if len(accounts) < self.smallest or len(self.markets) > MARKETS_LIMIT:
            return None
        book = self._markets(quotes)
        if book is None:
            return None
        held = self.holdings
        held.update(slots, accounts)
        at = np.array(slots, dtype=np.int64)
        positions = held.held[at]
        candidate = (held.code[at] <= AT_RISK) & positions.any(axis=1) & ~(positions & (book[0] == 0)).any(axis=1)
        if held_back:
            candidate &= ~np.isin(at, held_back)
        if self.gates is not None:
            candidate &= ~self.gates.held_back(at)
        rows = np.flatnonzero(candidate)
        if not len(rows):
            return None
        chosen = at[rows]
        oracle, *rest = book  # a market not priced yet is held by no candidate: any price in range does for it
        try:
            figures, in_range = account_margins_in_range(held.collateral[chosen], held.size[chosen],
                                                         held.entry[chosen], held.index[chosen], np.maximum(oracle, 1),
                                                         *rest)
        except ValueError:  # a market's column beyond the integers' range: the Decimal engine takes them all
            return None
        prices = figures.liquidation_price  # a holder with a figure beyond the integers' range goes the Decimal way
        quiet = in_range & stays(figures, held.code[chosen] == AT_RISK)
        quiet &= (prices != BEYOND_PRICE).all(axis=1)  # a short's price past the integers: the Decimal way prints it
        if self.gates is not None:
            quiet &= self.gates.quiet(chosen, source.ts, figures.health, held.size[chosen], prices, book[0])
        keep = np.flatnonzero(quiet)
        if not len(keep):
            return None
        kept, rows = chosen[keep], rows[keep]
        listed = rows.tolist()
        states = self._written([keys[i] for i in listed], [accounts[i] for i in listed], kept, figures, keep, source)
        return Restated(rows, states, *board_figures(figures, keep, held.collateral[kept]))

    def gate(self, slot: int, gate: AlertGate) -> None:
        """Take the gate of the holder in `slot` as it now is (MIKEY's rules on)."""
        if self.gates is not None:
            self.gates.mark(slot, gate)

    def owed(self, slots: list[int], accounts: list[Account], market: str,
             index: Decimal) -> tuple[np.ndarray, np.ndarray] | None:
        """Return which holders of `market` (`accounts` in `slots`: their rows) the lane settles at a close to funding
        `index`, and what each owes in 1e-9 USD as `settle_funding` rounds it; None for a batch under `smallest` or
        an index off the grid. A holder off the grid, or whose payment is beyond the pass's range, is not among them
        (the Decimal way settles those)."""
        held = self.holdings
        if len(slots) < self.smallest or market not in held.column:
            return None
        try:
            now = units(index, PRICE_PLACES, PRICE_LIMIT, "funding index")
        except ValueError:
            return None
        held.update(slots, accounts)
        at, c = np.array(slots, dtype=np.int64), held.column[market]
        rows = np.flatnonzero((held.code[at] != OFF_GRID) & held.held[at, c])
        paid, in_range = funding_owed_in_range(held.size[at[rows], c], held.index[at[rows], c], now)
        return rows[in_range], paid[in_range]

    def settle(self, slots: list[int], market: str, index: Decimal, owed: np.ndarray,
               keys: list[str]) -> tuple[np.ndarray, CloseColumns]:
        """Move the columns of the holders in `slots` (under `keys`) by their settle to funding `index` in `market`
        for `owed` (as `owed` gave it), converting nothing; `keep` takes their accounts after. Return each one's
        collateral after it (1e-9), and those who paid or received anything as the columns their messages are written
        from."""
        held = self.holdings
        held.settle(slots, market, owed, units(index, PRICE_PLACES, PRICE_LIMIT, "funding index"))
        paying = np.flatnonzero(owed)
        at = np.array(slots, dtype=np.int64)
        offsets, c, paid = held.offsets[at[paying]], held.column[market], at[paying]
        starts = np.zeros(len(paid), np.int64)
        np.cumsum(offsets[:-1, -1], out=starts[1:])
        spans = np.stack([offsets[:, [0, 1]], offsets[:, [1, 2]], offsets[:, [2 + 2 * c, 3 + 2 * c]]], axis=1)
        spans += starts[:, None, None]
        spans[:, KEY, 1] -= len(b':state"')  # the key's text without its snapshots' id tail
        return held.collateral[at], CloseColumns(
            [keys[i] for i in paying.tolist()], held.texts(paid), spans,
            held.subaccount[paid], np.column_stack([owed[paying], -owed[paying], held.collateral[paid]]))

    def keep(self, slots: list[int], accounts: list[Account]) -> None:
        """Take `accounts` as those whose columns `slots` hold (after `settle`: their accounts settled)."""
        self.holdings.keep(slots, accounts)

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

    def _written(self, keys: list[str], accounts: list[Account], kept: np.ndarray, figures: Margins,
                 keep: np.ndarray, source: Message) -> WrittenStates:
        """Return the quiet holders' snapshots (of `accounts` under `keys`, in slots `kept`, rows `keep` of
        `figures`), written from their integers. The strings: the markets, the source's id, the two quiet states,
        then each slot's texts."""
        held, count, markets = self.holdings, len(kept), len(self.markets)
        head = [*self.head, escaped(source.id)[:-1] + b":", *(escaped(s.value) for s in STATE_CODES)]
        strings, head_at = joined(head)
        positions = int(held.held[kept].sum())
        columns = SnapshotColumns(
            held.texts(kept, strings), np.empty(len(head) + (2 + 2 * markets) * count + 1, np.int64),
            np.empty((count, 4), np.int64), np.empty((count, 2), np.int64), np.empty((count, 7, 2), np.int64),
            np.empty(count + 1, np.int64), np.empty((positions, 3), np.int64), np.empty((positions, 3, 2), np.int64))
        columns.at[:len(head)] = head_at[:-1]
        lane_columns(kept, keep, held.held, held.offsets, held.code, held.subaccount, held.collateral, source.ts,
                     *map(np.ascontiguousarray, (figures.equity, figures.totals, figures.free_collateral,
                                                 figures.leverage, figures.health)),  # the layout warmed
                     figures.unrealised_pnl, figures.liquidation_price, figures.notional, len(head), int(head_at[-1]),
                     columns.at, columns.texts, columns.numbers, columns.figures, columns.first_position,
                     columns.position_texts, columns.position_figures)
        data, ends = written(columns)
        return WrittenStates(data, ends, keys, 0, count, source.ts, accounts)


@compiled
def lane_columns(kept, keep, held, offsets, code, subaccount, collateral, ts, equity, totals, free_collateral,
                 leverage, health, upnl, price, notional, head, head_end, at, texts, numbers, figures, first_position,
                 position_texts, position_figures) -> None:  # pragma: no cover (compiled)
    """Fill the `SnapshotColumns` of the quiet holders in slots `kept` (rows `keep` of the margin figures), after
    `head` strings ending at `head_end` (`at` of those set; the source's id is the one after the markets, the two
    quiet states the last): where each slot's strings start, its texts, numbers and figures (ACCOUNT_FIGURES'
    order), and its positions' (POSITION_FIGURES' order)."""
    markets = held.shape[1]
    per_slot, end, p = 2 + 2 * markets, head_end, 0
    first_position[0] = 0
    for k in range(kept.shape[0]):
        s, r, first = kept[k], keep[k], head + per_slot * k
        for j in range(per_slot):
            at[first + j] = end + offsets[s, j]
        end += offsets[s, per_slot]
        texts[k, 0], texts[k, 1], texts[k, 2], texts[k, 3] = markets, first, first + 1, markets + 1 + code[s]
        numbers[k, 0], numbers[k, 1] = ts, subaccount[s]
        for f, amount in enumerate((collateral[s], equity[r], totals[r, 3], totals[r, 4], free_collateral[r])):
            figures[k, f, 0], figures[k, f, 1] = amount, -MONEY_PLACES
        figures[k, 5, 0] = NONE if leverage[r] == NO_LEVERAGE else leverage[r]
        figures[k, 6, 0], figures[k, 5, 1], figures[k, 6, 1] = health[r], -HEALTH_PLACES, -HEALTH_PLACES
        for m in range(markets):
            if held[s, m]:
                position_texts[p, 0], position_texts[p, 1] = m, first + 2 + 2 * m
                position_texts[p, 2] = first + 3 + 2 * m
                position_figures[p, 0, 0], position_figures[p, 0, 1] = upnl[r, m], -MONEY_PLACES
                position_figures[p, 1, 0] = price[r, m] if price[r, m] >= 0 else NONE
                position_figures[p, 1, 1] = -PRICE_PLACES if price[r, m] >= 0 else 0
                position_figures[p, 2, 0], position_figures[p, 2, 1] = notional[r, m], -MONEY_PLACES
                p += 1
        first_position[k + 1] = p
    at[head + per_slot * kept.shape[0]] = end


def more_rows(column: np.ndarray, more: int) -> np.ndarray:
    """Return a per-slot column (slots first) with `more` slots of zeros after its own."""
    return np.concatenate([column, np.zeros((more, *column.shape[1:]), column.dtype)])


@compiled
def quiet_gates(quiet, slots, ts, health, size, prices, oracle, past, until, rank, under, back, severity, near,
                far) -> None:  # pragma: no cover (compiled)
    """Write to `quiet`, per row, whether MIKEY's account rules leave the gate of `slots[row]` as it is (`Gates.quiet`;
    the columns `Gates` keeps: lines then markets past, and per kind, cool-down's end and severity)."""
    lines = len(under)
    for r in range(len(slots)):
        s, h = slots[r], health[r]
        crossed, regained = -1, False  # the severity of the lowest line crossed, and whether a line is regained
        for j in range(lines):
            if past[s, j]:
                regained |= h >= back[j]
            elif h < under[j] and severity[j] > crossed:
                crossed = severity[j]
        ok = (crossed < 0 or (ts < until[s, 0] and crossed <= rank[s, 0])) and (not regained or ts < until[s, 1])
        for m in range(prices.shape[1]):
            price, o = prices[r, m], float(oracle[m])
            gap = ((o - price) if size[r, m] > 0 else (price - o)) / (o if o > 0 else 1.0)
            if past[s, lines + m]:
                ok &= price >= 0 and gap < far
            elif price >= 0 and gap < near:  # newly near: quiet only if the cool-down holds the warning back
                ok &= ts < until[s, 2] and (CRITICAL if gap <= NEAR_ROOM else WARNING) <= rank[s, 2]
        quiet[r] = ok


@compiled
def gather(out, w, arena, starts, lengths, slots) -> None:  # pragma: no cover (compiled)
    """Copy the blobs of `slots` (each `lengths[slot]` bytes at `starts[slot]` of `arena`) to `out` from w, one after
    another."""
    for slot in slots:
        w = copy_into(out, w, arena, starts[slot], starts[slot] + lengths[slot])


def stays(figures: Margins, at_risk: np.ndarray) -> np.ndarray:
    """Tell, per row, whether the account's state stays: neither liquidatable nor crossing health 20 (`at_risk` says
    whether it is at risk now)."""
    return (figures.equity >= figures.totals[:, 3]) & ((figures.health < AT_RISK_UNITS) == at_risk)


@cache
def warm() -> None:
    """Compile (or load) the integer pass, the texts' gathering, the snapshot columns and writer, the gates' screen
    and a close's writer, once a process, before any tick."""
    one, none = np.ones(1, dtype=np.int64), np.zeros((1, 1), dtype=np.int64)
    account_margins(one, none, none, none, one, one, one, one)
    funding_owed_in_range(one, one, 1)
    Holdings([]).texts(np.zeros(0, np.int64))
    rows, table, cube = np.zeros(0, np.int64), np.zeros((0, 1), np.int64), np.zeros((0, 1, 2), np.int64)
    lane_columns(rows, rows, np.zeros((0, 1), bool), table, np.zeros(0, np.int8), rows, rows, 0, rows, table, rows,
                 rows, rows, table, table, table, 0, 0, rows, table, table, cube, rows, table, cube)
    Gates(Thresholds(), []).quiet(rows, 0, rows, table, table, rows)
    written(SnapshotColumns(b'"x"', np.array([0, 3]), np.zeros((1, 4), dtype=np.int64),
                            np.zeros((1, 2), dtype=np.int64), np.zeros((1, 7, 2), dtype=np.int64),
                            np.zeros(2, dtype=np.int64), np.zeros((0, 3), dtype=np.int64),
                            np.zeros((0, 3, 2), dtype=np.int64)))
    warm_close()


def board_figures(figures: Margins, keep: np.ndarray, collateral: np.ndarray) -> tuple[np.ndarray, ...]:
    """Return the kept rows' board figures (cash, marks, health, equity) as the floats `float(Decimal)` gives."""
    cash = floats(collateral - figures.totals[keep, 1], MONEY_PLACES)
    marks = np.stack([floats(np.ascontiguousarray(f[keep].T), MONEY_PLACES) for f in
                      (figures.unrealised_pnl, figures.maintenance_margin, figures.initial_margin)], axis=1)
    return cash, marks, floats(figures.health[keep], HEALTH_PLACES), floats(figures.equity[keep], MONEY_PLACES)


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
