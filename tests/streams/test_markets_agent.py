"""The market agent's fold without a broker: staleness across markets, unknown markets."""

from decimal import Decimal as D

from hypothesis import given
from hypothesis import strategies as st

from quantdesk.messages import Fill, MarketState, OracleTick
from streams.agents.markets import Markets

T0 = 1_767_225_600_000
MARKETS = ("BTC-PERP", "ETH-PERP", "SOL-PERP")


def tick(market: str, ts: int, status: str = "trading") -> OracleTick:
    return OracleTick(id=f"{market}{ts}", ts=ts, market=market, price=D(100), conf=D("0.1"), publish_time=ts,
                      status=status)


def test_a_market_without_ticks_for_60s_goes_stale_once() -> None:
    markets = Markets(("BTC-PERP", "ETH-PERP"))
    markets.apply(tick("BTC-PERP", T0))
    markets.apply(tick("ETH-PERP", T0))
    assert [s.status for s in markets.apply(tick("BTC-PERP", T0 + 60_000))] == ["healthy"]
    states = markets.apply(tick("BTC-PERP", T0 + 60_001))
    assert [(s.market, s.status) for s in states] == [("BTC-PERP", "healthy"), ("ETH-PERP", "degraded")]
    assert "stale" in states[1].reason
    assert len(markets.apply(tick("BTC-PERP", T0 + 70_000))) == 1
    assert markets.apply(tick("ETH-PERP", T0 + 70_001))[0].status == "healthy"


def test_a_tick_published_10_minutes_after_its_time_degrades_its_market_and_moves_no_price() -> None:
    markets = Markets(("BTC-PERP",))
    markets.apply(tick("BTC-PERP", T0))
    forged = OracleTick(id="forged", ts=T0 + 1000, market="BTC-PERP", price=D(104), conf=D("0.1"),
                        publish_time=T0 + 601_000)
    [state] = markets.apply(forged)
    assert (state.status, state.oracle_price, state.mark_price) == ("degraded", D(100), D(100))
    assert "published 600000 ms after the tick" in state.reason


def test_unknown_market_is_named() -> None:
    assert Markets(("BTC-PERP",)).unknown(tick("DOGE-PERP", T0)) == "unknown market 'DOGE-PERP'"


class Scanning(Markets):
    """The agent as it was before it knew when the next market goes stale: every tick scans them all."""

    def newly_stale(self, source_id: str, now: int) -> list[MarketState]:
        gone = [t for t in self.trackers.values() if t.market not in self.stale
                and t.last_valid_ts is not None and t.degraded(now) and not t.reason]
        self.stale.update(t.market for t in gone)
        return [t.state(f"{source_id}:{t.market}", now, now) for t in gone]


ticks = st.lists(st.tuples(st.sampled_from(MARKETS),
                           st.one_of(st.integers(-90_000, 90_000), st.integers(-90, 90).map(lambda n: n * 1000),
                                     st.sampled_from([60_000, 60_001])),  # from the last tick: back in time too
                           st.sampled_from(["trading", "trading", "halted"])), max_size=60)


@given(ticks)
def test_markets_go_stale_exactly_as_when_every_tick_scanned_every_market(steps: list[tuple[str, int, str]]) -> None:
    markets, scanning = Markets(MARKETS), Scanning(MARKETS)
    ts = T0
    for market, step, status in steps:
        ts += step
        event = tick(market, ts, status)
        assert markets.apply(event) == scanning.apply(event)
        assert markets.stale == scanning.stale


def test_a_market_read_behind_another_is_not_stale_for_what_was_not_read_yet() -> None:
    markets = Markets(("BTC-PERP", "ETH-PERP"))
    markets.apply(tick("ETH-PERP", T0), read_to=T0)
    # BTC's partition is read 5 minutes ahead while ETH's was read only to T0 + 1 s
    for n in range(1, 6):
        states = markets.apply(tick("BTC-PERP", T0 + n * 60_000), read_to=T0 + 1_000)
        assert [s.market for s in states] == ["BTC-PERP"]
    assert markets.apply(tick("ETH-PERP", T0 + 1_000), read_to=T0 + 1_000)[0].status == "healthy"
    # ETH's partition read on, and quiet past T0 + 61 s: now ETH is stale, at that time
    states = markets.apply(tick("BTC-PERP", T0 + 6 * 60_000), read_to=T0 + 61_001)
    assert [(s.market, s.status, s.ts) for s in states] == [("BTC-PERP", "healthy", T0 + 360_000),
                                                            ("ETH-PERP", "degraded", T0 + 61_001)]


def test_a_fill_read_ahead_of_its_market_s_ticks_does_not_call_it_stale() -> None:
    markets = Markets(("BTC-PERP",))
    markets.apply(tick("BTC-PERP", T0))
    fill = Fill(id="f", ts=T0 + 120_000, market="BTC-PERP", wallet="w", side="buy", size=D(1), price=D(101))
    assert markets.apply(fill, read_to=T0 + 400)[0].status == "healthy"  # ticks read only to T0 + 0.4 s
    later = Fill(id="g", ts=T0 + 120_001, market="BTC-PERP", wallet="w", side="buy", size=D(1), price=D(101))
    assert "stale" in markets.apply(later, read_to=T0 + 120_001)[0].reason  # read that far: no tick came
