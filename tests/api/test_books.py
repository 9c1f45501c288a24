"""The gateway's live books: venues' snapshots and deltas in sequence, views consolidated or per venue, ages on
event time, unhealthy venues flagged and left out, invalid events skipped with a log, BBO moves."""

import logging
from decimal import Decimal as D

import pytest

from api.books import LiveBooks
from tests.api.held import T0, book

SOL = "SOL-PERP"


def held() -> LiveBooks:
    """Return books of SOL on two venues: ours at seq 7 (T0 + 500) and Hyperliquid's at seq 40 (T0 + 800)."""
    books = LiveBooks(("SOL-PERP", "BTC-PERP"))
    assert books.apply(book("quantdesk", SOL, 7, T0 + 500, bids=(("99.9", "3"), ("99.8", "5")),
                            asks=(("100.1", "2"), ("100.3", "4"))))
    assert books.apply(book("hyperliquid", SOL, 40, T0 + 800, bids=(("99.95", "1"),), asks=(("100.1", "1.5"),)))
    return books


def prices(levels: list) -> list[tuple[str, D, D]]:
    """Return levels as (venue, price, size)."""
    return [(lv.venue, lv.price, lv.size) for lv in levels]


def test_the_consolidated_book_tags_each_level_with_its_venue_and_sums_the_seqs() -> None:
    view = held().orderbook(SOL, depth=2)
    # bids best first: 99.95 (hyperliquid) then 99.9 (ours); asks: 100.1 on both venues, by venue name
    assert prices(view.bids) == [("hyperliquid", D("99.95"), D(1)), ("quantdesk", D("99.9"), D(3))]
    assert prices(view.asks) == [("hyperliquid", D("100.1"), D("1.5")), ("quantdesk", D("100.1"), D(2))]
    assert (view.seq, view.ts, view.as_of, view.healthy, view.excluded) == (47, T0 + 800, T0 + 800, True, [])
    # each venue's age against the newest book event of the market (T0 + 800): event time, no wall clock
    assert [(v.venue, v.seq, v.age_ms, v.healthy) for v in view.venues] == [
        ("hyperliquid", 40, 0, True), ("quantdesk", 7, 300, True)]


def test_a_delta_moves_its_venues_book_on_by_one_seq_and_a_gap_turns_it_stale() -> None:
    books = held()
    assert books.apply(book("quantdesk", SOL, 8, T0 + 900, bids=(("99.9", "0"),), asks=(("100.2", "1"),), kind="delta"))
    ours = books.orderbook(SOL, "quantdesk", depth=5)
    assert prices(ours.bids) == [("quantdesk", D("99.8"), D(5))]  # 99.9 removed
    assert prices(ours.asks) == [("quantdesk", D("100.1"), D(2)), ("quantdesk", D("100.2"), D(1)),
                                 ("quantdesk", D("100.3"), D(4))]
    assert (ours.seq, ours.ts, ours.as_of, ours.healthy) == (8, T0 + 900, T0 + 900, True)
    assert not books.apply(book("quantdesk", SOL, 8, T0 + 900, kind="delta"))  # a duplicate: no news
    assert books.apply(book("quantdesk", SOL, 10, T0 + 950, kind="delta"))  # seq 9 missed: news, the book is stale
    stale = books.orderbook(SOL, "quantdesk")
    assert (stale.healthy, stale.stale, stale.seq) == (False, True, 8)
    assert [(e.venue, e.reason) for e in stale.excluded] == [("quantdesk", "stale: awaiting a snapshot")]
    view = books.orderbook(SOL)
    assert {lv.venue for lv in view.bids + view.asks} == {"hyperliquid"}  # never served as if it were healthy
    assert [(e.venue, e.reason) for e in view.excluded] == [("quantdesk", "stale: awaiting a snapshot")]
    assert books.apply(book("quantdesk", SOL, 12, T0 + 990, bids=(("99", "1"),), asks=(("101", "1"),)))
    assert books.orderbook(SOL).healthy and books.orderbook(SOL, "quantdesk").seq == 12


def test_a_crossed_venue_is_flagged_in_its_own_view_and_left_out_of_the_consolidated_book() -> None:
    books = held()
    assert books.apply(book("hyperliquid", SOL, 41, T0 + 900, bids=(("100.2", "1"),), asks=(("100.1", "1"),)))
    own = books.orderbook(SOL, "hyperliquid")
    assert (own.healthy, own.crossed, own.stale) == (False, True, False)
    assert own.excluded[0].reason == "crossed: best bid 100.2 >= best ask 100.1"
    view = books.orderbook(SOL)
    assert {lv.venue for lv in view.bids + view.asks} == {"quantdesk"}
    assert [(v.venue, v.crossed, v.healthy) for v in view.venues] == [("hyperliquid", True, False),
                                                                        ("quantdesk", False, True)]
    bbo = books.bbo(SOL)
    assert (bbo.best_bid.venue, bbo.best_bid.price, bbo.best_ask.price) == ("quantdesk", D("99.9"), D("100.1"))


def test_a_book_is_stale_until_its_first_snapshot() -> None:
    books = LiveBooks((SOL,))
    assert not books.apply(book("hyperliquid", SOL, 5, T0, bids=(("99", "1"),), kind="delta"))
    view = books.orderbook(SOL)
    assert (view.healthy, view.stale, view.bids, [e.venue for e in view.excluded]) == (
        False, True, [], ["hyperliquid"])
    assert books.bbo(SOL).best_bid is None


def test_invalid_events_and_unlisted_markets_are_skipped_and_invalid_ones_logged(
        caplog: pytest.LogCaptureFixture) -> None:
    books = held()
    hostile = [
        {**book("quantdesk", SOL, 9, T0), "kind": "rewrite"},
        {**book("quantdesk", SOL, 9, T0), "seq": -1},
        {**book("quantdesk", SOL, 9, T0), "bids": [{"price": "NaN", "size": "1"}]},
        book("quantdesk", SOL, 9, T0, bids=(("99", "0"),)),  # a snapshot's level must rest
        {"id": "x"},
    ]
    with caplog.at_level(logging.WARNING, logger="api.books"):
        for event in hostile:
            assert not books.apply(event), event
    assert len([r for r in caplog.records if "skipped an invalid books event" in r.message]) == len(hostile)
    assert not books.apply(book("quantdesk", "DOGE-PERP", 1, T0, bids=(("1", "1"),)))
    assert books.orderbook(SOL).seq == 47 and "DOGE-PERP" not in books.books


def test_the_bbo_moves_only_when_a_best_price_size_or_health_does() -> None:
    books = held()
    first = books.bbo_moved(SOL)
    assert first is not None and (first.best_bid.venue, first.best_bid.price) == ("hyperliquid", D("99.95"))
    assert books.bbo_moved(SOL) is None
    assert books.apply(book("quantdesk", SOL, 8, T0 + 900, bids=(("99.8", "6"),), kind="delta"))  # below the top
    assert books.bbo_moved(SOL) is None  # a new seq and time alone is no move
    assert books.apply(book("quantdesk", SOL, 9, T0 + 950, asks=(("100.05", "1"),), kind="delta"))
    moved = books.bbo_moved(SOL)
    assert moved is not None and (moved.best_ask.venue, moved.best_ask.price) == ("quantdesk", D("100.05"))
