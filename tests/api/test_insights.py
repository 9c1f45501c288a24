"""MIKEY's insight sentences, exactly: figures in, plain sentences with the numbers out."""

from decimal import Decimal as D

from api import insights
from api.insights import MarketFigures, NearestLiquidation, SubaccountFigures
from quantdesk.messages import AccountSnapshot
from tests.api.held import T0

SOL = MarketFigures("SOL-PERP", "healthy", "", D(100), D("100.5"), D("0.0123"), D("0.0000125"), D("0.1095"), D("3.5"),
                    D(350))
BTC = MarketFigures("BTC-PERP", "degraded", "status is 'halted', not trading", D(97000), D(97010), None, None, None,
                    D("0.5"), D(48500))
ETH = MarketFigures("ETH-PERP", "degraded", "no oracle price yet", None, None, None, None, None, D(0), None)
SIGNALS = [{"ts": T0 + 1000, "severity": "info", "message": "SOL-PERP funding flipped"},
           {"ts": T0 + 61_000, "severity": "critical", "message": "BTC-PERP oracle degraded"},
           {"ts": T0 + 3_599_000, "severity": "warning", "message": "SOL-PERP volatility 4.1x its baseline."}]


def test_a_healthy_market_is_said_with_its_prices_change_funding_and_open_interest() -> None:
    assert insights.market_summary(SOL, []) == [
        "SOL-PERP is healthy: oracle 100.00, mark 100.50 (0.50 % above the oracle).",
        "Over 24 hours it is up 1.23 %.",
        "Funding: longs pay shorts 0.00125 % an hour (10.95 % APR).",
        "Open interest is 3.5 SOL ($350.00 at the oracle).",
        "No signals in the last hour.",
    ]


def test_a_degraded_market_says_why_and_what_is_paused() -> None:
    assert insights.market_summary(BTC, SIGNALS[1:2]) == [
        "BTC-PERP is degraded (status is 'halted', not trading): liquidations are paused and orders that add risk "
        "are refused; last oracle 97,000.00, mark 97,010.00 (0.01 % above the oracle).",
        "No funding period has closed yet.",
        "Open interest is 0.5 BTC ($48,500.00 at the oracle).",
        "1 signal in the last hour (1 critical); the latest, at 00:01:01 UTC: BTC-PERP oracle degraded.",
    ]
    assert insights.market_summary(ETH, []) == [
        "ETH-PERP has no oracle price yet.", "No funding period has closed yet.", "No position is open.",
        "No signals in the last hour."]


def test_shorts_paying_a_falling_market_and_a_mark_under_the_oracle() -> None:
    falling = MarketFigures("SOL-PERP", "healthy", "", D("0.5"), D("0.49"), D("-0.05"), D("-0.00005"), D("-0.438"),
                            D("1200.25"), D("600.125"))
    assert insights.market_summary(falling, []) == [
        "SOL-PERP is healthy: oracle 0.5000, mark 0.4900 (2.00 % below the oracle).",
        "Over 24 hours it is down 5.00 %.",
        "Funding: shorts pay longs 0.00500 % an hour (43.80 % APR).",
        "Open interest is 1,200.25 SOL ($600.13 at the oracle).",
        "No signals in the last hour.",
    ]
    flat = MarketFigures("SOL-PERP", "healthy", "", D(100), D(100), D(0), D(0), D(0), D(0), D(0))
    assert insights.market_summary(flat, [])[:3] == [
        "SOL-PERP is healthy: oracle 100.00, mark 100.00 (at the oracle).", "It is unchanged over 24 hours.",
        "Funding is flat: nobody paid in the last period."]


def test_the_overview_says_each_market_in_one_sentence_then_the_hours_signals() -> None:
    assert insights.overview_summary([BTC, ETH, SOL], SIGNALS) == [
        "BTC-PERP at 97,000.00, degraded (status is 'halted', not trading), open interest 0.5 BTC.",
        "ETH-PERP: no oracle price yet.",
        "SOL-PERP at 100.00, up 1.23 % in 24 hours, funding +10.95 % APR, open interest 3.5 SOL.",
        "3 signals in the last hour (1 critical, 1 warning, 1 info); the latest, at 00:59:59 UTC: SOL-PERP "
        "volatility 4.1x its baseline.",
    ]
    assert insights.signals_sentence(SIGNALS, capped=True).startswith("At least 3 signals in the last hour")


def snapshot(subaccount: int, state: str, equity: str, health: str, leverage: str | None,
             *positions: tuple[str, str, str, str | None]) -> AccountSnapshot:
    """Return a sub-account's snapshot holding (market, size, notional, liquidation price) positions."""
    return AccountSnapshot.model_validate({
        "id": f"w:{subaccount}", "ts": T0, "wallet": "w", "subaccount": subaccount, "state": state,
        "collateral": equity, "equity": equity, "maintenance_margin": "0", "initial_margin": "0",
        "free_collateral": str(D(equity) / 2), "leverage": leverage, "health": health,
        "positions": [{"market": m, "size": size, "entry_price": "1", "upnl": "0", "notional": notional,
                       "liquidation_price": liq} for m, size, notional, liq in positions]})


def test_an_account_is_said_with_its_figures_and_the_position_nearest_liquidation() -> None:
    oracles = {"SOL-PERP": D(100), "BTC-PERP": D(98000)}
    active = snapshot(0, "active", "998.5", "84.9774", "3.0045", ("SOL-PERP", "30", "3000", "70.228070175439"))
    at_risk = snapshot(1, "at_risk", "1200", "18.4", "12.5", ("SOL-PERP", "30", "3000", "70.228070175439"),
                       ("BTC-PERP", "-0.5", "49000", "99000"), ("ETH-PERP", "2", "6000", None))
    figures = [insights.subaccount_figures(s, oracles) for s in (active, at_risk)]
    assert figures[1].nearest_liquidation == NearestLiquidation("BTC-PERP", D("-0.5"), D(99000), D(98000),
                                                                D(1000) / D(98000))
    assert insights.account_summary(figures, SIGNALS[2:]) == [
        "Sub-account 0 is active: equity $998.50, health 85.0 of 100, leverage 3.00×, free collateral $499.25.",
        "Its position nearest liquidation is long 30 SOL on SOL-PERP: liquidation price 70.23 is 29.77 % below the "
        "oracle 100.00.",
        "Sub-account 1 is at risk: equity $1,200.00, health 18.4 of 100, leverage 12.50×, free collateral $600.00.",
        "Its position nearest liquidation is short 0.5 BTC on BTC-PERP: liquidation price 99,000.00 is 1.02 % above "
        "the oracle 98,000.00.",
        "1 alert in the last hour (1 warning); the latest, at 00:59:59 UTC: SOL-PERP volatility 4.1x its baseline.",
    ]


def test_flat_unpriced_and_reached_positions_are_said_plainly() -> None:
    flat = insights.subaccount_figures(snapshot(0, "funded", "50", "100", None), {})
    safe = insights.subaccount_figures(snapshot(1, "active", "5000", "99", "0.2", ("SOL-PERP", "10", "1000", None)), {})
    # no held oracle: the price the snapshot marked it at (notional / size) is used
    reached = insights.subaccount_figures(snapshot(2, "liquidatable", "10", "0", "90",
                                                   ("SOL-PERP", "10", "1000", "101")), {})
    assert reached.nearest_liquidation is not None and reached.nearest_liquidation.oracle_price == 100
    assert insights.account_summary([flat, safe, reached], []) == [
        "Sub-account 0 is funded: equity $50.00, health 100.0 of 100, no leverage, free collateral $25.00.",
        "It holds no position.",
        "Sub-account 1 is active: equity $5,000.00, health 99.0 of 100, leverage 0.20×, free collateral $2,500.00.",
        "None of its positions has a liquidation price above zero.",
        "Sub-account 2 is liquidatable: equity $10.00, health 0.0 of 100, leverage 90.00×, free collateral $5.00.",
        "Its long 10 SOL on SOL-PERP has reached its liquidation price 101.00 (oracle 100.00).",
        "No alerts in the last hour.",
    ]
    assert SubaccountFigures.__dataclass_fields__.keys() >= {"equity", "health", "leverage", "free_collateral"}
