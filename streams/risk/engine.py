"""The risk engine: accounts, quotes, funding, re-margining and liquidation plans, without I/O.

`RiskEngine.apply` takes one input event, in the order `ReorderBuffer` releases them, and returns
what it causes. Fills and account changes publish that account exactly. A valid tick re-marks every
holder of its market on the risk board (floats) to find who crossed health 50/20/10 or the
liquidation line, or moved materially since last published; only those are recomputed exactly and
published, so a replay costs what its price moves cost, not its length. Of such a batch (a tick's, a funding
close's, a change of parameters'), the quiet holders (state kept, no plan, no signal possible) are restated in
integers and written straight to bytes (`streams.risk.restatement`); the others through `Account.margin` (Decimal),
with the same bytes.

An engine may hold only some accounts (`holds`: a shard of the risk worker's, by account key), and applies an
account's own effects (its position, collateral, margin, plans, signals) only where it is held. The markets have
one author: an engine that computes them from every tick and fill and puts out their epochs (`epochs="author"`,
`MarketEpoch`: a market after a tick, or after a fill before its first oracle); the others take their markets from
those epochs, applied in apply order, and never from ticks and fills (`epochs="follow"`). What speaks for a whole
market (funding rates, funding signals, admins' market and wallet audits) comes from the one engine that
`speaks_for_markets`, so that N shards publish it once.

MIKEY's account rules run on every published snapshot (`streams.domain.account_signals`), and where the
liquidator acts (a plan made, its last fill back); the market rule that needs the engine's figures runs here
too: funding at each closed hour (`streams.domain.market_signals`). Each account's gate is stored with its
account row, each market's with its market row. What spans accounts the engine does not count: each fill
leaves the side its account held before and after (`Outputs.sides`) for the open-interest owner
(`streams.risk.open_interest`), which raises the skew signal.

The engine never reads the insurance fund either: a liquidation's fills put out liquidation outcomes
(`Outputs.outcomes`) for the fund's one owner (`streams.risk.insurance`), which covers the deficit, books the cover
and signals the completion.
"""

from dataclasses import replace
from decimal import Decimal
from typing import Any, Callable, Iterable, Literal

import numpy as np
import orjson

from quantdesk.markets import Market, params_version, reparametrised
from quantdesk.messages import (
    MARGIN_FIELDS,
    AccountChange,
    AdminCommand,
    AuditEntry,
    Fill,
    FundingPayment,
    LedgerEntry,
    LiquidationPlan,
    MarketEpoch,
    Message,
    OracleTick,
    account_key,
    dump,
)
from streams.decode import dead_letter
from streams.domain.account_signals import Holder, account_signals, liquidation_planned
from streams.domain.account_state import next_state
from streams.domain.accounts import Account, AccountError, all_funded
from streams.domain.alerts import AlertGate, Thresholds
from streams.domain.fixed_margin import money
from streams.domain.funding import FundedHour
from streams.domain.ledger import Movement, moved
from streams.domain.market_signals import funding_signals
from streams.domain.margin import Margin, Quote
from streams.risk.board import MarketBook, RiskBoard
from streams.risk.funding_bytes import (WrittenAudit, WrittenPayment, close_written, funding_paid, funding_payment,
                                        ledger_entry, ledger_written)
from streams.risk.liquidator import Liquidator
from streams.risk.market_risk import MarketRisk
from streams.risk.outputs import (ACTOR, Outputs, audit, decisions, epoch_message, funded_hour, holder_side,
                                  ledger_entries, payment_message, rate_message, restamped, snapshot)
from streams.risk.reorder import Event
from streams.risk.restatement import IntegerLane

LEDGER_KINDS = {"deposit": "deposit", "withdraw": "withdrawal"}  # an account change's kind as a ledger entry's


class RiskEngine:
    """Every account, market and liquidation of the platform, moved by input events only."""

    def __init__(self, markets: Iterable[Market], thresholds: Thresholds | None = Thresholds(),
                 holds: Callable[[str], bool] | None = None, speaks_for_markets: bool = True,
                 epochs: Literal["author", "follow"] | None = None, integers: bool = True) -> None:
        """Keep `markets`; raise MIKEY's signals on `thresholds` (None: no signals, as the bench's baseline); hold
        the accounts whose key `holds` (None: every account); publish what speaks for a whole market if
        `speaks_for_markets`; put out each market's epochs (`author`), or take the markets from them and never
        from ticks and fills (`follow`); restate quiet holders in integers (False: every holder in Decimal, the
        reference the tests hold the integers to)."""
        markets = tuple(markets)
        self.thresholds = thresholds
        self.holds = holds
        self.speaks_for_markets = speaks_for_markets
        self.epochs = epochs
        self.params = params_version(markets)  # the audit's parameter version: these markets' risk parameters
        self.gates: dict[str, AlertGate] = {}  # account key -> its gate, once it has let a signal through
        self.markets = {m.name: MarketRisk.of(m) for m in markets}
        self.lane = IntegerLane(self.markets, thresholds) if integers else None
        self.entry = ledger_entry if integers else LedgerEntry  # ledger entries written to bytes, or as models
        self.accounts: dict[str, Account] = {}
        self.board = RiskBoard(lines=[float(line) for line in thresholds.health_lines] if thresholds else ())
        for name in self.markets:  # every market on the board from the start: one compiled re-mark serves all
            self.board.contributions(name)
        self.board.remark(next(iter(self.markets)), MarketBook(), 0.0)  # compiled (or loaded) now, not at a tick
        self.liquidator = Liquidator()
        self.newest_tick_ts = 0
        self.applied = 0
        self.scheduled: list[AdminCommand] = []  # admins' parameter changes not in force yet, by effective time
        self.frozen: dict[str, str] = {}  # wallet -> why an admin froze it: its withdrawals are refused

    def unknown(self, event: Any) -> str | None:
        """Return why an event names a market the engine does not list, or None."""
        market = getattr(event, "market", None)
        return f"unknown market {market!r}" if market is not None and market not in self.markets else None

    def apply(self, event: Event) -> Outputs:
        """Apply one input event; return what it causes, every decision audited under the parameters in force."""
        self.applied += 1
        before = self._take_effect(event.ts) if self._due(event.ts) else None  # changes due before this event
        source: Message = event
        if isinstance(event, OracleTick):
            caused = self._on_tick(event)
        elif isinstance(event, MarketEpoch):
            caused, source = self._on_epoch(event), event.tick or event
        elif isinstance(event, Fill):
            caused = self._on_fill(event)
        elif isinstance(event, AdminCommand):
            caused = self._on_command(event)
        else:
            caused = self._on_change(event)
        if decided := decisions(caused, source, self.params):
            caused.audit += decided
        out = caused if before is None else before.extend(caused)
        if self._due(event.ts):
            out.extend(self._take_effect(event.ts))  # a change in force from its own command's time
        if out.audit:  # most events audit nothing
            out.audit = restamped(out.audit, self.params)
        if out.outcomes:
            out.outcomes = [o if o.params == self.params else o.model_copy(update={"params": self.params})
                            for o in out.outcomes]  # the fund audits them under the version its audit would carry
        return out

    def _account(self, wallet: str, subaccount: int) -> Account:
        """Return the account, a new one on first sight."""
        return self.accounts.get(account_key(wallet, subaccount)) or Account(wallet, subaccount)

    def _quotes(self, account: Account) -> dict[str, Quote]:
        """Return the quotes of the markets the account holds."""
        return {m: self.markets[m].quote() for m in account.positions}

    def _on_command(self, command: AdminCommand) -> Outputs:
        """Pause or resume a market's liquidations from the command's event time on (plans wait, as for an
        unhealthy oracle, and go on at the market's first tick after the resume), schedule a change of its
        parameters, or freeze or unfreeze a wallet's withdrawals (its tickets are the gateway's to refuse)."""
        if command.wallet is not None:
            return self._freeze(command)
        if command.action == "set_market_params":
            return self._schedule(command)
        market = self.markets[command.market]
        market.paused = (command.reason or "paused by an admin") if command.action == "pause_market" else None
        action = "liquidations_paused" if market.paused else "liquidations_resumed"
        return self._spoken(audit(command, command.market, action, {"admin": command.admin,
                                                                     "reason": command.reason}))

    def _spoken(self, *entries: AuditEntry) -> Outputs:
        """Return audit entries for a whole market or wallet, from the one engine that speaks for the markets."""
        out = Outputs()
        if self.speaks_for_markets:
            out.audit.extend(entries)
        return out

    def held(self, key: str) -> bool:
        """Tell whether this engine holds the account `key`."""
        return self.holds is None or self.holds(key)

    def _freeze(self, command: AdminCommand) -> Outputs:
        """Freeze or unfreeze a wallet's withdrawals from the command's event time on."""
        assert command.wallet is not None
        if command.action == "freeze_account":
            self.frozen[command.wallet] = command.reason or "frozen by an admin"
        else:
            self.frozen.pop(command.wallet, None)
        action = "withdrawals_frozen" if command.action == "freeze_account" else "withdrawals_unfrozen"
        return self._spoken(audit(command, command.wallet, action, {"admin": command.admin,
                                                                     "reason": command.reason}))

    def _schedule(self, command: AdminCommand) -> Outputs:
        """Keep a parameter change until its effective time."""
        self.scheduled.append(command)
        self.scheduled.sort(key=lambda c: (c.effective_at, c.ts, c.id))
        return self._spoken(audit(command, command.subject, "market_params_scheduled", {
            "admin": command.admin, "reason": command.reason, "effective_at": command.effective_at,
            **{name: str(getattr(command, name)) for name in MARGIN_FIELDS}}))

    def _due(self, now: int) -> bool:
        """Tell whether a scheduled change is due by event time `now`."""
        return bool(self.scheduled) and (self.scheduled[0].effective_at or 0) <= now

    def _take_effect(self, now: int) -> Outputs:
        """Put in force every scheduled change due by event time `now`, in order, each at its effective time."""
        out = Outputs()
        while self._due(now):
            out.extend(self._reparametrise(self.scheduled.pop(0)))
        return out

    def _reparametrise(self, command: AdminCommand) -> Outputs:
        """Put a market under the command's parameters and restate each holder exactly under them (a liquidation
        planned if now due), as of the effective time; audit the change under the new version."""
        market, before = self.markets[command.subject], self.params
        old = {name: str(getattr(market.params, name)) for name in MARGIN_FIELDS}
        self._put_in_force(market, {n: getattr(command, n) for n in MARGIN_FIELDS})
        source = command.model_copy(update={"ts": command.effective_at})
        out = self._spoken(audit(source, command.subject, "market_params_changed", {
            "admin": command.admin, "reason": command.reason, "from": old,
            "to": {name: str(getattr(market.params, name)) for name in MARGIN_FIELDS}, "previous_version": before}))
        self._publish_all(market.holders(), source, out)
        out.audit += decisions(out, source, self.params)
        return out

    def _put_in_force(self, market: MarketRisk, params: dict[str, Decimal]) -> None:
        """Put a market under new margin and funding parameters, and the engine under the version they make."""
        market.reparametrise(reparametrised(market.params, params))
        self.params = params_version(tuple(m.params for m in self.markets.values()))

    def _on_change(self, change: AccountChange) -> Outputs:
        """Deposit, or withdraw within free collateral; a refusal is audited and dead-lettered."""
        if not self.held(change.account):
            return Outputs()
        out, account = Outputs(), self._account(change.wallet, change.subaccount)
        try:
            after = self._moved_by(account, change)
        except AccountError as exc:
            return self._refused(change, str(exc), out)
        line = Movement(LEDGER_KINDS[change.kind], after.collateral - account.collateral)
        out.ledger += ledger_entries(account.collateral, moved(line), after, change, entry=self.entry)
        self._publish(after, change, out)
        return out

    def _moved_by(self, account: Account, change: AccountChange) -> Account:
        """Return the account after the deposit or withdrawal (none while an admin holds the wallet frozen)."""
        if change.kind == "deposit":
            return account.deposit(change.amount)
        if why := self.frozen.get(change.wallet):
            raise AccountError(f"{account.key}: withdrawals are frozen by an admin: {why}")
        return account.withdraw(change.amount, self._quotes(account))

    def _refused(self, change: AccountChange, reason: str, out: Outputs) -> Outputs:
        """Record a refused change in the audit log and the dead letters."""
        out.audit.append(audit(change, change.account, "withdraw_refused", {"amount": str(change.amount),
                                                                            "reason": reason}))
        out.dead_letters.append(dead_letter("accounts.changes", change.ts, reason, orjson.dumps(dump(change))))
        return out

    def _on_fill(self, fill: Fill) -> Outputs:
        """Settle funding, move the position, count a liquidation close (its outcomes for the insurance fund); book
        and publish the account, and leave the side it held before and after for the open-interest owner (the market
        moves where markets are computed, the account only where it is held)."""
        out, market = Outputs(), self.markets[fill.market]
        quotes = market.tracker.oracle is None and market.quoted_by(fill)
        if self.epochs != "follow":  # a follower had the fill's epoch first
            market.on_fill(fill)
        if self.epochs == "author" and quotes:
            out.epochs.append(epoch_message(market, fill))  # the last fill price quotes the market until an oracle
        if not self.held(account_key(fill.wallet, fill.subaccount)):
            return out
        before = self._account(fill.wallet, fill.subaccount)
        fee_kind = "liquidation_fee" if (fill.model_extra or {}).get("liquidation") else "fee"
        account, lines = before.fill(fill.market, fill.signed_size, fill.price, fill.fee,
                                     market.funding.cumulative_index, fee_kind)
        market.hold(self.board.slot(account.key), account.positions.get(fill.market))
        out.sides.append(holder_side(fill, before, account, self.params))
        entries = ledger_entries(before.collateral, lines, account, fill, entry=self.entry)
        out.ledger += entries
        balance = entries[-1].balance_after if entries else before.collateral
        account, out.outcomes = self.liquidator.on_fill(account, fill, balance, len(lines))
        self._publish(account, fill, out)
        return out

    def _on_tick(self, tick: OracleTick) -> Outputs:
        """Move the oracle and close funding hours (the market's epoch, for an author); then as `_ticked`."""
        out, market = Outputs(), self.markets[tick.market]
        closed = market.on_tick(tick)
        if self.epochs == "author":
            out.epochs.append(epoch_message(market, tick, [rate_message(h, tick.ts) for h in closed or ()]))
        return self._ticked(market, tick, closed, out)

    def _on_epoch(self, epoch: MarketEpoch) -> Outputs:
        """Take a market as its author left it after a tick or fill; after a tick, as `_ticked`."""
        market = self.markets[epoch.market or ""]
        market.follow(epoch)
        if epoch.tick is None:
            return Outputs()
        closed = None if epoch.reason else [funded_hour(h) for h in epoch.hours]
        return self._ticked(market, epoch.tick, closed, Outputs())

    def _ticked(self, market: MarketRisk, tick: OracleTick, closed: list[FundedHour] | None, out: Outputs) -> Outputs:
        """Count the tick's time; unless the guard rejected it (`closed` None), settle the funded hours it closed,
        re-mark holders and publish those that need it."""
        self.newest_tick_ts = max(self.newest_tick_ts, tick.ts)
        if closed is None:
            return out
        touched = self._fund(market, closed, tick, out) | self._remargin(market, tick) | self._awaiting(tick)
        self._publish_all(sorted(touched), tick, out)
        return out

    def _awaiting(self, tick: OracleTick) -> set[int]:
        """Return the liquidatable holders of the tick's market still waiting for healthy oracles."""
        return {self.board.index[k] for k in self.liquidator.awaiting(tick.market, self.accounts)}

    def _fund(self, market: MarketRisk, closed: list[FundedHour], tick: OracleTick, out: Outputs) -> set[int]:
        """Publish each funded hour's rate and settle every holder; return the holders."""
        if not closed:
            return set()
        holders = market.holders()
        dumped = dump(tick) if self.lane else None
        for hour in closed:
            if self.speaks_for_markets:
                out.funding_rates.append(rate_message(hour, tick.ts))
            if self.thresholds:  # in every engine, so that each keeps the same gate
                signals, market.funding_sign = funding_signals(market.alerts, self.thresholds, hour,
                                                               market.funding_sign, tick.id, tick.ts)
                out.signals += signals if self.speaks_for_markets else []
            self._settle_all(holders, hour, tick, dumped, out)
        return set(holders)

    def _settle_all(self, holders: list[int], hour: FundedHour, tick: OracleTick, dumped: dict[str, Any] | None,
                    out: Outputs) -> None:
        """Settle every holder in `holders` for a funded hour and book it, in order: those the integer lane settles
        in arrays, their payments, ledger and audit entries written in runs; the others one by one (`_settle`)."""
        keys = list(map(self.board.keys.__getitem__, holders))
        accounts = list(map(self.accounts.__getitem__, keys))
        owed = self.lane.owed(holders, accounts, hour.market, hour.cumulative_index) if self.lane else None
        rows, amounts = owed if owed else (np.zeros(0, np.int64), np.zeros(0, np.int64))
        if len(rows):
            index, listed = hour.cumulative_index, rows.tolist()
            slots, settling = [holders[i] for i in listed], [keys[i] for i in listed]
            after, columns = self.lane.settle(slots, hour.market, index, amounts, settling)  # type: ignore[union-attr]
            settled = all_funded([accounts[i] for i in listed], hour.market, index, list(map(money, after.tolist())))
            self.accounts.update(zip(settling, settled))
            self.lane.keep(slots, settled)  # type: ignore[union-attr]
            payments = close_written(columns, tick, dumped or {}, hour.market, hour.end, index, self.params, ACTOR)
            ledger = ledger_written(columns, tick, hour.market)
        paying, shown = rows[amounts != 0], 0  # the runs' rows shown so far, between the holders settled one by one
        audited = funding_paid(tick, dumped, self.params, ACTOR) if dumped is not None else None
        for i in np.setdiff1d(np.arange(len(holders)), rows, assume_unique=True).tolist():
            if (before := int(np.searchsorted(paying, i))) > shown:
                out.funding_payments.append(payments.part(shown, before))
                out.ledger.append(ledger.part(shown, before))
                shown = before
            if payment := self._settle(keys[i], hour, tick, out, audited):
                out.funding_payments.append(payment)
        if shown < len(paying):
            out.funding_payments.append(payments.part(shown, len(paying)))
            out.ledger.append(ledger.part(shown, len(paying)))

    def _settle(self, key: str, hour: FundedHour, tick: OracleTick, out: Outputs,
                audited: Callable[[WrittenPayment], WrittenAudit] | None) -> FundingPayment | WrittenPayment | None:
        """Settle one holder's funding and book it; return the payment, None when nothing moved (written straight to
        bytes with its audit entry by `audited`, beside the integer lane; as models for the Decimal reference)."""
        before = self.accounts[key]
        account, paid = before.settle_funding(hour.market, hour.cumulative_index)
        self.accounts[key] = account
        line = Movement("funding", paid.copy_negate(), hour.market)
        out.ledger += ledger_entries(before.collateral, moved(line), account, tick, entry=self.entry)
        if not paid:
            return None
        payment = payment_message(hour, account, paid, tick.ts, funding_payment if audited else FundingPayment)
        if audited:
            payment.audit = audited(payment)  # type: ignore[union-attr]
        return payment

    def _remargin(self, market: MarketRisk, tick: OracleTick) -> set[int]:
        """Re-mark every holder at the tick's price; return who crossed a line or moved materially."""
        book = market.book
        if not book.count:
            return set()
        market.repriced = (self.applied, tick.price)
        return self.board.remark(market.name, book, float(tick.price))

    def _publish(self, account: Account, source: Message, out: Outputs) -> None:
        """Recompute an account exactly, move its state, plan a liquidation if due; publish it."""
        margin = self._published(account, source, out, self._quotes(account))
        self.board.restate(self.board.slot(account.key), margin, self.applied)

    def _publish_all(self, slots: list[int], source: Message, out: Outputs) -> None:
        """Publish the accounts in `slots`, in order, under the quotes of the moment: the quiet ones from integers
        (`IntegerLane`), the others exactly in Decimal; restate their slots at once."""
        if not slots:  # most ticks of a few holders: none flagged
            return
        quotes = {name: market.quote() for name, market in self.markets.items()}
        keys = list(map(self.board.keys.__getitem__, slots))
        accounts = list(map(self.accounts.__getitem__, keys))
        quiet = self.lane.restate(slots, keys, accounts, quotes, source, self._in_flight()) if self.lane else None
        if quiet:  # each loud row with how many quiet rows come before it
            self.liquidator.quiet(quiet.states.run_keys())
            loud_rows = np.setdiff1d(np.arange(len(slots)), quiet.rows, assume_unique=True)
            rows = zip(loud_rows.tolist(), np.searchsorted(quiet.rows, loud_rows).tolist())
        else:
            rows = zip(range(len(slots)), [0] * len(slots))
        loud, margins, shown = [], [], 0  # quiet rows shown so far: the written run's parts between loud rows
        for row, quiet_before in rows:
            if quiet_before > shown:
                out.states.append(quiet.states.part(shown, quiet_before))  # type: ignore[union-attr]
                shown = quiet_before
            loud.append(slots[row])
            margins.append(self._published(accounts[row], source, out, quotes))
        self.board.restate_all(loud, margins, self.applied)
        if quiet:
            if shown < len(quiet.rows):
                out.states.append(quiet.states.part(shown, len(quiet.rows)))
            self.board.restate_figures(np.asarray(slots)[quiet.rows], self.lane.markets, quiet.cash,  # type: ignore
                                       quiet.marks, quiet.health, quiet.equity, self.applied)

    def _in_flight(self) -> list[int]:
        """Return the slots of the holders with a plan in flight, whose restatement may do more than show figures."""
        index = self.board.index
        return [index[key] for key in self.liquidator.in_flight if key in index]

    def _published(self, account: Account, source: Message, out: Outputs, quotes: dict[str, Quote]) -> Margin:
        """Recompute an account exactly under `quotes` (every market it holds), move its state, plan a liquidation
        if due; publish it and return its figures, for the board."""
        margin = account.margin(quotes)
        account = self._transition(account, margin, source, out)
        plan = self.liquidator.propose(account, margin, source, self._oracles_healthy, out, self.params)
        if plan:
            out.liquidations.append(plan)
            account = self._transition(account, margin, source, out)
        if self.thresholds:
            self._signal(account, margin, plan, source, out)
        self.liquidator.settled(account)
        self.accounts[account.key] = account
        out.states.append(snapshot(account, margin, source, written=self.lane is not None))
        return margin

    def _signal(self, account: Account, margin: Margin, plan: LiquidationPlan | None, source: Message,
                out: Outputs) -> None:
        """Run the account rules on its exact figures after `source`; keep its gate once it holds anything."""
        assert self.thresholds is not None
        holder, gate = Holder(account.wallet, account.subaccount), self.gates.get(account.key) or AlertGate()
        out.signals += account_signals(gate, self.thresholds, holder, margin, source.id, source.ts)
        if plan:
            out.signals.append(liquidation_planned(holder, plan, source.id, source.ts))
        if gate.past or gate.last:
            self.gates[account.key] = gate
            if self.lane:
                self.lane.gate(self.board.slot(account.key), gate)

    def _oracles_healthy(self, account: Account) -> bool:
        """Tell whether every market the account holds has a healthy oracle."""
        return all(self.markets[m].healthy(self.newest_tick_ts) for m in account.positions)

    def _transition(self, account: Account, margin: Margin, source: Message, out: Outputs) -> Account:
        """Move the account to its next state, auditing a change."""
        state = next_state(account.state, margin, self.liquidator.in_flight_for(account.key))
        if state is account.state:
            return account
        out.audit.append(audit(source, account.key, "state_transition", {
            "from": account.state.value, "to": state.value, "equity": str(margin.equity),
            "maintenance_margin": str(margin.maintenance_margin), "health": str(margin.health)}, state.value,
            params=self.params))
        return replace(account, state=state)

    def to_row(self) -> dict[str, Any]:
        """Return what is neither an account nor a market as a stored row: apply count, newest tick time, the
        board's market order, each market's parameters in force, the changes scheduled, the frozen wallets."""
        return {"applied": self.applied, "newest_tick_ts": self.newest_tick_ts, "board": list(self.board.markets),
                "params": {name: {f: str(getattr(m.params, f)) for f in MARGIN_FIELDS}
                           for name, m in self.markets.items()},
                "scheduled": [dump(c) for c in self.scheduled], "frozen": dict(self.frozen)}

    def load_row(self, row: dict[str, Any]) -> None:
        """Take back a `to_row` row (before any account: their positions are margined under these parameters),
        laying the board's markets out in their original order."""
        self.applied, self.newest_tick_ts = row["applied"], row["newest_tick_ts"]
        self.board.lay_out(row["board"])
        for name, params in row.get("params", {}).items():
            self._put_in_force(self.markets[name], {f: Decimal(v) for f, v in params.items()})
        self.scheduled = [AdminCommand.model_validate(c) for c in row.get("scheduled", ())]
        self.frozen = dict(row.get("frozen", {}))

    def account_row(self, key: str, written: tuple[Account, dict[str, Any]] | None = None) -> dict[str, Any]:
        """Return an account as a stored row: the account, its plan in flight and oracle wait, its board slot and
        alert gate (the slot's figures are stored apart, `RiskBoard.slice_row`). From `written`, the account its
        last row was made of and that row: that very row while none of it can have moved (the same account and
        gate, no plan, the same wait: most of those a move restates), else the account's part as
        `Account.row_since` makes it."""
        gate, account = self.gates.get(key), self.accounts[key]
        alerts = gate.to_row() if gate else None
        if written is None:
            body = account.to_row()
        else:
            was, row = written
            if account is was and alerts == row.get("alerts") and self.liquidator.rests(key, row):
                return row  # (a key keeps its slot)
            body = account.row_since(was, row["account"])
        return {"account": body, **self.liquidator.account_row(key), "slot": self.board.index[key], "alerts": alerts}

    def load_account_row(self, key: str, row: dict[str, Any]) -> None:
        """Take back an `account_row` row (rows taken in slot order keep every slot), its positions in the books."""
        account = self.accounts[key] = Account.from_row(row["account"])
        slot = self.board.slot(key)
        self.liquidator.load_account_row(key, row)
        if row.get("alerts"):
            gate = self.gates[key] = AlertGate.from_row(row["alerts"])
            if self.lane:
                self.lane.gate(slot, gate)
        if "board" in row:  # a row written before the board's slices
            self.board.load_row(slot, row["board"])
        for name, position in account.positions.items():
            self.markets[name].hold(slot, position)

    def lay_lane(self) -> None:
        """Lay every holder's columns in the integer lane, as a load leaves the engine: the first tick or funding
        close after a start or a handover then lays none (~12 µs a holder: 1.2 s of a load at 100k holders)."""
        if self.lane:  # every slot's account is the engine's (a slot is given to an account published)
            keys = self.board.keys
            self.lane.holdings.update(list(range(len(keys))), list(map(self.accounts.__getitem__, keys)))

    def reinstate_marks(self) -> None:
        """Give each market's last re-mark back to the holders restated before it, as it left them."""
        for name, market in self.markets.items():
            if market.repriced is None or not market.book.count:
                continue
            applied, price = market.repriced
            self.board.reinstate(name, market.book.reprice(float(price)), applied)
