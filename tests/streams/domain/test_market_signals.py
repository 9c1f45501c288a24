"""Market rules: funding flip and extreme APR, open-interest skew, whale fills, oracle verdicts, venue divergence,
volatility spikes; each fires past its line and stays quiet just inside it."""

from decimal import Decimal as D

from quantdesk.messages import Fill, MarketState, VenuePrice
from streams.domain.alerts import AlertGate, Thresholds
from streams.domain.funding import FundedHour
from streams.domain.market_signals import MarketWatch, funding_signals, skew_signals

T = Thresholds()
T0 = 1_767_225_600_000
SOL = "SOL-PERP"
HOUR = 3_600_000


def hour(n: int, rate: str) -> FundedHour:
    return FundedHour(SOL, T0 + n * HOUR, T0 + (n + 1) * HOUR, D(100), D(100), D(rate), D(0))


def funded(rates: list[str]) -> list:
    gate, last, out = AlertGate(), 0, []
    for n, rate in enumerate(rates):
        signals, last = funding_signals(gate, T, hour(n, rate), last, f"tick:{n}", T0 + (n + 1) * HOUR)
        out += signals
    return out


def test_funding_flip_fires_when_the_sign_turns_and_not_through_zero_alone() -> None:
    [flip] = funded(["0.00001", "0", "0.00002", "-0.00001"])
    assert (flip.kind, flip.severity, flip.ts, flip.causes, flip.subject, flip.wallet) == (
        "funding_flip", "info", T0 + 4 * HOUR, ["tick:3"], SOL, None)
    assert flip.message == "SOL-PERP funding flipped negative: shorts pay longs, -0.0010 %/h, APR -8.8 %"


def test_funding_apr_over_50_percent_fires_and_just_under_stays_quiet() -> None:
    assert funded(["0.000057"]) == []  # APR 49.93 %
    [extreme] = funded(["0.0000571"])  # APR 50.02 %
    assert (extreme.kind, extreme.severity, extreme.data["apr"]) == ("funding_extreme", "warning", "0.5001960")
    assert extreme.message == "SOL-PERP funding APR 50.0 % is beyond ±50.0 %: longs pay shorts 0.0057 %/h"
    # it stays past until |APR| is under 45 %: one signal over hours around 50 %
    assert [s.ts for s in funded(["0.0000571", "0.000055", "0.0000571", "0.00005", "0.0000571"])] == [
        T0 + HOUR, T0 + 5 * HOUR]


def test_open_interest_skew_needs_75_percent_of_at_least_5_holders() -> None:
    assert skew_signals(AlertGate(), T, SOL, 3, 1, "fill:1", T0) == []  # 75 % of 4 holders
    assert skew_signals(AlertGate(), T, SOL, 14, 5, "fill:1", T0) == []  # 73.7 %
    [skew] = skew_signals(AlertGate(), T, SOL, 2, 6, "fill:1", T0)
    assert (skew.kind, skew.id, skew.data["share"]) == ("open_interest_skew", f"fill:1:open_interest_skew:{SOL}:short",
                                                        "0.750000")
    assert skew.message == "SOL-PERP holders lean short: 6 of 8 accounts (75.0 %) are net short"


def test_skew_fires_again_only_after_dropping_under_70_percent() -> None:
    gate = AlertGate()
    counts = [(8, 2), (7, 3), (8, 2), (6, 4), (8, 2)]
    fired = [s.ts for n, (longs, shorts) in enumerate(counts)
             for s in skew_signals(gate, T, SOL, longs, shorts, f"fill:{n}", T0 + n * 400_000)]
    assert fired == [T0, T0 + 1_600_000]  # 70 % is not under 70 %; 60 % is


def fill(n: int, size: str, price: str, liquidity: str = "taker", ts: int = T0) -> Fill:
    return Fill(id=f"fill:{n}", ts=ts, market=SOL, wallet="w", side="buy", size=D(size), price=D(price),
                liquidity=liquidity)


def test_a_whale_fill_of_100k_fires_once_per_trade_and_99_999_stays_quiet() -> None:
    watch = MarketWatch(SOL)
    assert watch.whale(T, fill(1, "666.66666", "150")) == []  # $99,999.999
    assert watch.whale(T, fill(2, "1000", "100", "maker")) == []  # the maker's side of a trade: its taker counts
    [whale] = watch.whale(T, fill(3, "1000", "100"))
    assert (whale.kind, whale.severity, whale.message) == (
        "whale_fill", "info", "Whale buy on SOL-PERP: 1000 at 100.00, $100,000 notional")
    assert watch.whale(T, fill(4, "2000", "100", ts=T0 + 1000)) == []  # the cool-down
    assert [s.severity for s in watch.whale(T, fill(5, "10000", "100", ts=T0 + 2000))] == ["warning"]  # 10×: more severe


def state(n: int, status: str = "healthy", mark: str | None = "100", tick: str | None = None, reason: str = "") -> MarketState:
    return MarketState(id=f"s{n}", ts=T0 + n * 1000, market=SOL, oracle_price=D(100), mark_price=D(mark) if mark else None,
                       status=status, reason=reason, tick_price=D(tick) if tick else None)


def test_oracle_degraded_then_recovered_and_a_flapping_oracle_is_quiet_within_the_cool_down() -> None:
    watch = MarketWatch(SOL)
    steps = ["healthy", "degraded", "degraded", "healthy", "degraded", "healthy"]
    out = [s for n, status in enumerate(steps)
           for s in watch.on_state(T, state(n, status, reason="stale" if status == "degraded" else ""), f"tick:{n}")]
    assert [(s.kind, s.ts - T0) for s in out] == [("oracle_degraded", 1000), ("oracle_recovered", 3000)]
    assert out[0].message == "SOL-PERP oracle degraded (stale): liquidations paused"
    assert out[1].message == "SOL-PERP oracle healthy again at 100.00 after 2 s"


def test_venue_divergence_over_50_bps_fires_and_50_stays_quiet() -> None:
    watch = MarketWatch(SOL)
    watch.on_state(T, state(0, mark="100.5"), "tick:0")
    venue = VenuePrice(id="hl:1", ts=T0 + 1000, venue="hyperliquid", market=SOL, price=D(100))
    assert watch.on_venue(T, venue) == []  # exactly 50 bps
    [diverged] = watch.on_state(T, state(2, mark="100.51"), "tick:2")
    assert (diverged.kind, diverged.id, diverged.causes, diverged.data["bps"]) == (
        "venue_divergence", f"tick:2:venue_divergence:{SOL}:hyperliquid", ["hl:1", "tick:2"], "51.0000")
    assert diverged.message == "SOL-PERP mark 100.51 is 51.0 bps above hyperliquid's 100.00"
    assert watch.on_state(T, state(3, mark="100.3"), "tick:3") == []  # 30 bps: regained, but within the cool-down
    later = VenuePrice(id="hl:2", ts=T0 + 400_000, venue="hyperliquid", market=SOL, price=D("101.2"))
    [again] = watch.on_venue(T, later)
    assert (again.id, again.data["bps"]) == (f"hl:2:venue_divergence:{SOL}:hyperliquid", "-88.9328")


def test_a_venue_price_older_than_a_minute_is_not_compared() -> None:
    watch = MarketWatch(SOL)
    watch.on_venue(T, VenuePrice(id="hl:1", ts=T0, venue="hyperliquid", market=SOL, price=D(100)))
    assert watch.on_state(T, state(61, mark="110"), "tick:61") == []


def oscillate(watch: MarketWatch, start_s: int, seconds: int, move: str) -> list:
    """Tick every second from `start_s`, the price stepping up and down by `move` (a share)."""
    out, up, down = [], D(100) * (1 + D(move)), D(100)
    for s in range(start_s, start_s + seconds):
        out += watch.on_state(T, state(s, tick=str(up if s % 2 else down)), f"tick:{s}")
    return out


def test_a_volatility_spike_of_over_3x_fires_once() -> None:
    watch = MarketWatch(SOL)
    assert oscillate(watch, 0, 2400, "0.0001") == []  # 40 minutes of 0.01 % moves: the baseline
    spikes = oscillate(watch, 2400, 120, "0.0005")  # two minutes of 0.05 % moves
    assert [s.kind for s in spikes] == ["volatility_spike"]
    assert spikes[0].message.startswith("SOL-PERP 1-minute volatility 0.261 % is 3.0× its 24 h baseline 0.087 %")


def test_volatility_2_5x_its_baseline_stays_quiet_and_too_short_a_history_says_nothing() -> None:
    watch = MarketWatch(SOL)
    oscillate(watch, 0, 2400, "0.0001")
    assert oscillate(watch, 2400, 300, "0.00025") == []
    young = MarketWatch(SOL)
    oscillate(young, 0, 600, "0.0001")  # ten minutes: under the 30 the baseline needs
    assert oscillate(young, 600, 120, "0.001") == []
