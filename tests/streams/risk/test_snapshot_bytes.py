"""Snapshots written from integer columns are the bytes pydantic writes for them, figure by figure."""

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from bench.holders import built_engine, moves
from quantdesk.messages import AccountSnapshot
from streams.risk.snapshot_bytes import (
    ACCOUNT_FIGURES, decimal_text, snapshot_bytes, snapshot_columns)

COEFFICIENTS = st.one_of(st.integers(-(2**63) + 1, 2**63 - 1), st.integers(-10**7, 10**7))
EXPONENTS = st.one_of(st.integers(-30, 30), st.sampled_from((-12, -9, -4, 0)))


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


@given(COEFFICIENTS, EXPONENTS)
def test_a_figure_prints_as_str_of_its_decimal(coefficient: int, exponent: int) -> None:
    expected = Decimal(coefficient).scaleb(exponent) if coefficient else Decimal((0, (0,), exponent))
    assert decimal_text(coefficient, exponent) == str(expected)


def test_the_forms_decimal_chooses_between_plain_and_scientific() -> None:
    assert [decimal_text(c, e) for c, e in ((0, -9), (15, -9), (1_000_000_000_000, -9), (-4, -3), (1, 3),
                                            (123456, -12), (1234567, -12), (977990, -4), (50025, 0))] == [
        "0E-9", "1.5E-8", "1000.000000000", "-0.004", "1E+3", "1.23456E-7", "0.000001234567", "97.7990", "50025"]


@given(st.lists(SNAPSHOTS, min_size=1, max_size=4))
def test_snapshots_written_from_columns_are_pydantics_bytes(snapshots: list[AccountSnapshot]) -> None:
    assert snapshot_bytes(snapshot_columns(snapshots)) == [s.__pydantic_serializer__.to_json(s) for s in snapshots]


def test_the_snapshots_a_move_publishes_are_written_the_same_from_columns() -> None:
    engine = built_engine(300, integers=False)  # the Decimal engine's models
    states = engine.apply(moves(1)[0]).states
    assert len(states) > 100 and any(p.liquidation_price is not None for s in states for p in s.positions)
    assert snapshot_bytes(snapshot_columns(states)) == [s.__pydantic_serializer__.to_json(s) for s in states]
