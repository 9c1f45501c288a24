"""A funding close's payments, ledger entries and audit entries written as bytes are pydantic's, read as its models."""

from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from quantdesk.messages import LEDGER_KINDS, FundingPayment, LedgerEntry, Message, account_key, dump
from quantdesk.wire import digest
from streams.domain.fixed_margin import money
from streams.risk.funding_bytes import (CloseColumns, close_written, funding_paid, funding_payment, ledger_entry,
                                        ledger_written, warm)
from streams.risk.snapshot_bytes import escaped, joined
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


@pytest.fixture(autouse=True, scope="module")
def loaded() -> None:
    """Load the close's compiled writer before hypothesis times an example (from numba's cache: slow on a loaded
    machine)."""
    warm()


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


MONEY_UNITS = st.one_of(st.integers(-(2**62), 2**62), st.integers(-10**6, 10**6))
HOLDERS = st.lists(st.tuples(TEXTS, SUBACCOUNTS, AMOUNTS, MONEY_UNITS.filter(bool), MONEY_UNITS), min_size=1,
                   max_size=6)


def close_columns(holders: list[tuple[str, int, Decimal, int, int]]) -> CloseColumns:
    """Return holders (wallet, sub-account, size, owed and balance after in 1e-9 USD) as a close's columns."""
    texts = [(escaped(account_key(w, s))[1:-1], escaped(w), escaped(str(size))) for w, s, size, _, _ in holders]
    strings, at = joined([t for row in texts for t in row])
    return CloseColumns([account_key(w, s) for w, s, *_ in holders], strings,
                        np.stack([at[:-1], at[1:]], axis=1).reshape(len(holders), 3, 2),
                        np.array([s for _, s, *_ in holders], np.int64),
                        np.array([(owed, -owed, balance) for *_, owed, balance in holders], np.int64))


@given(SOURCES, HOLDERS, TEXTS, TIMES, AMOUNTS, TEXTS)
def test_a_closes_messages_written_from_columns_are_each_holders_written_one_by_one(
        source: Message, holders: list[tuple[str, int, Decimal, int, int]], market: str, end: int, index: Decimal,
        params: str) -> None:
    columns = close_columns(holders)
    payments = close_written(columns, source, dump(source), market, end, index, params, ACTOR)
    ledger = ledger_written(columns, source, market)
    audited = funding_paid(source, dump(source), params, ACTOR)
    expected = [funding_payment(id=f"funding:{market}:{end}:{account_key(w, s)}", ts=source.ts, market=market,
                                wallet=w, subaccount=s, size=size, payment=money(owed), cumulative_index=index)
                for w, s, size, owed, _ in holders]
    assert [p.json for p in payments] == [p.json for p in expected]
    assert [a.json for a in payments.audits] == [audited(p).json for p in expected]
    assert [e.json for e in ledger] == [
        ledger_entry(id=f"{source.id}:{account_key(w, s)}:0:funding", ts=source.ts, wallet=w, subaccount=s,
                     kind="funding", market=market, amount=-money(owed), balance_after=money(balance),
                     cause=source.id).json for w, s, _, owed, balance in holders]
    assert payments.run_keys() == ledger.run_keys() == [account_key(w, s) for w, s, *_ in holders]


def test_a_part_of_a_closes_payments_holds_the_same_rows_of_their_audits() -> None:
    source = Message(id="tick:BTC-PERP:1", ts=1)
    holders = [(f"w{i}", 0, Decimal("0.5"), i + 1, 100) for i in range(5)]
    payments = close_written(close_columns(holders), source, dump(source), "BTC-PERP", 3_600_000, Decimal(1), "p",
                             ACTOR)
    part = payments.part(1, 4)
    assert [p.wallet for p in part] == ["w1", "w2", "w3"]
    assert [p.audit.subject for p in part] == [a.subject for a in part.audits] == ["w1:0", "w2:0", "w3:0"]
    assert [p.payment for p in part] == [money(2), money(3), money(4)]
