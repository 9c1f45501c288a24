"""The consolidated book by hand (venue tags, order, BBOs, unhealthy venues left out) and as a property."""

from collections import Counter
from decimal import Decimal as D

from hypothesis import given
from hypothesis import strategies as st

from streams.domain.books import Depth, Level, LevelBook, LevelUpdate
from streams.domain.consolidated import VenueLevel, consolidate

SOL = "SOL-PERP"


def depth(venue: str, bids: list[tuple[str, str]], asks: list[tuple[str, str]], seq: int = 1) -> Depth:
    """Return the depth of an L2 book of `venue` set from (price, size) levels of one order each."""
    book = LevelBook(SOL, venue)
    book.apply_snapshot(seq, seq * 10, [Level(D(p), D(s), 1) for p, s in bids], [Level(D(p), D(s), 1) for p, s in asks])
    return book.depth(50)


def test_levels_of_every_venue_best_first_tagged_and_kept_apart_at_one_price() -> None:
    a = depth("alpha", [("99.9", "1"), ("99.7", "2")], [("100.1", "3"), ("100.4", "1")])
    b = depth("beta", [("99.9", "5"), ("99.8", "1")], [("100.2", "2")])
    book = consolidate(SOL, [b, a])
    # 99.9 shows on both venues: two entries, alpha's first (venue name breaks the tie)
    assert book.bids == (VenueLevel("alpha", D("99.9"), D(1), 1), VenueLevel("beta", D("99.9"), D(5), 1),
                         VenueLevel("beta", D("99.8"), D(1), 1), VenueLevel("alpha", D("99.7"), D(2), 1))
    assert book.asks == (VenueLevel("alpha", D("100.1"), D(3), 1), VenueLevel("beta", D("100.2"), D(2), 1),
                         VenueLevel("alpha", D("100.4"), D(1), 1))
    assert (book.best_bid, book.best_ask) == (book.bids[0], book.asks[0])
    assert [(v.venue, v.bid, v.ask, v.seq, v.ts) for v in book.venues] == [
        ("alpha", Level(D("99.9"), D(1), 1), Level(D("100.1"), D(3), 1), 1, 10),
        ("beta", Level(D("99.9"), D(5), 1), Level(D("100.2"), D(2), 1), 1, 10)]
    assert book.excluded == () and all(v.healthy for v in book.venues)


def test_stale_and_crossed_venues_are_left_out_and_named() -> None:
    good = depth("alpha", [("99", "1")], [("101", "1")])
    crossed = depth("beta", [("100.5", "1")], [("100.2", "1")])
    stale_book = LevelBook(SOL, "gamma")
    stale_book.apply_snapshot(5, 50, [Level(D("99.5"), D(9), 1)], [Level(D("100"), D(9), 1)])
    assert stale_book.apply(LevelUpdate(7, 70, "bid", D(99), D(1), 1)) == "gap"  # 6 missing: awaits a snapshot
    book = consolidate(SOL, [good, crossed, stale_book.depth(10)])
    assert {lv.venue for lv in book.bids + book.asks} == {"alpha"}
    assert book.best_bid == VenueLevel("alpha", D(99), D(1), 1) and book.best_ask == VenueLevel("alpha", D(101), D(1), 1)
    assert book.excluded == (("beta", "crossed: best bid 100.5 >= best ask 100.2"), ("gamma", "stale: awaiting a snapshot"))
    flags = {v.venue: (v.crossed, v.stale, v.healthy) for v in book.venues}
    assert flags == {"alpha": (False, False, True), "beta": (True, False, False), "gamma": (False, True, False)}


def test_venues_crossing_each_other_are_an_arbitrage_not_a_fault() -> None:
    book = consolidate(SOL, [depth("alpha", [("101", "1")], [("102", "1")]), depth("beta", [("99", "1")], [("100", "1")])])
    assert book.best_bid.price > book.best_ask.price and book.excluded == ()  # type: ignore[union-attr]


def test_an_empty_market_has_no_best_prices() -> None:
    book = consolidate(SOL, [depth("alpha", [], [])])
    assert (book.bids, book.asks, book.best_bid, book.best_ask, book.excluded) == ((), (), None, None, ())


ladders = st.lists(st.tuples(st.integers(1, 40).map(D), st.integers(1, 9).map(D)), max_size=8,
                   unique_by=lambda level: level[0])


@given(st.dictionaries(st.sampled_from(["alpha", "beta", "gamma", "delta"]), st.tuples(ladders, ladders), max_size=4))
def test_the_consolidated_levels_are_exactly_the_healthy_venues_levels_in_price_order(venues: dict) -> None:
    depths = [depth(v, [(str(p), str(s)) for p, s in bids], [(str(p + 40), str(s)) for p, s in asks])
              for v, (bids, asks) in venues.items()]
    book = consolidate(SOL, depths)
    assert Counter(book.bids) == Counter(VenueLevel(d.venue, *lv) for d in depths for lv in d.bids)
    assert Counter(book.asks) == Counter(VenueLevel(d.venue, *lv) for d in depths for lv in d.asks)
    assert [(-lv.price, lv.venue) for lv in book.bids] == sorted((-lv.price, lv.venue) for lv in book.bids)
    assert [(lv.price, lv.venue) for lv in book.asks] == sorted((lv.price, lv.venue) for lv in book.asks)
    assert [v.venue for v in book.venues] == sorted(venues)
