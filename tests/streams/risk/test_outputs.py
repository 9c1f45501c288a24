"""The engine's outputs: messages and runs of them in one order, read one by one; audit entries restamped."""

from decimal import Decimal

import pytest

from quantdesk.messages import Message, dump
from streams.risk.outputs import ACTOR, Runs, audit, by_account, keyed, restamped
from streams.risk.funding_bytes import close_written
from tests.streams.risk.test_funding_bytes import close_columns

SOURCE = Message(id="tick:BTC-PERP:7200000", ts=7_200_000)


def payments(*wallets: str, params: str = "v1"):
    """Return a close's written payments of `wallets`, each paying 1e-9 USD per its place."""
    holders = [(w, 0, Decimal("0.5"), i + 1, 10) for i, w in enumerate(wallets)]
    return close_written(close_columns(holders), SOURCE, dump(SOURCE), "BTC-PERP", 3_600_000, Decimal(1), params,
                         ACTOR)


def test_runs_and_single_messages_read_in_their_order_and_count_every_message() -> None:
    run = payments("a", "b", "c", "d")
    single = next(iter(payments("x")))
    out = Runs([run.part(0, 2), single])
    out += [run.part(2, 4)]
    assert [p.wallet for p in out] == ["a", "b", "x", "c", "d"] and len(out) == 5
    assert [out[i].wallet for i in range(-5, 5)] == ["a", "b", "x", "c", "d"] * 2
    assert list(out.singles()) == [single] and out == list(out)
    with pytest.raises(IndexError):
        out[5]
    assert [k if isinstance(k, tuple) else len(k) for k in keyed(out, by_account)] == [2, ("x:0", single), 2]


def test_audit_entries_under_another_version_are_restamped_and_runs_under_it_kept_whole() -> None:
    run, other = payments("a", "b").audits, payments("c", params="v2").audits
    single = audit(SOURCE, "m", "liquidations_paused", {}, params="v1")
    out = restamped(Runs([run, single, other]), "v2")
    assert [a.params for a in out] == ["v2"] * 4 and out.parts[-1] is other
    assert list(out)[:3] == [*(e.model().model_copy(update={"params": "v2"}) for e in run),
                             single.model_copy(update={"params": "v2"})]
    assert restamped(Runs([run]), "v1").parts == [run]
