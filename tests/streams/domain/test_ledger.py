"""The ledger's lines: what an account method says it moved is exactly what its collateral moved."""

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from streams.domain.accounts import Account
from streams.domain.ledger import Movement, balances, covered
from tests.streams.domain.domain_strategies import MARKETS, accounts, decimals, funding_indices, prices, sizes

fees = decimals("-5", "50", 9)


@given(accounts(), st.sampled_from(MARKETS), sizes, prices, fees, funding_indices)
def test_a_fills_lines_add_up_to_its_change_of_collateral(account: Account, market: str, size: Decimal,
                                                          price: Decimal, fee: Decimal, index: Decimal) -> None:
    filled, lines = account.fill(market, size, price, fee, index, "liquidation_fee")
    assert account.collateral + sum(line.amount for line in lines) == filled.collateral
    assert filled == account.apply_fill(market, size, price, fee, index)
    assert all(line.amount != 0 and line.market == market for line in lines)
    assert {line.kind for line in lines} <= {"funding", "realised_pnl", "liquidation_fee"}
    if lines:
        assert balances(account.collateral, lines)[-1][1] == filled.collateral


@given(decimals("0", "1000", 9), decimals("0", "1000", 9))
def test_a_covered_deficit_is_the_draw_and_the_socialised_rest(deficit: Decimal, fund: Decimal) -> None:
    draw = min(deficit, fund)
    lines = covered(deficit, draw)
    assert sum(line.amount for line in lines) == deficit
    assert [line.kind for line in lines] == [k for k, a in (("insurance_draw", draw),
                                                            ("socialised_loss", deficit - draw)) if a]


def test_balances_run_from_the_starting_collateral() -> None:
    lines = (Movement("fee", Decimal("-1.5"), "SOL-PERP"), Movement("realised_pnl", Decimal(4), "SOL-PERP"))
    assert [b for _, b in balances(Decimal(10), lines)] == [Decimal("8.5"), Decimal("12.5")]
