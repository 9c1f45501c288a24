"""Positions under fills: volume-weighted entry, realised P&L on reduce, flip and close."""

from decimal import Decimal as D

from streams.domain.positions import Position, apply_fill


def test_a_fill_on_a_flat_market_opens_at_the_fill_price() -> None:
    result = apply_fill(None, "SOL-PERP", D("2"), D("100"), D("0.2"))
    assert result.position == Position("SOL-PERP", D("2"), D("100"))
    assert result.realised_pnl == 0
    assert result.cash == D("-0.2")


def test_an_increase_volume_weights_the_entry() -> None:
    # (2 × 100 + 1 × 130) / 3 = 330 / 3 = 110
    result = apply_fill(Position("SOL-PERP", D("2"), D("100")), "SOL-PERP", D("1"), D("130"), D(0))
    assert result.position == Position("SOL-PERP", D("3"), D("110"))
    assert result.realised_pnl == 0


def test_a_repeating_entry_is_rounded_to_the_price_quantum() -> None:
    # (1 × 100 + 2 × 101) / 3 = 302 / 3 = 100.666…, to 12 decimals half to even
    result = apply_fill(Position("SOL-PERP", D("1"), D("100")), "SOL-PERP", D("2"), D("101"), D(0))
    assert result.position.entry == D("100.666666666667")


def test_a_reduce_keeps_the_entry_and_realises_pnl() -> None:
    # closed 1 of a 3 long at 120 against entry 110: 1 × (120 − 110) = 10
    result = apply_fill(Position("SOL-PERP", D("3"), D("110")), "SOL-PERP", D("-1"), D("120"), D("0.12"))
    assert result.position == Position("SOL-PERP", D("2"), D("110"))
    assert result.realised_pnl == D("10")
    assert result.cash == D("9.88")


def test_a_short_reduced_below_entry_realises_a_gain() -> None:
    # closed −1 of a −2 short at 40 against entry 50: −1 × (40 − 50) = +10
    result = apply_fill(Position("ETH-PERP", D("-2"), D("50")), "ETH-PERP", D("1"), D("40"), D(0))
    assert result.position == Position("ETH-PERP", D("-1"), D("50"))
    assert result.realised_pnl == D("10")


def test_a_flip_realises_the_whole_position_and_opens_the_rest_at_the_fill_price() -> None:
    # long 2 at 100, sell 5 at 90: realise 2 × (90 − 100) = −20, then short 3 at 90
    result = apply_fill(Position("BTC-PERP", D("2"), D("100")), "BTC-PERP", D("-5"), D("90"), D(0))
    assert result.position == Position("BTC-PERP", D("-3"), D("90"))
    assert result.realised_pnl == D("-20")


def test_a_fill_to_zero_closes_the_position() -> None:
    # long 2 at 100, sell 2 at 105: 2 × (105 − 100) = 10, nothing left
    result = apply_fill(Position("BTC-PERP", D("2"), D("100")), "BTC-PERP", D("-2"), D("105"), D(0))
    assert result.position is None
    assert result.realised_pnl == D("10")


def test_a_negative_fee_is_a_rebate() -> None:
    result = apply_fill(None, "BTC-PERP", D("1"), D("100"), D("-0.05"))
    assert result.cash == D("0.05")
