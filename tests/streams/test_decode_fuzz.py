"""Hostile input at the trust boundary: every hostile event is a dead letter with a reason, every good one decodes
beside it, and what the sink would store of a good one equals its input exactly."""

import json
import re
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quantdesk.messages import DECIMAL_BOUND, EARLIEST_MS, INPUT_MODELS, LATEST_MS, SCALE
from quantdesk.warehouse import Warehouse, arrow_table
from quantdesk.kafka.topics import STORED_TABLES as TABLES
from streams.agents.sink import TableWriter, fields
from streams.decode import decode_events

TS = 1_767_225_600_000
RAW = "@@raw:"  # a text that stands for a JSON number written as is (more digits than a float keeps)
# Each topic's fields by kind: what its bound is, hence what is hostile to it.
KINDS: dict[str, dict[str, str]] = {
    "oracle.ticks": {"id": "id", "ts": "stamp", "market": "name", "price": "decimal", "conf": "nonnegative",
                     "publish_time": "stamp", "status": "name", "source": "name", "slot": "slot"},
    "trades.fills": {"id": "id", "ts": "stamp", "market": "name", "wallet": "name", "subaccount": "subaccount",
                     "side": "side", "size": "positive", "price": "positive", "fee": "decimal",
                     "liquidity": "liquidity", "signature": "text", "slot": "slot"},
    "accounts.changes": {"id": "id", "ts": "stamp", "wallet": "name", "subaccount": "subaccount",
                         "kind": "change", "amount": "positive", "signature": "text", "slot": "slot"},
}
LITERALS = {"side": ["buy", "sell"], "liquidity": ["taker", "maker"], "change": ["deposit", "withdraw"]}
NUMBERS = {"stamp": (EARLIEST_MS, LATEST_MS - 1), "slot": (0, 2**64 - 1), "subaccount": (0, 2**32 - 1)}

exact = st.builds(lambda n, places: Decimal(n).scaleb(-places), st.integers(-(10**38) + 1, 10**38 - 1),
                  st.integers(0, SCALE)).filter(lambda d: abs(d) < DECIMAL_BOUND)
written = st.sampled_from([str, lambda d: RAW + str(d), lambda d: float(d) if len(d.as_tuple().digits) < 16 else str(d)])


def good_value(kind: str) -> st.SearchStrategy[Any]:
    """Return values a field of `kind` takes, in the ways a producer may write them."""
    if kind in ("decimal", "positive", "nonnegative"):
        low = {"decimal": None, "positive": Decimal("1e-18"), "nonnegative": Decimal(0)}[kind]
        values = exact.filter(lambda d: low is None or d >= low)
        return st.tuples(values, written).map(lambda p: p[1](p[0]))
    if kind in NUMBERS:
        return st.integers(*NUMBERS[kind])
    if kind in LITERALS:
        return st.sampled_from(LITERALS[kind])
    if kind in ("id", "name"):  # no line break: names become parts of ids
        return st.text(min_size=1, max_size=512 if kind == "id" else 256).filter(lambda t: "\n" not in t)
    return st.text(max_size=256)


wrong_type = st.one_of(st.booleans(), st.none(), st.lists(st.integers(), max_size=3),
                       st.recursive(st.booleans() | st.none(), lambda inner: st.dictionaries(st.text(max_size=3), inner, max_size=2)
                                    | st.lists(inner, max_size=2), max_leaves=30))
huge = st.one_of(st.floats(min_value=1e20, allow_infinity=False), st.floats(max_value=-1e20, allow_infinity=False), st.integers(min_value=DECIMAL_BOUND),
                 st.integers(min_value=20, max_value=400).map(lambda e: f"-1e{e}"))
# 19 places, the last not 0, written out digit by digit (Decimal arithmetic would round past 28 digits)
fractional = st.integers(min_value=1).filter(lambda n: n % 10).map(lambda n: f"{n // 10**19}.{n % 10**19:019d}")
non_finite = st.sampled_from(["NaN", "-NaN", "sNaN", "Infinity", "-Infinity", "inf", "1e400", "-1e400"])
letters = st.text(st.characters(categories=["L"]), min_size=1, max_size=50)


def hostile_value(kind: str) -> st.SearchStrategy[Any]:
    """Return values outside what a field of `kind` holds."""
    if kind in ("decimal", "positive", "nonnegative"):
        below = {"positive": st.just("0"), "nonnegative": st.just("-1e-18")}.get(kind, st.nothing())
        return st.one_of(huge, fractional, non_finite, letters, wrong_type, below)
    if kind in NUMBERS:
        low, high = NUMBERS[kind]
        return st.one_of(st.integers(max_value=low - 1), st.integers(min_value=high + 1), st.floats(allow_nan=False, allow_infinity=False),
                         st.integers(low, high).map(str), wrong_type)
    if kind in LITERALS:
        return st.one_of(st.text(max_size=20).filter(lambda t: t not in LITERALS[kind]), wrong_type)
    longest = 512 if kind == "id" else 256
    empty = st.just("") if kind != "text" else st.nothing()
    broken = st.text(max_size=20).map(lambda t: f"{t}\n{t}") if kind != "text" else st.nothing()
    return st.one_of(empty, broken, st.text(min_size=longest + 1, max_size=longest + 400), st.integers(), wrong_type)


def event(topic: str, hostile_field: str | None) -> st.SearchStrategy[dict[str, Any]]:
    """Return events of a topic: good in every field, or hostile in one."""
    kinds = KINDS[topic]
    return st.fixed_dictionaries({name: hostile_value(kind) if name == hostile_field else good_value(kind)
                                  for name, kind in kinds.items()})


def batch(topic: str) -> st.SearchStrategy[list[tuple[bool, dict[str, Any]]]]:
    """Return a message's events, at least one hostile, each marked hostile or not."""
    hostile = st.sampled_from(sorted(KINDS[topic])).flatmap(lambda name: event(topic, name)).map(lambda e: (True, e))
    good = event(topic, None).map(lambda e: (False, e))
    return st.lists(st.one_of(hostile, good), min_size=1, max_size=8).filter(lambda b: any(h for h, _ in b))


def wire(events: list[dict[str, Any]]) -> bytes:
    """Return events as the JSON array a producer writes, raw numbers as written."""
    return re.sub(f'"{RAW}([^"]*)"', r"\1", json.dumps(events)).encode()


def as_written(kind: str, value: Any) -> Any:
    """Return the value a good field's input means."""
    if kind not in ("decimal", "positive", "nonnegative"):
        return value
    return Decimal(value.removeprefix(RAW) if isinstance(value, str) else repr(value))


def stored(column: pa.ChunkedArray) -> Any:
    """Return what a column holds, times as their ms."""
    return column.cast(pa.int64())[0].as_py() if pa.types.is_timestamp(column.type) else column[0].as_py()


def check(topic: str, items: list[tuple[bool, dict[str, Any]]], writer: TableWriter, schema: pa.Schema) -> None:
    """Assert the boundary's promise over one message."""
    for n, (_, item) in enumerate(items):
        item["id"] = f"{n}:{item['id']}" if isinstance(item["id"], str) and item["id"] else item["id"]
    raw = wire([item for _, item in items])
    good, dead = decode_events(INPUT_MODELS[topic], topic, raw, TS)
    wanted = [item for hostile, item in items if not hostile]
    assert len(dead) == len(items) - len(wanted) and all(d.reason for d in dead)
    assert [e.id for e in good] == [item["id"] for item in wanted]
    table = arrow_table(schema, [writer.row(fields(e)) for e in good])
    for n, item in enumerate(wanted):
        row = table.slice(n, 1)
        for name, value in item.items():
            assert stored(row.column(name)) == as_written(KINDS[topic][name], value), name


TOPICS = sorted(KINDS)
FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                         HealthCheck.too_slow])
HEAVY = settings(FAST, max_examples=1000)


def run(runs: Any, topic: str, warehouse: Warehouse) -> None:
    """Check the topic's generated messages against the warehouse's column types, as `runs` says."""
    writer = TableWriter(warehouse, TABLES[topic])
    schema = warehouse.arrow_schema(writer.table, writer.columns)
    runs(given(batch(topic))(lambda items: check(topic, items, writer, schema)))()


@pytest.mark.parametrize("topic", TOPICS)
def test_hostile_input_is_dead_lettered_and_good_input_stored_exactly(topic: str, warehouse: Warehouse) -> None:
    run(FAST, topic, warehouse)


@pytest.mark.heavy
@pytest.mark.parametrize("topic", TOPICS)
def test_a_thousand_hostile_messages_per_topic(topic: str, warehouse: Warehouse) -> None:
    run(HEAVY, topic, warehouse)
