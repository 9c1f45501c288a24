"""The risk board: its books, its slots, what a re-mark publishes, and its numpy reference agreeing with
`margin.assess`."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.risk.board import MarketBook, RiskBoard
from tests.streams.domain.domain_strategies import MARKETS, accounts, quotes
from tests.streams.risk.events import SOL
from tests.streams.risk.reference_board import ReferenceBoard


def worked_board() -> tuple[ReferenceBoard, MarketBook]:
    """Return cash 1000/100/50; SOL: #0 long 10 from 100, #1 short 5 from 100; BTC: #2 long 0.01 from 60000."""
    board = ReferenceBoard(3)
    for account, cash in enumerate((1000.0, 100.0, 50.0)):
        board.set_cash(account, cash)
    sol, btc = MarketBook(), MarketBook()
    sol.add_position(0, 10.0, 100.0, 0.05, 0.10)
    sol.add_position(1, -5.0, 100.0, 0.05, 0.10)
    btc.add_position(2, 0.01, 60_000.0, 0.03, 0.05)
    board.apply("BTC-PERP", btc.reprice(60_000.0))
    return board, sol


def test_a_reprice_remarks_every_account_in_the_market() -> None:
    # SOL at 90: #0 upnl −100, equity 900, MM 900 × 5% = 45, IM 90, health 100 × (1 − 45/900) = 95
    #            #1 upnl −5 × (90 − 100) = +50, equity 150, MM 22.5, health 100 × (1 − 22.5/150) = 85
    # BTC at 60000: #2 equity 50, MM 600 × 3% = 18, IM 30, health 100 × (1 − 18/50) = 64
    board, sol = worked_board()
    holders = board.apply("SOL-PERP", sol.reprice(90.0))
    np.testing.assert_allclose(holders.equity, [900, 150])
    result = board.figures(np.arange(3))
    np.testing.assert_allclose(result.equity, [900, 150, 50])
    np.testing.assert_allclose(result.maintenance_margin, [45, 22.5, 18])
    np.testing.assert_allclose(result.initial_margin, [90, 45, 30])
    np.testing.assert_allclose(result.health, [95, 85, 64])


def test_a_reprice_reports_who_became_liquidatable_and_who_crossed_health_20() -> None:
    # SOL at 118: #1 equity 100 − 5 × 18 = 10 < MM 5 × 118 × 5% = 29.5: liquidatable, health 0
    # SOL back at 100: #1 equity 100, MM 25, health 75: crosses 20 upward, nobody newly liquidatable
    board, sol = worked_board()
    board.apply("SOL-PERP", sol.reprice(90.0))
    down = board.apply("SOL-PERP", sol.reprice(118.0))
    assert (down.newly_liquidatable.tolist(), down.crossed_at_risk.tolist()) == ([1], [1])
    assert down.health[1] == 0
    up = board.apply("SOL-PERP", sol.reprice(100.0))
    assert (up.newly_liquidatable.tolist(), up.crossed_at_risk.tolist()) == ([], [1])


def test_removing_a_position_moves_the_last_row_into_its_place() -> None:
    book = MarketBook(capacity=2)
    for account in (7, 8, 9):
        book.add_position(account, float(account), 100.0, 0.05, 0.10)
    book.remove_position(7)
    book.update_position(9, -1.0, 50.0)
    marks = book.reprice(60.0)
    # #9 now short 1 from 50 at 60: −10; #8 long 8 from 100 at 60: −320
    assert dict(zip(marks.account.tolist(), marks.figures[0].tolist())) == {9: -10.0, 8: -320.0}


def test_a_reprice_touches_only_the_markets_holders() -> None:
    # BTC at 30000 would halve #2's equity; a SOL reprice must neither read nor move it
    board, sol = worked_board()
    board.markets["BTC-PERP"][0, 2] = -300.0
    result = board.apply("SOL-PERP", sol.reprice(90.0))
    assert result.account.tolist() == [0, 1]
    assert board.figures(np.array([2])).equity.tolist() == [-250.0]


def test_a_dropped_position_stops_counting_for_its_account() -> None:
    board, sol = worked_board()
    board.apply("SOL-PERP", sol.reprice(90.0))
    sol.remove_position(0)
    board.drop("SOL-PERP", 0)
    result = board.figures(np.array([0]))
    assert (result.equity[0], result.maintenance_margin[0], result.health[0]) == (1000.0, 0.0, 100.0)


def test_a_grown_board_keeps_every_account() -> None:
    board, sol = worked_board()
    board.apply("SOL-PERP", sol.reprice(118.0))
    grown = board.grown(8)
    np.testing.assert_array_equal(grown.figures(np.arange(3)).equity, board.figures(np.arange(3)).equity)
    assert grown.liquidatable.tolist() == [False, True] + [False] * 6
    assert grown.figures(np.arange(3, 8)).equity.tolist() == [0.0] * 5


@settings(deadline=None)
@given(st.lists(accounts(), min_size=1, max_size=6), quotes())
def test_remargin_agrees_with_margin_assess(accounts, quotes) -> None:
    board = ReferenceBoard(len(accounts))
    books = {m: MarketBook() for m in MARKETS}
    for i, account in enumerate(accounts):
        margin = account.margin(quotes)
        board.set_cash(i, float(account.collateral - margin.unsettled_funding))
        for market, p in account.positions.items():
            q = quotes[market]
            books[market].add_position(i, float(p.size), float(p.entry), float(q.mmr), float(q.imr))
    for market, book in books.items():
        board.apply(market, book.reprice(float(quotes[market].oracle)))
    result = board.figures(np.arange(len(accounts)))
    for i, account in enumerate(accounts):
        expected = account.margin(quotes)
        scale = float(account.collateral) + sum(float(abs(r.unrealised_pnl) + r.notional) for r in expected.positions)
        money = 1e-8 + 1e-12 * scale  # float64 carries ~16 digits of the largest term
        assert result.equity[i] == pytest.approx(float(expected.equity), rel=0, abs=money)
        assert result.maintenance_margin[i] == pytest.approx(float(expected.maintenance_margin), rel=0, abs=money)
        assert result.initial_margin[i] == pytest.approx(float(expected.initial_margin), rel=0, abs=money)
        assert result.health[i] == pytest.approx(float(expected.health), rel=0, abs=1.01e-4)  # floor to 1e-4


@pytest.mark.parametrize("shown_health, shown_equity, material", [
    (74.0, 1024.0, True), (76.0, 1024.0, True), (74.01, 1024.0, False),
    (75.0, 1013.76, True), (75.0, 1035.0, True), (75.0, 1014.0, False), (75.0, 1034.0, False), (75.0, 1024.0, False)])
def test_a_move_is_material_at_a_health_point_or_one_percent_of_equity_either_way(
        shown_health: float, shown_equity: float, material: bool) -> None:
    # equity 1024, MM 256 (1 SOL at 1 with MMR 256, marked at 1): health 100 × (1 − 256/1024) = 75, exactly
    board, book = RiskBoard(), MarketBook()
    book.add_position(0, 1.0, 1.0, 256.0, 256.0)
    board.set_cash(0, 1024.0)
    board.shown[:, 0] = shown_health, shown_equity
    assert board.remark(SOL, book, 1.0) == ({0} if material else set())


def test_the_board_grows_keeping_every_column() -> None:
    board = RiskBoard(capacity=2)
    for key in ("a", "b"):
        board.slot(key)
    board.set_cash(1, 5.0)
    board.markets[SOL] = np.ones((3, 2))
    board.shown[:, 1] = 42.0, 1000.0
    assert board.slot("c") == 2
    assert board.cash.tolist() == [0.0, 5.0, 0.0, 0.0]
    assert board.markets[SOL].tolist() == [[1.0, 1.0, 0.0, 0.0]] * 3
    assert board.shown[:, 1].tolist() == [42.0, 1000.0] and np.isnan(board.shown[:, 2]).all()


@settings(deadline=None)
@given(st.lists(accounts(), min_size=1, max_size=6), quotes(), st.randoms(use_true_random=False))
def test_restating_many_at_once_leaves_the_board_restating_each_leaves(accounts, quotes, rng) -> None:
    # a tick restates its flagged holders in one pass: every column as slot-by-slot restatements leave it,
    # over a board where each slot held other figures before (a market it no longer holds zeroed)
    one, many = RiskBoard(len(accounts)), RiskBoard(len(accounts))
    for board in (one, many):
        for market in MARKETS:
            board.contributions(market)[:] = 7.0
    slots = rng.sample(range(len(accounts)), len(accounts))
    margins = [accounts[slot].margin(quotes) for slot in slots]
    for slot, margin in zip(slots, margins):
        one.restate(slot, margin, 9)
    many.restate_all(slots, margins, 9)
    for column in ("cash", "band", "liquidatable", "shown", "restated"):
        np.testing.assert_array_equal(getattr(many, column), getattr(one, column))
    assert list(many.markets) == list(one.markets)
    for market in one.markets:
        np.testing.assert_array_equal(many.markets[market], one.markets[market])
