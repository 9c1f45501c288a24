"""The market agent's fold without a broker: staleness across markets, unknown markets."""

from decimal import Decimal as D

from quantdesk.messages import OracleTick
from streams.agents.markets import Markets

T0 = 1_767_225_600_000


def tick(market: str, ts: int) -> OracleTick:
    return OracleTick(id=f"{market}{ts}", ts=ts, market=market, price=D(100), conf=D("0.1"), publish_time=ts)


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


def test_unknown_market_is_named() -> None:
    assert Markets(("BTC-PERP",)).unknown(tick("DOGE-PERP", T0)) == "unknown market 'DOGE-PERP'"
