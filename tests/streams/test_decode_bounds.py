"""Input bounds at the trust boundary: each value its column cannot hold exactly is a dead letter naming the
field, every other input is kept exactly as written."""

import json
from decimal import Decimal
from typing import Any

import orjson
import pytest

from quantdesk.messages import EARLIEST_MS, INPUT_MODELS, LATEST_MS
from streams.decode import decode_events

TS = 1_767_225_600_000
GOOD: dict[str, dict[str, Any]] = {
    "oracle.ticks": {"id": "t", "ts": TS, "market": "BTC-PERP", "price": "65000.5", "conf": "1.5",
                     "publish_time": TS, "status": "trading", "source": "pyth", "slot": 7},
    "trades.fills": {"id": "f", "ts": TS, "market": "SOL-PERP", "wallet": "W", "subaccount": 1, "side": "buy",
                     "size": "2", "price": "101.5", "fee": "-0.01", "liquidity": "maker", "signature": "s", "slot": 7},
    "accounts.changes": {"id": "c", "ts": TS, "wallet": "W", "subaccount": 0, "kind": "deposit", "amount": "100",
                         "signature": "", "slot": 7},
    "orders.events": {"id": "o", "ts": TS, "market": "SOL-PERP", "wallet": "W", "kind": "placed", "side": "buy",
                      "size": "1", "price": "100", "order": "o1"},
}
NINETEEN_PLACES = "0.1234567890123456789"
NESTED: Any = {"a": [1, {"b": [2]}]}
HOSTILE: list[tuple[str, str, Any]] = [
    ("oracle.ticks", "price", 1e308), ("oracle.ticks", "price", "1e25"), ("oracle.ticks", "price", 10**20),
    ("oracle.ticks", "price", NINETEEN_PLACES), ("oracle.ticks", "price", "NaN"), ("oracle.ticks", "price", "Infinity"),
    ("oracle.ticks", "price", "-Infinity"), ("oracle.ticks", "price", "abc"), ("oracle.ticks", "price", True),
    ("oracle.ticks", "price", NESTED), ("oracle.ticks", "conf", "-1"), ("oracle.ticks", "ts", 10**20),
    ("oracle.ticks", "ts", EARLIEST_MS - 1), ("oracle.ticks", "ts", LATEST_MS), ("oracle.ticks", "ts", True),
    ("oracle.ticks", "ts", float(TS)), ("oracle.ticks", "ts", str(TS)), ("oracle.ticks", "publish_time", 10**20),
    ("oracle.ticks", "slot", -1), ("oracle.ticks", "slot", 2**64), ("oracle.ticks", "slot", False),
    ("oracle.ticks", "market", ""), ("oracle.ticks", "market", "M" * 257), ("oracle.ticks", "market", 7),
    ("oracle.ticks", "market", NESTED), ("oracle.ticks", "status", ""), ("oracle.ticks", "source", ""),
    ("oracle.ticks", "id", "x" * 513),
    ("trades.fills", "wallet", ""), ("trades.fills", "subaccount", 2**40), ("trades.fills", "subaccount", 2**32),
    ("trades.fills", "subaccount", -1), ("trades.fills", "subaccount", True), ("trades.fills", "size", "1e-19"),
    ("trades.fills", "price", "99999999999999999999.9999999999999999999"), ("trades.fills", "fee", "-1e20"),
    ("trades.fills", "signature", "s" * 257),
    ("accounts.changes", "amount", 1e308), ("accounts.changes", "amount", "1e308"),
    ("accounts.changes", "amount", NINETEEN_PLACES), ("accounts.changes", "wallet", ""),
    ("accounts.changes", "subaccount", 2**40), ("accounts.changes", "slot", -1), ("accounts.changes", "ts", 10**20),
    ("orders.events", "kind", ""), ("orders.events", "kind", "amended"), ("orders.events", "size", "1e308"),
    ("orders.events", "size", "-1"), ("orders.events", "size", "0"), ("orders.events", "price", "-1"),
    ("orders.events", "order", ""), ("orders.events", "slot", 2**64), ("trades.fills", "order", ""),
    # a line break in a name reached the ids the risk engine writes, which refused it: the worker died at every start
    ("accounts.changes", "wallet", "evil\nwallet"), ("trades.fills", "wallet", "W\n"),
    ("trades.fills", "order", "o\n1"), ("oracle.ticks", "market", "BTC-PERP\n"), ("orders.events", "wallet", "\nW"),
]


def decoded(topic: str, event: Any) -> tuple[list[Any], list[Any]]:
    """Return a message of one event decoded as its topic's agent does: valid events and dead letters."""
    return decode_events(INPUT_MODELS[topic], topic, json.dumps([event]).encode(), TS)  # orjson stops at 64 bits


@pytest.mark.parametrize(("topic", "name", "value"), HOSTILE)
def test_a_value_outside_its_bounds_is_a_dead_letter_naming_the_field(topic: str, name: str, value: Any) -> None:
    good, dead = decoded(topic, {**GOOD[topic], name: value})
    assert good == [] and len(dead) == 1
    assert dead[0].reason.startswith(f"invalid {name}:") and dead[0].topic == topic


@pytest.mark.parametrize("topic", sorted(GOOD))
def test_a_message_with_a_bounded_out_event_keeps_its_good_events(topic: str) -> None:
    bad = {**GOOD[topic], "id": "bad", "ts": 10**20}
    good, dead = decode_events(INPUT_MODELS[topic], topic, json.dumps([GOOD[topic], bad, GOOD[topic]]).encode(), TS)
    assert [e.id for e in good] == [GOOD[topic]["id"]] * 2 and [orjson.loads(d.payload)["id"] for d in dead] == ["bad"]


@pytest.mark.parametrize("value", ["99999999999999999999.999999999999999999", "-99999999999999999999.999999999999999999",
                                   "1e-18", "0.100000000000000000000", "12345678901234567.5"])
def test_a_value_at_its_bounds_is_kept_exactly(value: str) -> None:
    [tick], dead = decoded("oracle.ticks", {**GOOD["oracle.ticks"], "price": value, "ts": LATEST_MS - 1,
                                            "publish_time": EARLIEST_MS, "slot": 2**64 - 1})
    assert dead == [] and tick.price == Decimal(value) and (tick.ts, tick.slot) == (LATEST_MS - 1, 2**64 - 1)


@pytest.mark.parametrize("number", [b"12345678901234567.5", b"0.123456789012345678", b"18446744073709551615.25",
                                    b"1.5000000000000000000000"])
def test_a_json_number_with_more_digits_than_a_float_keeps_is_kept_exactly(number: bytes) -> None:
    raw = orjson.dumps([GOOD["oracle.ticks"]]).replace(b'"65000.5"', number)
    for _ in range(2):  # alone, and beside an event that fails (the item by item path)
        good, dead = decode_events(INPUT_MODELS["oracle.ticks"], "oracle.ticks", raw, TS)
        assert good[0].price == Decimal(number.decode())
        raw = raw[:-1] + b',{"id":""}]'
    assert len(dead) == 1


def test_json_that_is_not_strict_is_a_dead_letter_whole() -> None:
    for raw in (b'[{"id":"t","price":NaN}]', b'[{"id":"\\ud800","price":12345678901234567.5}]', b"[" * 5000):
        good, dead = decode_events(INPUT_MODELS["oracle.ticks"], "oracle.ticks", raw, TS)
        assert good == [] and len(dead) == 1 and dead[0].reason.startswith("not JSON")


@pytest.mark.parametrize("written", ["150.05", "150.050", "150.050000000000000000", 150.05, "1.5005E+2"])
def test_one_price_written_many_ways_is_one_input_byte_for_byte(written: Any) -> None:
    # the warehouse gives a stored price back as 150.05; the run that restores it must see what the first saw
    event = {**GOOD["trades.fills"], "price": written}
    [fill], _ = decode_events(INPUT_MODELS["trades.fills"], "trades.fills", orjson.dumps([event]), TS)
    assert orjson.dumps(fill.model_dump(mode="json")) == orjson.dumps(
        decode_events(INPUT_MODELS["trades.fills"], "trades.fills", orjson.dumps([{**event, "price": "150.05"}]),
                      TS)[0][0].model_dump(mode="json"))
    assert str(fill.price) == "150.05"
