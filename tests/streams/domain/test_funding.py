"""Hourly funding: rate, clamp, cumulative index, what a position owes, and the clock."""

from decimal import Decimal as D

from streams.domain.funding import HOUR_MS, MarketFunding, funding_owed, funding_rate, hour_end

H0 = 472_222 * HOUR_MS  # 2023-11-14 22:00:00 UTC, a whole hour
MINUTE = 60_000
MAX = D("0.00125")


def test_the_rate_is_the_daily_premium_spread_over_24_hours() -> None:
    # (101.2424 − 101) / 101 / 24 = 0.0024 / 24 = 0.0001
    assert funding_rate(D("101.2424"), D("101"), MAX) == D("0.0001")


def test_the_rate_is_clamped_to_the_market_maximum() -> None:
    # (110 − 100) / 100 / 24 = 0.004166… > 0.00125; the mirror case clamps to −0.00125
    assert funding_rate(D("110"), D("100"), MAX) == MAX
    assert funding_rate(D("90"), D("100"), MAX) == -MAX


def test_a_long_pays_and_a_short_receives_when_the_index_rises() -> None:
    # 2 × (0.75 − 0.5) = 0.5 paid; −2 × 0.25 = −0.5, i.e. received
    assert funding_owed(D("2"), D("0.75"), D("0.5")) == D("0.5")
    assert funding_owed(D("-2"), D("0.75"), D("0.5")) == D("-0.5")


def test_hour_end_is_the_next_whole_hour() -> None:
    assert hour_end(H0) == H0 + HOUR_MS
    assert hour_end(H0 + HOUR_MS - 1) == H0 + HOUR_MS


def worked_clock() -> MarketFunding:
    """Return a clock fed one hour: oracle 100 then 102, mark 101 then 101.4848, half an hour each."""
    clock = MarketFunding("SOL-PERP", MAX)
    clock.record_mark(H0, D("101"))
    assert clock.record_oracle(H0, D("100")) == []
    clock.record_mark(H0 + 30 * MINUTE, D("101.4848"))
    assert clock.record_oracle(H0 + 30 * MINUTE, D("102")) == []
    return clock


def test_the_first_tick_at_or_after_the_hour_closes_it() -> None:
    # oracle TWAP (100 × 30 + 102 × 30) / 60 = 101; mark TWAP (101 + 101.4848) / 2 = 101.2424
    # rate (101.2424 − 101) / 101 / 24 = 0.0001; index 0 + 0.0001 × 101 = 0.0101
    clock = worked_clock()
    assert clock.record_oracle(H0 + HOUR_MS - 1, D("102")) == []
    (period,) = clock.record_oracle(H0 + HOUR_MS, D("103"))
    assert (period.start, period.end) == (H0, H0 + HOUR_MS)
    assert (period.oracle_twap, period.mark_twap) == (D("101"), D("101.2424"))
    assert (period.rate, period.cumulative_index) == (D("0.0001"), D("0.0101"))
    assert clock.cumulative_index == D("0.0101")


def test_a_jump_of_several_hours_funds_only_the_hour_with_a_tick() -> None:
    # [1h, 2h) holds oracle 103 and mark 103 from its first instant: rate 0, index unchanged;
    # [2h, 3h) and [3h, 4h) saw no oracle tick: no funding
    clock = worked_clock()
    clock.record_oracle(H0 + HOUR_MS, D("103"))
    clock.record_mark(H0 + HOUR_MS, D("103"))
    (period,) = clock.record_oracle(H0 + 4 * HOUR_MS + MINUTE, D("104"))
    assert (period.start, period.rate, period.cumulative_index) == (H0 + HOUR_MS, D(0), D("0.0101"))


def test_the_price_current_at_the_start_of_the_hour_counts_from_its_start() -> None:
    # [4h, 5h): oracle 103 (held from 1h) for 1 min then 104 for 59 min:
    #   (103 + 104 × 59) / 60 = 6239 / 60 = 103.983333333333…
    # mark 103 for 1 min then 110 for 59 min: (103 + 110 × 59) / 60 = 6593 / 60 = 109.883333333333…
    # rate (109.8833… − 103.9833…) / 103.9833… / 24 = 0.00236… > 0.00125: clamped to 0.00125
    # index 0.0101 + 0.00125 × 103.983333333333 = 0.0101 + 0.12997916666666625 = 0.140079166667
    clock = worked_clock()
    clock.record_oracle(H0 + HOUR_MS, D("103"))
    clock.record_mark(H0 + HOUR_MS, D("103"))
    clock.record_oracle(H0 + 4 * HOUR_MS + MINUTE, D("104"))
    clock.record_mark(H0 + 4 * HOUR_MS + MINUTE, D("110"))
    (period,) = clock.record_oracle(H0 + 5 * HOUR_MS, D("105"))
    assert (period.oracle_twap, period.mark_twap) == (D("103.983333333333"), D("109.883333333333"))
    assert (period.rate, period.cumulative_index) == (MAX, D("0.140079166667"))


def test_a_clock_started_mid_hour_funds_that_hour_from_its_first_tick() -> None:
    # oracle 100 from 40 min, mark 100.24 from 40 min: TWAPs over the 20 min seen
    # rate (100.24 − 100) / 100 / 24 = 0.0001; index 0.0001 × 100 = 0.01
    clock = MarketFunding("BTC-PERP", MAX)
    clock.record_mark(H0 + 40 * MINUTE, D("100.24"))
    clock.record_oracle(H0 + 40 * MINUTE, D("100"))
    (period,) = clock.record_oracle(H0 + HOUR_MS + 1, D("100"))
    assert (period.start, period.rate, period.cumulative_index) == (H0, D("0.0001"), D("0.01"))


def test_without_mark_samples_the_mark_is_the_oracle_and_the_rate_zero() -> None:
    clock = MarketFunding("BTC-PERP", MAX, cumulative_index=D("1.5"))
    clock.record_oracle(H0, D("100"))
    (period,) = clock.record_oracle(H0 + HOUR_MS, D("100"))
    assert (period.mark_twap, period.rate, period.cumulative_index) == (D("100"), D(0), D("1.5"))
