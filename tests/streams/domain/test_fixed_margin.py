"""The compiled integer margin gives the Decimal engine's figures bit for bit, and refuses what it cannot hold."""

from decimal import ROUND_HALF_EVEN, Decimal, getcontext

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.domain import to_money
from streams.domain.accounts import Account
from streams.domain.fixed_margin import (
    BEYOND_PRICE, LEVERAGE_LIMIT, LIQUIDATION_LIMIT, MONEY_LIMIT, NO_PRICE, PRICE_LIMIT, RATE_LIMIT, SIZE_LIMIT,
    _UNDECIDED, _digits, _health, _leverage, _liquidation_price, _price_units, _product_money, _quotient, _slope,
    account_margins,
    account_margins_in_range, funding_owed, funding_owed_in_range, health_figure, leverage_figure, money, price_figure,
    units)
from streams.domain.margin import Margin, PositionRisk, Quote, health, leverage, liquidation_price
from streams.domain.positions import Position

MARKETS = ("BTC-PERP", "ETH-PERP", "SOL-PERP", "XRP-PERP")
MMR, IMR = 30_000_000, 50_000_000  # 0.03 and 0.05 in 1e-9


def at(value: int, places: int) -> Decimal:
    """Return integer units of 10^-places as the Decimal they stand for."""
    return Decimal(int(value)).scaleb(-places)


def same(figure: Decimal, reference: Decimal) -> None:
    """Assert a figure from units is the reference's value and string (a reference −0 printed as 0: see the
    module's note on the sign of zero)."""
    assert figure == reference
    assert str(figure) == str(reference.copy_abs() if reference == 0 else reference)


def scaled(limit: int) -> st.SearchStrategy[int]:
    """Return integers in [−limit, limit] of every magnitude, from one digit to the limit's."""
    return digits(limit, len(str(limit)))


def positive(limit: int) -> st.SearchStrategy[int]:
    """Return integers in [1, limit] of every magnitude."""
    return scaled(limit).map(lambda n: max(1, abs(n)))


def same_price(units_: int, price: Decimal | None) -> None:
    """Assert the pass's liquidation price is the Decimal engine's, value and string, or BEYOND_PRICE exactly when
    that is over the limit."""
    if price is not None and price > price_figure(LIQUIDATION_LIMIT):
        assert units_ == BEYOND_PRICE
    else:
        figure = price_figure(units_)
        assert figure == price and str(figure) == str(price)


def reference(collateral: int, size: np.ndarray, entry: np.ndarray, index_at: np.ndarray, oracle: np.ndarray,
              index_now: np.ndarray, mmr: np.ndarray, imr: np.ndarray) -> list[Margin]:
    """Return each account's `Account.margin`, the Decimal engine's, for the integer columns."""
    quotes = {MARKETS[m]: Quote(at(oracle[m], 12), at(mmr[m], 9), at(imr[m], 9), at(index_now[m], 12))
              for m in range(len(oracle))}
    margins = []
    for a in range(size.shape[0]):
        held = [m for m in range(size.shape[1]) if size[a, m]]
        positions = {MARKETS[m]: Position(MARKETS[m], at(size[a, m], 9), at(entry[a, m], 12)) for m in held}
        account = Account("w", 0, at(collateral[a], 9), positions, {MARKETS[m]: at(index_at[a, m], 12) for m in held})
        margins.append(account.margin({MARKETS[m]: quotes[MARKETS[m]] for m in held}))
    return margins


def beyond(margin: Margin) -> bool:
    """Tell whether a figure of one of the margin's positions, or its leverage, is over the integer pass's limits."""
    return (any(abs(f) > money(MONEY_LIMIT) for r in margin.positions
                for f in (r.unrealised_pnl, r.unsettled_funding, r.notional, r.maintenance_margin, r.initial_margin))
            or (margin.leverage is not None and margin.leverage > leverage_figure(LEVERAGE_LIMIT)))


def assert_margins_match(columns: tuple) -> None:
    """Assert the integer pass gives each account's and position's Decimal figures, or refuses when one is over."""
    margins = reference(*columns)
    if any(beyond(m) for m in margins):
        with pytest.raises(ValueError, match="beyond"):
            account_margins(*columns)
        return
    got = account_margins(*columns)
    size = columns[1]
    for a, m in enumerate(margins):
        same(money(got.equity[a]), m.equity)
        same(money(got.free_collateral[a]), m.free_collateral)
        same(health_figure(got.health[a]), m.health)
        assert leverage_figure(got.leverage[a]) == m.leverage
        assert str(leverage_figure(got.leverage[a])) == str(m.leverage)
        sums = (m.unrealised_pnl, m.unsettled_funding, m.notional, m.maintenance_margin, m.initial_margin)
        for column, total in enumerate(sums):
            same(money(got.totals[a, column]), total)
        risks = iter(m.positions)
        for k in range(size.shape[1]):
            if size[a, k]:
                r = next(risks)
                same(money(got.unrealised_pnl[a, k]), r.unrealised_pnl)
                same(money(got.unsettled_funding[a, k]), r.unsettled_funding)
                same(money(got.notional[a, k]), r.notional)
                same(money(got.maintenance_margin[a, k]), r.maintenance_margin)
                same(money(got.initial_margin[a, k]), r.initial_margin)
                same_price(got.liquidation_price[a, k], m.liquidation_price[r.market])
            else:
                assert got.liquidation_price[a, k] == NO_PRICE


def digits(limit: int, most: int) -> st.SearchStrategy[int]:
    """Return integers in [−limit, limit] of at most `most` digits, every number of digits drawn alike and the
    digits at random (hypothesis's own integers favour small values), or 0 or ±limit."""
    spread = st.tuples(st.sampled_from(range(1, max(1, most) + 1)), st.binary(min_size=16, max_size=16), st.booleans())
    drawn = spread.map(lambda t: (-1 if t[2] else 1) * min(limit, 10 ** (t[0] - 1) + int.from_bytes(t[1], "big")
                                                           % (9 * 10 ** (t[0] - 1))))
    return st.one_of(drawn, st.sampled_from((0, limit, -limit)) if most >= len(str(limit)) else st.just(0))


def near(price: int) -> st.SearchStrategy[int]:
    """Return a price anywhere in range, or one near `price` (a position's entry close to the oracle)."""
    return st.one_of(positive(PRICE_LIMIT), digits(PRICE_LIMIT, 19).map(
        lambda d: min(PRICE_LIMIT, max(1, price + d // 10**7))))


@st.composite
def books(draw: st.DrawFn) -> tuple:
    """Draw an account book: 1-3 accounts over 1-4 markets, every figure anywhere in the allowed range; in three
    books of four, sizes of as many digits as keep the figures near or under 1e9 USD (the rest are mostly refused)."""
    accounts, markets = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    wild = draw(st.sampled_from((False, False, False, True)))
    oracle = [draw(positive(PRICE_LIMIT)) for _ in range(markets)]
    index_now = [draw(scaled(PRICE_LIMIT)) for _ in range(markets)]
    entry = np.array([[draw(near(oracle[m])) for m in range(markets)] for _ in range(accounts)], dtype=np.int64)
    index_at = np.array([[draw(st.one_of(scaled(PRICE_LIMIT), st.just(index_now[m]), digits(10**12, 12).map(
        lambda d, now=index_now[m]: min(PRICE_LIMIT, max(-PRICE_LIMIT, now - d))))) for m in range(markets)]
        for _ in range(accounts)], dtype=np.int64)  # anywhere, or settled now, or within 1 USD of now
    widest = [[max(len(str(abs(v)))for v in (oracle[m], entry[a, m], index_now[m] - index_at[a, m]))
               for m in range(markets)] for a in range(accounts)]
    size = np.array([[draw(scaled(SIZE_LIMIT) if wild else digits(SIZE_LIMIT, 30 - widest[a][m]))
                      for m in range(markets)] for a in range(accounts)], dtype=np.int64)
    rates = [draw(st.tuples(positive(RATE_LIMIT), positive(RATE_LIMIT))) for _ in range(markets)]
    mmr, imr = (np.array([min(r) for r in rates]), np.array([max(r) for r in rates]))
    collateral = np.array([draw(st.one_of(scaled(MONEY_LIMIT), positive(MONEY_LIMIT))) for _ in range(accounts)])
    return collateral, size, entry, index_at, np.array(oracle), np.array(index_now), mmr, imr


def test_the_reference_runs_in_the_default_context() -> None:
    # the pass emulates 28 digits, half to even: the context the engine computes in
    assert getcontext().prec == 28 and getcontext().rounding == "ROUND_HALF_EVEN"


@settings(max_examples=400, deadline=None)
@given(books())
def test_every_figure_is_the_decimal_engines(columns: tuple) -> None:
    assert_margins_match(columns)


@settings(max_examples=200, deadline=None)
@given(st.tuples(scaled(SIZE_LIMIT), scaled(PRICE_LIMIT)).filter(lambda t: t[0] != 0), scaled(MONEY_LIMIT))
def test_realistic_books_are_the_decimal_engines(position: tuple, collateral: int) -> None:
    # sizes and prices of a few digits each, so that the figures stay in range and nothing is refused
    size = np.array([[position[0] // 10**10 or 1, -7_000_000_000]], dtype=np.int64)
    entry = np.array([[50_000 * 10**12, 3_000 * 10**12]], dtype=np.int64)
    oracle = np.array([abs(position[1]) // 10**3 + 1, 3_100 * 10**12], dtype=np.int64)
    columns = (np.array([collateral]), size, entry, np.array([[0, 10**12]]), oracle, np.array([5 * 10**9, 2 * 10**12]),
               np.array([MMR, MMR]), np.array([IMR, IMR]))
    assert_margins_match(columns)


@settings(max_examples=2000, deadline=None)
@given(scaled(SIZE_LIMIT), scaled(2 * PRICE_LIMIT))
def test_a_product_rounds_as_to_money_rounds_it(size: int, difference: int) -> None:
    units_, ok = _product_money(np.int64(size), np.int64(difference))
    exact = to_money(at(size, 9) * at(difference, 12))
    assert ok == (abs(exact) <= money(MONEY_LIMIT))
    if ok:
        same(money(units_), exact)


@settings(max_examples=2000, deadline=None)
@given(scaled(4 * MONEY_LIMIT).map(abs), scaled(9 * MONEY_LIMIT))
def test_health_is_the_decimal_engines_over_the_whole_range(maintenance_margin: int, equity: int) -> None:
    same(health_figure(_health(np.int64(maintenance_margin), np.int64(equity))),
         health(at(maintenance_margin, 9), at(equity, 9)))


@settings(max_examples=2000, deadline=None)
@given(scaled(9 * MONEY_LIMIT))
def test_money_is_what_to_money_makes_of_the_units_digit_for_digit(units_: int) -> None:
    # the digits and the exponent too: a settled collateral prints from them, in its row and its messages
    assert money(units_).as_tuple() == to_money(Decimal(units_) / 10**9).as_tuple()


@settings(max_examples=2000, deadline=None)
@given(scaled(4 * MONEY_LIMIT).map(abs), scaled(9 * MONEY_LIMIT))
def test_leverage_is_the_decimal_engines_over_the_whole_range(notional: int, equity: int) -> None:
    units_, ok = _leverage(np.int64(notional), np.int64(equity))
    expected = leverage(at(notional, 9), at(equity, 9))
    assert ok == (expected is None or expected <= leverage_figure(LEVERAGE_LIMIT))
    if ok:
        assert leverage_figure(units_) == expected and str(leverage_figure(units_)) == str(expected)


@pytest.mark.parametrize("notional, equity, expected", [
    (100_005, 10**5, "1.0000"), (100_015, 10**5, "1.0002"), (100_025, 10**5, "1.0002"), (1, 2 * 10**4, "0.0000"),
    (1, 2 * 10**4 - 1, "0.0001"), (0, 5, "0.0000"), (5, 0, None), (5, -1, None),
    (9 * 10**14, 1, "900000000000000.0000"), (4 * 10**18, 9 * 10**18, "0.4444")])
def test_leverage_at_its_edges(notional: int, equity: int, expected: str | None) -> None:
    # ties at 1e-4 go to the even neighbour; none without equity; the largest leverage taken
    units_, ok = _leverage(np.int64(notional), np.int64(equity))
    assert ok and str(leverage_figure(units_)) == str(expected) == str(leverage(at(notional, 9), at(equity, 9)))


def test_a_leverage_over_its_limit_is_refused() -> None:
    assert not _leverage(np.int64(9 * 10**14 + 1), np.int64(1))[1]
    with pytest.raises(ValueError, match=r"^the leverage of account row 0 \(notional 1000000.000000000, equity "
                                         r"1E-9 USD\) is beyond"):
        account_margins(*one(10**9, 10**18, 10**18, collateral=1))


@settings(max_examples=300, deadline=None)
@given(st.lists(scaled(SIZE_LIMIT), min_size=1, max_size=20), st.data())
def test_a_funding_close_settles_every_holder_as_settle_funding_does(sizes: list[int], data: st.DataObject) -> None:
    indices = data.draw(st.lists(scaled(PRICE_LIMIT), min_size=len(sizes), max_size=len(sizes)))
    now = data.draw(scaled(PRICE_LIMIT))
    paid = [held_at(size, index).settle_funding("BTC-PERP", at(now, 12))[1] if size else to_money(Decimal(0))
            for size, index in zip(sizes, indices)]
    if any(abs(p) > money(MONEY_LIMIT) for p in paid):
        with pytest.raises(ValueError, match="beyond"):
            funding_owed(np.array(sizes), np.array(indices), now)
        return
    for owed, reference_paid in zip(funding_owed(np.array(sizes), np.array(indices), now), paid):
        same(money(owed), reference_paid)


def held_at(size: int, index: int) -> Account:
    """Return an account holding `size` (1e-9) of BTC-PERP last settled at `index` (1e-12)."""
    return Account("w", 0, money(0), {"BTC-PERP": Position("BTC-PERP", at(size, 9), Decimal(50_000))},
                   {"BTC-PERP": at(index, 12)})


def one(size: int, entry: int, oracle: int, collateral: int = 10**12, mmr: int = MMR, imr: int = IMR,
        index_at: int = 0, index_now: int = 0) -> tuple:
    """Return the columns of one account holding one position."""
    return (np.array([collateral]), np.array([[size]]), np.array([[entry]]), np.array([[index_at]]),
            np.array([oracle]), np.array([index_now]), np.array([mmr]), np.array([imr]))


@pytest.mark.parametrize("size", [1, 3, -1, -3, 5, -5])
def test_ties_round_half_to_even_and_negative_sizes_mirror(size: int) -> None:
    # 1e-9 × 0.5 USD = 0.5e-9 USD, a tie: 0.5 → 0, 1.5 → 2, 2.5 → 2 units; a short the mirror image
    columns = one(size, 10**12, 10**12 + 5 * 10**11, index_now=5 * 10**11)
    assert_margins_match(columns)
    got = account_margins(*columns)
    assert got.unrealised_pnl[0, 0] == got.unsettled_funding[0, 0] == {1: 0, 3: 2, 5: 2}[abs(size)] * np.sign(size)


def test_a_product_past_28_digits_is_rounded_twice_as_decimal_rounds_it() -> None:
    # size × difference with 29 digits ending …4999999999995 (in 1e-21 USD): Decimal's 28 digits round the last 5 up
    # to a tie at 1e-9, which then goes to the even neighbour: one unit more than rounding once would give
    size = 10**16 - 1  # 1e7 base units: the figures stay within 1e9 USD
    inverse = pow(size, -1, 10**12)
    for k in range(10**16 // size + 1, 10**16 // size + 100):
        difference = (499_999_999_995 * inverse) % 10**12 + k * 10**12
        product = size * difference
        if product >= 10**28 and (product // 10**12) % 2 == 1:
            break
    once = product // 10**12  # rounding once goes down: the remainder is under a half
    columns = one(size, 10**12, 10**12 + difference)
    got = account_margins(*columns)
    assert got.unrealised_pnl[0, 0] == once + 1
    assert_margins_match(columns)


@pytest.mark.parametrize("maintenance_margin, equity, expected", [
    (0, 1, "100.0000"), (1, 1, "0.0000"), (2, 1, "0.0000"), (1, 0, "0.0000"), (1, -5, "0.0000"), (0, 0, "0.0000"),
    (1, 10**6, "99.9999"), (123_456, 10**6, "87.6544"), (123_456, 10**6 + 1, "87.6544"),
    (10**6 - 1, 10**6, "0.0001"), (10**6, 10**6 + 1, "0.0000"), (9 * 10**18 - 1, 9 * 10**18, "0.0000"),
    (1, 9 * 10**18, "99.9999"), (0, 9 * 10**18, "100.0000"),
    (123_456 * 9 * 10**12 + 1, 9 * 10**18, "87.6543"), (123_456 * 9 * 10**12 - 1, 9 * 10**18, "87.6544")])
def test_health_at_its_edges(maintenance_margin: int, equity: int, expected: str) -> None:
    # on a 1e-4 step exactly (123456 / 1e6), one unit of equity or MM either side of it, and the ends of the range
    got = health_figure(_health(np.int64(maintenance_margin), np.int64(equity)))
    assert str(got) == expected
    same(got, health(at(maintenance_margin, 9), at(equity, 9)))


def test_an_account_under_water_has_no_free_collateral_and_no_health() -> None:
    columns = one(10**9, 50_000 * 10**12, 40_000 * 10**12, collateral=5_000 * 10**9)  # equity −5000
    got = account_margins(*columns)
    assert (money(got.equity[0]), got.free_collateral[0], got.health[0]) == (Decimal(-5000), 0, 0)
    assert_margins_match(columns)


def test_accounts_without_positions_are_their_collateral() -> None:
    columns = (np.array([7, 0, -3]), np.zeros((3, 2), dtype=np.int64), np.zeros((3, 2), dtype=np.int64),
               np.zeros((3, 2), dtype=np.int64), np.array([10**12, 10**12]), np.zeros(2, dtype=np.int64),
               np.array([MMR, MMR]), np.array([IMR, IMR]))
    got = account_margins(*columns)
    assert got.equity.tolist() == [7, 0, -3] and got.health.tolist() == [FULL, 0, 0]
    assert_margins_match(columns)


FULL = 10**6


@pytest.mark.parametrize("column, value", [
    ("size", SIZE_LIMIT), ("size", -SIZE_LIMIT), ("entry", PRICE_LIMIT), ("oracle", PRICE_LIMIT),
    ("index_at", -PRICE_LIMIT), ("index_now", PRICE_LIMIT), ("collateral", MONEY_LIMIT),
    ("collateral", -MONEY_LIMIT), ("mmr", RATE_LIMIT), ("imr", RATE_LIMIT)])
def test_values_at_the_limits_are_taken(column: str, value: int) -> None:
    fields = {"size": 1, "entry": 1, "oracle": 1, "collateral": 0, "mmr": 1, "imr": 1, "index_at": 0, "index_now": 0}
    assert_margins_match(one(**{**fields, column: value}))


@pytest.mark.parametrize("column, value, named", [
    ("size", SIZE_LIMIT + 1, "size"), ("size", -SIZE_LIMIT - 1, "size"), ("entry", PRICE_LIMIT + 1, "entry"),
    ("entry", 0, "entry"), ("oracle", PRICE_LIMIT + 1, "oracle price"), ("oracle", 0, "oracle price"),
    ("index_at", -PRICE_LIMIT - 1, "funding index"), ("index_now", PRICE_LIMIT + 1, "funding index"),
    ("collateral", MONEY_LIMIT + 1, "collateral"), ("mmr", RATE_LIMIT + 1, "mmr"), ("imr", 0, "imr")])
def test_values_one_past_the_limits_are_refused_by_name(column: str, value: int, named: str) -> None:
    fields = {"size": 1, "entry": 1, "oracle": 1, "collateral": 0, "mmr": 1, "imr": 1, "index_at": 0, "index_now": 0}
    with pytest.raises(ValueError, match=f"^{named} {value} is outside"):
        account_margins(*one(**{**fields, column: value}))


def test_a_figure_of_exactly_a_billion_is_taken_and_one_unit_more_refused() -> None:
    # 1e9 base units at 1 USD: notional exactly 1e9 USD; one more base unit is over (its P&L first)
    taken = one(10**18, 1, 10**12, mmr=1, imr=1)
    assert money(account_margins(*taken).notional[0, 0]) == Decimal(10**9)
    assert_margins_match(taken)
    with pytest.raises(ValueError, match="unrealised P&L of account row 0 in market column 0"):
        account_margins(*one(10**18 + 10**9, 1, 10**12))
    with pytest.raises(ValueError, match="funding owed by holder 1"):
        funding_owed(np.array([1, 10**18 + 10**9]), np.array([0, 0]), 10**12)


def test_an_account_beyond_the_range_leaves_the_others_figures_as_they_are() -> None:
    # rows 1 and 3 make a figure over 1e9 USD (P&L, then leverage); rows 0, 2 and 4 alone give these figures
    sizes = [10**9, 10**18 + 10**9, -5 * 10**9, 10**18, 7]
    book = (np.array([10**12, 0, 10**11, 1, 10**12]), np.array([[s] for s in sizes]), np.full((5, 1), 10**12),
            np.zeros((5, 1), dtype=np.int64), np.array([2 * 10**12]), np.zeros(1, dtype=np.int64), np.array([MMR]),
            np.array([IMR]))
    margins, in_range = account_margins_in_range(*book)
    assert in_range.tolist() == [True, False, True, False, True]
    alone = account_margins(book[0][[0, 2, 4]], book[1][[0, 2, 4]], book[2][[0, 2, 4]], book[3][[0, 2, 4]], *book[4:])
    for name in ("unrealised_pnl", "notional", "totals", "equity", "free_collateral", "health", "leverage",
                 "liquidation_price"):
        assert np.array_equal(getattr(margins, name)[[0, 2, 4]], getattr(alone, name)), name
    with pytest.raises(ValueError, match="unrealised P&L of account row 1"):
        account_margins(*book)
    owed, paid = funding_owed_in_range(np.array([3, 10**18 + 10**9, -2]), np.zeros(3, dtype=np.int64), 10**12)
    assert paid.tolist() == [True, False, True] and owed[[0, 2]].tolist() == [3, -2]


def test_columns_of_floats_or_of_integers_too_wide_are_refused_before_any_cast() -> None:
    with pytest.raises(ValueError, match="^size: a column of float64, not of integers"):
        funding_owed(np.array([1.5]), np.array([0]), 0)
    with pytest.raises(ValueError, match=f"^size {2**63 + 5} is outside"):
        funding_owed(np.array([2**63 + 5], dtype=np.uint64), np.array([0]), 0)
    with pytest.raises(ValueError, match="^funding index: a column of object"):
        funding_owed(np.array([1]), np.array([0]), 2**64)


def test_more_than_four_markets_are_refused() -> None:
    with pytest.raises(ValueError, match="5 markets per account: at most 4"):
        account_margins(*(np.ones(shape, dtype=np.int64) for shape in (1, (1, 5), (1, 5), (1, 5), 5, 5, 5, 5)))


@pytest.mark.parametrize("text, places, expected", [
    ("1.5", 9, 1_500_000_000), ("-0.000000001", 9, -1), ("50000.123456789012", 12, 50_000_123_456_789_012),
    ("1E+3", 9, 10**12), ("0E-18", 9, 0)])
def test_decimals_become_units_exactly(text: str, places: int, expected: int) -> None:
    assert units(Decimal(text), places, 10**19, "price") == expected


@pytest.mark.parametrize("text, message", [
    ("0.0000000001", "size 1E-10 has more than 9 decimal places"),
    ("9000000000.000000001", "size 9000000000.000000001 is beyond ±9000000000"),
    ("NaN", "size NaN is not a number"), ("Infinity", "size Infinity is not a number")])
def test_decimals_off_the_grid_or_range_are_refused_by_name(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}"):
        units(Decimal(text), 9, SIZE_LIMIT, "size")


def decimal_price(size: int, entry: int, mmr: int, upnl: int, maintenance_margin: int, equity: int,
                  total_mm: int) -> Decimal | None:
    """Return the Decimal engine's liquidation price of one position of an account, from units."""
    risk = PositionRisk("BTC-PERP", at(size, 9), at(entry, 12), Decimal(1), at(mmr, 9), at(upnl, 9), Decimal(0),
                        Decimal(0), at(maintenance_margin, 9), Decimal(0))
    return liquidation_price(risk, at(equity, 9), at(total_mm, 9))


def assert_price_matches(size: int, entry: int, mmr: int, others_equity: int, others_mm: int, upnl: int = 0,
                         maintenance_margin: int = 0) -> int:
    """Assert the pass's liquidation price of one position is the Decimal engine's; return it (units)."""
    figures = (size, entry, mmr, upnl, maintenance_margin, others_equity + upnl, others_mm + maintenance_margin)
    got = _liquidation_price(*(np.int64(f) for f in figures))
    same_price(got, decimal_price(*figures))
    return got


def rates() -> st.SearchStrategy[int]:
    """Return margin rates anywhere in (0, 1], and 1 and just under it (a long's slope 0 or nearly)."""
    return st.one_of(positive(RATE_LIMIT), st.just(RATE_LIMIT), digits(10**4, 5).map(lambda d: RATE_LIMIT - abs(d)))


@settings(max_examples=3000, deadline=None)
@given(scaled(SIZE_LIMIT).filter(bool), positive(PRICE_LIMIT), rates(), scaled(8 * MONEY_LIMIT),
       scaled(3 * MONEY_LIMIT).map(abs), scaled(MONEY_LIMIT), scaled(MONEY_LIMIT).map(abs))
def test_a_liquidation_price_is_the_decimal_engines_over_the_whole_range(size: int, entry: int, mmr: int,
                                                                        others_equity: int, others_mm: int, upnl: int,
                                                                        maintenance_margin: int) -> None:
    # the account's other positions as far as a pass takes them: equity within ±8e9 USD, MM up to 3e9 USD
    assert_price_matches(size, entry, mmr, others_equity, others_mm, upnl, maintenance_margin)


@settings(max_examples=1000, deadline=None)
@given(digits(SIZE_LIMIT, 4).filter(bool), positive(PRICE_LIMIT), digits(10**6, 7).map(lambda d: RATE_LIMIT - abs(d)),
       scaled(8 * MONEY_LIMIT), scaled(3 * MONEY_LIMIT).map(abs))
def test_a_slope_near_zero_gives_the_decimal_engines_price(size: int, entry: int, mmr: int, others_equity: int,
                                                            others_mm: int) -> None:
    # a few base units at an MMR near 1: a long's slope down to 1e-18, its price up to ~1e28 USD and past it
    assert_price_matches(size, entry, mmr, others_equity, others_mm)


@settings(max_examples=1000, deadline=None)
@given(scaled(SIZE_LIMIT).filter(bool), positive(PRICE_LIMIT), rates(), digits(10**6, 7))
def test_a_price_near_zero_rounds_as_the_decimal_engine_rounds_it(size: int, entry: int, mmr: int, gap: int) -> None:
    # others' equity within a few units of size × entry: a quotient under half a unit is 0E-12, a little more 1E-12
    size = (1 if size > 0 else -1) * min(abs(size), 8 * 10**30 // entry)
    got = assert_price_matches(size, entry, mmr, size * entry // 10**12 + gap, 0)
    assert got in (NO_PRICE, BEYOND_PRICE) or got >= 0


def wide(hi: int, lo: int, exp: int) -> Decimal:
    """Return two 64-bit limbs and an exponent as the Decimal they stand for, exactly (not through `scaleb`, which
    rounds to 28 digits)."""
    return Decimal(f"{int(hi) << 64 | int(lo)}E{int(exp)}")


@settings(max_examples=3000, deadline=None)
@given(st.one_of(positive(10**28), st.just(10**28)), st.one_of(positive(10**28), st.just(10**28), st.sampled_from(
    [2**k * 5**j for k in range(8) for j in range(3)])))
def test_a_quotient_of_28_digit_numbers_is_decimals(numerator: int, divisor: int) -> None:
    # the 29th digit and whether anything follows it decide the rounding: small divisors make exact ties
    got = wide(*_quotient(*split(numerator), *split(divisor)))
    expected = Decimal(numerator) / Decimal(divisor)
    assert got == expected


def split(n: int) -> tuple[np.uint64, np.uint64]:
    """Return a number under 2^128 as its two 64-bit limbs."""
    return np.uint64(n >> 64), np.uint64(n & (2**64 - 1))


def floor_scaled(numerator: int, divisor: int, places: int) -> int:
    """Return ⌊numerator × 10^places / divisor⌋, exactly."""
    return numerator * 10**max(places, 0) // (divisor * 10**max(-places, 0))


def test_digits_are_counted_exactly_at_every_power_of_two_and_of_ten() -> None:
    # the count starts from the bit length: it must hold on both sides of each edge, up to 2^128 − 1
    edges = {2**k + d for k in range(129) for d in (-1, 0, 1)} | {10**k + d for k in range(39) for d in (-1, 0, 1)}
    numbers = sorted(n for n in edges if 0 < n < 2**128)
    assert [_digits(*split(n)) for n in numbers] == [len(str(n)) for n in numbers]


@settings(max_examples=3000, deadline=None)
@given(st.one_of(positive(10**28), st.just(10**28)), st.integers(8, 33), st.integers(-10**6, 10**6),
       st.integers(1, 10**19 - 1), st.data())
def test_a_price_in_units_is_the_28_digit_quotient_rounded_to_a_unit(divisor: int, whole_digits: int, off: int,
                                                                    whole: int, data: st.DataObject) -> None:
    # numerators aimed at a whole part of so many digits and at a half unit, `off` 1e-15 units from it: the 9 digits
    # past the unit are 499999999 or 500000000 within 5e-7 units of the half, where the 28-digit rounding may decide
    exp = whole_digits - 28 + len(str(divisor))
    aimed = floor_scaled(((whole % 10**whole_digits) * 10**15 + 5 * 10**14 + off) * divisor, 1, -exp - 15)
    numerator = data.draw(st.one_of(st.just(aimed), positive(10**28)).filter(lambda n: 0 < n <= 10**28))
    got = _price_units(*split(numerator), *split(divisor), exp)
    quotient = (Decimal(numerator) / Decimal(divisor)).scaleb(exp)  # the default context: 28 digits, half to even
    exact = floor_scaled(numerator, divisor, exp + 9)  # the units and the 9 digits past them
    decided = 10**18 <= exact < 10**28 and exact % 10**9 not in (499_999_999, 500_000_000)
    assert (got != _UNDECIDED) == (decided or 10**28 <= exact < 10**39)  # whole parts of 10 to 19 or 20 to 30 digits
    if got != _UNDECIDED:
        price = quotient.quantize(Decimal(1), ROUND_HALF_EVEN) if quotient < 10**19 else None
        assert got == (price if price is not None and price <= LIQUIDATION_LIMIT else BEYOND_PRICE)


@settings(max_examples=2000, deadline=None)
@given(st.one_of(scaled(SIZE_LIMIT).filter(bool), st.integers(-SIZE_LIMIT, -SIZE_LIMIT // 2)),
       st.one_of(positive(RATE_LIMIT), digits(10**4, 5).map(lambda d: RATE_LIMIT - abs(d))))
def test_a_slope_is_decimals(size: int, mmr: int) -> None:
    # a short's |size| × (1 + MMR) has 29 digits past 5e9 base units: rounded as Decimal rounds it
    expected = at(size, 9) - abs(at(size, 9)) * at(mmr, 9)
    assert wide(*_slope(np.int64(size), np.int64(mmr))) == abs(expected)


SLOPE_BITS = 59  # a long of 2^30 units at MMR 1 − 2^29 / 1e9: slope 2^59 in 1e-18 USD, a price of many digits


def tie(entry: int, usd: int, above: bool) -> int:
    """Return others' equity (1e-9) that puts the long's exact price 2^-38 units of 1e-12 below (or above) a half
    unit, near `usd`: 28 digits round it onto the half, which then goes to even."""
    residue = (2**37 + (1 if above else -1)) * pow(5**9, -1, 2**38) % 2**38  # price × 1e12 = N × 5^9 / 2^50
    gap = (residue - 2**18 * entry) * pow(5**12, -1, 2**38) % 2**38  # N = 2^12 × (gap × 5^12 + 2^18 × entry)
    target = (usd * 2**SLOPE_BITS * 1000 - 2**30 * entry) // 10**12
    return -(target - (target - gap) % 2**38)


@settings(max_examples=500, deadline=None)
@given(positive(PRICE_LIMIT), st.integers(20_000, 8_000_000), st.booleans())
def test_a_quotient_rounded_onto_a_half_unit_goes_to_even(entry: int, usd: int, above: bool) -> None:
    size, mmr = 2**30, RATE_LIMIT - 2**29
    others_equity = tie(entry, usd, above)
    whole, part = divmod((size * entry - others_equity * 10**12) * 10**9, 2**SLOPE_BITS)  # units: whole + part/2^59
    assert abs(part - 2**58) == 2**21  # 2^-38 units from the half, nearer than half a 28-digit step (≥ 1e-11 units)
    got = assert_price_matches(size, entry, mmr, others_equity, 0)
    assert got == whole + whole % 2  # the even neighbour, where one rounding would go to whole + (part > 2^58)


@pytest.mark.parametrize("size, entry, mmr, collateral, expected", [
    (10**9, 50_000 * 10**12, 30_000_000, 10_000 * 10**9, "41237.113402061856"),  # (50000 − 10000) / 0.97
    (-10**9, 50_000 * 10**12, 30_000_000, 10_000 * 10**9, "58252.427184466019"),  # (50000 + 10000) / 1.03
    (10**9, 50_000 * 10**12, RATE_LIMIT, 10_000 * 10**9, None),  # MMR 1: a long's slope is 0
    (10**9, 50_000 * 10**12, 30_000_000, 60_000 * 10**9, None),  # more collateral than the position: price < 0
    (10**18, 10**12, 30_000_000, 10**18 - 1, "0E-12"),  # 1e-9 USD over 0.97e9: positive, under half a unit
    (2 * 10**9, 4 * 10**18, 500_000_000, -10**15, "9000000.000000000000"),  # slope 1: the limit, taken
    (2 * 10**9, 4 * 10**18, 500_000_000, -10**15 - 1, "beyond"),  # 1e-9 USD more
    (-10**9, 50_000 * 10**12, 30_000_000, 10**18, "beyond")])  # a short with 1e9 USD: near 9.7e8 USD
def test_liquidation_prices_worked_by_hand(size: int, entry: int, mmr: int, collateral: int,
                                           expected: str | None) -> None:
    columns = one(size, entry, entry, collateral=collateral, mmr=mmr, imr=mmr)
    got = account_margins(*columns).liquidation_price[0, 0]
    assert str(got) == "-2" if expected == "beyond" else str(price_figure(got)) == str(expected)
    assert_margins_match(columns)


@pytest.mark.parametrize(("equity", "total_mm", "expected"), [
    (-8 * 10**18, 3 * 10**18, None),  # 1.1e28 USD: past even what `to_price` can quantise
    (-99_996_000_000, 0, None),  # 1e20 USD exactly: the ceiling
    (-99_995_999_999, 0, "99999999999000000000.000000000000"),  # just under: Decimal gives it, the pass says beyond
])
def test_a_price_of_1e20_usd_or_more_is_none_both_ways(equity: int, total_mm: int, expected: str | None) -> None:
    # one base unit at MMR 1 − 1e-9 (a slope of 1e-18), entry 4e6 USD, the account's others `equity` under water
    figures = (1, 4 * 10**18, RATE_LIMIT - 1, 0, 0, equity, total_mm)
    price = decimal_price(*figures)
    assert (str(price) if price is not None else None) == expected
    assert _liquidation_price(*(np.int64(f) for f in figures)) == (NO_PRICE if expected is None else BEYOND_PRICE)


def test_a_beyond_price_is_refused_as_a_figure() -> None:
    assert price_figure(NO_PRICE) is None and str(price_figure(0)) == "0E-12"
    with pytest.raises(ValueError, match="beyond 9000000 USD"):
        price_figure(BEYOND_PRICE)
