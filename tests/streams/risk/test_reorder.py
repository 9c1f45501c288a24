"""The reorder buffer: events released by event time, then changes, ticks, fills, then id; each id once."""

from decimal import Decimal as D

from quantdesk.messages import Fill
from streams.risk.reorder import ReorderBuffer
from tests.streams.risk.events import SOL, T0, change, fill, tick


def test_the_buffer_orders_by_time_then_changes_ticks_fills_and_waits_out_the_grace() -> None:
    buffer = ReorderBuffer(grace_ms=1000)
    late_fill, early_tick = fill(T0 + 500, "buy", "1", "100"), tick(T0 + 100, "100")
    buffer.push([late_fill, early_tick, change(T0 + 500, "deposit", "1")])
    assert list(buffer.due()) == []
    buffer.push([tick(T0 + 500, "100"), tick(T0 + 1500, "101")])
    assert [e.id for e in buffer.due()] == [
        early_tick.id, f"deposit:alice:{T0 + 500}", f"tick:{SOL}:{T0 + 500}", late_fill.id]
    assert [e.id for e in buffer.drain()] == [f"tick:{SOL}:{T0 + 1500}"]


def test_the_buffer_releases_nothing_at_or_above_the_ceiling() -> None:
    buffer = ReorderBuffer(grace_ms=0)
    buffer.push([tick(T0, "100"), tick(T0 + 1, "100")], ceiling=T0)
    assert [e.ts for e in buffer.due()] == [T0]


def test_a_drain_skips_the_grace_but_not_the_ceiling() -> None:
    buffer = ReorderBuffer(grace_ms=1000)
    buffer.push([tick(T0, "100"), tick(T0 + 1, "100"), tick(T0 + 2, "100")])
    assert [e.ts for e in buffer.drain(ceiling=T0 + 1)] == [T0, T0 + 1]
    assert [e.ts for e in buffer.drain()] == [T0 + 2]


def test_the_buffer_drops_an_id_it_has_seen() -> None:
    buffer = ReorderBuffer(grace_ms=0)
    buffer.push([tick(T0, "100")])
    assert len(list(buffer.due())) == 1
    buffer.push([tick(T0, "100")])
    assert list(buffer.due()) == [] and len(buffer) == 0


def test_expected_fills_hold_the_release_until_they_arrive_then_take_their_place() -> None:
    buffer = ReorderBuffer(grace_ms=0)
    buffer.push([tick(T0, "100"), tick(T0 + 2, "100")])
    released = buffer.due()
    assert next(released).ts == T0
    buffer.expect(["venue-fill"])
    assert list(released) == [] and list(buffer.drain()) == []
    buffer.push([Fill(id="venue-fill", ts=T0 + 1, market=SOL, wallet="w", side="buy", size=D(1), price=D(100))])
    assert [e.id for e in buffer.due()] == ["venue-fill", f"tick:{SOL}:{T0 + 2}"]
