"""Snapshots written from integer columns are the bytes pydantic writes for them, figure by figure."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.holders import built_engine, moves
from quantdesk.messages import AccountSnapshot
from tests.streams.risk.test_json_text import COEFFICIENTS, EXPONENTS
from streams.risk.restatement import warm
from streams.risk.snapshot_bytes import ACCOUNT_FIGURES, snapshot_bytes, snapshot_columns, snapshot_written


@pytest.fixture(autouse=True, scope="module")
def loaded() -> None:
    """Load the compiled writers before hypothesis times an example (from numba's cache: slow on a loaded machine)."""
    warm()


def figures(allow_none: bool = False) -> st.SearchStrategy[Decimal | None]:
    """Return Decimals of any coefficient and exponent (no −0: the engine publishes none), or None."""
    drawn = st.builds(lambda c, e: Decimal(c).scaleb(e) if c else Decimal((0, (0,), e)), COEFFICIENTS, EXPONENTS)
    return st.one_of(drawn, st.none()) if allow_none else drawn


TEXTS = st.text(st.characters(codec="utf-8", exclude_characters="\n"), min_size=1, max_size=12)
POSITIONS = st.fixed_dictionaries({"market": TEXTS, "size": figures(), "entry_price": figures(), "upnl": figures(),
                                   "liquidation_price": figures(True), "notional": figures()})
SNAPSHOTS = st.builds(
    lambda i, ts, w, sub, state, f, lev, ps: AccountSnapshot(
        id=i, ts=ts, wallet=w, subaccount=sub, state=state, **dict(zip(ACCOUNT_FIGURES[:5], f)), leverage=lev,
        health=f[5], positions=ps),
    TEXTS, st.integers(0, 2**63 - 1), TEXTS, st.integers(0, 2**63 - 1), TEXTS, st.lists(figures(), min_size=6,
                                                                                       max_size=6),
    figures(True), st.lists(POSITIONS, max_size=4))


@given(st.lists(SNAPSHOTS, min_size=1, max_size=4))
def test_snapshots_written_from_columns_are_pydantics_bytes(snapshots: list[AccountSnapshot]) -> None:
    assert snapshot_bytes(snapshot_columns(snapshots)) == [s.__pydantic_serializer__.to_json(s) for s in snapshots]


@given(SNAPSHOTS)
def test_a_snapshot_written_from_its_fields_is_pydantics_bytes_and_reads_as_it(snapshot: AccountSnapshot) -> None:
    written = snapshot_written(snapshot.model_dump())
    assert written.json == snapshot.__pydantic_serializer__.to_json(snapshot) and written.model() == snapshot
    assert (written.ts, written.wallet, written.subaccount, written.state) == (snapshot.ts, snapshot.wallet,
                                                                               snapshot.subaccount, snapshot.state)


def test_the_snapshots_a_move_publishes_are_written_the_same_from_columns() -> None:
    engine = built_engine(300, integers=False)  # the Decimal engine's models
    states = engine.apply(moves(1)[0]).states
    assert len(states) > 100 and any(p.liquidation_price is not None for s in states for p in s.positions)
    assert snapshot_bytes(snapshot_columns(states)) == [s.__pydantic_serializer__.to_json(s) for s in states]
