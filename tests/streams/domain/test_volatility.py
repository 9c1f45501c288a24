"""Realised volatility exactly: the last minute's squared log returns, the day's per minute."""

from decimal import Decimal as D
from decimal import localcontext

from hypothesis import given
from hypothesis import strategies as st

from streams.domain.volatility import DAY_MS, MINUTE_MS, RealisedVolatility, log_return, squared


def test_a_minute_of_alternating_moves_sums_their_squares() -> None:
    vol = RealisedVolatility()
    for s in range(61):
        vol.add(s * 1000, D("100.01") if s % 2 else D(100))
    r = squared(log_return(D("100.01"), D(100)))
    assert vol.minute_variance() == 60 * r - r + squared(log_return(D(100), D("100.01")))  # the 60 s up to now
    assert vol.history_ms() == 60_000 and vol.baseline_variance() == vol.day_sum


def test_the_day_forgets_what_is_older_than_24_hours() -> None:
    vol = RealisedVolatility()
    vol.add(0, D(100))
    vol.add(1000, D(200))
    vol.add(DAY_MS + 2 * MINUTE_MS, D(200))
    assert vol.day_sum == 0 and vol.minute_variance() == 0 and vol.history_ms() == DAY_MS


@given(st.lists(st.tuples(st.integers(1, 90_000), st.decimals("0.5", "2", places=6)), min_size=2, max_size=80))
def test_running_sums_equal_sums_taken_afresh(steps: list[tuple[int, D]]) -> None:
    vol, ts, price, returns = RealisedVolatility(), 0, D(100), []
    vol.add(0, price)
    for step, factor in steps:
        ts += step
        new = price * factor
        returns.append((ts, squared(log_return(new, price))))
        vol.add(ts, new)
        price = new
    with localcontext(prec=80):  # the sums afresh, exactly
        minute = sum((r for t, r in returns if t > ts - MINUTE_MS), D(0))
        day = sum((r for t, r in returns if t // MINUTE_MS > (ts - DAY_MS) // MINUTE_MS), D(0))
    assert vol.minute_variance() == minute and vol.day_sum == day
