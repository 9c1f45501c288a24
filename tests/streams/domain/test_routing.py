"""The ticket's walk and route against hand-worked books, and properties of any route."""

from decimal import Decimal as D
from decimal import localcontext

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.domain import EXACT, to_money, to_price
from streams.domain.books import Level, LevelBook
from streams.domain.consolidated import Consolidated, consolidate
from streams.domain.routing import Refusal, Route, Take, route

SOL = "SOL-PERP"
# alpha: the best offer but a 5 bps taker fee; beta: 2 bps worse on top, deeper, a 1 bp fee
FEES = {"alpha": D("0.0005"), "beta": D("0.0001")}


def book(*venues: tuple[str, list[tuple[str, str]], list[tuple[str, str]]]) -> Consolidated:
    """Return the consolidated book of venues given as (name, bids, asks), levels as (price, size)."""
    depths = []
    for venue, bids, asks in venues:
        b = LevelBook(SOL, venue)
        b.apply_snapshot(1, 0, [Level(D(p), D(s), 1) for p, s in bids], [Level(D(p), D(s), 1) for p, s in asks])
        depths.append(b.depth(100))
    return consolidate(SOL, depths)


OFFERS = book(("alpha", [], [("100.00", "2"), ("100.10", "3")]), ("beta", [], [("100.02", "5"), ("100.20", "10")]))


def test_a_lower_fee_wins_over_a_better_price_then_depth_runs_on() -> None:
    # all-in per unit: beta 100.02 × 1.0001 = 100.030002 < alpha 100.00 × 1.0005 = 100.05
    #                  < alpha 100.10 × 1.0005 = 100.15005 < beta 100.20 × 1.0001 = 100.21002
    # buy 8: beta 5 @ 100.02, then alpha 2 @ 100.00 and 1 @ 100.10
    r = route(OFFERS, "buy", D(8), FEES)
    assert isinstance(r, Route)
    beta, alpha = r.legs
    # beta: notional 5 × 100.02 = 500.10, fee 500.10 × 0.0001 = 0.05001; first though alpha shows 100.00: the fee
    assert (beta.venue, beta.size, beta.average_price, beta.notional, beta.fee) == (
        "beta", D(5), D("100.02"), D("500.10"), D("0.05001"))
    assert beta.takes == (Take("beta", D("100.02"), D(5)),) and beta.reason == "fee"
    assert beta.why == "beta's taker fee 0.0001 makes 100.02 better all-in than alpha's 100.00 at fee 0.0005"
    # alpha: 2 × 100.00 + 1 × 100.10 = 300.10 over 3 = 100.0333…; fee 300.10 × 0.0005 = 0.15005; it shows the touch
    assert (alpha.venue, alpha.size, alpha.average_price, alpha.notional, alpha.fee, alpha.levels) == (
        "alpha", D(3), D("100.033333333333"), D("300.10"), D("0.15005"), 2)
    assert alpha.reason == "price"
    # route: 800.20 over 8 = 100.025; fee 0.20006; all-in 800.40006; impact (100.025 − 100) / 100 × 1e4 = 2.5 bps
    assert (r.touch, r.average_price, r.notional, r.fee, r.all_in, r.impact_bps) == (
        D("100.00"), D("100.025"), D("800.20"), D("0.20006"), D("800.40006"), D("2.5"))
    assert r.levels_by_venue == {"beta": 1, "alpha": 2}


def test_a_bigger_order_reaches_the_deeper_venue_again() -> None:
    # buy 12: beta 5 @ 100.02, alpha 2 @ 100.00 + 3 @ 100.10, then beta 2 @ 100.20
    r = route(OFFERS, "buy", D(12), FEES)
    assert isinstance(r, Route)
    beta, alpha = r.legs
    # beta: 500.10 + 200.40 = 700.50 over 7 = 100.0714285714285… → 100.071428571429; fee 0.07005
    assert (beta.size, beta.notional, beta.average_price, beta.fee, beta.levels) == (
        D(7), D("700.50"), D("100.071428571429"), D("0.07005"), 2)
    # alpha: 200.00 + 300.30 = 500.30 over 5 = 100.06; fee 0.25015
    assert (alpha.size, alpha.notional, alpha.average_price, alpha.fee) == (D(5), D("500.30"), D("100.06"), D("0.25015"))
    # 1200.80 over 12 = 100.0666… → 100.066666666667; impact 0.066666666667 / 100 × 1e4 = 6.6666666667 → 6.6667
    assert (r.notional, r.average_price, r.fee, r.all_in, r.impact_bps) == (
        D("1200.80"), D("100.066666666667"), D("0.32020"), D("1201.12020"), D("6.6667"))


def test_a_sell_takes_the_second_venue_when_the_best_bid_runs_out() -> None:
    bids = book(("alpha", [("99.90", "1")], []), ("beta", [("99.80", "10")], []))
    fees = {"alpha": D("0.0005"), "beta": D("0.0005")}
    r = route(bids, "sell", D(4), fees)
    assert isinstance(r, Route)
    alpha, beta = r.legs
    # alpha 1 @ 99.90 (fee 0.04995), the touch; beta 3 @ 99.80 = 299.40 (fee 0.1497) once alpha's bid is gone
    assert (alpha.size, alpha.fee, alpha.reason) == (D(1), D("0.04995"), "price")
    assert (beta.size, beta.notional, beta.fee, beta.reason) == (D(3), D("299.40"), D("0.1497"), "depth")
    # 399.30 over 4 = 99.825; a sell receives 399.30 − 0.19965 = 399.10035
    # impact (99.90 − 99.825) / 99.90 × 1e4 = 7.50750750… → 7.5075
    assert (r.average_price, r.fee, r.all_in, r.impact_bps) == (D("99.825"), D("0.19965"), D("399.10035"), D("7.5075"))


def test_refuses_what_the_visible_depth_cannot_fill_and_says_how_much_it_can() -> None:
    # offers hold 2 + 3 + 5 + 10 = 20
    assert route(OFFERS, "buy", D(21), FEES) == Refusal("buy", D(21), None, D(20), "the visible depth fills 20 of 21")
    # within a limit of 100.05 only alpha 100.00 × 2 and beta 100.02 × 5 count: 7
    assert route(OFFERS, "buy", D(8), FEES, D("100.05")) == Refusal(
        "buy", D(8), D("100.05"), D(7), "the visible depth within the limit 100.05 fills 7 of 8")
    assert route(OFFERS, "sell", D(1), FEES) == Refusal("sell", D(1), None, D(0), "the visible depth fills 0 of 1")
    with pytest.raises(ValueError):
        route(OFFERS, "buy", D(0), FEES)


def test_a_limit_that_the_depth_fits_within_is_respected() -> None:
    r = route(OFFERS, "buy", D(7), FEES, D("100.05"))
    assert isinstance(r, Route)
    assert [(t.venue, t.price, t.size) for leg in r.legs for t in leg.takes] == [
        ("beta", D("100.02"), D(5)), ("alpha", D("100.00"), D(2))]


# Properties over any book of up to three venues.

VENUES = ("alpha", "beta", "gamma")
ticks = st.lists(st.tuples(st.integers(0, 30), st.integers(1, 20)), max_size=6, unique_by=lambda lv: lv[0])


@st.composite
def books(draw: st.DrawFn) -> tuple[Consolidated, dict[str, D]]:
    """Draw a consolidated book of three venues (bids 99.70-100.00, offers 100.01-100.31, a cent apart) and their
    taker fees (0-10 bps: up to 0.10 on a level, so a fee often outweighs a better price)."""
    venues = []
    for venue in VENUES:
        bids = [(str(D(10_000 - p).scaleb(-2)), str(s)) for p, s in draw(ticks)]
        asks = [(str(D(10_001 + p).scaleb(-2)), str(s)) for p, s in draw(ticks)]
        venues.append((venue, bids, asks))
    fees = {v: D(draw(st.integers(0, 10))).scaleb(-4) for v in VENUES}
    return book(*venues), fees


def all_in(side: str, takes: list[tuple[str, D, D]], fees: dict[str, D]) -> D:
    """Return the unrounded all-in of takes (venue, price, size): paid for a buy, received for a sell."""
    sign = 1 if side == "buy" else -1
    return sum((s * p * (1 + sign * fees[v]) for v, p, s in takes), D(0))


def price_order_sweep(b: Consolidated, side: str, size: D) -> list[tuple[str, D, D]]:
    """Return the takes of a sweep in raw price order, fees ignored (what the route must not do worse than)."""
    takes, left = [], size
    for lv in b.asks if side == "buy" else b.bids:
        if left:
            takes.append((lv.venue, lv.price, min(left, lv.size)))
            left -= takes[-1][2]
    return takes


@given(books(), st.sampled_from(["buy", "sell"]), st.integers(1, 150).map(D),
       st.none() | st.integers(9960, 10040).map(lambda n: D(n).scaleb(-2)))
def test_any_route_fills_the_size_from_real_levels_at_the_best_total_cost(
        drawn: tuple[Consolidated, dict[str, D]], side: str, size: D, limit: D | None) -> None:
    b, fees = drawn
    levels = b.asks if side == "buy" else b.bids
    ok = [lv for lv in levels if limit is None or (lv.price <= limit if side == "buy" else lv.price >= limit)]
    visible = sum((lv.size for lv in ok), D(0))
    r = route(b, side, size, fees, limit)  # type: ignore[arg-type]
    if visible < size:
        assert isinstance(r, Refusal) and r.fillable == visible
        return
    assert isinstance(r, Route)
    takes = [(t.venue, t.price, t.size) for leg in r.legs for t in leg.takes]
    assert sum((s for _, _, s in takes), D(0)) == size == sum((leg.size for leg in r.legs), D(0))
    shown = {(lv.venue, lv.price): lv.size for lv in ok}
    assert all(0 < s <= shown[v, p] for v, p, s in takes) and len(set((v, p) for v, p, _ in takes)) == len(takes)
    assert len({leg.venue for leg in r.legs}) == len(r.legs)
    for leg in r.legs:
        assert leg.fee == to_money(leg.notional * fees[leg.venue]) and leg.average_price == to_price(leg.notional / leg.size)
    assert r.fee == sum((leg.fee for leg in r.legs), D(0)) and r.average_price == to_price(r.notional / size)
    assert r.all_in == (r.notional + r.fee if side == "buy" else r.notional - r.fee)
    assert r.impact_bps >= 0 and r.touch == levels[0].price
    sign = 1 if side == "buy" else -1
    left = {key: shown[key] - sum((s for v, p, s in takes if (v, p) == key), D(0)) for key in shown}
    worst_taken = max(sign * p * (1 + sign * fees[v]) for v, p, _ in takes)
    best_left = min((sign * p * (1 + sign * fees[v]) for (v, p), s in left.items() if s), default=None)
    assert best_left is None or worst_taken <= best_left  # nothing cheaper all-in was left behind: the best cost
    sweep = price_order_sweep(b, side, size)
    if all(limit is None or (p <= limit if side == "buy" else p >= limit) for _, p, _ in sweep):
        better = all_in(side, takes, fees) <= all_in(side, sweep, fees) if side == "buy" else (
            all_in(side, takes, fees) >= all_in(side, sweep, fees))
        assert better  # never worse all-in than sweeping by price alone
    if len(set(fees.values())) == 1:  # equal fees: the route is the price-order sweep
        assert sorted(takes) == sorted(sweep)


# Books and orders at the edges of the input's bounds: 38-digit sizes and prices, 1e-18 to just under 1e20.

EDGES = st.sampled_from(("1e-18", "0.000000001", "1.5", "65000.123456789012", "12345678901234567890.123456789",
                         "99999999999999999999.999999999999999999"))


@st.composite
def hostile_books(draw: st.DrawFn) -> Consolidated:
    """Draw a consolidated offer side of three venues with sizes and prices anywhere in the input's range."""
    venues = []
    for venue in VENUES:
        prices = draw(st.lists(EDGES, max_size=4, unique=True))
        venues.append((venue, [], [(p, draw(EDGES)) for p in sorted(prices, key=D)]))
    return book(*venues)


@given(hostile_books(), st.sampled_from(("1e-18", "0.000000001", "7", "12345678901234567890.123456789")))
def test_a_route_over_sizes_and_prices_of_any_digits_fills_exactly(b: Consolidated, size: str) -> None:
    # in the default context's 28 digits what was left to fill and what was filled were rounded: a route could
    # take more or less than the order, or refuse one the depth fills exactly
    fees = dict.fromkeys(VENUES, D("0.0005"))
    r = route(b, "buy", D(size), fees)
    with localcontext(EXACT):  # the expectations, exactly
        visible = sum((lv.size for lv in b.asks), D(0))
        if visible < D(size):
            assert isinstance(r, Refusal) and r.fillable == visible
            return
        assert isinstance(r, Route)
        assert sum((t.size for leg in r.legs for t in leg.takes), D(0)) == D(size)
        assert r.notional == sum((t.size * t.price for leg in r.legs for t in leg.takes), D(0))
