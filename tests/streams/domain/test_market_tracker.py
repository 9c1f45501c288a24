"""Oracle guard, mark price and TWAP on event time, with worked numbers."""

from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantdesk.messages import Fill, OracleTick
from streams.domain.mark import Premium, decay, mark_price
from streams.domain.market_tracker import MarketTracker
from streams.domain.oracle_guard import rejection
from streams.domain.twap import TimeWeighted

T0 = 1_767_225_600_000


def tick(ts: int, price: str, conf: str = "1", age_ms: int = 0, status: str = "trading") -> OracleTick:
    return OracleTick(id=f"t{ts}", ts=ts, market="BTC-PERP", price=D(price), conf=D(conf),
                      publish_time=ts - age_ms, status=status)


def fill(ts: int, price: str, side: str = "buy") -> Fill:
    return Fill(id=f"f{ts}{side}", ts=ts, market="BTC-PERP", wallet="w", side=side, size=D(1), price=D(price))


@pytest.mark.parametrize("bad, reason", [
    (tick(T0, "0"), "not positive"),
    (tick(T0, "100", status="halted"), "not trading"),
    (tick(T0, "100", conf="2.01"), "confidence"),
    (tick(T0, "100", age_ms=60_001), "published 60001 ms"),
    (tick(T0, "100", age_ms=-600_000), "published 600000 ms after the tick"),
])
def test_guard_rejects_each_bad_tick_with_its_reason(bad: OracleTick, reason: str) -> None:
    assert reason in (rejection(bad, None) or "")


def test_guard_accepts_boundaries() -> None:
    # 2% conf, 60 s old, exactly 50% below a TWAP of 200: all at the limit, none over it
    assert rejection(tick(T0, "100", conf="2", age_ms=60_000), D("200")) is None
    assert "TWAP" in (rejection(tick(T0, "100"), D("201")) or "")  # 101/201 = 50.2% away


@given(st.integers(-60_000, 600_000), st.integers(10**12, 4 * 10**12))  # from 60 s old (the oldest allowed) to 10 min ahead
def test_guard_refuses_exactly_the_ticks_published_over_5_s_after_their_time(ahead_ms: int, ts: int) -> None:
    published_ahead = tick(ts + 600_000, "100", age_ms=-ahead_ms)
    refused = rejection(published_ahead, D("100"))
    assert (refused is not None) == (ahead_ms > 5_000)
    assert refused is None or f"published {ahead_ms} ms after the tick" in refused


def test_a_tick_published_10_minutes_ahead_moves_neither_oracle_nor_mark() -> None:
    market = MarketTracker("BTC-PERP")
    market.on_tick(tick(T0, "100"))
    state = market.on_tick(tick(T0 + 1000, "104", age_ms=-600_000))
    assert state.status == "degraded" and "after the tick" in state.reason
    assert (state.oracle_price, state.mark_price, market.last_valid_ts) == (D("100"), D("100"), T0)


def test_twap_weights_each_price_by_how_long_it_held() -> None:
    series = TimeWeighted()
    series.add(T0 - 10_000, D(90))   # current at the start: counts from the start
    series.add(T0 + 1_200_000, D(120))
    # [T0, T0+20min): 90; [T0+20min, T0+60min): 120 → (90×20 + 120×40)/60 = 110
    assert series.average(T0, T0 + 3_600_000) == D(110)
    assert TimeWeighted().average(T0, T0 + 1) is None


def test_a_twap_asked_again_after_a_price_at_its_end_reads_as_a_fresh_one() -> None:
    # 100 for 1 s averages 100; 100.25 added at the window's end puts 100.25 × 0 into the integral:
    # the same number, written 100.00, so the kept average must read 100.00 as a fresh one does
    series = TimeWeighted(300_000)
    series.add(T0, D("100"))
    assert str(series.average(T0 - 299_000, T0 + 1000)) == "100"
    series.add(T0 + 1000, D("100.25"))
    assert str(series.average(T0 - 299_000, T0 + 1000)) == "100.00"


def test_a_price_inside_a_twap_window_moves_the_twap_asked_again() -> None:
    series = TimeWeighted(300_000)
    series.add(T0, D("100"))
    assert series.average(T0, T0 + 2000) == D(100)
    series.add(T0 + 1500, D("200"))                                      # (100 × 1.5 s + 200 × 0.5 s) / 2 s
    assert series.average(T0, T0 + 2000) == D(125)


def recomputed(series: TimeWeighted, start: int, end: int) -> D | None:
    """Return the average over [start, end) from a copy of the samples that keeps no earlier answer."""
    fresh = TimeWeighted()
    fresh.times, fresh.values, fresh.integrals = list(series.times), list(series.values), list(series.integrals)
    return fresh.average(start, end)


prices = st.builds(lambda n, places: D(n).scaleb(-places), st.integers(0, 10**7), st.integers(0, 6))
steps = st.one_of(st.integers(-5, 3).map(lambda n: n * 1000), st.integers(-5000, 3000))  # often on one grid
series_steps = st.lists(st.one_of(
    st.tuples(st.just("add"), steps, prices),              # a sample at the last one + step (before it: ignored)
    st.tuples(st.just("tick"), steps, prices),             # as a market: the TWAP up to a time, then a sample there
    st.tuples(st.just("prune"), steps),                    # before the last sample + step
    st.tuples(st.just("average"), steps, steps),           # over [last + step 1 + step 2, last + step 1)
), min_size=4, max_size=40)


@settings(max_examples=300)
@given(st.sampled_from([None, 5_000]), series_steps)
def test_a_kept_twap_reads_exactly_as_one_recomputed_from_the_samples(
        horizon: int | None, steps: list[tuple]) -> None:
    series = TimeWeighted(horizon)
    for step in steps:
        last_ts = series.times[-1] if series.times else T0
        if step[0] == "add":
            series.add(last_ts + step[1], step[2])
        elif step[0] == "tick":
            series.average(last_ts + step[1] - 5_000, last_ts + step[1])
            series.add(last_ts + step[1], step[2])
        elif step[0] == "prune":
            series.prune(last_ts + step[1])
        else:
            end = last_ts + step[1]
            assert repr(series.average(end + step[2], end)) == repr(recomputed(series, end + step[2], end))
        if series.last:
            kept = series.last.start, series.last.end
            assert repr(series.average(*kept)) == repr(recomputed(series, *kept))


def test_premium_is_an_exponential_average_on_event_time() -> None:
    first = Premium().after_fill(T0, D("101"), D("100"))                 # p = 1% sets it
    assert first.value == D("0.01")
    other_side = first.after_fill(T0, D("101"), D("100"))                # same instant: w = 1
    assert other_side.value == first.value
    later = first.after_fill(T0 + 300_000, D("99"), D("100"))            # w = 1/2: ½×1% + ½×(−1%) = 0
    assert abs(later.value) < D("1e-20")
    assert first.at(T0 + 600_000) == D("0.0025")                          # two half-lives: 1% / 4


def test_a_fill_older_than_the_last_one_moves_nothing() -> None:
    # the 2 s print at 100 arrives before the 1.5 s print at 104 (another partition): the mark stays 100
    newest = Premium().after_fill(T0 + 2000, D("100"), D("100"))
    assert newest.after_fill(T0 + 1500, D("104"), D("100")) == newest
    assert mark_price(D("100"), newest.after_fill(T0 + 1500, D("104"), D("100")), T0 + 5000) == D("100")


def test_mark_is_the_median_and_ignores_old_fills() -> None:
    premium = Premium().after_fill(T0, D("102"), D("100"))               # p = 2%
    assert mark_price(D("100"), premium, T0) == D("102")                 # median(100, 102, 102)
    # 61 s later the fill is too old: median(100, 100, 100 × (1 + 2% × 2^(−61/300))) = 100
    assert mark_price(D("100"), premium, T0 + 61_000) == D("100")


@given(st.integers(min_value=0, max_value=10**9), st.integers(min_value=0, max_value=10**9))
def test_decay_multiplies_over_consecutive_gaps(a: int, b: int) -> None:
    assert abs(decay(a) * decay(b) - decay(a + b)) < D("1e-25")


def test_tracker_degrades_on_a_bad_tick_and_recovers_on_a_good_one() -> None:
    market = MarketTracker("BTC-PERP")
    assert market.on_tick(tick(T0, "100")).status == "healthy"
    assert market.on_fill(fill(T0 + 1000, "101")).mark_price == D("101")
    bad = market.on_tick(tick(T0 + 2000, "100", status="halted"))
    assert bad.status == "degraded" and "halted" in bad.reason and bad.oracle_price == D("100")
    assert market.on_tick(tick(T0 + 3000, "100.5")).status == "healthy"


def test_a_tick_too_old_for_mark_still_moves_the_oracle() -> None:
    market = MarketTracker("BTC-PERP")
    market.on_tick(tick(T0, "100"))
    state = market.on_tick(tick(T0 + 1000, "101", age_ms=6_000))
    assert state.oracle_price == D("101") and state.mark_price == D("100")


def test_published_mark_twap_and_premium_hold_the_warehouse_s_18_places_rounded_half_even() -> None:
    # once served as "3199.346379243193392124790041" while the warehouse kept 18 places: one figure, two values
    tracker = MarketTracker("BTC-PERP")
    tracker.on_tick(tick(T0, "3199.33"))
    tracker.on_tick(tick(T0 + 7_000, "3199.41"))
    state = tracker.on_fill(fill(T0 + 7_300, "3199.77"))
    assert state is not None
    exact = {"mark_price": tracker.mark, "oracle_twap_5m": tracker.twap_5m(state.ts),
             "premium": tracker.premium.at(state.ts)}
    for name, value in exact.items():
        shown = getattr(state, name)
        assert shown.as_tuple().exponent >= -18 and abs(shown - value) <= D("0.5e-18"), name
    assert len(state.premium.as_tuple().digits) < len(exact["premium"].as_tuple().digits)  # it was rounded
