"""Accounts: deposits, withdrawals, fills with funding settled first, and serialisation."""

import json
from dataclasses import FrozenInstanceError, replace
from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.domain import PRICE
from streams.domain.account_state import AccountState
from streams.domain.accounts import Account, InsufficientFreeCollateral, all_funded
from streams.domain.positions import Position
from tests.streams.domain.domain_strategies import (
    MARKETS,
    accounts,
    collaterals,
    decimals,
    funding_indices,
    prices,
    quote,
    quotes,
    sizes,
)

SOL = "SOL-PERP"


def trader() -> Account:
    """Return 1000 deposited, long 2 SOL at 100 (fee 0.1) opened at funding index 0."""
    return Account("alice", 1).deposit(D("1000")).apply_fill(SOL, D("2"), D("100"), D("0.1"), D(0))


def test_a_deposit_adds_to_collateral() -> None:
    assert Account("alice").deposit(D("12.5")).deposit(D("0.25")).collateral == D("12.75")


def test_a_fill_settles_funding_first_then_moves_the_position() -> None:
    # funding: 2 × (0.5 − 0) = 1 paid; entry (2 × 100 + 1 × 103) / 3 = 101
    # collateral 1000 − 0.1 − 1 − 0.103 = 998.797
    account = trader().apply_fill(SOL, D("1"), D("103"), D("0.103"), D("0.5"))
    assert account.positions == {SOL: Position(SOL, D("3"), D("101"))}
    assert account.funding_index == {SOL: D("0.5")}
    assert account.collateral == D("998.797")


def test_a_reducing_fill_books_realised_pnl_and_fee() -> None:
    # sell 0.5 at 110 against entry 100: 0.5 × 10 = 5; collateral 999.9 + 5 − 0.055 = 1004.845
    account = trader().apply_fill(SOL, D("-0.5"), D("110"), D("0.055"), D(0))
    assert account.positions[SOL] == Position(SOL, D("1.5"), D("100"))
    assert account.collateral == D("1004.845")


def test_a_closing_fill_drops_the_position_and_its_funding_index() -> None:
    account = trader().apply_fill(SOL, D("-2"), D("100"), D(0), D("0.25"))
    assert (account.positions, account.funding_index) == ({}, {})
    assert account.collateral == D("999.4")  # 1000 − 0.1 − 2 × 0.25


def test_settling_funding_returns_the_payment() -> None:
    # 2 × (0.6 − 0) = 1.2 paid; then nothing more is owed at the same index
    account, paid = trader().settle_funding(SOL, D("0.6"))
    assert (paid, account.collateral, account.funding_index[SOL]) == (D("1.2"), D("998.7"), D("0.6"))
    assert account.settle_funding(SOL, D("0.6"))[1] == 0


def test_holders_funded_together_are_each_account_funded_alone() -> None:
    # a close settles every holder at once: the same accounts as `funded` one at a time, their own left as they were
    holders = [trader(), replace(trader(), wallet="bob", collateral=D("5.000000000"))]
    together = all_funded(holders, SOL, D("0.6"), [D("998.700000000"), D("3.800000000")])
    assert together == [a.funded(SOL, D("0.6"), a.collateral - after) for a, after in
                        zip(holders, [D("998.700000000"), D("3.800000000")])]
    assert [a.collateral for a in together] == [D("998.700000000"), D("3.800000000")]
    assert together[0].positions is holders[0].positions and holders[0].funding_index != together[0].funding_index
    with pytest.raises(FrozenInstanceError):
        together[0].collateral = D(0)  # type: ignore[misc]


def test_settling_a_market_without_position_pays_nothing() -> None:
    account, paid = trader().settle_funding("BTC-PERP", D("3"))
    assert (account, paid) == (trader(), 0)


def test_a_withdrawal_is_limited_to_free_collateral() -> None:
    # at oracle 100: equity 999.9, IM 2 × 100 × 10% = 20, free 979.9
    quotes = {SOL: quote(SOL, D("100"))}
    assert trader().withdraw(D("979.9"), quotes).collateral == D("20")
    with pytest.raises(InsufficientFreeCollateral, match="alice:1"):
        trader().withdraw(D("979.900000001"), quotes)


def test_unrealised_profit_cannot_be_withdrawn() -> None:
    # at 1000: equity 999.9 + 2 × 900 = 2799.9, IM 200, free 2599.9 — but collateral is 999.9
    quotes = {SOL: quote(SOL, D("1000"))}
    assert trader().withdraw(D("999.9"), quotes).collateral == 0
    with pytest.raises(InsufficientFreeCollateral):
        trader().withdraw(D("1000"), quotes)


def test_a_write_off_zeroes_a_deficit() -> None:
    # long 2 from 100 closed at 40: −120 against 99.9 collateral → −20.1, written off
    account = Account("bob").deposit(D("100")).apply_fill(SOL, D("2"), D("100"), D("0.1"), D(0))
    account = account.apply_fill(SOL, D("-2"), D("40"), D(0), D(0))
    written_off, deficit = account.write_off()
    assert (account.collateral, deficit, written_off.collateral) == (D("-20.1"), D("20.1"), 0)


def test_an_account_serialises_to_plain_strings() -> None:
    assert trader().to_row() == {
        "wallet": "alice",
        "subaccount": 1,
        "state": "new",
        "collateral": "999.900000000",
        "positions": {SOL: {"size": "2", "entry": "100", "funding_index": "0"}},
    }


@given(accounts())
def test_serialising_and_reading_back_is_identity(account: Account) -> None:
    data = json.loads(json.dumps(account.to_row()))
    assert Account.from_row(data) == account
    assert json.dumps(Account.from_row(data).to_row()) == json.dumps(account.to_row())


@given(accounts(), st.sampled_from(MARKETS), funding_indices, collaterals, sizes, prices, st.data())
def test_a_row_made_from_the_last_one_is_the_accounts_own_row(account: Account, market: str, index: D,
                                                              amount: D, size: D, price: D,
                                                              data: st.DataObject) -> None:
    # a settle, a deposit, a close of every holder, a state moved, a fill or an index after the row written last
    held = sorted(account.positions)
    changes = [lambda a: a.deposit(amount), lambda a: a.apply_fill(market, size, price, D(0), index),
               lambda a: replace(a, state=data.draw(st.sampled_from(AccountState))),
               lambda a: a.funded(market, index, D(0))]  # an index beside no position, which no row prints
    if held:
        changes += [lambda a: a.settle_funding(held[0], index)[0],
                    lambda a: all_funded([a], held[-1], index, [a.collateral + amount])[0]]
    before = data.draw(st.sampled_from(changes))(account)
    after = data.draw(st.sampled_from(changes))(before)
    assert json.dumps(after.row_since(before, before.to_row())) == json.dumps(after.to_row())
    assert after.row_since(after, row := after.to_row()) is row  # unchanged: the row written


def test_an_index_beside_no_position_is_no_part_of_a_row_made_from_the_last_one() -> None:
    account = trader()
    indexed = account.funded("BTC-PERP", D("1.5"), D(0))
    assert indexed.row_since(account, account.to_row()) == indexed.to_row() == account.to_row()


@given(collaterals, collaterals, decimals("0.001", "500", 3), prices, prices, prices, st.lists(funding_indices))
def test_funding_moves_money_between_longs_and_shorts_without_making_any(
    long_cash, short_cash, size, long_entry, short_entry, oracle, indices
) -> None:
    long = Account("long").deposit(long_cash).apply_fill(SOL, size, long_entry, D(0), D(0))
    short = Account("short").deposit(short_cash).apply_fill(SOL, -size, short_entry, D(0), D(0))
    total = sum(a.margin({SOL: quote(SOL, oracle)}).equity for a in (long, short))
    for index in indices:
        long, paid = long.settle_funding(SOL, index)
        short, received = short.settle_funding(SOL, index)
        assert paid == -received
        assert sum(a.margin({SOL: quote(SOL, oracle, index)}).equity for a in (long, short)) == total


@given(accounts(), quotes(), st.sampled_from(MARKETS), sizes)
def test_a_fill_at_the_oracle_without_fee_leaves_equity_unchanged(account, quotes, market, size) -> None:
    q = quotes[market]
    after = account.apply_fill(market, size, q.oracle, D(0), q.funding_index)
    held = after.positions.get(market)
    # the new entry is rounded to 1e-12 (moves upnl by ≤ |size| × 1e-12 / 2); money figures to 1e-9
    tolerance = (abs(held.size) if held else 0) * PRICE + D("3e-9")
    assert abs(after.margin(quotes).equity - account.margin(quotes).equity) <= tolerance


def test_collateral_and_sizes_of_any_digits_move_exactly() -> None:
    # in the default context's 28 digits a cent onto 1e19 USD was lost, as were a size's last places past 28 digits
    rich = Account("whale", 0).deposit(D("1e19")).deposit(D("0.000000001"))
    assert rich.collateral == D("10000000000000000000.000000001")
    big = D("12345678901.123456789012345678")
    held, lines = rich.fill("BTC-PERP", big, D(1), D("0.000000001"), D(0))
    grown, _ = held.fill("BTC-PERP", D(1), D(1), D(0), D(0))
    assert grown.positions["BTC-PERP"].size == D("12345678902.123456789012345678")
    assert held.collateral == D("10000000000000000000")  # the fee of 1e-9 taken exactly
    closed, _ = grown.fill("BTC-PERP", D("-12345678902.123456789012345678"), D(1), D(0), D(0))
    assert "BTC-PERP" not in closed.positions  # the whole size, not one rounded short of it
