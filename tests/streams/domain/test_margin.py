"""Margin figures by hand, and the liquidation price round trip."""

from dataclasses import replace
from decimal import Decimal as D

from hypothesis import given

from streams.domain import PRICE
from streams.domain.margin import Exposure, Quote, assess
from streams.domain.positions import Position
from tests.streams.domain.domain_strategies import accounts, quotes

BTC = Exposure(Position("BTC-PERP", D("0.1"), D("50000")), Quote(D("48000"), D("0.03"), D("0.05")), D("1.5"))
ETH = Exposure(Position("ETH-PERP", D("-2"), D("3000")), Quote(D("3100"), D("0.03"), D("0.05")), D("-0.5"))


def test_a_two_position_account_by_hand() -> None:
    # upnl: BTC 0.1 × (48000 − 50000) = −200, ETH −2 × (3100 − 3000) = −200
    # funding owed 1.5 − 0.5 = 1; equity 1000 − 400 − 1 = 599
    # notional 4800 + 6200 = 11000; MM 144 + 186 = 330; IM 240 + 310 = 550
    # free 599 − 550 = 49; leverage 11000 / 599 = 18.36394 → 18.3639
    # health 100 × (1 − 330 / 599) = 26900 / 599 = 44.908180… → 44.9081 (rounded down)
    m = assess(D("1000"), [BTC, ETH])
    assert (m.unrealised_pnl, m.unsettled_funding, m.equity) == (D(-400), D(1), D(599))
    assert (m.notional, m.maintenance_margin, m.initial_margin) == (D(11000), D(330), D(550))
    assert (m.free_collateral, m.leverage, m.health) == (D(49), D("18.3639"), D("44.9081"))
    assert not m.liquidatable


def test_a_short_marked_at_its_entry_shows_a_zero_not_a_negative_zero() -> None:
    short = Exposure(Position("SOL-PERP", D("-2"), D("151")), Quote(D("151"), D("0.05"), D("0.1")), D("0E-9"))
    assert str(assess(D("1000.000000000"), [short]).positions[0].unrealised_pnl) == "0E-9"  # it was "-0E-9"


def test_a_short_too_well_collateralised_to_reach_has_no_liquidation_price_rather_than_a_crash() -> None:
    # a deposit of 9e19 USD (the input's bound is 1e20) and a short of 1e-9 SOL: (0 − 9e19 − 1e-9 × 100) / −1.05e-9
    # ≈ 8.6e28 USD, which `to_price` cannot even quantise (InvalidOperation took the whole engine down); 1e20 USD and
    # more is no price: the warehouse cannot hold it and no market reaches it
    short = Exposure(Position("SOL-PERP", D("-1E-9"), D("100")), Quote(D("100"), D("0.05"), D("0.1")), D("0E-9"))
    assert assess(D("9E+19"), [short]).liquidation_price == {"SOL-PERP": None}
    assert assess(D("1E+11"), [short]).liquidation_price == {"SOL-PERP": D("95238095238095238190.476190480000")}


def test_liquidation_prices_by_hand() -> None:
    # BTC: E0 = 599 + 200 = 799, MMo = 186: (186 − 799 + 0.1 × 50000) / (0.1 − 0.1 × 0.03)
    #      = 4387 / 0.097 = 45226.804123711340…
    # ETH: E0 = 799, MMo = 144: (144 − 799 − 2 × 3000) / (−2 − 2 × 0.03) = −6655 / −2.06
    #      = 3230.582524271844660…
    m = assess(D("1000"), [BTC, ETH])
    assert m.liquidation_price == {"BTC-PERP": D("45226.804123711340"), "ETH-PERP": D("3230.582524271845")}


def test_a_long_too_well_collateralised_to_liquidate_has_no_liquidation_price() -> None:
    # (0 − 1000 + 1 × 100) / (1 − 0.05) = −947.37 ≤ 0: none
    long = Exposure(Position("SOL-PERP", D("1"), D("100")), Quote(D("100"), D("0.05"), D("0.10")))
    assert assess(D("1000"), [long]).liquidation_price == {"SOL-PERP": None}


def test_an_account_under_water_has_zero_health_and_no_leverage() -> None:
    # equity 10 + 1 × (80 − 100) = −10
    long = Exposure(Position("SOL-PERP", D("1"), D("100")), Quote(D("80"), D("0.05"), D("0.10")))
    m = assess(D("10"), [long])
    assert (m.equity, m.health, m.leverage, m.free_collateral) == (D(-10), D(0), None, D(0))
    assert m.liquidatable


def test_a_flat_account_is_all_free_collateral_at_full_health() -> None:
    m = assess(D("250"), [])
    assert (m.equity, m.free_collateral, m.health, m.leverage) == (D(250), D(250), D(100), D(0))


def test_health_clamps_at_zero_when_margin_exceeds_equity() -> None:
    # equity 135 − 90 = 45 < MM 910 × 0.05 = 45.5: 100 × (1 − 45.5/45) < 0 → 0
    long = Exposure(Position("SOL-PERP", D("10"), D("100")), Quote(D("91"), D("0.05"), D("0.10")))
    m = assess(D("135"), [long])
    assert (m.health, m.liquidatable) == (D(0), True)


@given(accounts(), quotes())
def test_at_the_liquidation_price_equity_equals_maintenance_margin(account, quotes) -> None:
    margin = account.margin(quotes)
    for market, price in margin.liquidation_price.items():
        if price is None:
            continue
        moved = {**quotes, market: replace(quotes[market], oracle=price)}
        at = account.margin(moved)
        size = abs(account.positions[market].size)
        # price rounded to 1e-12 moves equity − MM by ≤ |size| × 1e-12; each money figure by 1e-9
        assert abs(at.equity - at.maintenance_margin) <= size * PRICE + D("1e-8")
