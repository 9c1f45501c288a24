"""The reorder buffer: events released by event time, then changes, ticks, fills, then id; each id once."""

import resource
from decimal import Decimal as D

from quantdesk.messages import Fill, MarketEpoch, OracleTick
from streams.risk.reorder import DAY_MS, ReorderBuffer, order_key
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


def epoch_of(event: Fill | OracleTick) -> MarketEpoch:
    """Return an epoch standing where `event` stands in apply order."""
    ts, rank, source = order_key(event)
    return MarketEpoch(id=f"{source}:epoch", ts=ts, kind="fill", market=SOL, rank=rank, source=source)


def test_a_market_epoch_goes_out_right_before_its_own_fill_and_after_the_fills_before_it() -> None:
    buffer = ReorderBuffer(grace_ms=0)
    first, second = fill(T0, "buy", "1", "100"), fill(T0, "sell", "1", "101", wallet="bob")
    first, second = sorted((first, second), key=order_key)
    buffer.push([second, epoch_of(second), first, epoch_of(first), tick(T0 + 1, "100")])
    assert [e.id for e in buffer.due()] == [f"{first.id}:epoch", first.id, f"{second.id}:epoch", second.id,
                                            f"tick:{SOL}:{T0 + 1}"]


def test_nothing_goes_out_past_the_bound_grace_or_drain_until_it_moves_and_a_restart_keeps_it() -> None:
    buffer = ReorderBuffer(grace_ms=0)
    buffer.bound = T0
    buffer.push([tick(T0, "100"), change(T0 + 1, "deposit", "1")])
    assert [e.ts for e in buffer.due()] == [T0] and list(buffer.drain()) == []
    again = ReorderBuffer(grace_ms=0)
    again.load_row(buffer.to_row(), [])
    assert again.bound == T0
    buffer.bound = T0 + 1
    assert [e.ts for e in buffer.drain()] == [T0 + 1]


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


def venue_fill(fill_id: str, ts: int) -> Fill:
    """Return one side of a plan's fill, as the venue sends it."""
    return Fill(id=fill_id, ts=ts, market=SOL, wallet="w", side="sell", size=D(1), price=D(100))


def test_a_restore_awaits_again_a_plans_fills_that_had_arrived_but_were_not_applied() -> None:
    # a plan's fills come back at the end of their partition, and a restart reads them again only after what the
    # partition holds before them: its checkpoint must still await them, or later events go out first. (Found by
    # killing a risk worker 20 times: a follower applied its plan's fill after the next ticks' epochs and planned
    # again; the author read its own plans' fills back past the lateness window and refused them.)
    buffer = ReorderBuffer(grace_ms=0)
    buffer.push([tick(T0, "100")])
    assert [e.ts for e in buffer.due()] == [T0]  # the tick that plans
    buffer.expect(["buy", "sell"])
    buffer.push([venue_fill("sell", T0), venue_fill("buy", T0), tick(T0 + 1, "90")], ceiling=T0 - 1)
    assert buffer.awaited == set() and list(buffer.due()) == []  # arrived, held below an unread partition's ceiling
    again = ReorderBuffer(grace_ms=0)
    again.load_row(buffer.to_row(), [])
    again.push([tick(T0 + 1, "90")])  # read again before the fills
    assert list(again.drain()) == []  # before: the tick went out ahead of the plan's fills
    again.push([venue_fill("sell", T0), venue_fill("buy", T0)])
    assert [e.id for e in again.drain()] == ["buy", "sell", f"tick:{SOL}:{T0 + 1}"]
    assert again.to_row()["awaited"] == []  # applied: expected no more


def test_a_plans_fill_read_before_the_plan_is_made_again_is_awaited_by_a_restore_until_applied() -> None:
    # a restarted task may read the fills the run before it sent before it makes that plan again
    buffer = ReorderBuffer(grace_ms=0)
    buffer.push([tick(T0, "100"), venue_fill("sell", T0 + 1)], ceiling=T0)
    assert [e.ts for e in buffer.due()] == [T0]
    buffer.expect(["sell"])
    assert buffer.awaited == set() and buffer.to_row()["awaited"] == ["sell"]
    buffer.push([], ceiling=T0 + 1)
    assert [e.id for e in buffer.due()] == ["sell"] and buffer.to_row()["awaited"] == []


def test_an_applied_id_is_forgotten_only_once_committed_and_out_of_the_window() -> None:
    buffer = ReorderBuffer(grace_ms=0, max_lateness_ms=1000)
    first = tick(T0, "100")
    buffer.push([first])
    buffer.settle(list(buffer.due()), read={"ticks:0": 1}, committed={"ticks:0": 1})
    buffer.push([tick(T0 + 5000, "100")])  # far past the window, but its message is not yet committed
    _, gone = buffer.settle(list(buffer.due()), read={"ticks:0": 2}, committed={"ticks:0": 1})
    assert [record.ids for record in gone] == [[first.id]] and first.id not in buffer.seen
    assert [record.ids for record in buffer.applied] == [[f"tick:{SOL}:{T0 + 5000}"]]
    # sent again, it cannot be told from new: refused as late, never applied twice
    assert buffer.late(first) and buffer.push([first]) == []


def test_an_applied_id_read_after_the_committed_offsets_stays_remembered_however_old() -> None:
    buffer = ReorderBuffer(grace_ms=0, max_lateness_ms=1000)
    first = tick(T0, "100")
    buffer.push([first])
    buffer.settle(list(buffer.due()), read={"ticks:0": 1}, committed={"ticks:0": 0})  # a restart reads it again
    buffer.push([tick(T0 + 5000, "100")])
    _, gone = buffer.settle(list(buffer.due()), read={"ticks:0": 2}, committed={"ticks:0": 0})
    assert gone == [] and not buffer.late(first) and buffer.push([first]) == []  # a duplicate, not a late event


def test_an_event_within_the_window_of_the_newest_applied_is_taken_however_late_it_comes() -> None:
    buffer = ReorderBuffer(grace_ms=0, max_lateness_ms=1000)
    buffer.push([tick(T0 + 5000, "100")])
    assert len(list(buffer.due())) == 1
    assert [e.ts for e in buffer.push([tick(T0 + 4000, "100"), tick(T0 + 3999, "100")])] == [T0 + 4000]


def test_a_backlog_read_ahead_in_one_partition_makes_nothing_late() -> None:
    buffer = ReorderBuffer(grace_ms=0, max_lateness_ms=1000)
    buffer.push([tick(T0 + 5000, "100")], ceiling=T0 - 1)  # another partition, unread, may hold earlier events
    assert list(buffer.due()) == [] and buffer.push([change(T0, "deposit", "1")], ceiling=T0) != []
    assert [e.ts for e in buffer.due()] == [T0]


def test_what_the_buffer_remembers_stays_flat_over_a_million_events() -> None:
    # a partition's messages of 100 ticks, 10 ms apart, each released and committed as the worker does: a restart
    # would read from the committed offset, and the window is a minute of event time (6,000 events)
    buffer, per_message, sizes = ReorderBuffer(grace_ms=0, max_lateness_ms=60_000), 100, []
    for offset in range(10_000):
        ts = T0 + offset * per_message * 10
        events = [OracleTick.model_construct(id=f"t{ts + 10 * i}", ts=ts + 10 * i, market=SOL)
                  for i in range(per_message)]
        buffer.push(events)
        buffer.settle(list(buffer.due()), read={"ticks:0": offset + 1}, committed={"ticks:0": offset + 1})
        if offset % 1000 == 999:
            sizes.append((len(buffer.seen), len(buffer.applied), resident_bytes()))
    assert {(seen, records) for seen, records, _ in sizes} == {(6_100, 61)}  # the window and the message at its edge
    # flat from 100k events to 1M: remembering every id would add ~100 bytes each, 90 MB over the run
    resident = [size for _, _, size in sizes]
    assert max(resident) - resident[0] < 4 << 20, sizes


def resident_bytes() -> int:
    """Return this process's resident memory."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def test_an_event_the_reader_holds_timeless_is_taken_however_late_it_comes_once_while_remembered() -> None:
    # the markets agent's liquidation fills: the risk worker that awaits them may send them days behind its newest
    buffer = ReorderBuffer(grace_ms=0, max_lateness_ms=1000, timeless=lambda event: type(event) is Fill)
    buffer.push([tick(T0 + 2 * DAY_MS, "100")])
    assert len(list(buffer.due())) == 1
    late_fill, late_tick = fill(T0, "buy", "1", "100"), tick(T0, "100")
    assert not buffer.late(late_fill) and buffer.late(late_tick)
    assert buffer.push([late_fill, late_tick, late_fill]) == [late_fill]