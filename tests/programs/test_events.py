"""Events: exact Anchor discriminators, round-trips, and extraction from realistic logs."""

import base64
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from solders.pubkey import Pubkey

from programs.borsh import BorshError, Codec, UnknownDiscriminator
from programs.events import (
    EVENT_CLASSES,
    ORDER_TYPE,
    FundingRateUpdated,
    LogParseError,
    OrderFilled,
    OrderPlaced,
    PositionOpened,
    decode_event,
    encode_event,
    event_fields,
    event_log_line,
    parse_logs,
)
from programs.idl import default_idl
from tests.programs.programs_testkit import values

PROGRAM = "C2T3UnvGdHwEkspXJG7JyAhwo6VKQEKjN6eCq69guYSw"
OTHER = "TokenkegQfeZyiNwAx8V5bkwD8hK8yA5NT6Jc7HKpZ4"
BUDGET = "ComputeBudget111111111111111111111111111111"
USER, MARKET, ORDER = (Pubkey.from_bytes(bytes([n]) * 32) for n in (1, 2, 3))

EVENT_TYPES = Codec({**default_idl().types, "OrderType": ORDER_TYPE})


def filled(size: int = 2_000_000, ts: int = 1_708_363_256) -> OrderFilled:
    """Return a sample OrderFilled event."""
    return OrderFilled(USER, ORDER, MARKET, "Long", size, 51_000_000_000, 1_000, ts)


def test_the_seven_events_as_designed() -> None:
    assert [c.__name__ for c in EVENT_CLASSES] == [
        "LiquidationExecuted", "FundingRateUpdated", "OraclePriceUpdated", "OrderPlaced",
        "OrderFilled", "PositionOpened", "PositionClosed",
    ]  # fmt: skip
    assert [(f.name, f.type) for f in event_fields(PositionOpened)] == [
        ("user", "pubkey"), ("position", "pubkey"), ("market", "pubkey"),
        ("side", {"defined": {"name": "PositionSide"}}), ("size", "u64"), ("entry_price", "u64"),
        ("leverage", "u16"), ("timestamp", "i64"),
    ]  # fmt: skip
    assert len(ORDER_TYPE["variants"]) == 12


def test_layout_is_discriminator_then_borsh() -> None:
    data = encode_event(FundingRateUpdated(MARKET, -5, 7))
    assert data[:8] == hashlib.sha256(b"event:FundingRateUpdated").digest()[:8]
    assert data[8:] == bytes(MARKET) + (-5).to_bytes(8, "little", signed=True) + (7).to_bytes(8, "little")
    placed = encode_event(OrderPlaced(USER, ORDER, MARKET, "Short", 1, 2, "Bracket", 3))
    assert placed[8 + 96] == 1 and placed[8 + 96 + 1 + 16] == 11


@settings(max_examples=40, deadline=None)
@pytest.mark.parametrize("cls", EVENT_CLASSES, ids=lambda c: c.__name__)
@given(data=st.data())
def test_every_event_round_trips(cls: type, data: st.DataObject) -> None:
    event = cls(**{f.name: data.draw(values(EVENT_TYPES, f.type)) for f in event_fields(cls)})
    assert decode_event(encode_event(event)) == event


def test_decode_refuses_unknown_and_trailing() -> None:
    with pytest.raises(UnknownDiscriminator, match="event discriminator 0000"):
        decode_event(b"\0" * 40)
    with pytest.raises(BorshError, match="trailing"):
        decode_event(encode_event(filled()) + b"\0")


def test_parse_logs_keeps_only_the_program_s_own_data_with_indexes() -> None:
    other_data = "Program data: " + base64.b64encode(encode_event(filled(size=9))).decode()
    logs = [
        f"Program {BUDGET} invoke [1]",
        f"Program {BUDGET} success",
        f"Program {PROGRAM} invoke [1]",
        "Program log: Instruction: PlaceOrder",
        event_log_line(filled(size=1)),
        f"Program {OTHER} invoke [2]",
        other_data,
        f"Program {OTHER} consumed 100 of 200000 compute units",
        f"Program {OTHER} success",
        event_log_line(filled(size=2)),
        f"Program {PROGRAM} consumed 5000 of 200000 compute units",
        f"Program {PROGRAM} success",
        f"Program {OTHER} invoke [1]",
        f"Program {PROGRAM} invoke [2]",
        event_log_line(filled(size=3)),
        f"Program {PROGRAM} success",
        other_data,
        f"Program {OTHER} success",
    ]
    parsed = parse_logs(logs, PROGRAM)
    assert [(e.event.size, e.ix_index, e.event_index) for e in parsed.events] == [(1, 1, 0), (2, 1, 1), (3, 2, 0)]
    assert parsed.top_level_programs == (BUDGET, PROGRAM, OTHER)
    assert parsed.unreadable == () and not parsed.truncated


def test_unknown_data_is_reported_not_guessed() -> None:
    unknown = base64.b64encode(b"\x01" * 8 + b"\x02" * 20).decode()
    logs = [
        f"Program {PROGRAM} invoke [1]",
        f"Program data: {unknown}",
        "Program data: not*base64",
        event_log_line(filled()),
        f"Program {PROGRAM} failed: custom program error: 0x1770",
    ]
    parsed = parse_logs(logs, Pubkey.from_string(PROGRAM))
    assert [(u.ix_index, u.event_index) for u in parsed.unreadable] == [(0, 0), (0, 1)]
    assert "0101010101010101" in parsed.unreadable[0].reason
    assert "base64" in parsed.unreadable[1].reason
    assert [(e.ix_index, e.event_index) for e in parsed.events] == [(0, 2)]


def test_truncated_logs_are_flagged() -> None:
    parsed = parse_logs([f"Program {PROGRAM} invoke [1]", event_log_line(filled()), "Log truncated"], PROGRAM)
    assert parsed.truncated and len(parsed.events) == 1


@pytest.mark.parametrize(
    "logs",
    [
        [f"Program {PROGRAM} invoke [2]"],
        [f"Program {PROGRAM} invoke [1]", f"Program {OTHER} success"],
        [f"Program {PROGRAM} success"],
    ],
)
def test_logs_that_do_not_nest_are_refused(logs: list[str]) -> None:
    with pytest.raises(LogParseError):
        parse_logs(logs, PROGRAM)
