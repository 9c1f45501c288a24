"""The wire format is exact: decimals keep every digit, and a batch of models encodes as the generic path does; a
run's parts read their own rows."""

from decimal import Decimal
from typing import Any

import numpy as np
import orjson
from hypothesis import given
from hypothesis import settings as examples
from hypothesis import strategies as st

from quantdesk.messages import AccountSnapshot, AuditEntry, PositionFigures
from quantdesk.wire import Encoded, EncodedRun, decode, encode, encode_batch


def test_decimals_cross_the_wire_without_losing_a_digit() -> None:
    value = Decimal("65000.123456789012345678")
    assert decode(encode_batch([{"price": value}])) == [{"price": "65000.123456789012345678"}]
    assert decode(b'{"a": 1}') == [{"a": 1}]


DECIMALS = st.decimals(allow_nan=False, allow_infinity=False)
TEXT = st.text(max_size=6)
SCALARS = (st.none() | st.booleans() | st.integers(-2**63, 2**64 - 1) | TEXT | DECIMALS
           | st.floats(allow_nan=False, allow_infinity=False))  # integers as orjson takes them
JSONISH = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
                       max_leaves=8)


@st.composite
def snapshots(draw: st.DrawFn) -> AccountSnapshot:
    """Return an account state with positions, optional figures and an extra field."""
    money = {f: draw(DECIMALS) for f in ("collateral", "equity", "maintenance_margin", "initial_margin",
                                         "free_collateral", "health")}
    positions = [PositionFigures(market=draw(TEXT), size=draw(DECIMALS), entry_price=draw(DECIMALS),
                                 upnl=draw(DECIMALS), liquidation_price=draw(st.none() | DECIMALS),
                                 notional=draw(DECIMALS)) for _ in range(draw(st.integers(0, 3)))]
    return AccountSnapshot(id=draw(TEXT.map(lambda t: f"s{t}".replace("\n", ""))), ts=draw(st.integers(0, 2**53)),
                           wallet=draw(TEXT), state="healthy", leverage=draw(st.none() | DECIMALS),
                           positions=positions, note=draw(JSONISH), **money)


@examples(max_examples=100, deadline=None)
@given(st.lists(snapshots(), min_size=1, max_size=4), st.lists(st.dictionaries(TEXT, JSONISH, max_size=4), max_size=3))
def test_a_batch_of_models_encodes_to_the_bytes_of_the_generic_path(states: list[AccountSnapshot],
                                                                    data: list[dict[str, Any]]) -> None:
    audits = [AuditEntry(id=f"a{n}", ts=n, actor="risk-engine", action="x", subject="w:0", data=d)
              for n, d in enumerate(data)]
    for batch in (states, audits):
        assert encode_batch(batch) == encode(batch)
    assert encode_batch([*states, *audits]) == encode([*states, *audits])  # mixed classes: the generic path
    for batch in (states, audits, [*states, *audits]):  # encoded once, then joined: the same bytes
        assert encode_batch([Encoded.of(event) for event in batch]) == encode(batch)
    mixed = [Encoded.of(event) if n % 2 else event for n, event in enumerate([*states, *audits])]
    assert encode_batch(mixed) == encode([*states, *audits])  # some written already: the others encoded apart


def run_of(events: list[tuple[str, dict]]) -> EncodedRun:
    """Return keyed events as one run written together, each followed by a comma."""
    written = [orjson.dumps(e) + b"," for _, e in events]
    return EncodedRun(b"".join(written), np.cumsum([0, *map(len, written)]), [k for k, _ in events], 0, len(events), 0)


def mixed(events: list[tuple[str, dict]]) -> list[tuple[str, dict] | EncodedRun]:
    """Return keyed events as runs of seven and single events, by turns, in order."""
    parts = [run_of(events[at:at + 7]) if at % 2 else events[at:at + 7] for at in range(0, len(events), 7)]
    return [item for part in parts for item in (part if isinstance(part, list) else [part])]


def test_a_runs_parts_read_their_own_rows_and_keys() -> None:
    run = run_of([(f"k{n}", {"n": n}) for n in range(10)])
    part = run.part(3, 7)
    assert len(part) == 4 and part.run_keys() == ["k3", "k4", "k5", "k6"]
    assert [orjson.loads(part.row(r))["n"] for r in range(4)] == [3, 4, 5, 6]
    assert part.part(1, 3).run_keys() == ["k4", "k5"] and part.part(1, 3).row(0) == run.row(4)
