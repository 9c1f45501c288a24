"""The risk engine: accounts, quotes, funding, re-margining and liquidation plans, without I/O.

`RiskEngine.apply` takes one input event, in the order `ReorderBuffer` releases them, and
returns what it causes: exact account snapshots, funding rates and payments, liquidation plans,
audit entries and dead letters. Fills and account changes publish that account exactly. A valid
tick re-marks every holder of its market at once (`streams.risk.remark`, one compiled pass over
floats) to find who crossed health 50/20/10 or the liquidation line, or moved materially since
last published (health by a point or more, equity by 1 % or more); those are recomputed exactly
(`Account.margin`, Decimal) and published. A holder whose figures barely moved is not
republished, however much event time passed: the cost of a replay follows its price moves, not its
length. A plan is only proposed: the account changes when the plan's fills come back as input.
"""

import heapq
from bisect import bisect_right
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal
from typing import Any, Iterable, Iterator

import numpy as np
import orjson

from quantdesk.markets import Market
from quantdesk.messages import (
    AccountChange,
    AccountSnapshot,
    AuditEntry,
    DeadLetter,
    Fill,
    FundingPayment,
    FundingRate,
    LiquidationPlan,
    Message,
    OracleTick,
    PlannedClose,
    PositionFigures,
    dump,
)
from streams.decode import dead_letter
from streams.domain import liquidation
from streams.domain.account_state import AccountState, next_state
from streams.domain.accounts import ZERO_MONEY, Account, AccountError
from streams.domain.funding import FundedHour, MarketFunding
from streams.domain.liquidation import Close, plan_liquidation
from streams.domain.margin import Margin, Quote
from streams.domain.market import MarketTracker, discovers_price
from streams.domain.positions import Position
from streams.risk.board import MarketBook, RiskBoard
from streams.risk.remark import remark

Event = OracleTick | Fill | AccountChange
ACTOR = "risk-engine"
HEALTH_STEP = 1.0  # health points a holder must move by to be republished on a tick
EQUITY_STEP = 0.01  # or the share of its published equity
LINES = [10.0, 20.0, 50.0]  # health lines
NEAR = 1e-6  # float figures this close to a line are checked exactly
LINE_EDGES = np.array(sorted(edge for line in LINES for edge in (line - NEAR, line + NEAR)))
PRIORITY: dict[type, int] = {AccountChange: 0, OracleTick: 1, Fill: 2}


@dataclass
class Outputs:
    """What applying events caused, one list per derived topic."""

    states: list[AccountSnapshot] = field(default_factory=list)
    funding_rates: list[FundingRate] = field(default_factory=list)
    funding_payments: list[FundingPayment] = field(default_factory=list)
    liquidations: list[LiquidationPlan] = field(default_factory=list)
    audit: list[AuditEntry] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)

    def extend(self, other: "Outputs") -> "Outputs":
        """Append everything `other` holds; return self."""
        for name in OUTPUT_LISTS:
            if caused := getattr(other, name):
                getattr(self, name).extend(caused)
        return self


OUTPUT_LISTS = tuple(f.name for f in fields(Outputs))


def order_key(event: Event) -> tuple[int, int, str]:
    """Return the apply order of an event: event time, then changes, ticks, fills, then id."""
    return event.ts, PRIORITY[type(event)], event.id


class ReorderBuffer:
    """Hold events until they are due, then give them out in apply order; drop ids seen before.

    An event is due once the newest event time is `grace_ms` past it and it is older than
    `ceiling`, the caller's bound (e.g. what unread input partitions may still hold). Events
    expected by id (a plan's fills) stop the release until they have all arrived.
    """

    def __init__(self, grace_ms: int) -> None:
        self.grace_ms = grace_ms
        self.heap: list[tuple[tuple[int, int, str], Event]] = []
        self.seen: set[str] = set()
        self.awaited: set[str] = set()
        self.newest = 0
        self.horizon = 0

    def __len__(self) -> int:
        return len(self.heap)

    def push(self, events: Iterable[Event], ceiling: int | None = None) -> list[Event]:
        """Take events in and move the horizon: grace behind the newest, below `ceiling`; return those kept."""
        kept = [event for event in events if self._hold(event)]
        self.horizon = self.newest - self.grace_ms if ceiling is None else min(self.newest - self.grace_ms, ceiling)
        return kept

    def expect(self, ids: Iterable[str]) -> None:
        """Release nothing more until events with these ids have arrived."""
        self.awaited.update(i for i in ids if i not in self.seen)

    def due(self) -> Iterator[Event]:
        """Yield the events due, in apply order, while none is awaited."""
        while self.heap and not self.awaited and self.heap[0][0][0] <= self.horizon:
            yield heapq.heappop(self.heap)[1]

    def drain(self, ceiling: int | None = None) -> Iterator[Event]:
        """Yield every held event up to `ceiling` (all without one), grace or not, in apply order, while none
        is awaited."""
        while self.heap and not self.awaited and (ceiling is None or self.heap[0][0][0] <= ceiling):
            yield heapq.heappop(self.heap)[1]

    def _hold(self, event: Event) -> bool:
        """Keep an event not seen before; tell whether it was kept."""
        if event.id in self.seen:
            return False
        self.seen.add(event.id)
        self.awaited.discard(event.id)
        heapq.heappush(self.heap, (order_key(event), event))
        self.newest = max(self.newest, event.ts)
        return True


@dataclass
class MarketRisk:
    """One market as the engine keeps it: oracle verdict and mark, funding clock, position columns."""

    params: Market
    tracker: MarketTracker
    funding: MarketFunding
    book: MarketBook = field(default_factory=MarketBook)
    last_fill_price: Decimal | None = None
    repriced: tuple[int, Decimal] | None = None  # (apply count, price) of the last re-mark of the book

    @classmethod
    def of(cls, params: Market) -> "MarketRisk":
        """Return a market with no price yet."""
        return cls(params, MarketTracker(params.name), MarketFunding(params.name, params.max_funding_per_hour))

    def quote(self) -> Quote:
        """Return the margin quote: last valid oracle (the last fill price before any)."""
        oracle = self.tracker.oracle or self.last_fill_price
        return Quote(oracle, self.params.mmr, self.params.imr, self.funding.cumulative_index)

    def on_tick(self, tick: OracleTick) -> list[FundedHour] | None:
        """Apply a tick; return the funded hours it closes, or None when the guard rejects it."""
        self.tracker.apply_tick(tick)
        if self.tracker.reason:
            return None
        closed = self.funding.record_oracle(tick.ts, tick.price)
        self._record_mark(tick.ts)
        return closed

    def on_fill(self, fill: Fill) -> None:
        """Move the premium, mark and last fill price (not on a liquidation's fills: `discovers_price`)."""
        if discovers_price(fill):
            self.last_fill_price = fill.price
        if self.tracker.apply_fill(fill):
            self._record_mark(fill.ts)

    def _record_mark(self, ts: int) -> None:
        """Feed the current mark to the funding clock."""
        if self.tracker.mark is not None:
            self.funding.record_mark(ts, self.tracker.mark)

    def hold(self, slot: int, position: Position | None) -> None:
        """Make the book hold `position` for account `slot` (None: flat here)."""
        if position is None:
            if slot in self.book.row:
                self.book.remove_position(slot)
        elif slot in self.book.row:
            self.book.update_position(slot, float(position.size), float(position.entry))
        else:
            self.book.add_position(slot, float(position.size), float(position.entry),
                                   float(self.params.mmr), float(self.params.imr))

    def holders(self) -> list[int]:
        """Return the slots of the accounts holding a position here, in slot order."""
        return sorted(self.book.row)

    def healthy(self, newest_tick_ts: int) -> bool:
        """Tell whether the oracle is neither rejected nor stale."""
        return not self.tracker.degraded(newest_tick_ts)


class Slots:
    """Account keys as board rows: the risk board and what each account last showed."""

    def __init__(self, capacity: int = 1024) -> None:
        self.keys: list[str] = []
        self.index: dict[str, int] = {}
        self.board = RiskBoard(capacity)
        self.band = np.zeros(capacity, dtype=np.int8)
        self.liquidatable = np.zeros(capacity, dtype=bool)
        self.shown = np.full((2, capacity), np.nan)  # health and equity as last published
        self.restated = np.zeros(capacity, dtype=np.int64)

    def slot(self, key: str) -> int:
        """Return the row of `key`, giving it one on first sight."""
        if key not in self.index:
            if len(self.keys) == len(self.band):
                self._grow()
            self.index[key] = len(self.keys)
            self.keys.append(key)
        return self.index[key]

    def _grow(self) -> None:
        """Double every per-account column, board included."""
        size = 2 * len(self.band)
        self.board = self.board.grown(size)
        self.band, self.liquidatable = widened(self.band, size), widened(self.liquidatable, size)
        self.shown = widened(self.shown, size, np.nan)
        self.restated = widened(self.restated, size)

    def restate(self, slot: int, margin: Margin, applied: int) -> None:
        """Put an account's exact figures on the board, as published by the `applied`-th event."""
        self.board.set_cash(slot, float(margin.collateral - margin.unsettled_funding))
        for dense in self.board.markets.values():
            dense[:, slot] = 0.0
        for r in margin.positions:
            figures = float(r.unrealised_pnl), float(r.maintenance_margin), float(r.initial_margin)
            self.board.contributions(r.market)[:, slot] = figures
        self.band[slot] = band_of(float(margin.health))
        self.liquidatable[slot] = margin.liquidatable
        self.shown[:, slot] = float(margin.health), float(margin.equity)
        self.restated[slot] = applied

    def remark(self, market: str, book: MarketBook, price: float) -> set[int]:
        """Re-mark the book's holders at `price`; return who crossed a line (or is near one) or moved materially."""
        board = self.board
        board.contributions(market)
        touched = np.empty(book.count, dtype=np.int64)
        count = remark(price, book.count, book.account, book.size, book.entry, book.rates,
                       tuple(board.markets.values()), list(board.markets).index(market), board.cash, self.band,
                       self.liquidatable, self.shown, LINE_EDGES, NEAR, HEALTH_STEP, EQUITY_STEP, touched)
        return set(touched[:count].tolist())


def widened(column: np.ndarray, size: int, fill: Any = 0) -> np.ndarray:
    """Return `column` grown to `size` along its last axis, new cells set to `fill`."""
    grown = np.full((*column.shape[:-1], size), fill, dtype=column.dtype)
    grown[..., : column.shape[-1]] = column
    return grown


def band_of(health: float) -> int:
    """Return how many of the lines 50, 20, 10 one health is under."""
    return len(LINES) - bisect_right(LINES, health)


@dataclass
class InFlight:
    """A liquidation plan proposed and not yet filled: its id and closes still to come."""

    plan_id: str
    pending: int


class RiskEngine:
    """Every account, market and liquidation of the platform, moved by input events only."""

    def __init__(self, markets: Iterable[Market]) -> None:
        self.markets = {m.name: MarketRisk.of(m) for m in markets}
        self.accounts: dict[str, Account] = {}
        self.slots = Slots()
        for name in self.markets:  # every market on the board from the start: one compiled re-mark serves all
            self.slots.board.contributions(name)
        self.slots.remark(next(iter(self.markets)), MarketBook(), 0.0)  # compiled (or loaded) now, not at a tick
        self.insurance_fund = ZERO_MONEY
        self.in_flight: dict[str, InFlight] = {}
        self.awaiting_oracle: set[str] = set()
        self.newest_tick_ts = 0
        self.applied = 0

    def unknown(self, event: Any) -> str | None:
        """Return why an event names a market the engine does not list, or None."""
        market = getattr(event, "market", None)
        return f"unknown market {market!r}" if market is not None and market not in self.markets else None

    def apply(self, event: Event) -> Outputs:
        """Apply one input event; return what it causes."""
        self.applied += 1
        if isinstance(event, OracleTick):
            return self._on_tick(event)
        if isinstance(event, Fill):
            return self._on_fill(event)
        return self._on_change(event)

    def _account(self, wallet: str, subaccount: int) -> Account:
        """Return the account, a new one on first sight."""
        return self.accounts.get(f"{wallet}:{subaccount}") or Account(wallet, subaccount)

    def _quotes(self, account: Account) -> dict[str, Quote]:
        """Return the quotes of the markets the account holds."""
        return {m: self.markets[m].quote() for m in account.positions}

    def _on_change(self, change: AccountChange) -> Outputs:
        """Deposit, or withdraw within free collateral; a refusal is audited and dead-lettered."""
        out, account = Outputs(), self._account(change.wallet, change.subaccount)
        try:
            moved = self._moved_by(account, change)
        except AccountError as exc:
            return self._refused(change, str(exc), out)
        self._publish(moved, change, out)
        return out

    def _moved_by(self, account: Account, change: AccountChange) -> Account:
        """Return the account after the deposit or withdrawal."""
        if change.kind == "deposit":
            return account.deposit(change.amount)
        return account.withdraw(change.amount, self._quotes(account))

    def _refused(self, change: AccountChange, reason: str, out: Outputs) -> Outputs:
        """Record a refused change in the audit log and the dead letters."""
        out.audit.append(audit(change, change.account, "withdraw_refused", {"amount": str(change.amount),
                                                                            "reason": reason}))
        out.dead_letters.append(dead_letter("accounts.changes", change.ts, reason, orjson.dumps(dump(change))))
        return out

    def _on_fill(self, fill: Fill) -> Outputs:
        """Settle funding, move the position, count a liquidation close; publish the account."""
        out, market = Outputs(), self.markets[fill.market]
        market.on_fill(fill)
        account = self._account(fill.wallet, fill.subaccount).apply_fill(
            fill.market, fill.signed_size, fill.price, fill.fee, market.funding.cumulative_index)
        market.hold(self.slots.slot(account.key), account.positions.get(fill.market))
        self._publish(self._liquidation_progress(account, fill, out), fill, out)
        return out

    def _liquidation_progress(self, account: Account, fill: Fill, out: Outputs) -> Account:
        """Credit the insurance half of a plan's close; at the last one, end the liquidation."""
        flight = self.in_flight.get(account.key)
        if flight is None or (fill.model_extra or {}).get("liquidation") != flight.plan_id:
            return account
        self.insurance_fund += Close(fill.market, fill.side, fill.size, fill.price, fill.fee).insurance_fee
        flight.pending -= 1
        if flight.pending:
            return account
        del self.in_flight[account.key]
        return self._liquidated(account, fill, flight.plan_id, out)

    def _liquidated(self, account: Account, fill: Fill, plan_id: str, out: Outputs) -> Account:
        """Cover a flat account's deficit from the insurance fund, socialise the rest; audit it."""
        covered, deficit = (account, ZERO_MONEY) if account.positions else account.write_off()
        draw = min(deficit, max(self.insurance_fund, ZERO_MONEY))
        self.insurance_fund -= draw
        out.audit.append(audit(fill, account.key, "liquidation_completed", {
            "plan": plan_id, "deficit": str(deficit), "insurance_draw": str(draw),
            "socialised_loss": str(deficit - draw), "insurance_fund": str(self.insurance_fund)}))
        return covered

    def _on_tick(self, tick: OracleTick) -> Outputs:
        """Move the oracle, close funding hours, re-mark holders; publish those that need it."""
        out, market = Outputs(), self.markets[tick.market]
        self.newest_tick_ts = max(self.newest_tick_ts, tick.ts)
        closed = market.on_tick(tick)
        if closed is None:
            return out
        touched = self._fund(market, closed, tick, out) | self._remargin(market, tick) | self._awaiting(tick)
        for slot in sorted(touched):
            self._publish(self.accounts[self.slots.keys[slot]], tick, out)
        return out

    def _awaiting(self, tick: OracleTick) -> set[int]:
        """Return the liquidatable holders of the tick's market still waiting for healthy oracles."""
        return {self.slots.index[k] for k in self.awaiting_oracle if tick.market in self.accounts[k].positions}

    def _fund(self, market: MarketRisk, closed: list[FundedHour], tick: OracleTick, out: Outputs) -> set[int]:
        """Publish each closed hour's rate and settle every holder; return the holders."""
        if not closed:
            return set()
        holders = market.holders()
        for period in closed:
            out.funding_rates.append(rate_message(period, tick.ts))
            out.funding_payments += [p for slot in holders if (p := self._settle(slot, period, tick.ts))]
        return set(holders)

    def _settle(self, slot: int, period: FundedHour, ts: int) -> FundingPayment | None:
        """Settle one holder's funding; return the payment, None when nothing moved."""
        key = self.slots.keys[slot]
        account, paid = self.accounts[key].settle_funding(period.market, period.cumulative_index)
        self.accounts[key] = account
        if not paid:
            return None
        return FundingPayment(
            id=f"funding:{period.market}:{period.end}:{key}", ts=ts, market=period.market, wallet=account.wallet,
            subaccount=account.subaccount, size=account.positions[period.market].size, payment=paid,
            cumulative_index=period.cumulative_index)

    def _remargin(self, market: MarketRisk, tick: OracleTick) -> set[int]:
        """Re-mark every holder at the tick's price; return who crossed a line or moved materially."""
        book = market.book
        if not book.count:
            return set()
        market.repriced = (self.applied, tick.price)
        return self.slots.remark(market.params.name, book, float(tick.price))

    def _publish(self, account: Account, source: Message, out: Outputs) -> None:
        """Recompute an account exactly, move its state, plan a liquidation if due; publish it."""
        margin = account.margin(self._quotes(account))
        account = self._transition(account, margin, source, out)
        if self._plan(account, margin, source, out):
            account = self._transition(account, margin, source, out)
        if account.state is not AccountState.LIQUIDATABLE:
            self.awaiting_oracle.discard(account.key)
        self.accounts[account.key] = account
        self.slots.restate(self.slots.slot(account.key), margin, self.applied)
        out.states.append(snapshot(account, margin, source))

    def _transition(self, account: Account, margin: Margin, source: Message, out: Outputs) -> Account:
        """Move the account to its next state, auditing a change."""
        state = next_state(account.state, margin, account.key in self.in_flight)
        if state is account.state:
            return account
        out.audit.append(audit(source, account.key, "state_transition", {
            "from": account.state.value, "to": state.value, "equity": str(margin.equity),
            "maintenance_margin": str(margin.maintenance_margin), "health": str(margin.health)}, state.value))
        return replace(account, state=state)

    def _plan(self, account: Account, margin: Margin, source: Message, out: Outputs) -> bool:
        """Propose a liquidation of a liquidatable account whose oracles are all healthy."""
        if account.state is not AccountState.LIQUIDATABLE or account.key in self.in_flight:
            return False
        if not all(self.markets[m].healthy(self.newest_tick_ts) for m in account.positions):
            self.awaiting_oracle.add(account.key)
            return False
        plan = plan_liquidation(margin, self.insurance_fund)
        message = plan_message(plan, account, margin, source)
        self.in_flight[account.key] = InFlight(message.id, len(message.closes))
        out.liquidations.append(message)
        return True


def snapshot(account: Account, margin: Margin, source: Message) -> AccountSnapshot:
    """Return the account's published figures after event `source`."""
    return AccountSnapshot(
        id=f"{source.id}:{account.key}:state", ts=source.ts, wallet=account.wallet, subaccount=account.subaccount,
        state=account.state.value, collateral=margin.collateral, equity=margin.equity,
        maintenance_margin=margin.maintenance_margin, initial_margin=margin.initial_margin,
        free_collateral=margin.free_collateral, leverage=margin.leverage, health=margin.health,
        positions=[PositionFigures(market=r.market, size=r.size, entry_price=r.entry, upnl=r.unrealised_pnl,
                                   liquidation_price=margin.liquidation_price[r.market], notional=r.notional)
                   for r in margin.positions])


def plan_message(
    plan: liquidation.LiquidationProposal, account: Account, margin: Margin, source: Message
) -> LiquidationPlan:
    """Return the liquidation plan as published on `risk.liquidations`."""
    return LiquidationPlan(
        id=f"{source.id}:{account.key}:plan", ts=source.ts, wallet=account.wallet, subaccount=account.subaccount,
        closes=[PlannedClose(market=c.market, side=c.side, size=c.size, price=c.price, fee=c.fee,
                             liquidator_fee=c.liquidator_fee, insurance_fee=c.insurance_fee) for c in plan.closes],
        equity=margin.equity, maintenance_margin=margin.maintenance_margin,
        insurance_draw=plan.insurance_draw, socialised_loss=plan.socialised_loss)


def rate_message(period: FundedHour, ts: int) -> FundingRate:
    """Return a closed funding hour as published on `funding.rates`."""
    return FundingRate(
        id=f"funding:{period.market}:{period.end}", ts=ts, market=period.market, period_start=period.start,
        period_end=period.end, oracle_twap=period.oracle_twap, mark_twap=period.mark_twap, rate=period.rate,
        cumulative_index=period.cumulative_index)


def audit(source: Message, subject: str, action: str, data: dict[str, Any], suffix: str = "") -> AuditEntry:
    """Return an audit entry caused by event `source`."""
    tail = f":{suffix}" if suffix else ""
    return AuditEntry(id=f"{source.id}:{subject}:{action}{tail}", ts=source.ts, actor=ACTOR, action=action,
                      subject=subject, data=data)
