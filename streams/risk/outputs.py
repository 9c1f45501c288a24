"""What the risk engine publishes: its outputs per derived topic, the records it leaves to the owners of what
spans the accounts (`streams.risk.owners`), and the messages it builds."""

from dataclasses import dataclass, field, fields
from decimal import Decimal
from operator import attrgetter
from typing import Any, Callable, Generic, Iterable, Iterator, Self, TypeVar

from quantdesk.messages import (
    AccountSnapshot,
    AuditEntry,
    DeadLetter,
    Fill,
    FundingPayment,
    FundingRate,
    HeldSide,
    HolderSide,
    LedgerEntry,
    LiquidationOutcome,
    LiquidationPlan,
    MarketEpoch,
    Message,
    OracleTick,
    PlannedClose,
    Signal,
    account_key,
    dump,
)
from quantdesk.wire import Encoded, EncodedRun, digest
from streams.domain.accounts import Account
from streams.domain.funding import FundedHour
from streams.domain.ledger import Movement, balances
from streams.domain.liquidation import LiquidationProposal
from streams.domain.margin import Margin
from streams.risk.funding_bytes import WrittenAudit, WrittenAudits, WrittenLedgerEntry, WrittenPayment, WrittenPayments
from streams.risk.market_risk import MarketRisk
from streams.risk.reorder import order_key
from streams.risk.snapshot_bytes import Published, snapshot_written

ACTOR = "risk-engine"
T = TypeVar("T")


class Runs(Generic[T]):
    """Messages in order: each a message, or runs of them written together (an `EncodedRun`, kept whole), read one by
    one as messages."""

    __slots__ = ("parts", "count")

    def __init__(self, items: "Iterable[T | EncodedRun] | Runs[T]" = ()) -> None:
        self.parts: list[T | EncodedRun] = []
        self.count = 0
        if items:  # most are made empty, one an event
            self.extend(items)

    def append(self, item: T | EncodedRun) -> None:
        """Add a message, or a run of them."""
        self.parts.append(item)
        self.count += len(item) if isinstance(item, EncodedRun) else 1

    def extend(self, items: "Iterable[T | EncodedRun] | Runs[T]") -> None:
        """Add messages and runs, or another `Runs`' parts whole."""
        for item in items.parts if isinstance(items, Runs) else items:
            self.append(item)

    def __iadd__(self, items: "Iterable[T | EncodedRun] | Runs[T]") -> Self:
        self.extend(items)
        return self

    def singles(self) -> Iterator[T]:
        """Yield the messages not written in runs, in order."""
        return (part for part in self.parts if not isinstance(part, EncodedRun))  # type: ignore[misc]

    def __iter__(self) -> Iterator[T]:
        for part in self.parts:
            if isinstance(part, EncodedRun):
                yield from part  # type: ignore[misc]
            else:
                yield part

    def __getitem__(self, index: int) -> T:
        """Return the message at `index` (negative: counted from the end)."""
        if not -self.count <= index < self.count:
            raise IndexError(index)
        index %= self.count
        for part in self.parts:
            size = len(part) if isinstance(part, EncodedRun) else 1
            if index < size:
                return next(iter(part.part(index, index + 1))) if isinstance(part, EncodedRun) else part  # type: ignore
            index -= size
        raise AssertionError("the parts hold `count` messages")

    def __len__(self) -> int:
        return self.count

    def __eq__(self, other: object) -> bool:
        return list(self) == list(other) if isinstance(other, (Runs, list)) else NotImplemented

    def __repr__(self) -> str:
        return f"{type(self).__name__}({list(self)!r})"


class States(Runs[Published]):
    """The account states published, in order: each a `Published` state, or runs of them written together
    (`WrittenStates`: accounts whose state the run does not move)."""

    def keyed(self) -> list[tuple[str, Encoded] | EncodedRun]:
        """Return the states as a pipeline publishes them: runs whole, every other state keyed and encoded once
        (a state goes to two topics)."""
        return [s if isinstance(s, EncodedRun) else (account_key(s.wallet, s.subaccount), Encoded.of(s))
                for s in self.parts]


def keyed(items: Iterable[T | EncodedRun] | Runs[T], key: Callable[[T], str]) -> list[tuple[str, T] | EncodedRun]:
    """Return messages as a pipeline publishes them: runs whole (keyed already), every other message under `key`."""
    return [item if isinstance(item, EncodedRun) else (key(item), item)  # type: ignore[arg-type]
            for item in (items.parts if isinstance(items, Runs) else items)]


def by_account(message: Any) -> str:
    """Return the key of the account a message is about."""
    return account_key(message.wallet, message.subaccount)


@dataclass
class Outputs:
    """What applying events caused, one list per derived topic; `sides` and `outcomes`, the records for the owners of
    what spans the accounts (the open interest, the insurance fund: `streams.risk.owners`); `epochs`, the markets as
    their author left them, for the risk tasks that follow it."""

    states: States = field(default_factory=States)  # runs written from integers where quiet
    ledger: Runs[LedgerEntry | WrittenLedgerEntry] = field(default_factory=Runs)  # a close's in runs (lane)
    funding_rates: list[FundingRate] = field(default_factory=list)
    funding_payments: Runs[FundingPayment | WrittenPayment] = field(default_factory=Runs)  # a close's in runs
    liquidations: list[LiquidationPlan] = field(default_factory=list)
    audit: Runs[AuditEntry | WrittenAudit] = field(default_factory=Runs)  # a close's payments' in runs
    signals: list[Signal] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    sides: list[HolderSide] = field(default_factory=list)
    outcomes: list[LiquidationOutcome] = field(default_factory=list)
    epochs: list[MarketEpoch] = field(default_factory=list)

    def extend(self, other: "Outputs") -> "Outputs":
        """Append everything `other` holds; return self."""
        mine = self.__dict__
        for name, caused in other.__dict__.items():
            if caused:
                mine[name].extend(caused)
        return self


OUTPUT_LISTS = tuple(f.name for f in fields(Outputs))


def by_topic(out: Outputs) -> list[tuple[str, list[Any]]]:
    """Return what the engine caused as each derived topic's keyed messages and runs, in the order a risk task sends
    them (a state goes to two topics, encoded once)."""
    states = out.states.keyed()
    return [("accounts.state", states), ("accounts.history", states),
            ("accounts.ledger", keyed(out.ledger, by_account)),
            ("funding.rates", [(r.market, r) for r in out.funding_rates]),
            ("funding.payments", keyed(out.funding_payments, by_account)),
            ("risk.liquidations", keyed(out.liquidations, by_account)),
            ("audit.log", keyed(out.audit, attrgetter("subject"))),
            ("mikey.signals", [(s.subject, s) for s in out.signals]),
            ("dlq", [(d.topic, d) for d in out.dead_letters])]


def snapshot(account: Account, margin: Margin, source: Message, written: bool = False) -> Published:
    """Return the account's published figures after event `source`: its model, or its bytes `written` already (what
    the integer engine publishes; the same bytes)."""
    fields = {
        "id": f"{source.id}:{account.key}:state", "ts": source.ts, "wallet": account.wallet,
        "subaccount": account.subaccount, "state": account.state.value, "collateral": margin.collateral,
        "equity": margin.equity, "maintenance_margin": margin.maintenance_margin,
        "initial_margin": margin.initial_margin, "free_collateral": margin.free_collateral,
        "leverage": margin.leverage, "health": margin.health,
        "positions": [{"market": r.market, "size": r.size, "entry_price": r.entry, "upnl": r.unrealised_pnl,
                       "liquidation_price": margin.liquidation_price[r.market], "notional": r.notional}
                      for r in margin.positions]}
    return snapshot_written(fields) if written else AccountSnapshot.model_validate(fields)  # one validation


def ledger_entries(
    before: Decimal, lines: tuple[Movement, ...], account: Account, source: Message, first: int = 0,
    entry: Callable[..., LedgerEntry | WrittenLedgerEntry] = LedgerEntry
) -> list[LedgerEntry | WrittenLedgerEntry]:
    """Return the ledger entries of the moves event `source` made to an account's collateral from `before`, their ids
    `<cause>:<account>:<n>:<kind>` numbered from `first` in the order they moved it, so (time, id) lists them in that
    order; each made by `entry` (`funding_bytes.ledger_entry`: written)."""
    return [entry(id=f"{source.id}:{account.key}:{n}:{line.kind}", ts=source.ts, wallet=account.wallet,
                  subaccount=account.subaccount, kind=line.kind, market=line.market, amount=line.amount,
                  balance_after=balance, cause=source.id)
            for n, (line, balance) in enumerate(balances(before, lines), first)]


def plan_message(proposal: LiquidationProposal, account: Account, margin: Margin, source: Message) -> LiquidationPlan:
    """Return the liquidation plan as published on `risk.liquidations`."""
    return LiquidationPlan(
        id=f"{source.id}:{account.key}:plan", ts=source.ts, wallet=account.wallet, subaccount=account.subaccount,
        closes=[PlannedClose(market=c.market, side=c.side, size=c.size, price=c.price, fee=c.fee,
                             liquidator_fee=c.liquidator_fee, insurance_fee=c.insurance_fee)
                for c in proposal.closes],
        equity=margin.equity, maintenance_margin=margin.maintenance_margin, deficit=proposal.deficit)


def held_side(size: Decimal | None) -> HeldSide:
    """Return the side a position of signed `size` holds (None: none held)."""
    return "long" if size and size > 0 else "short" if size and size < 0 else "flat"


def holder_side(fill: Fill, before: Account, after: Account, params: str) -> HolderSide:
    """Return the side the fill's account held in its market before and after the fill, applied under `params`."""
    was, now = before.positions.get(fill.market), after.positions.get(fill.market)
    return HolderSide(id=f"{fill.id}:side", ts=fill.ts, market=fill.market, fill=fill,
                      before=held_side(was and was.size), after=held_side(now and now.size), params=params)


def rate_message(hour: FundedHour, ts: int) -> FundingRate:
    """Return a funded hour as published on `funding.rates`."""
    return FundingRate(
        id=f"funding:{hour.market}:{hour.end}", ts=ts, market=hour.market, period_start=hour.start,
        period_end=hour.end, oracle_twap=hour.oracle_twap, mark_twap=hour.mark_twap, rate=hour.rate,
        cumulative_index=hour.cumulative_index)


def epoch_message(market: MarketRisk, event: OracleTick | Fill, hours: list[FundingRate] | None = None) -> MarketEpoch:
    """Return the market's epoch after `event`: what a margin check and a liquidation read, and the hours it closed."""
    tracker, tick = market.tracker, event if type(event) is OracleTick else None
    ts, rank, source = order_key(event)
    return MarketEpoch(id=f"{source}:epoch", ts=ts, kind="fill" if tick is None else "tick", market=market.name,
                       rank=rank, source=source, tick=tick, oracle=tracker.oracle, last_valid_ts=tracker.last_valid_ts,
                       reason=tracker.reason, last_fill_price=market.last_fill_price,
                       cumulative_index=market.funding.cumulative_index, hours=hours or [])


def funded_hour(rate: FundingRate) -> FundedHour:
    """Return a funded hour as `funding.rates` has it."""
    return FundedHour(rate.market, rate.period_start, rate.period_end, rate.oracle_twap, rate.mark_twap, rate.rate,
                      rate.cumulative_index)


def payment_message(
    hour: FundedHour, account: Account, paid: Decimal, ts: int,
    message: Callable[..., FundingPayment | WrittenPayment] = FundingPayment
) -> FundingPayment | WrittenPayment:
    """Return what an account paid (or, negative, received) for a funded hour, as published on `funding.payments`,
    made by `message` (`funding_bytes.funding_payment`: written)."""
    return message(
        id=f"funding:{hour.market}:{hour.end}:{account.key}", ts=ts, market=hour.market, wallet=account.wallet,
        subaccount=account.subaccount, size=account.positions[hour.market].size, payment=paid,
        cumulative_index=hour.cumulative_index)


def audit(source: Message, subject: str, action: str, data: dict[str, Any], suffix: str = "",
          causes: list[str] | None = None, params: str = "", dumped: dict[str, Any] | None = None) -> AuditEntry:
    """Return an audit entry caused by event `source` (or by `causes`) under parameter version `params`, its digest
    that of `source` (`dumped`: `source` as `dump` gives it, when the caller has it) and `data`."""
    tail = f":{suffix}" if suffix else ""
    return AuditEntry(id=f"{source.id}:{subject}:{action}{tail}", ts=source.ts, actor=ACTOR, action=action,
                      subject=subject, data=data, causes=causes or [source.id], params=params,
                      digest=digest({"input": dumped or dump(source), "data": data}))


def decisions(out: Outputs, source: Message, params: str = "") -> list[AuditEntry | WrittenAudit | WrittenAudits]:
    """Return the audit entries of the decisions in what `source` caused: each liquidation plan, funding payment
    and signal (state transitions and refusals are audited where they are taken), under parameter version
    `params`."""
    if not (out.liquidations or out.funding_payments or out.signals):
        return []  # most events decide nothing: no dump of their source
    dumped = dump(source)  # once for all of them: a funding close audits a payment per holder
    entries: list[AuditEntry | WrittenAudit | WrittenAudits] = [
        audit(source, account_key(p.wallet, p.subaccount), "liquidation_planned",
              {"plan": p.id, "closes": len(p.closes)}, p.id, params=params, dumped=dumped) for p in out.liquidations]
    payments = out.funding_payments
    entries += [p.audits if isinstance(p, WrittenPayments) else p.audit if isinstance(p, WrittenPayment) and p.audit
                else audit(source, account_key(p.wallet, p.subaccount), "funding_paid",
                           {"market": p.market, "payment": str(p.payment)}, p.id, params=params, dumped=dumped)
                for p in (payments.parts if isinstance(payments, Runs) else payments)]
    entries += [audit(source, s.subject, "signal_raised", {"signal": s.id, "kind": s.kind}, s.id,
                      s.causes or None, params=params, dumped=dumped) for s in out.signals]
    return entries


def restamped(entries: Iterable[AuditEntry | WrittenAudit | WrittenAudits] | Runs[AuditEntry | WrittenAudit],
              params: str) -> Runs[AuditEntry | WrittenAudit]:
    """Return audit entries each under parameter version `params` (a change in force within the event that caused
    them), runs whole where they are under it already."""
    out: Runs[AuditEntry | WrittenAudit] = Runs()
    for part in entries.parts if isinstance(entries, Runs) else entries:
        if part.params == params:
            out.append(part)
        elif isinstance(part, WrittenAudits):
            out.extend(entry.model_copy(update={"params": params}) for entry in part)
        else:
            out.append(part.model_copy(update={"params": params}))
    return out
