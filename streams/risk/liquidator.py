"""Carry out liquidations: plans in flight, their fills, and the simulated venue.

The domain (`streams.domain.liquidation`) works out what a plan closes and who pays; here a plan is
proposed once an account is liquidatable and every oracle it holds is healthy, its fills are counted
as they come back as input, and at the last one the account's deficit is written off. Each fill's
insurance fee and the deficit go out as liquidation outcomes to the insurance fund's one owner
(`streams.risk.insurance`), which covers or socialises the deficit: nothing here reads the fund.
A plan is only proposed: the account changes when its fills arrive. With the simulated venue on,
a plan's closes are filled at its price against a liquidator account: one subaccount of the venue's
liquidator wallet per input partition, the one whose key lands in the liquidated account's partition,
so that a plan's fills all come back to the shard that holds the account and waits for them.
"""

import hashlib
import random
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable, Container, Iterable

import base58

from quantdesk.kafka.publisher import Keyed, partition_of
from quantdesk.messages import (DECIMAL_BOUND, ID_CHARS, AccountChange, DeadLetter, Fill, InsuranceCredit,
                                LiquidationCompletion, LiquidationOutcome, LiquidationPlan, Message, PlannedClose,
                                account_key)
from streams.decode import validate
from streams.domain import ZERO_MONEY
from streams.domain.account_state import AccountState
from streams.domain.accounts import Account
from streams.domain.liquidation import Close, LiquidationProposal, plan_liquidation
from streams.domain.margin import Margin
from streams.risk.outputs import Outputs, audit, plan_message
from streams.risk.reorder import ReorderBuffer

LIQUIDATOR = base58.b58encode(bytes(random.Random("quantdesk venue liquidator").getrandbits(8) for _ in range(32))).decode()
LIQUIDATOR_FLOAT = Decimal(10_000_000)
OPPOSITE = {"buy": "sell", "sell": "buy"}
VENUE_MODELS: dict[str, type[Message]] = {"trades.fills": Fill, "accounts.changes": AccountChange}


@dataclass
class InFlight:
    """A liquidation plan proposed and not yet filled: its id and closes still to come."""

    plan_id: str
    pending: int

    def to_row(self) -> list[Any]:
        """Return the plan in flight as a stored row: its id and closes to come."""
        return [self.plan_id, self.pending]


class Liquidator:
    """Every plan in flight and the accounts whose plan waits for healthy oracles."""

    def __init__(self) -> None:
        self.in_flight: dict[str, InFlight] = {}
        self.awaiting_oracle: set[str] = set()
        self.unfilled: set[str] = set()  # accounts whose plan no fill could carry: refused, tried again at each tick

    def in_flight_for(self, key: str) -> bool:
        """Tell whether account `key` has a plan in flight."""
        return key in self.in_flight

    def propose(self, account: Account, margin: Margin, source: Message,
                oracles_healthy: Callable[[Account], bool], out: Outputs, params: str) -> LiquidationPlan | None:
        """Return a plan for a liquidatable account with none in flight, once its oracles are all healthy and a fill
        through the input can carry each of its closes (refused, audited once into `out` under `params`, until it
        can); none for the venue's liquidator, whose plan would be filled against itself, move nothing and plan
        again for ever."""
        if account.state is not AccountState.LIQUIDATABLE or self.in_flight_for(account.key) \
                or account.wallet == LIQUIDATOR:
            return None
        if not oracles_healthy(account):
            self.awaiting_oracle.add(account.key)
            return None
        proposal = plan_liquidation(margin)
        if why := unfillable(proposal):
            if account.key not in self.unfilled:
                self.unfilled.add(account.key)
                out.audit.append(audit(source, account.key, "liquidation_refused", {"reason": why}, params=params))
            return None
        self.unfilled.discard(account.key)
        plan = plan_message(proposal, account, margin, source)
        self.in_flight[account.key] = InFlight(plan.id, len(plan.closes))
        return plan

    def settled(self, account: Account) -> None:
        """Stop waiting for oracles, or for a plan a fill can carry, for an account no longer liquidatable."""
        if account.state is not AccountState.LIQUIDATABLE:
            self.awaiting_oracle.discard(account.key)
            self.unfilled.discard(account.key)

    def quiet(self, keys: Iterable[str]) -> None:
        """Stop waiting for oracles, or for a plan a fill can carry, for accounts restated quiet (none of them
        liquidatable)."""
        if self.awaiting_oracle or self.unfilled:
            keys = set(keys)
            self.awaiting_oracle -= keys
            self.unfilled -= keys

    def awaiting(self, market: str, accounts: dict[str, Account]) -> list[str]:
        """Return the accounts holding `market` whose plan waits for healthy oracles, or for prices at which a fill
        can carry it."""
        if not (self.awaiting_oracle or self.unfilled):  # most ticks: no plan waits
            return []
        return [k for k in self.awaiting_oracle | self.unfilled if market in accounts[k].positions]

    def on_fill(self, account: Account, fill: Fill, balance: Decimal,
                line: int) -> tuple[Account, list[LiquidationOutcome]]:
        """Count a plan's close; at the last one, end the liquidation, writing a flat account's deficit off. Return
        the account and the outcomes for the insurance fund: the close's insurance fee, then at the last one the
        deficit, its cover to be booked from collateral `balance` (what the fill's `line` entries left)."""
        flight = self.in_flight.get(account.key)
        if flight is None or (fill.model_extra or {}).get("liquidation") != flight.plan_id:
            return account, []
        fee = Close(fill.market, fill.side, fill.size, fill.price, fill.fee).insurance_fee
        outcomes: list[LiquidationOutcome] = [InsuranceCredit(
            id=f"{fill.id}:insurance_credit", ts=fill.ts, plan=flight.plan_id, fill=fill, amount=fee)]
        flight.pending -= 1
        if flight.pending:
            return account, outcomes
        del self.in_flight[account.key]
        written_off, deficit = (account, ZERO_MONEY) if account.positions else account.write_off()
        outcomes.append(LiquidationCompletion(id=f"{fill.id}:liquidation_completion", ts=fill.ts, plan=flight.plan_id,
                                              fill=fill, deficit=deficit, balance=balance, line=line))
        return written_off, outcomes

    def account_row(self, key: str) -> dict[str, Any]:
        """Return an account's plan in flight and oracle wait as stored row fields."""
        flight = self.in_flight.get(key)
        return {"plan": flight.to_row() if flight else None, "awaiting_oracle": key in self.awaiting_oracle,
                "unfilled": key in self.unfilled}

    def rests(self, key: str, row: dict[str, Any]) -> bool:
        """Tell whether an account has no plan in flight and waits for the oracle as its stored `row` says."""
        return row["plan"] is None and key not in self.in_flight and \
            row["awaiting_oracle"] == (key in self.awaiting_oracle) and row.get("unfilled") == (key in self.unfilled)

    def load_account_row(self, key: str, row: dict[str, Any]) -> None:
        """Take back an account's `account_row` fields."""
        if row["plan"]:
            self.in_flight[key] = InFlight(*row["plan"])
        if row["awaiting_oracle"]:
            self.awaiting_oracle.add(key)
        if row.get("unfilled"):  # rows written before it
            self.unfilled.add(key)


def unfillable(proposal: LiquidationProposal) -> str | None:
    """Return why a fill through the input could not carry a close of the proposal (a size, price or fee of 1e20 or
    more, which the input refuses, of a position grown by several fills or marked at a price past all sense), or
    None: a plan of such a close would stay in flight for ever."""
    for close in proposal.closes:
        for name in ("size", "price", "fee", "liquidator_fee"):
            if abs(value := getattr(close, name)) >= DECIMAL_BOUND:
                return f"close of {close.market}: {name} {value} is past the input's bound of 1e20"
    return None


def liquidator_for(key: str, partitions: int) -> int:
    """Return the liquidator's subaccount that fills the plans of account `key`: the first whose key lands in the
    same one of `partitions` input partitions."""
    numbered = tuple(range(partitions))
    home = partition_of(key, numbered)
    return next(s for s in range(1 << 16) if partition_of(account_key(LIQUIDATOR, s), numbered) == home)


def venue_events(plans: list[LiquidationPlan], accounts: Container[str], buffer: ReorderBuffer,
                 check: Callable[[Any], str | None], out: Outputs, partitions: int) -> list[Keyed]:
    """Return the venue's fills carrying out these plans (and a liquidator's float while it has no account)
    that validate under `check`, dead-lettering the others; hold later events until they come back."""
    sent: list[Keyed] = []
    for plan in plans:
        float_ = liquidator_float(plan.ts, liquidator_for(account_key(plan.wallet, plan.subaccount), partitions))
        if float_[1] not in accounts and not buffer.coming(float_[2]["id"]) and float_ not in sent:
            sent.append(float_)
    sent += [fill for plan in plans for fill in liquidation_fills(plan, partitions)]
    valid = [(topic, key, event) for topic, key, event in sent if usable(topic, event, check, out)]
    buffer.expect(event["id"] for _, _, event in valid)
    return valid


def usable(topic: str, event: dict[str, Any], check: Callable[[Any], str | None], out: Outputs) -> bool:
    """Tell whether a venue event validates; dead-letter it otherwise (it is then never awaited)."""
    checked = validate(VENUE_MODELS[topic], topic, event, event.get("ts", 0), check)
    if isinstance(checked, DeadLetter):
        out.dead_letters.append(checked)
    return not isinstance(checked, DeadLetter)


def liquidator_float(ts: int, subaccount: int = 0) -> Keyed:
    """Return a liquidator subaccount's one deposit, at event time `ts` (its first plan's): its id makes a second
    one a no-op."""
    return ("accounts.changes", account_key(LIQUIDATOR, subaccount), {
        "id": f"venue:float:{account_key(LIQUIDATOR, subaccount)}", "ts": ts, "wallet": LIQUIDATOR,
        "subaccount": subaccount, "kind": "deposit", "amount": str(LIQUIDATOR_FLOAT), "signature": "", "slot": 0})


def liquidation_fills(plan: LiquidationPlan, partitions: int) -> list[Keyed]:
    """Return the fills that carry out a plan: the account takes at the plan's price, the liquidator of its
    partition (of `partitions`) makes."""
    key = account_key(plan.wallet, plan.subaccount)
    liquidator = liquidator_for(key, partitions)
    out: list[Keyed] = []
    for n, close in enumerate(plan.closes):
        out.append(("trades.fills", key,
                    venue_fill(plan, n, close, plan.wallet, plan.subaccount, close.side, close.fee, "taker")))
        out.append(("trades.fills", account_key(LIQUIDATOR, liquidator),
                    venue_fill(plan, n, close, LIQUIDATOR, liquidator, OPPOSITE[close.side],
                               close.liquidator_fee.copy_negate(), "maker")))
    return out


def venue_fill(plan: LiquidationPlan, n: int, close: PlannedClose, wallet: str, subaccount: int, side: str,
               fee: Decimal, liquidity: str) -> dict[str, Any]:
    """Return one account's side of close `n` of a plan, its id `<plan>:<n>:<side>`; the plan's digest in place of
    its id when that would pass the input's bound, which the fill goes back through (a plan made after an event of
    a long id, or after a fill of the liquidator's own plan, itself named after the one before: refused there, the
    fill left the plan in flight for ever)."""
    tail = f":{n}:{side}"
    head = plan.id if len(plan.id) + len(tail) <= ID_CHARS else hashlib.sha256(plan.id.encode()).hexdigest()
    return {"id": head + tail, "ts": plan.ts, "market": close.market, "wallet": wallet,
            "subaccount": subaccount, "side": side, "size": str(close.size), "price": str(close.price),
            "fee": str(fee), "liquidity": liquidity, "signature": "", "slot": 0, "liquidation": plan.id}
