"""A funding close's payments, ledger entries and audit entries written as bytes are pydantic's, read as its models."""

from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from quantdesk.messages import LEDGER_KINDS, FundingPayment, LedgerEntry, Message, account_key, dump
from quantdesk.wire import digest
from streams.risk.funding_bytes import funding_paid, funding_payment, ledger_entry
from streams.risk.outputs import ACTOR, audit

CHARACTERS = st.one_of(st.characters(codec="utf-8"), st.sampled_from('"\\/\x00\x01\x1f\x7f\t\u2028é€😀'))
TEXTS = st.text(CHARACTERS, max_size=12)
IDS = st.text(CHARACTERS.filter(lambda c: c != "\n"), min_size=1, max_size=12)  # a message id has no line break
AMOUNTS = st.builds(lambda sign, digits, exponent: Decimal((sign, tuple(digits), exponent)), st.integers(0, 1),
                    st.lists(st.integers(0, 9), min_size=1, max_size=30), st.integers(-30, 30))
SUBACCOUNTS = st.integers(0, 2**31)
TIMES = st.integers(0, 2**63 - 1)
PAYMENTS = st.fixed_dictionaries({"id": IDS, "ts": TIMES, "market": TEXTS, "wallet": TEXTS, "subaccount": SUBACCOUNTS,
                                  "size": AMOUNTS, "payment": AMOUNTS, "cumulative_index": AMOUNTS})
LEDGER = st.fixed_dictionaries({"id": IDS, "ts": TIMES, "wallet": TEXTS, "subaccount": SUBACCOUNTS,
                                "kind": st.sampled_from(LEDGER_KINDS), "market": st.none() | TEXTS, "amount": AMOUNTS,
                                "balance_after": AMOUNTS, "cause": TEXTS})
JSONISH = st.recursive(st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1) | TEXTS,
                       lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXTS, inner, max_size=3),
                       max_leaves=8)
SOURCES = st.builds(lambda i, ts, extra: Message(id=i, ts=ts, **extra), IDS, TIMES,
                    st.dictionaries(TEXTS.filter(lambda k: k not in ("id", "ts", "v")), JSONISH, max_size=4))


@given(PAYMENTS)
def test_a_written_payment_is_pydantics_bytes_and_reads_as_its_model(fields: dict[str, Any]) -> None:
    written, model = funding_payment(**fields), FundingPayment(**fields)
    assert written.json == model.__pydantic_serializer__.to_json(model)
    assert written.model() == model and (written.size, written.cumulative_index) == (model.size, model.cumulative_index)


@given(LEDGER)
def test_a_written_ledger_entry_is_pydantics_bytes_and_reads_as_its_model(fields: dict[str, Any]) -> None:
    written, model = ledger_entry(**fields), LedgerEntry(**fields)
    assert written.json == model.__pydantic_serializer__.to_json(model)
    assert written.model() == model and (written.market, written.amount) == (model.market, model.amount)


@given(SOURCES, PAYMENTS.filter(lambda p: "\n" not in p["wallet"]), TEXTS)  # the entry's id holds the wallet
def test_a_written_funding_paid_entry_is_the_audit_entrys_bytes_with_its_digest(source: Message,
                                                                                fields: dict[str, Any],
                                                                                params: str) -> None:
    payment = funding_payment(**fields)
    data = {"market": payment.market, "payment": str(payment.payment)}
    model = audit(source, account_key(payment.wallet, payment.subaccount), "funding_paid", data, payment.id,
                  params=params)
    written = funding_paid(source, dump(source), params, ACTOR)(payment)
    assert written.json == model.__pydantic_serializer__.to_json(model)
    assert written.digest == digest({"input": dump(source), "data": data})
    assert written.model() == model and (written.subject, written.params) == (model.subject, params)
