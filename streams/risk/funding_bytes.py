"""A funding close's messages written as JSON bytes: each holder's payment, its ledger entry and its audit entry.

The bytes are those pydantic writes for the `FundingPayment`, `LedgerEntry` and "funding_paid" `AuditEntry` the
Decimal engine builds (`streams.risk.outputs`), byte for byte: the same fields in the same order (`v` the default
1, no extra field), each string as `escaped` gives it, each amount as `str(Decimal)` prints it. The audit's digest
is `quantdesk.wire.digest`'s: the canonical JSON of its input and data, the input's part written once per event.
A written message carries what the worker and the audit read of every one of them; it reads any other field from
its bytes (`Written`).
"""

import hashlib
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable

import orjson

from quantdesk.messages import AuditEntry, FundingPayment, LedgerEntry, Message, account_key
from quantdesk.wire import Written
from streams.risk.snapshot_bytes import escaped

_PAYMENT = (b'{"id":%b,"ts":%d,"v":1,"market":%b,"wallet":%b,"subaccount":%d,"size":"%b","payment":"%b",'
            b'"cumulative_index":"%b"}')
_LEDGER = (b'{"id":%b,"ts":%d,"v":1,"wallet":%b,"subaccount":%d,"kind":%b,"market":%b,"amount":"%b",'
           b'"balance_after":"%b","cause":%b}')
_AUDIT = (b'{"id":%b,"ts":%d,"v":1,"actor":%b,"action":"funding_paid","subject":%b,"data":{"market":%b,'
          b'"payment":"%b"},"causes":[%b],"params":%b,"digest":"%b"}')


@dataclass(slots=True)
class WrittenPayment(Written):
    """A funding payment written already, read as its `FundingPayment`: what its audit entry reads at hand."""

    MODEL = FundingPayment
    id: str
    wallet: str
    subaccount: int
    market: str
    payment: Decimal


@dataclass(slots=True)
class WrittenLedgerEntry(Written):
    """A ledger entry written already, read as its `LedgerEntry`: its account at hand."""

    MODEL = LedgerEntry
    wallet: str
    subaccount: int


@dataclass(slots=True)
class WrittenAudit(Written):
    """An audit entry written already, read as its `AuditEntry`: its subject and parameter version at hand."""

    MODEL = AuditEntry
    subject: str
    params: str


def funding_payment(*, id: str, ts: int, market: str, wallet: str, subaccount: int, size: Decimal, payment: Decimal,
                    cumulative_index: Decimal) -> WrittenPayment:
    """Write the `FundingPayment` of these fields."""
    return WrittenPayment(ts, _PAYMENT % (escaped(id), ts, escaped(market), escaped(wallet), subaccount,
                                          str(size).encode(), str(payment).encode(), str(cumulative_index).encode()),
                          id, wallet, subaccount, market, payment)


def ledger_entry(*, id: str, ts: int, wallet: str, subaccount: int, kind: str, market: str | None, amount: Decimal,
                 balance_after: Decimal, cause: str) -> WrittenLedgerEntry:
    """Write the `LedgerEntry` of these fields."""
    return WrittenLedgerEntry(ts, _LEDGER % (escaped(id), ts, escaped(wallet), subaccount, escaped(kind),
                                             b"null" if market is None else escaped(market), str(amount).encode(),
                                             str(balance_after).encode(), escaped(cause)), wallet, subaccount)


def funding_paid(source: Message, dumped: dict[str, Any], params: str,
                 actor: str) -> Callable[[WrittenPayment], WrittenAudit]:
    """Return a writer of the "funding_paid" audit entry of a payment that event `source` (`dumped`: as `dump`
    gives it) made, taken by `actor` under parameter version `params`: `outputs.audit`'s entry, byte for byte."""
    ts, cause, written_params, written_actor = source.ts, escaped(source.id), escaped(params), escaped(actor)
    canonical_input = b'"},"input":' + orjson.dumps(dumped, option=orjson.OPT_SORT_KEYS) + b"}"  # after "data"

    def write(payment: WrittenPayment) -> WrittenAudit:
        """Write the payment's audit entry."""
        subject = account_key(payment.wallet, payment.subaccount)
        market, paid = escaped(payment.market), str(payment.payment).encode()
        digest = hashlib.sha256(b'{"data":{"market":%b,"payment":"%b%b' % (market, paid, canonical_input))
        return WrittenAudit(ts, _AUDIT % (escaped(f"{source.id}:{subject}:funding_paid:{payment.id}"), ts,
                                          written_actor, escaped(subject), market, paid, cause, written_params,
                                          digest.hexdigest().encode()), subject, params)
    return write
