"""Our venue's book from the orders' states: what rests is what is left of open limit orders; each change is one
seq and one level a reader applies, a whole book every `SNAPSHOT_EVERY` seqs; a reader of the messages holds the
book exactly, at every seq."""

from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from quantdesk.markets import OUR_VENUE
from quantdesk.messages import BookUpdate, OrderState
from streams.domain.books import Level, LevelBook
from streams.domain.resting import SNAPSHOT_AFTER_MS, SNAPSHOT_EVERY, RestingBooks

T0 = 1_767_225_600_000
SOL = "SOL-PERP"


def state(order: str, version: int, status: str = "open", filled: str = "0", side: str = "buy", size: str = "10",
          price: str | None = "100", market: str = SOL, ts: int = T0) -> OrderState:
    """Return an order's state as the orders agent publishes it."""
    return OrderState(id=f"{order}:{version}", ts=ts + version, order=order, wallet="w", market=market, side=side,
                      size=D(size), price=None if price is None else D(price), status=status, filled_size=D(filled),
                      version=version, placed_ts=ts, cause=f"{order}:{version}")


def levels(update: BookUpdate | None) -> tuple[str, int, list[tuple[D, D, int]], list[tuple[D, D, int]]]:
    """Return a message's kind, seq and levels as (price, size, orders)."""
    assert update is not None
    return (update.kind, update.seq, [(lv.price, lv.size, lv.orders) for lv in update.bids],
            [(lv.price, lv.size, lv.orders) for lv in update.asks])


def test_each_change_of_what_rests_is_one_seq_and_the_one_level_it_changed() -> None:
    books = RestingBooks()
    first = books.take(state("a", 1))  # the first update of a book is a whole book
    assert levels(first) == ("snapshot", 1, [(D(100), D(10), 1)], [])
    assert first is not None and (first.venue, first.market, first.id, first.ts) == (
        OUR_VENUE, SOL, "book:quantdesk:SOL-PERP:1", T0 + 1)
    assert levels(books.take(state("a", 2, "partially_filled", "4"))) == ("delta", 2, [(D(100), D(6), 1)], [])
    assert levels(books.take(state("b", 1, size="5"))) == ("delta", 3, [(D(100), D(11), 2)], [])
    assert levels(books.take(state("c", 1, side="sell", price="101", size="2"))) == ("delta", 4, [],
                                                                                      [(D(101), D(2), 1)])
    assert levels(books.take(state("a", 3, "cancelled", "4"))) == ("delta", 5, [(D(100), D(5), 1)], [])
    assert books.take(state("m", 1, price=None)) is None  # a market order never rests
    assert books.take(state("z", 1, price="0")) is None  # price 0: a market order too
    assert books.take(state("a", 3, "cancelled", "4")) is None  # seen before: nothing changes
    assert levels(books.take(state("b", 2, "filled", "5"))) == ("delta", 6, [(D(100), D(0), 0)], [])  # gone
    assert levels(books.take(state("x", 1, market="BTC-PERP", price="90000", size="1"))) == (
        "snapshot", 1, [(D(90000), D(1), 1)], [])  # each market its own book and seqs
    assert books.books[SOL].depth(5).bids == () and books.books[SOL].depth(5).asks == (Level(D(101), D(2), 1),)


def test_every_fiftieth_seq_from_the_first_goes_out_whole() -> None:
    books = RestingBooks()
    kinds = [books.take(state(f"o{n}", 1, price=str(100 - n % 7))) for n in range(2 * SNAPSHOT_EVERY + 1)]
    assert [n + 1 for n, u in enumerate(kinds) if u is not None and u.kind == "snapshot"] == [
        1, SNAPSHOT_EVERY + 1, 2 * SNAPSHOT_EVERY + 1]
    whole = kinds[-1]
    assert whole is not None and sum(lv.orders for lv in whole.bids) == 2 * SNAPSHOT_EVERY + 1 and len(whole.bids) == 7


def test_an_update_ten_seconds_of_event_time_after_the_last_whole_book_goes_out_whole() -> None:
    books = RestingBooks()
    assert books.take(state("a", 1, ts=T0)).kind == "snapshot"  # type: ignore[union-attr]  # at T0 + 1 (version 1)
    assert books.take(state("b", 1, ts=T0 + SNAPSHOT_AFTER_MS - 1)).kind == "delta"  # type: ignore[union-attr]
    late = books.take(state("c", 1, ts=T0 + SNAPSHOT_AFTER_MS))
    assert late is not None and (late.kind, late.seq, len(late.bids)) == ("snapshot", 3, 1) and late.bids[0].orders == 3
    assert books.take(state("d", 1, ts=T0 + SNAPSHOT_AFTER_MS)).kind == "delta"  # type: ignore[union-attr]


@st.composite
def lifecycles(draw: st.DrawFn) -> list[OrderState]:
    """Return orders' states interleaved as the orders agent publishes them: each order placed (a limit order at
    one of a few prices, or a market order), filled in parts, and maybe cancelled or filled whole."""
    per_order = []
    for n in range(draw(st.integers(1, 12))):
        side = draw(st.sampled_from(("buy", "sell")))
        price = draw(st.sampled_from((None, "0", "99", "99.5", "100", "100.5", "101")))
        size = draw(st.integers(1, 20))
        market = draw(st.sampled_from((SOL, "BTC-PERP")))
        fills = draw(st.lists(st.integers(1, 5), max_size=4))
        filled, states = 0, [state(f"o{n}", 1, side=side, size=str(size), price=price, market=market)]
        for part in fills:
            if filled + part > size:
                break
            filled += part
            states.append(state(f"o{n}", len(states) + 1, "filled" if filled == size else "partially_filled",
                                str(filled), side, str(size), price, market))
            if filled == size:
                break
        if filled < size and draw(st.booleans()):
            states.append(state(f"o{n}", len(states) + 1, "cancelled", str(filled), side, str(size), price, market))
        per_order.append(states)
    out: list[OrderState] = []
    while any(per_order):
        out.append(draw(st.sampled_from([s for s in per_order if s])).pop(0))
    return out


def resting(states: list[OrderState], market: str) -> dict[str, dict[D, tuple[D, int]]]:
    """Return the levels the latest state of each order leaves on a market's book, worked from scratch."""
    latest = {s.order: s for s in states}
    out: dict[str, dict[D, tuple[D, int]]] = {"bid": {}, "ask": {}}
    for s in latest.values():
        if s.market == market and s.status in ("open", "partially_filled") and s.price:
            side = out["bid" if s.side == "buy" else "ask"]
            size, orders = side.get(s.price, (D(0), 0))
            side[s.price] = (size + s.size - s.filled_size, orders + 1)
    return out


@settings(max_examples=300, deadline=None)
@given(lifecycles())
def test_a_reader_of_the_messages_holds_exactly_what_the_latest_states_leave_resting_at_every_seq(
        states: list[OrderState]) -> None:
    books, readers = RestingBooks(), {m: LevelBook(m, OUR_VENUE) for m in (SOL, "BTC-PERP")}
    seen = []
    for s in states:
        seen.append(s)
        update = books.take(s)
        if update is not None:
            reader = readers[update.market]
            bids = [Level(lv.price, lv.size, lv.orders) for lv in update.bids]
            asks = [Level(lv.price, lv.size, lv.orders) for lv in update.asks]
            apply = reader.apply_snapshot if update.kind == "snapshot" else reader.apply_levels
            assert apply(update.seq, update.ts, bids, asks) == "applied"  # seqs contiguous from the first
        for market, reader in readers.items():
            expected = resting(seen, market)
            held = {"bid": {lv.price: (lv.size, lv.orders) for lv in reader.bids.top(100)},
                    "ask": {lv.price: (lv.size, lv.orders) for lv in reader.asks.top(100)}}
            assert held == expected if reader.seq else expected == {"bid": {}, "ask": {}}
    first, again = RestingBooks(), RestingBooks()  # the same states, the same messages
    assert [first.take(s) for s in states] == [again.take(s) for s in states]
