"""Order books by hand (levels, BBO, depth, sequence rules, crossed flag) and as properties over delta streams."""

from collections import defaultdict
from decimal import Decimal as D

from hypothesis import given
from hypothesis import strategies as st

from streams.domain.books import Level, LevelBook, LevelUpdate, Order, OrderBook, OrderUpdate

SOL, SIM = "SOL-PERP", "sim"


def l3(*orders: tuple[str, str, str, str], seq: int = 10) -> OrderBook:
    """Return an L3 book set from (id, side, price, size) orders at `seq`."""
    book = OrderBook(SOL, SIM)
    assert book.apply_snapshot(seq, 1000, [Order(i, s, D(p), D(z)) for i, s, p, z in orders]) == "applied"  # type: ignore[arg-type]
    return book


def update(seq: int, order_id: str, side: str, price: str, size: str) -> OrderUpdate:
    """Return an order update at `seq` (event time seq × 100)."""
    return OrderUpdate(seq, seq * 100, order_id, side, D(price), D(size))  # type: ignore[arg-type]


BOOK = (("b1", "bid", "99.5", "2"), ("b2", "bid", "99.5", "3"), ("b3", "bid", "99", "1"),
        ("a1", "ask", "100.5", "4"), ("a2", "ask", "101", "1.5"), ("a3", "ask", "101", "0.5"))


def test_levels_sum_the_orders_at_each_price_best_first() -> None:
    book = l3(*BOOK)
    depth = book.depth(5)
    # bids: 99.5 = 2 + 3 in 2 orders, 99 = 1; asks: 100.5 = 4, 101 = 1.5 + 0.5 in 2 orders
    assert depth.bids == (Level(D("99.5"), D(5), 2), Level(D(99), D(1), 1))
    assert depth.asks == (Level(D("100.5"), D(4), 1), Level(D(101), D(2), 2))
    assert (depth.seq, depth.ts, depth.healthy) == (10, 1000, True)
    assert book.depth(1).bids == (Level(D("99.5"), D(5), 2),) and len(book) == 6
    bbo = book.bbo()
    assert (bbo.bid, bbo.ask, bbo.healthy) == (Level(D("99.5"), D(5), 2), Level(D("100.5"), D(4), 1), True)


def test_updates_add_resize_move_and_remove_orders() -> None:
    book = l3(*BOOK)
    assert book.apply(update(11, "b4", "bid", "99.8", "1")) == "applied"  # a new best bid
    assert book.apply(update(12, "b1", "bid", "99.5", "0.5")) == "applied"  # partial fill: 99.5 = 0.5 + 3, still 2
    assert book.apply(update(13, "a1", "ask", "100.4", "4")) == "applied"  # amended to a new price
    assert book.apply(update(14, "a3", "ask", "0", "0")) == "applied"  # cancelled (price of a removal is unused)
    depth = book.depth(10)
    assert depth.bids == (Level(D("99.8"), D(1), 1), Level(D("99.5"), D("3.5"), 2), Level(D(99), D(1), 1))
    assert depth.asks == (Level(D("100.4"), D(4), 1), Level(D(101), D("1.5"), 1))
    assert (depth.seq, depth.ts) == (14, 1400)
    assert book.apply(update(15, "b3", "bid", "99", "0")) == "applied"  # the last order at 99 takes its level away
    assert [lv.price for lv in book.depth(10).bids] == [D("99.8"), D("99.5")]
    assert book.apply(update(16, "gone", "bid", "98", "0")) == "applied"  # removing an unknown order changes nothing
    assert book.depth(10).bids == depth.bids[:2] and len(book) == 5


def test_sequence_rules_duplicate_gap_stale_and_resnapshot() -> None:
    book = OrderBook(SOL, SIM)
    assert book.apply(update(1, "x", "bid", "1", "1")) == "stale"  # no snapshot yet
    assert book.bbo().stale and book.seq is None
    book = l3(*BOOK)
    before = book.depth(10)
    assert book.apply(update(10, "b9", "bid", "99.9", "1")) == "duplicate"  # seq == book's: already in
    assert book.apply(update(3, "b9", "bid", "99.9", "1")) == "duplicate"
    assert book.depth(10) == before
    assert book.apply(update(12, "b9", "bid", "99.9", "1")) == "gap"  # 11 missing: not applied, snapshot needed
    assert book.needs_snapshot and book.seq == 10 and book.depth(10).bids == before.bids
    assert not book.depth(10).healthy and book.bbo().stale
    assert book.apply(update(11, "b9", "bid", "99.9", "1")) == "stale"  # the missing one late: still waits
    assert book.apply_snapshot(9, 0, []) == "duplicate"  # older than the book: never back in time
    assert book.apply_snapshot(12, 1200, [Order("b9", "bid", D("99.9"), D(1))]) == "applied"
    assert (book.seq, book.ts, book.needs_snapshot, len(book)) == (12, 1200, False, 1)
    assert book.apply(update(13, "a1", "ask", "100", "2")) == "applied"
    assert book.bbo().ask == Level(D(100), D(2), 1) and book.bbo().healthy


def test_a_book_whose_best_bid_reaches_the_best_offer_is_flagged_crossed() -> None:
    book = l3(*BOOK)
    assert book.apply(update(11, "b4", "bid", "100.5", "1")) == "applied"  # bid == best ask: locked counts
    assert book.crossed and book.depth(3).crossed and not book.depth(3).healthy
    assert book.bbo().crossed and not book.bbo().healthy
    assert book.apply(update(12, "b4", "bid", "100.5", "0")) == "applied"
    assert not book.crossed and book.bbo().healthy
    assert not OrderBook(SOL, SIM).crossed  # empty sides never cross


def test_level_book_takes_whole_level_snapshots_and_level_updates() -> None:
    book = LevelBook(SOL, "hyperliquid")
    # an l2Book message: levels [{px, sz, n}] per side, its `time` as the seq
    bids = [Level(D("99.9"), D("10.5"), 3), Level(D("99.8"), D(4), 1)]
    asks = [Level(D("100.1"), D(2), 2), Level(D("100.3"), D(7), 5)]
    assert book.apply_snapshot(1_700_000_000_000, 1_700_000_000_000, bids, asks) == "applied"
    assert book.depth(10).bids == tuple(bids) and book.depth(1).asks == (asks[0],)
    assert book.apply(LevelUpdate(1_700_000_000_001, 5, "ask", D("100.1"), D(0), 0)) == "applied"
    assert book.apply(LevelUpdate(1_700_000_000_002, 6, "bid", D("99.85"), D(1), 1)) == "applied"
    assert book.bbo().ask == asks[1] and book.bbo().bid == bids[0]
    assert [lv.price for lv in book.depth(10).bids] == [D("99.9"), D("99.85"), D("99.8")]
    assert book.apply_snapshot(1_699_999_999_000, 0, [], []) == "duplicate"  # an older message
    crossed = [Level(D("100.4"), D(1), 1)]
    assert book.apply_snapshot(1_700_000_000_010, 10, crossed, asks) == "applied"
    assert book.bbo().crossed and not book.depth(5).healthy


# Properties: a venue's stream of order updates, delivered out of order and with duplicates.

ORDER_IDS = [f"o{i}" for i in range(8)]
order_updates = st.tuples(st.sampled_from(ORDER_IDS), st.sampled_from(["bid", "ask"]),
                          st.integers(95, 105).map(D), st.sampled_from([D(0), D(0), D("0.5"), D(1), D("2.25")]))


def venue_books(changes: list[tuple[str, str, D, D]]) -> tuple[list[OrderUpdate], list[OrderBook]]:
    """Return the venue's updates (seq 1..n) and its own book after each seq (index = seq)."""
    truth, states, updates = OrderBook(SOL, SIM), [], []
    truth.apply_snapshot(0, 0, [])
    states.append(copy_of(truth))
    for seq, (order_id, side, price, size) in enumerate(changes, start=1):
        updates.append(OrderUpdate(seq, seq, order_id, side, price, size))  # type: ignore[arg-type]
        assert truth.apply(updates[-1]) == "applied"
        states.append(copy_of(truth))
    return updates, states


def copy_of(book: OrderBook) -> OrderBook:
    """Return a copy of `book` made from its own orders (what a venue's snapshot would carry)."""
    copy = OrderBook(book.market, book.venue)
    assert book.seq is not None and book.ts is not None
    copy.apply_snapshot(book.seq, book.ts, book.orders())
    return copy


def aggregated(book: OrderBook) -> dict[tuple[str, D], tuple[D, int]]:
    """Return the levels an L3 book's orders add up to, by (side, price)."""
    levels: dict[tuple[str, D], tuple[D, int]] = defaultdict(lambda: (D(0), 0))
    for order in book.orders():
        size, count = levels[order.side, order.price]
        levels[order.side, order.price] = (size + order.size, count + 1)
    return dict(levels)


def levels_of(book: OrderBook) -> dict[tuple[str, D], tuple[D, int]]:
    """Return the levels a book shows, by (side, price)."""
    depth = book.depth(10**6)
    return {**{("bid", lv.price): (lv.size, lv.orders) for lv in depth.bids},
            **{("ask", lv.price): (lv.size, lv.orders) for lv in depth.asks}}


def same_book(a: OrderBook, b: OrderBook) -> bool:
    """Tell whether two books hold the same orders, levels and seq."""
    return (a.seq, sorted(a.orders()), a.depth(10**6).bids, a.depth(10**6).asks) == (
        b.seq, sorted(b.orders()), b.depth(10**6).bids, b.depth(10**6).asks)


@given(st.lists(order_updates, min_size=1, max_size=40), st.data())
def test_any_delivery_with_gap_resnapshots_ends_as_the_in_order_book(changes: list, data: st.DataObject) -> None:
    updates, states = venue_books(changes)
    delivery = data.draw(st.permutations(updates + data.draw(st.lists(st.sampled_from(updates), max_size=10))))
    client, highest = copy_of(states[0]), 0
    for u in delivery:
        highest, seq = max(highest, u.seq), client.seq
        expected = ("stale" if client.needs_snapshot else "duplicate" if u.seq <= seq else
                    "gap" if u.seq > seq + 1 else "applied")
        assert client.apply(u) == expected
        if client.needs_snapshot and data.draw(st.booleans()):  # the snapshot comes now, or later
            at = data.draw(st.integers(highest, len(updates)))  # the venue is at least where the stream got
            assert client.apply_snapshot(at, at, states[at].orders()) == "applied"
        assert levels_of(client) == aggregated(client)  # L2 is the sum of L3 at all times
        if not client.needs_snapshot:
            assert same_book(client, states[client.seq])  # a healthy book is the venue's book at its seq
    if client.needs_snapshot:
        client.apply_snapshot(len(updates), len(updates), states[-1].orders())
    assert same_book(client, states[-1])


@given(st.lists(order_updates, min_size=1, max_size=40))
def test_in_order_delivery_applies_every_update_and_duplicates_change_nothing(changes: list) -> None:
    updates, states = venue_books(changes)
    client = copy_of(states[0])
    for u in updates:
        assert client.apply(u) == "applied"
        assert client.apply(u) == "duplicate" and same_book(client, states[u.seq])
    assert not client.needs_snapshot and client.crossed == states[-1].crossed


@given(st.lists(order_updates, min_size=1, max_size=40))
def test_crossed_exactly_when_the_best_bid_reaches_the_best_offer(changes: list) -> None:
    _, states = venue_books(changes)
    for book in states:
        bids = [o.price for o in book.orders() if o.side == "bid"]
        asks = [o.price for o in book.orders() if o.side == "ask"]
        assert book.crossed == bool(bids and asks and max(bids) >= min(asks))
        assert book.bbo().crossed == book.crossed == book.depth(1).crossed


@given(st.lists(order_updates, min_size=1, max_size=40), st.integers(0, 12))
def test_the_top_n_levels_are_the_best_n_in_order(changes: list, n: int) -> None:
    book = venue_books(changes)[1][-1]
    levels = aggregated(book)
    bids = sorted((p for s, p in levels if s == "bid"), reverse=True)
    asks = sorted(p for s, p in levels if s == "ask")
    depth = book.depth(n)
    assert [lv.price for lv in depth.bids] == bids[:n] and [lv.price for lv in depth.asks] == asks[:n]
    bbo = book.bbo()
    assert (bbo.bid and bbo.bid.price, bbo.ask and bbo.ask.price) == (bids[0] if bids else None,
                                                                      asks[0] if asks else None)


level_changes = st.lists(st.tuples(st.sampled_from(["bid", "ask"]), st.integers(95, 105).map(D),
                                   st.sampled_from([D(0), D("0.5"), D(3)]), st.integers(0, 4)), max_size=12)


@given(st.lists(level_changes, min_size=1, max_size=8))
def test_a_delta_of_many_levels_is_one_update_that_sets_them_all(deltas: list) -> None:
    # the same levels set one update each (a book of its own numbering) end at the same levels
    many, one_by_one = LevelBook(SOL, "quantdesk"), LevelBook(SOL, "quantdesk")
    many.apply_snapshot(1, 10, [Level(D(96), D(1), 1)], [Level(D(104), D(1), 1)])
    one_by_one.apply_snapshot(1, 10, [Level(D(96), D(1), 1)], [Level(D(104), D(1), 1)])
    for seq, delta in enumerate(deltas, start=2):
        bids = [Level(p, z, n) for s, p, z, n in delta if s == "bid"]
        asks = [Level(p, z, n) for s, p, z, n in delta if s == "ask"]
        assert many.apply_levels(seq, seq * 10, bids, asks) == "applied"
        assert many.apply_levels(seq, seq * 10, bids, asks) == "duplicate"  # the same delta again changes nothing
        for side, price, size, orders in delta:
            assert one_by_one.apply(LevelUpdate(one_by_one.seq + 1, seq * 10, side, price, size, orders)) == "applied"
        assert (many.seq, many.ts) == (seq, seq * 10)
    assert many.depth(100).bids == one_by_one.depth(100).bids and many.depth(100).asks == one_by_one.depth(100).asks
    assert many.apply_levels(many.seq + 2, 0, [], []) == "gap" and many.depth(1).stale
