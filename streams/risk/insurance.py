"""The insurance fund and the socialised-loss ledger: one owner, moved by liquidation outcomes only.

The risk engine never reads the fund. A liquidation's fills send it outcomes (`quantdesk.messages`:
`InsuranceCredit`, `LiquidationCompletion`), each carrying the fill that caused it, and the fund applies
them in event order: a credit adds a close's insurance fee; a completion draws what the fund holds
towards the account's deficit and socialises the rest. What that causes comes back as outputs: the
audit entries (the fund's credits and draws with its balance, the account's `liquidation_completed`),
the account's ledger entries for the cover, and the `liquidation_completed` signal. No I/O: a
plain object that snapshots itself (`to_row`) and is rebuilt from that (`load_row`).
"""

from decimal import Decimal
from typing import Any, Iterable

from quantdesk.messages import InsuranceCredit, LiquidationCompletion, LiquidationOutcome
from streams.domain import EXACT, ZERO_MONEY
from streams.domain.account_signals import Holder, liquidation_completed
from streams.domain.accounts import Account
from streams.domain.ledger import covered
from streams.risk.outputs import Outputs, audit, decisions, ledger_entries

INSURANCE_FUND = "insurance-fund"  # its key, and the subject of its own audit entries: each credit and draw


class InsuranceFund:
    """The fund's balance and every loss it could not cover, to date."""

    def __init__(self, signals: bool = True) -> None:
        """Start empty; raise the `liquidation_completed` signal unless `signals` is off (as the engine's rules)."""
        self.balance = ZERO_MONEY
        self.socialised = ZERO_MONEY
        self.signals = signals

    def after(self, caused: Outputs) -> Outputs:
        """Apply the outcomes an event caused, in order; return what it caused followed by what they cause."""
        return caused.extend(self.apply_all(caused.outcomes)) if caused.outcomes else caused

    def apply_all(self, outcomes: Iterable[LiquidationOutcome]) -> Outputs:
        """Apply outcomes in order (event order); return what they cause."""
        out = Outputs()
        for outcome in outcomes:
            out.extend(self.apply(outcome))
        return out

    def apply(self, outcome: LiquidationOutcome) -> Outputs:
        """Apply one outcome; return what it causes."""
        if isinstance(outcome, InsuranceCredit):
            return self._credit(outcome)
        return self._complete(outcome)

    def _credit(self, credit: InsuranceCredit) -> Outputs:
        """Add a close's insurance fee; audit it with the balance."""
        self.balance = EXACT.add(self.balance, credit.amount)
        return Outputs(audit=[audit(credit.fill, INSURANCE_FUND, "insurance_credited", {
            "plan": credit.plan, "amount": str(credit.amount), "insurance_fund": str(self.balance)},
            params=credit.params)])

    def _complete(self, done: LiquidationCompletion) -> Outputs:
        """Draw what the fund holds towards the deficit, socialise the rest; audit, book and signal it."""
        fill, deficit = done.fill, done.deficit
        draw = min(deficit, max(self.balance, ZERO_MONEY))  # a fund in debt draws nothing
        self.balance = EXACT.subtract(self.balance, draw)
        self.socialised = EXACT.add(self.socialised, EXACT.subtract(deficit, draw))
        outcome = {"plan": done.plan, "deficit": str(deficit), "insurance_draw": str(draw),
                   "socialised_loss": str(EXACT.subtract(deficit, draw)), "insurance_fund": str(self.balance)}
        out = Outputs(audit=[audit(fill, fill.account, "liquidation_completed", outcome, params=done.params)])
        if draw:
            out.audit.append(audit(fill, INSURANCE_FUND, "insurance_drawn", {
                "plan": done.plan, "amount": str(draw.copy_negate()), "insurance_fund": str(self.balance)},
                params=done.params))
        out.ledger = ledger_entries(done.balance, covered(deficit, draw), Account(fill.wallet, fill.subaccount), fill,
                                    done.line)
        if self.signals:
            out.signals.append(liquidation_completed(Holder(fill.wallet, fill.subaccount), outcome, fill.market,
                                                     fill.id, fill.ts))
            out.audit += decisions(out, fill, done.params)
        return out

    def to_row(self) -> dict[str, Any]:
        """Return the fund as a stored row: its balance and the losses socialised to date."""
        return {"balance": str(self.balance), "socialised": str(self.socialised)}

    def load_row(self, row: dict[str, Any]) -> None:
        """Take back a `to_row` row."""
        self.balance, self.socialised = Decimal(row["balance"]), Decimal(row["socialised"])
