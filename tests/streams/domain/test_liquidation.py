"""The partial liquidation planner by hand, and what executing a plan restores."""

from dataclasses import replace
from decimal import Decimal as D

from hypothesis import given

from streams.domain import to_money
from streams.domain.liquidation import BUFFER, Close, plan_liquidation
from streams.domain.margin import Exposure, Quote, assess
from streams.domain.positions import Position
from tests.streams.domain.domain_strategies import accounts, decimals, quotes


def exposure(market: str, size: str, entry: str, oracle: str, mmr: str) -> Exposure:
    """Return a position marked at `oracle` with maintenance rate `mmr`."""
    return Exposure(Position(market, D(size), D(entry)), Quote(D(oracle), D(mmr), D(mmr) * 2))


def test_a_partial_close_restores_the_buffer() -> None:
    # long 10 from 100 at 91: equity 135 − 90 = 45 < MM 910 × 5% = 45.5
    # q = (45.5 × 1.02 − 45) / (91 × (0.05 × 1.02 − 0.01)) = 1.41 / 3.731 = 0.377914768…
    #   → 0.377914769 (rounded up); the rest 9.622… × 91 = 875.6 ≥ 50 stays open
    # fee 1% × 0.377914769 × 91 = 0.34390243979 → 0.343902440, split 0.171951220 + 0.171951220
    plan = plan_liquidation(assess(D("135"), [exposure("SOL-PERP", "10", "100", "91", "0.05")]))
    assert plan.closes == (Close("SOL-PERP", "sell", D("0.377914769"), D("91"), D("0.343902440")),)
    assert (plan.closes[0].liquidator_fee, plan.closes[0].insurance_fee) == (D("0.17195122"), D("0.17195122"))
    assert plan.deficit == 0


def test_the_whole_position_goes_when_the_rest_would_be_under_50_dollars() -> None:
    # long 1 from 100 at 55: equity 47.5 − 45 = 2.5 < MM 2.75
    # q = (2.805 − 2.5) / (55 × 0.041) = 0.1352…; the rest 0.8647 × 55 = 47.56 < 50: close all 1
    # fee 1% × 55 = 0.55
    plan = plan_liquidation(assess(D("47.5"), [exposure("SOL-PERP", "1", "100", "55", "0.05")]))
    assert plan.closes == (Close("SOL-PERP", "sell", D("1"), D("55"), D("0.55")),)


def test_the_largest_notional_goes_first_then_the_next() -> None:
    # BTC long 0.02 at 60000 (notional 1200, MM 36), ETH short 0.5 at 2000 (1000, MM 30); equity 40
    # BTC: q = (66 × 1.02 − 40) / (60000 × 0.0206) = 27.32 / 1236 = 0.0221 ≥ 0.02: all; fee 12
    #      equity 28, MM 30
    # ETH: q = (30 × 1.02 − 28) / (2000 × 0.0206) = 2.6 / 41.2 = 0.063106796… → 0.063106797
    #      fee 1% × 0.063106797 × 2000 = 1.26213594
    margin = assess(
        D("40"),
        [exposure("ETH-PERP", "-0.5", "2000", "2000", "0.03"), exposure("BTC-PERP", "0.02", "60000", "60000", "0.03")],
    )
    assert plan_liquidation(margin).closes == (
        Close("BTC-PERP", "sell", D("0.02"), D("60000"), D("12")),
        Close("ETH-PERP", "buy", D("0.063106797"), D("2000"), D("1.26213594")),
    )


def test_a_bankrupt_account_is_closed_out_expecting_its_deficit() -> None:
    # long 1 from 100 at 60 on 30 collateral: equity −10; no fee; a deficit of 10 for the fund's owner to cover
    margin = assess(D("30"), [exposure("SOL-PERP", "1", "100", "60", "0.05")])
    plan = plan_liquidation(margin)
    assert plan.closes == (Close("SOL-PERP", "sell", D("1"), D("60"), D(0)),)
    assert plan.deficit == D("10")


def test_an_account_at_exactly_zero_equity_expects_a_deficit_of_zero_not_minus_zero() -> None:
    # long 1 from 100 at 70 on 30: equity 0, closed out; its deficit prints as 0, never −0
    plan = plan_liquidation(assess(D("30"), [exposure("SOL-PERP", "1", "100", "70", "0.05")]))
    assert len(plan.closes) == 1 and plan.deficit == 0 and not plan.deficit.is_signed()


def test_the_fee_never_takes_more_than_the_equity_left() -> None:
    # long 10 from 100 at 91 on 90.2: equity 0.2 < fee 1% × 910 = 9.1: the fee is the 0.2 left
    plan = plan_liquidation(assess(D("90.2"), [exposure("SOL-PERP", "10", "100", "91", "0.05")]))
    assert plan.closes == (Close("SOL-PERP", "sell", D("10"), D("91"), D("0.2")),)


def test_a_healthy_account_gets_an_empty_plan() -> None:
    plan = plan_liquidation(assess(D("1000"), [exposure("SOL-PERP", "10", "100", "91", "0.05")]))
    assert (plan.closes, plan.deficit) == ((), 0)


def signed_size(close: Close) -> D:
    """Return a close's size with its sign: + for a buy, − for a sell."""
    return close.size if close.side == "buy" else -close.size


@given(accounts(), quotes(), decimals("0.001", "0.999", 3))
def test_executing_a_plan_at_the_oracle_restores_the_buffer_or_closes_everything(account, quotes, fraction) -> None:
    margin = account.margin(quotes)
    # move collateral so that equity = fraction × MM: liquidatable, still solvent
    target = to_money(margin.maintenance_margin * fraction)
    account = replace(account, collateral=account.collateral + target - margin.equity)
    plan = plan_liquidation(account.margin(quotes))
    for close in plan.closes:
        q = quotes[close.market]
        account = account.apply_fill(close.market, signed_size(close), close.price, close.fee, q.funding_index)
    after = account.margin(quotes)
    assert not account.positions or after.equity >= after.maintenance_margin * (1 + BUFFER) - D("1e-8")
