"""Decoding a Kafka message: the one-call path for a wholly valid array gives what validating item by item gives."""

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from quantdesk.messages import OracleTick
from streams.decode import all_valid, decode_events, items_of, validate

TOPIC = "oracle.ticks"
TS = 1_767_225_600_000


def tick(n: int, **changes: Any) -> dict[str, Any]:
    """Return a valid tick as a producer writes it."""
    return {"id": f"t{n}", "ts": TS + n, "market": "BTC-PERP", "price": f"{100 + n}.5", "conf": "0.01",
            "publish_time": TS + n, **changes}


BROKEN = [{"price": "-1e400"}, {"ts": -1}, {"id": ""}, {"conf": "NaN"}, {"market": 7}]
PRICES = st.one_of(st.decimals(allow_nan=False, allow_infinity=False, places=8).map(str),
                   st.floats(allow_nan=False, allow_infinity=False, min_value=1e-9, max_value=1e12))


def one_by_one(raw: bytes, check: Any = None) -> tuple[list[Any], list[Any]]:
    """Return what validating each item on its own gives: valid events and dead letters."""
    checked = [validate(OracleTick, TOPIC, item, 5, check) for item in items_of(raw)]
    return [c for c in checked if isinstance(c, OracleTick)], [c for c in checked if not isinstance(c, OracleTick)]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(PRICES, st.sampled_from([None, *range(len(BROKEN))])), min_size=1, max_size=8))
def test_a_batch_decodes_as_its_items_do_one_by_one(items: list[tuple[Any, int | None]]) -> None:
    raw = orjson.dumps([tick(n, **{"price": price, **({} if broken is None else BROKEN[broken])})
                        for n, (price, broken) in enumerate(items)])
    assert decode_events(OracleTick, TOPIC, raw, 5) == one_by_one(raw)


def test_an_event_the_check_refuses_is_a_dead_letter_beside_the_others() -> None:
    raw = orjson.dumps([tick(1), tick(2, market="DOGE-PERP"), tick(3)])
    check = lambda e: "unknown market" if e.market == "DOGE-PERP" else None  # noqa: E731
    good, dead = decode_events(OracleTick, TOPIC, raw, 5, check)
    assert [e.id for e in good] == ["t1", "t3"]
    assert [d.reason for d in dead] == ["unknown market"] and '"DOGE-PERP"' in dead[0].payload
    assert (good, dead) == one_by_one(raw, check)


def test_only_a_wholly_valid_array_takes_the_one_call_path() -> None:
    assert [e.id for e in all_valid(OracleTick, orjson.dumps([tick(1), tick(2)]))] == ["t1", "t2"]
    assert all_valid(OracleTick, orjson.dumps([tick(1), tick(2, ts=-1)])) is None
    assert all_valid(OracleTick, orjson.dumps(tick(1))) is None  # a single event: the item path decodes it
    assert all_valid(OracleTick, b"[{oops") is None and all_valid(OracleTick, None) is None
    assert decode_events(OracleTick, TOPIC, orjson.dumps(tick(1)), 5)[0][0].id == "t1"
