"""A funding close's messages written as JSON bytes: each holder's payment, its ledger entry and its audit entry.

The bytes are those pydantic writes for the `FundingPayment`, `LedgerEntry` and "funding_paid" `AuditEntry` the
Decimal engine builds (`streams.risk.outputs`), byte for byte: the same fields in the same order (`v` the default
1, no extra field), written by orjson, which escapes strings as pydantic does (`escaped`), each amount as the text
`str(Decimal)` gives it. The audit's digest is `quantdesk.wire.digest`'s: the canonical JSON of its input and data,
the input's part written once per event. A written message carries what the worker and the audit read of every
one of them; it reads any other field from its bytes (`Written`).
"""

import hashlib
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable

import orjson

from quantdesk.messages import AuditEntry, FundingPayment, LedgerEntry, Message, account_key
from quantdesk.wire import Written
from streams.risk.snapshot_bytes import escaped


@dataclass(slots=True)
class WrittenAudit(Written):
    """An audit entry written already, read as its `AuditEntry`: its subject and parameter version at hand."""

    MODEL = AuditEntry
    subject: str
    params: str


@dataclass(slots=True)
class WrittenPayment(Written):
    """A funding payment written already, read as its `FundingPayment`: what its audit entry reads at hand, and
    that entry once written (`funding_paid`: while the holder's figures are at hand, not in a second pass over a
    close's payments, by then out of the CPU's caches)."""

    MODEL = FundingPayment
    id: str
    wallet: str
    subaccount: int
    market: str
    payment: Decimal
    audit: WrittenAudit | None = None


@dataclass(slots=True)
class WrittenLedgerEntry(Written):
    """A ledger entry written already, read as its `LedgerEntry`: its account at hand."""

    MODEL = LedgerEntry
    wallet: str
    subaccount: int


def funding_payment(*, id: str, ts: int, market: str, wallet: str, subaccount: int, size: Decimal, payment: Decimal,
                    cumulative_index: Decimal) -> WrittenPayment:
    """Write the `FundingPayment` of these fields."""
    return WrittenPayment(ts, orjson.dumps({
        "id": id, "ts": ts, "v": 1, "market": market, "wallet": wallet, "subaccount": subaccount, "size": str(size),
        "payment": str(payment), "cumulative_index": str(cumulative_index)}), id, wallet, subaccount, market, payment)


def ledger_entry(*, id: str, ts: int, wallet: str, subaccount: int, kind: str, market: str | None, amount: Decimal,
                 balance_after: Decimal, cause: str) -> WrittenLedgerEntry:
    """Write the `LedgerEntry` of these fields."""
    return WrittenLedgerEntry(ts, orjson.dumps({
        "id": id, "ts": ts, "v": 1, "wallet": wallet, "subaccount": subaccount, "kind": kind, "market": market,
        "amount": str(amount), "balance_after": str(balance_after), "cause": cause}), wallet, subaccount)


def funding_paid(source: Message, dumped: dict[str, Any], params: str,
                 actor: str) -> Callable[[WrittenPayment], WrittenAudit]:
    """Return a writer of the "funding_paid" audit entry of a payment that event `source` (`dumped`: as `dump`
    gives it) made, taken by `actor` under parameter version `params`: `outputs.audit`'s entry, byte for byte."""
    canonical_input = b'"},"input":' + orjson.dumps(dumped, option=orjson.OPT_SORT_KEYS) + b"}"  # after "data"

    def write(payment: WrittenPayment) -> WrittenAudit:
        """Write the payment's audit entry."""
        subject, paid = account_key(payment.wallet, payment.subaccount), str(payment.payment)
        digest = hashlib.sha256(b'{"data":{"market":%b,"payment":"%b%b' % (escaped(payment.market), paid.encode(),
                                                                            canonical_input))
        return WrittenAudit(source.ts, orjson.dumps({
            "id": f"{source.id}:{subject}:funding_paid:{payment.id}", "ts": source.ts, "v": 1, "actor": actor,
            "action": "funding_paid", "subject": subject, "data": {"market": payment.market, "payment": paid},
            "causes": [source.id], "params": params, "digest": digest.hexdigest()}), subject, params)
    return write
