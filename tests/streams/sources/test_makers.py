"""The simulated venue's book: ladders on each maker's grid around the reference, requoted only where they moved
or were taken from; market orders walk it best price first, oldest order first, and pay more the more they take."""

from decimal import Decimal as D

from hypothesis import given, settings, strategies as st

from streams.domain.books import Level
from streams.sources.makers import LEVELS, Quoting, Take, VenueBook

T0 = 1_767_225_600_000
NARROW = Quoting(D("0.0001"), D("0.05"), tuple(D(n + 1) for n in range(LEVELS)))  # 1 bp, 5-cent grid, 1..10
WIDE = Quoting(D("0.0003"), D("0.10"), tuple(D(2) for _ in range(LEVELS)))  # 3 bps, 10-cent grid, 2 each


def prices(book: VenueBook, side: str) -> list[D]:
    """Return a side's level prices, best first."""
    return [lv.price for lv in book.levels(side)]  # type: ignore[arg-type]


def test_a_ladder_stands_on_the_grid_just_outside_the_spread_with_its_sizes_by_grid_price() -> None:
    bid, ask = NARROW.touch(D(100))  # 100 × (1 ∓ 1 bp) = 99.99 / 100.01 → the grid prices 99.95 and 100.05
    assert (bid, ask) == (1999, 2001)
    ladder = list(NARROW.ladder(bid, ask))
    assert [p for s, p, _ in ladder if s == "bid"] == [D("99.95") - D("0.05") * n for n in range(LEVELS)]
    assert [p for s, p, _ in ladder if s == "ask"] == [D("100.05") + D("0.05") * n for n in range(LEVELS)]
    assert dict((p, z) for _, p, z in ladder)[D("100.05")] == D(2)  # grid step 2001: sizes[2001 % 10]
    moved = dict((p, z) for _, p, z in NARROW.ladder(*NARROW.touch(D("100.05"))))
    assert all(moved[p] == z for _, p, z in ladder if p in moved)  # a price keeps its size as the ladder moves
    assert [p for s, p, _ in NARROW.ladder(3, 4) if s == "bid"] == [D("0.15"), D("0.10"), D("0.05")]  # above 0 only


def test_a_requote_replaces_only_the_orders_the_move_took_off_the_ladder() -> None:
    book = VenueBook("SOL-PERP", [NARROW, WIDE], T0)
    book.requote(D(100), T0)
    assert len(book.book) == 4 * LEVELS and not book.book.crossed
    assert prices(book, "bid")[0] == D("99.95") and prices(book, "ask")[0] == D("100.05")
    ids = {o.id for o in book.book.orders()}
    seq = book.book.seq
    book.requote(D("100.001"), T0 + 400)  # within both grids: nothing moves
    assert book.book.seq == seq
    book.requote(D("100.02"), T0 + 800)  # NARROW's bids one step up (100.01 is past 100.00); its asks, WIDE stay
    assert book.book.seq == seq + 2  # its worst bid cancelled, a new best bid placed
    assert [(o.side, o.price) for o in book.book.orders() if o.id not in ids] == [("bid", D("100.00"))]
    assert len(book.book) == 4 * LEVELS
    bids = {lv.price: lv.orders for lv in book.levels("bid")}
    assert bids[D("100.00")] == 1 and bids[D("99.50")] == 1  # 99.50: WIDE's alone now


def test_a_market_order_takes_the_best_price_first_and_at_one_price_the_oldest_order_first() -> None:
    same = Quoting(D("0.0001"), D("0.05"), tuple(D(3) for _ in range(LEVELS)))
    book = VenueBook("SOL-PERP", [same, NARROW], T0)  # both makers' best ask at 100.05: maker 0 placed first
    book.requote(D(100), T0)
    takes = book.take(D(8), T0)
    # 100.05: maker 0's 3, then maker 1's 2 (grid step 2001); 100.10: maker 0's 3 of its 3
    assert takes == [Take(0, D(3), D("100.05"), "SOL-PERP:0:10"), Take(1, D(2), D("100.05"), "SOL-PERP:1:30"),
                     Take(0, D(3), D("100.10"), "SOL-PERP:0:11")]  # each maker's bids are placed before its asks
    assert prices(book, "ask")[0] == D("100.10") and book.levels("ask")[0] == Level(D("100.10"), D(3), 1)
    book.requote(D(100), T0 + 400)  # both refill: the book stands as before the order
    fresh = VenueBook("SOL-PERP", [same, NARROW], T0)
    fresh.requote(D(100), T0)
    assert book.levels("ask") == fresh.levels("ask") and book.levels("bid") == fresh.levels("bid")


def test_a_market_order_never_empties_a_side() -> None:
    book = VenueBook("SOL-PERP", [WIDE], T0)
    book.requote(D(100), T0)
    assert book.visible("bid") == D(2) * (LEVELS - 1)
    book.take(-book.visible("bid"), T0)
    assert book.levels("bid") == (Level(D("99.00"), D(2), 1),)  # 99.90 - 9 × 0.10: its last level stays
    assert book.visible("bid") == 0


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 10**6), st.integers(1, 10**6), st.booleans(), st.integers(9_000_000, 11_000_000))
def test_a_bigger_order_pays_a_worse_average_price_and_every_fill_is_a_level_it_found(
        small: int, big: int, buy: bool, cents: int) -> None:
    reference = D(cents) / 100_000
    fills = {}
    for units in sorted((small, big)):
        book = VenueBook("SOL-PERP", [NARROW, WIDE], T0)
        book.requote(reference, T0)
        side = "ask" if buy else "bid"
        before = {lv.price: lv.size for lv in book.levels(side)}  # type: ignore[arg-type]
        size = book.visible(side) * units / 10**6  # type: ignore[arg-type]
        takes = book.take(size if buy else -size, T0)
        assert sum(t.size for t in takes) == size
        walked = [t.price for t in takes]
        assert walked == sorted(walked, reverse=not buy) and walked[0] == (min(before) if buy else max(before))
        for price in set(walked):
            assert sum(t.size for t in takes if t.price == price) <= before[price]
        fills[units] = sum(t.size * t.price for t in takes) / size
    smaller, bigger = fills[min(small, big)], fills[max(small, big)]
    assert bigger >= smaller if buy else bigger <= smaller


def test_placements_and_cancellations_are_noted_in_order_and_an_order_taken_whole_leaves_without_one() -> None:
    book = VenueBook("SOL-PERP", [NARROW], T0)
    book.requote(D(100), T0)
    placed = book.pop_changes()
    assert [c.kind for c in placed] == ["placed"] * 2 * LEVELS and book.pop_changes() == []
    assert {c.order for c in placed} == set(book.book.orders())
    best = book.book.resting("SOL-PERP:0:10")  # the best ask, 100.05: size 2 (grid step 2001)
    assert best is not None and best.price == D("100.05") and best.size == D(2)
    book.take(D(3), T0 + 1)  # all of 100.05 and 1 of 100.10's 3
    assert book.pop_changes() == []  # fills close or shrink orders: the fills say so, not a cancellation
    book.requote(D(100), T0 + 2)  # refill: the part-taken 100.10 is cancelled and both placed again
    changes = book.pop_changes()
    assert [(c.kind, c.order.price, c.order.size) for c in changes] == [
        ("cancelled", D("100.10"), D(2)), ("placed", D("100.05"), D(2)), ("placed", D("100.10"), D(3))]
    assert changes[0].order.id == "SOL-PERP:0:11" and {c.maker for c in changes} == {0}
